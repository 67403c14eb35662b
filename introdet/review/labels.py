"""A labels file edited in place: one row changes, every other byte stays as it was.

The file is the one ``train.py`` reads (``introdet.media.labels``): ``{id: {"name",
"url", "start": "H:MM:SS[.mmm]", "end": ...}}``, ``null`` times for "no intro". A change is
spliced into the file's text (other rows, their order, spacing, unknown fields and rows for
episodes not in the library are never re-serialized), checked by the validator's own
``parse_annotations`` as ``python -m introdet.validate`` would check the whole file, and only
then written atomically. One lock per file: two saves at once cannot lose one.
"""

from __future__ import annotations

import errno
import json
import re
import threading
from dataclasses import dataclass, field
from json.decoder import scanstring
from pathlib import Path

from introdet.atomic import atomic_write_text
from introdet.errors import AnnotationError
from introdet.media.labels import Intro, format_time, parse_annotations, refuse_special

_WS = re.compile(r"[ \t\n\r]*")  # JSON's whitespace
_BOM = "\ufeff"


# the types the page edits, one span each (a row's several commercials are kept, not edited)
EDITED = ("intro", "credits", "recap", "preview")


@dataclass(frozen=True)
class Label:
    start: float | None  # seconds; None with end None: no intro
    end: float | None
    problem: str | None = None  # the validator's reason when it rejects the row
    # the other types the row labels: type -> [start, end] (its first span), or None for none
    segments: dict = field(default_factory=dict, hash=False)

    @property
    def interval(self) -> tuple[float, float] | None:
        return None if self.start is None or self.end is None else (self.start, self.end)


@dataclass(frozen=True)
class Saved:
    label: Label
    notes: tuple[str, ...]  # the validator's lines about this row (a fix it made)
    summary: str  # the validator's summary of the whole file as written


class LabelRejected(ValueError):
    """The validator rejects the row as changed: nothing was written."""


@dataclass(frozen=True)
class _Member:
    key: str
    key_at: int  # offset of the key's opening quote
    value_at: int  # offset of the value's first character
    value_end: int  # offset just past the value
    value: object


class LabelsFile:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._read()  # an unreadable file stops the command before the server starts

    def labels(self) -> dict[str, Label]:
        """Every row as the validator reads it (no durations): id -> label or its problem."""
        _, text, members = self._read()
        ann = parse_annotations([(m.key, m.value) for m in members], str(self.path))
        out = {ep: _label(i) for ep, i in ann.intros.items()}
        out.update({ep: Label(None, None, why) for ep, why in ann.rejected})
        return out

    def save(
        self,
        episode: str,
        interval: tuple[float, float] | None,
        duration: float | None = None,
        fresh: dict | None = None,
        kind: str = "intro",
    ) -> Saved:
        """Set ``episode``'s segment of ``kind`` (None: none) and write the file, if the
        validator accepts the row; ``fresh`` holds the other fields of a row that is new (a
        new row starts with its intro: the format has no "intro not labelled yet")."""
        with self._lock:  # read, change and write as one: a second save waits for the first
            bom, text, members = self._read()
            if kind != "intro" and not any(m.key == episode for m in members):
                raise LabelRejected(f"{self.path}: {episode}: label its intro first (or no "
                                    f"intro), then its {kind}")  # fmt: skip
            changed = _with_row(text, members, episode, interval, fresh or {}, kind)
            pairs = [(m.key, m.value) for m in _members(changed)]
            durations = {episode: duration} if duration else None
            ann = parse_annotations(pairs, str(self.path), durations=durations)
            why = [reason for ep, reason in ann.rejected if ep == episode]
            if why:
                raise LabelRejected(f"{self.path}: rejected {episode}: {why[0]}")
            atomic_write_text(self._target(), bom + changed)
        intro = ann.intros[episode]
        notes = tuple(
            f"{self.path}: fixed {episode}: {fix}" for ep, fix in ann.fixed if ep == episode
        )
        return Saved(_label(intro), notes, ann.summary())

    def _target(self) -> Path:
        """The file to write: a symbolic link's target, written in its own folder (replacing
        the link by a file would leave the target, which others read, with the old labels)."""
        try:
            return self.path.resolve()
        except RuntimeError as e:  # a loop
            raise OSError(errno.ELOOP, "symbolic link loop", str(self.path)) from e

    def _read(self) -> tuple[str, str, list[_Member]]:
        """(byte-order mark or "", text, top-level members); a missing file is an empty one."""
        refuse_special(self.path)
        try:
            text = self.path.read_bytes().decode("utf-8")  # bytes: CRLF lines stay CRLF
        except FileNotFoundError:
            return "", "", []
        except (OSError, UnicodeDecodeError) as e:
            raise AnnotationError(f"{self.path}: cannot read labels file ({e})") from e
        bom = _BOM if text.startswith(_BOM) else ""
        text = text.removeprefix(_BOM)
        if not text.strip():  # an empty file (touch labels.json) is a file with no rows yet
            return bom, "", []
        try:
            whole = json.loads(text)
        except (ValueError, RecursionError) as e:
            raise AnnotationError(f"{self.path}: not valid JSON ({e})") from e
        if not isinstance(whole, dict):
            raise AnnotationError(
                f"{self.path}: expected a JSON object of episodes, got {type(whole).__name__}"
            )
        return bom, text, _members(text)


