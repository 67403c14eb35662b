"""Whose a file is where an output would go: introdet's (written anew) or a user's (never
replaced).

``out=`` may be the library itself (``E1.json`` beside ``E1.mkv``), and sidecars go beside
the videos, where comskip leaves an ``E1.edl`` of its own. A file already there is
introdet's when the ledger says introdet wrote it (whatever it holds now: a damaged record is
written anew), when it already holds what would be written (nothing to write: it is noted in
the ledger), or, in an output folder of a version before the ledger, when its content shows
it: an introdet record, the player file the episode's earlier record renders, the summary
CSV. Anything else is a user's.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Callable
from enum import Enum
from pathlib import Path

from introdet.outputs.edl import EDL_ACTIONS
from introdet.outputs.export import CSV_COLUMNS, READABLE_VERSIONS, render
from introdet.outputs.ledger import Entry
from introdet.outputs.timeline import EPISODE_TITLE, TITLES

# a file this big where an output would go is not one of introdet's text files
_READ_AT_MOST = 256 << 20


class Owner(Enum):
    FREE = "free"  # nothing there
    SAME = "same"  # already what would be written
    OURS = "ours"  # introdet's: written anew
    USERS = "users"  # not introdet's: left as it is


def owner(
    path: Path, text: str | None, known: Entry | None, ours: Callable[[bytes], bool]
) -> Owner:
    """Whose the file at ``path`` is, where ``text`` would be written (None: a video copy,
    never read whole); ``known``: its ledger entry; ``ours``: whether the bytes of a file the
    ledger does not know (one of a version before it) are introdet's."""
    if not os.path.lexists(path):
        return Owner.FREE
    if known is not None:
        return Owner.SAME if text is not None and _holds(path, text) else Owner.OURS
    if text is None:
        return Owner.OURS if ours(b"") else Owner.USERS
    try:
        st = os.stat(path)
        regular = stat.S_ISREG(st.st_mode) and st.st_size <= _READ_AT_MOST
        data = path.read_bytes() if regular else None
    except OSError:  # a broken link, an unreadable file: a user's, left as it is
        return Owner.USERS
    if data is None:  # a folder, a device, or far too big to be ours
        return Owner.USERS
    if data == _encoded(text):
        return Owner.SAME
    return Owner.OURS if ours(data) else Owner.USERS


def _encoded(text: str) -> bytes:
    return text.encode("utf-8", errors="backslashreplace")  # as atomic_write_text writes it


def _holds(path: Path, text: str) -> bool:
    try:
        return path.stat().st_size <= _READ_AT_MOST and path.read_bytes() == _encoded(text)
    except OSError:
        return False


def is_record(data: bytes) -> bool:
    """An introdet record by its content: a JSON object of a readable schema with the
    fields every record has, or, damaged, the first line ``to_json`` writes."""
    if data.startswith(b'{\n  "schema_version": '):
        return True
    try:
        record = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return False
    return (
        isinstance(record, dict)
        and record.get("schema_version") in READABLE_VERSIONS
        and {"episode", "source", "duration", "intro", "probabilities"} <= record.keys()
    )


# introdet's chapter files, line for line (to_ffmetadata, to_vtt): titles of its own, ids and
# a time base no other tool writes. An EDL has no such mark (comskip's lines look alike).
_TITLES = ("(" + "|".join([EPISODE_TITLE, *TITLES.values()]) + ")\n").encode()
_SHAPES = {
    "ffmetadata": re.compile(
        rb"\A;FFMETADATA1\n(\n\[CHAPTER\]\nTIMEBASE=1/1000\nSTART=\d+\nEND=\d+\ntitle="
        + _TITLES
        + rb")*\Z"
    ),
    "vtt": re.compile(
        rb"\AWEBVTT\n(\nchapter-\d+\n\d{2,}:\d\d:\d\d\.\d{3} --> \d{2,}:\d\d:\d\d\.\d{3}\n"
        + _TITLES
        + rb")*\Z"
    ),
}


def rendered_from(old: dict | None, fmt: str) -> Callable[[bytes], bool]:
    """Whether bytes are what the earlier record ``old`` renders in ``fmt`` (either EDL
    action): the player file an earlier run wrote beside that record; or, for chapters, a
    file of introdet's own shape (one that an older version, or another out=, rendered)."""

    def ours(data: bytes) -> bool:
        if fmt in _SHAPES and _SHAPES[fmt].match(data):
            return True
        if old is None:
            return False
        try:
            texts = {render(old, fmt, a) for a in (EDL_ACTIONS if fmt == "edl" else (3,))}
        except (ValueError, KeyError, TypeError):
            return False  # a record this version cannot render: not evidence
        return any(data == _encoded(t) for t in texts)

    return ours


def is_summary(data: bytes) -> bool:
    """``intros.csv`` by its header."""
    return data.startswith((",".join(CSV_COLUMNS) + "\n").encode())


def copy_of(old: dict | None, source: str) -> Callable[[bytes], bool]:
    """A video copy with chapters beside the earlier record of the same video: introdet's."""
    same = old is not None and old.get("source") == source
    return lambda _data: same
