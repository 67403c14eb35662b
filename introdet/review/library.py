"""The episodes under review: the library's videos, their prediction records, and how much
each one's intro is in doubt (what the reviewer should look at first)."""

from __future__ import annotations

import contextlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from introdet.errors import InputNotFound, RecordError
from introdet.media.library import video_jobs
from introdet.outputs.export import read_record
from introdet.outputs.layout import record_files
from introdet.outputs.timeline import TYPES
from introdet.review.labels import Label

Interval = tuple[float, float]
MAX_SIBLINGS = 8  # other prediction folders beside predictions= compared with it
OUTSIDE = "a link to a file outside the library folder: not served"
_ODD = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")  # control characters, lone surrogates
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}

# doubt tiers, most doubtful first: the list is sorted by the first reason's tier
NO_PREDICTION, LOW_SCORE, MODES_DISAGREE, LABEL_DISAGREES, NO_LABEL, SETTLED = range(6)


@dataclass
class Episode:
    id: str  # the id labels files use: the file stem, or the key when stems collide
    key: str  # the path relative to the input without suffix: where its record is
    path: Path
    series: str
    source_hash: str
    record: dict | None = None
    problem: str | None = None  # why there is no usable record
    others: dict[str, dict] = field(default_factory=dict)  # other prediction folder -> record


@dataclass(frozen=True)
class Doubt:
    tier: int
    score: float | None  # the predicted intro's score (None: no intro or no prediction)
    reasons: tuple[str, ...]


def load_episodes(
    input: str | Path, predictions: str | Path | None = None
) -> tuple[list[Episode], list[tuple[str, str]]]:
    """The videos under ``input`` with their records, and ``(path, reason)`` for each file
    that cannot be reviewed (ids taken twice, broken links: what predict reports too)."""
    jobs, failed = video_jobs(input)
    root = library_root(input)
    episodes = []
    for j in jobs:
        if inside(j.path, root):
            episodes.append(Episode(j.episode, j.key, j.path, j.series, j.source_hash))
        else:  # E9.mkv -> /etc/passwd: the token is for the library, not the disk
            failed.append((str(j.path), OUTSIDE))
    if predictions is None:
        for ep in episodes:
            ep.problem = "no predictions folder given"
        return episodes, failed
    folder = Path(predictions)
    if not folder.is_dir():
        raise InputNotFound(f"{folder}: no such folder (predictions)")
    found = _record_paths(folder)
    siblings = _siblings(folder)
    for ep in episodes:
        path = found.get(ep.key) or found.get(ep.id)
        if path is None:
            ep.problem = "no prediction record"
            continue
        try:
            ep.record = read_record(path)
        except RecordError as e:
            ep.problem = str(e)
            continue
        rel = path.relative_to(folder)
        for other in siblings:
            with contextlib.suppress(RecordError):  # no (readable) record of it there
                ep.others[other.name] = read_record(other / rel)
    return episodes, failed


def library_root(input: str | Path) -> Path:
    """The folder whose files may be served: ``input``, or the folder of an ``input`` file;
    links resolved."""
    root = Path(input)
    return (root if root.is_dir() else root.parent).resolve()


def inside(path: Path, root: Path) -> bool:
    """Whether ``path``, its links resolved, lies inside ``root`` (a resolved folder)."""
    try:
        return path.resolve().is_relative_to(root)
    except (OSError, RuntimeError):  # a loop
        return False


def shown(text: str) -> str:
    """``text`` as the page can show it and send it back in a URL: a byte that was not UTF-8
    (kept by Python as a lone surrogate) as ``\\xff``, a newline as ``\\n``, any other control
    character as ``\\xNN``; other text as it is."""

    def escape(m: re.Match) -> str:
        c = m.group()
        if c in _NAMED:
            return _NAMED[c]
        code = ord(c)
        if 0xDC80 <= code <= 0xDCFF:  # surrogateescape's byte
            return f"\\x{code - 0xDC00:02x}"
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return _ODD.sub(escape, text)


def _record_paths(folder: Path) -> dict[str, Path]:
    """Record files by key and by file stem (a record made from another input folder keeps
    the stem); a stem two records share is left out: it names neither for sure."""
    by_key, by_stem = {}, {}
    for key, path in record_files(folder):
        by_key[key] = path
        by_stem.setdefault(path.stem, []).append(path)
    unique = {stem: paths[0] for stem, paths in by_stem.items() if len(paths) == 1}
    return {**unique, **by_key}


def _siblings(folder: Path) -> list[Path]:
    """Folders beside ``folder`` (``predictions/single`` beside ``predictions/season``): the
    same episodes predicted another way. Only ``<sibling>/<key>.json`` is ever opened."""
    try:
        entries = sorted(folder.resolve().parent.iterdir())
    except OSError:
        return []
    own = folder.resolve()
    dirs = [p for p in entries if p.is_dir() and not p.name.startswith(".") and p != own]
    return dirs[:MAX_SIBLINGS]


# --- intervals -----------------------------------------------------------------------------