def _label(i: Intro) -> Label:
    """The page's label of a row: its intro, and the first span of each other type."""
    segments = {k: (list(v[0]) if v else None) for k, v in i.segments.items() if k in EDITED}
    return Label(i.start, i.end, segments=segments)


def _members(text: str) -> list[_Member]:
    """The top-level object's members with where each lies in ``text`` (valid JSON, checked
    by the caller); duplicate keys are all kept, as the validator wants to see them."""
    decoder = json.JSONDecoder()
    i = _WS.match(text, text.index("{") + 1).end()
    members: list[_Member] = []
    while text[i] != "}":
        key, j = scanstring(text, i + 1)
        j = _WS.match(text, j).end() + 1  # past the ':'
        at = _WS.match(text, j).end()
        value, end = decoder.raw_decode(text, at)
        members.append(_Member(key, i, at, end, value))
        i = _WS.match(text, end).end()
        if text[i] == ",":
            i = _WS.match(text, i + 1).end()
    return members


def _with_row(
    text: str,
    members: list[_Member],
    episode: str,
    interval: tuple[float, float] | None,
    fresh: dict,
    kind: str = "intro",
) -> str:
    """``text`` with ``episode``'s segment of ``kind`` set to ``interval``: the row's other
    fields and place kept (the first row of that id: the validator then rejects the
    duplicate), or a new row last."""
    span = None if interval is None else [format_time(interval[0]), format_time(interval[1])]
    times = {"start": None, "end": None} if span is None else {"start": span[0], "end": span[1]}
    if kind != "intro":
        times = {kind: span}
    old = next((m for m in members if m.key == episode), None)
    nl = "\r\n" if "\r\n" in text else "\n"  # the file's own line ends
    if old is not None:
        row = dict(old.value) if isinstance(old.value, dict) else {}
        row.update(times)  # existing keys keep their place; missing ones go last
        multiline = "\n" in text[old.value_at : old.value_end]
        indent = _indent(text, old.key_at) if multiline else None
        return text[: old.value_at] + _dump(row, indent, nl) + text[old.value_end :]
    row = {**fresh, **times}
    key = json.dumps(episode, ensure_ascii=False)
    if not members:  # a new file, or "{}": written as make_library writes its labels
        head = text[: text.index("{")] if text else ""
        tail = text[text.rindex("}") + 1 :] if text else "\n"
        return f"{head}{{{nl}  {key}: {_dump(row, '  ', nl)}{nl}}}{tail}"
    last = members[-1]
    indent = _indent(text, last.key_at)
    sep = ", " if indent is None else "," + nl + indent
    if indent is not None and "\n" not in text[last.value_at : last.value_end]:
        indent = None  # rows one per line: the new one too
    new = f"{sep}{key}: {_dump(row, indent, nl)}"
    return text[: last.value_end] + new + text[last.value_end :]


def _indent(text: str, at: int) -> str | None:
    """The whitespace before offset ``at`` on its line; None when anything else is there."""
    line_start = text.rfind("\n", 0, at) + 1
    prefix = text[line_start:at]
    return prefix if line_start > 0 and not prefix.strip() else None


def _dump(row: dict, indent: str | None, nl: str) -> str:
    """The row on one line (``indent`` None), or on several as ``json.dumps(indent=2)`` puts
    it, each line after the first indented as the row's key is."""
    if indent is None:
        return json.dumps(row, ensure_ascii=False)
    return json.dumps(row, ensure_ascii=False, indent=2).replace("\n", nl + indent)