def predicted_intro(record: dict | None) -> Interval | None:
    """The record's intro; None for none (or one too damaged to read: the list must load)."""
    intro = (record or {}).get("intro")
    try:
        return float(intro["start"]), float(intro["end"])
    except (KeyError, TypeError, ValueError):
        return None


def intro_score(record: dict | None) -> float | None:
    try:
        return float(record["intro"]["score"])
    except (KeyError, TypeError, ValueError):
        return None


def recurring_intro(record: dict | None) -> Interval | None:
    """The stretch season mode found recurring and called the intro (the longest if several)."""
    stretches = ((record or {}).get("season") or {}).get("recurring") or []
    intros = []
    for s in stretches:
        with contextlib.suppress(TypeError, ValueError, IndexError):
            if s[2] == "intro":
                intros.append((float(s[0]), float(s[1])))
    return max(intros, key=lambda i: i[1] - i[0], default=None)


def apart(a: Interval | None, b: Interval | None) -> float:
    """How far two intros' boundaries lie apart in seconds; inf when only one is an intro."""
    if a is None or b is None:
        return 0.0 if a is b else math.inf
    return max(abs(a[0] - b[0]), abs(a[1] - b[1]))


def _span(i: Interval | None) -> str:
    return "no intro" if i is None else f"{i[0]:.1f}–{i[1]:.1f} s"


# --- doubt ---------------------------------------------------------------------------------


def doubt(ep: Episode, label: Label | None, low_score: float, disagree: float) -> Doubt:
    """Why this episode's intro is in doubt, most serious first."""
    if ep.record is None:
        return Doubt(NO_PREDICTION, None, (ep.problem or "no prediction",))
    found: list[tuple[int, str]] = []
    intro = predicted_intro(ep.record)
    score = intro_score(ep.record) if intro is not None else None
    if ep.record.get("source_hash") not in (None, ep.source_hash):
        found.append((LOW_SCORE, "the video changed since it was predicted"))
    if score is not None and score < low_score:
        found.append((LOW_SCORE, f"low score {score:.2f}"))
    recurring = recurring_intro(ep.record)
    if recurring is not None and apart(intro, recurring) > disagree:
        found.append((MODES_DISAGREE, f"season recurrence says {_span(recurring)}"))
    said: dict[str, list[str]] = {}  # what the other folders say, each answer once
    for name, other in ep.others.items():
        theirs = predicted_intro(other)
        if apart(intro, theirs) > disagree:
            mode = other.get("mode")
            said.setdefault(_span(theirs), []).append(
                name if mode in (None, name) else f"{name} ({mode})"  # "single_coarse (single)"
            )
    for span, names in said.items():
        verb = "say" if len(names) > 1 else "says"
        found.append((MODES_DISAGREE, f"{' & '.join(names)} {verb} {span}"))
    if label is None:
        found.append((NO_LABEL, "no label"))
    elif label.problem:
        found.append((LABEL_DISAGREES, f"label rejected: {label.problem}"))
    elif apart(intro, label.interval) > disagree:
        found.append((LABEL_DISAGREES, f"label {_span(label.interval)} ≠ prediction"))
    if not found:
        return Doubt(SETTLED, score, ())
    found.sort(key=lambda f: f[0])
    return Doubt(found[0][0], score, tuple(why for _, why in found))


def doubt_order(doubts: dict[str, Doubt]) -> list[str]:
    """Episode ids, most doubtful first: by tier, then lowest score, then id."""

    def key(episode: str) -> tuple:
        d = doubts[episode]
        return (d.tier, d.score if d.score is not None else -1.0, episode)

    return sorted(doubts, key=key)


# --- what the page draws -------------------------------------------------------------------


def segments(r: dict) -> list[dict]:
    """Every segment of a record, with why it was found: its typed list (schema 3), else its
    intro and credits."""
    if isinstance(r.get("segments"), list):
        keep = ("type", "start", "end", "confidence", "evidence", "first_appearance")
        return [{k: s[k] for k in keep if k in s} for s in r["segments"]
                if isinstance(s, dict) and s.get("type") in TYPES]  # fmt: skip
    intro = predicted_intro(r)
    out = [] if intro is None else [{"type": "intro", "start": intro[0], "end": intro[1]}]
    c = r.get("credits")
    return out + ([{"type": "credits", "start": c[0], "end": c[1]}] if c else [])


def timeline(ep: Episode) -> dict:
    """The record's parts the timeline draws (None fields where there is no record)."""
    r = ep.record or {}
    intro = predicted_intro(r)
    return {
        "mode": r.get("mode"),
        "fps": r.get("fps", 1.0),
        "probabilities": r.get("probabilities") or [],
        "intro": None
        if intro is None
        else {"start": intro[0], "end": intro[1], "score": intro_score(r)},
        "credits": r.get("credits"),
        "segments": segments(r),
        "recurring": (r.get("season") or {}).get("recurring") or [],
        "video_fps": r.get("video_fps"),
        "duration": r.get("duration"),
        "others": {
            name: {"mode": o.get("mode"), "intro": predicted_intro(o)}
            for name, o in ep.others.items()
        },
    }
