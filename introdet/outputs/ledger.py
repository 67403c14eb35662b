"""The ledger of an output folder: every file introdet wrote for it, so that a later run tells
its own files from a user's, and takes back what no video or setting wants any more.

``out/.introdet-written.jsonl`` holds one JSON line per event: ``{"op": "wrote", "path",
"hash", "source", "dev"}`` when a file was written (or found already as it would be written),
``{"op": "dropped", "path"}`` when introdet removed it or let it go; the last line of a path
wins. ``path`` is relative to ``out/`` (a moved output folder keeps its ledger), absolute for a
sidecar beside the library; ``hash`` is what the file held (``sha256:`` of its bytes, or the
sampled ``content_hash`` of a video copy); ``source`` the video it belongs to (absolute; none
for the run's ``intros.csv``); ``dev`` the device of the video's folder then (a share that is
not mounted is not a deleted library, see ``tidy``).

Several jobs (``shard=0/2`` and ``shard=1/2``) write one out/ at once: every append is a fresh
open under an exclusive lock, so none loses another's lines; a reader without the lock skips a
line a killed job left torn. A ledger that grew to many times its live entries is rewritten
whole, under the same lock, by a run's last step.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from introdet.atomic import append_locked, append_text, atomic_write_text, locked_file
from introdet.media.library import content_hash

LEDGER = ".introdet-written.jsonl"
# dead lines tolerated before the ledger is rewritten: it then holds the live ones only
COMPACT_AFTER = 1000
VIDEO_HASH = "sha256s:"  # media.library.content_hash: a copy with chapters is a whole video


@dataclass(frozen=True)
class Entry:
    """A file introdet wrote (``path`` absolute here, stored relative to ``out/``)."""

    path: Path
    hash: str
    source: str | None  # the video it is an output of, absolute; None: the run's (intros.csv)
    dev: int | None = None  # st_dev of the video's folder when written


def norm(path: str | Path) -> Path:
    """A path as the ledger's entries are keyed: absolute, not resolved (a link stays one)."""
    return Path(os.path.abspath(path))


def text_hash(text: str) -> str:
    """The hash of a file ``atomic_write_text`` writes with ``text``."""
    data = text.encode("utf-8", errors="backslashreplace")
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def file_hash(path: Path, like: str = "sha256:") -> str:
    """The hash of the file at ``path``, made as ``like`` (a stored hash) was."""
    if like.startswith(VIDEO_HASH):
        return content_hash(path)
    with open(path, "rb") as f:  # in chunks: a user's file put there may be of any size
        return f"sha256:{hashlib.file_digest(f, 'sha256').hexdigest()}"


def source_entry(path: Path, hash: str, source: str | Path | None) -> Entry:
    """An entry for a file written for ``source`` (its folder's device noted, if it is there)."""
    if source is None:
        return Entry(path, hash, None)
    source = str(norm(source))
    try:
        dev = os.stat(os.path.dirname(source)).st_dev
    except OSError:
        dev = None  # predicted from a shard folder whose videos are elsewhere
    return Entry(path, hash, source, dev)


@dataclass
class Held:
    """The ledger under its lock (``Ledger.hold``): the live entries, and what to drop."""

    entries: dict[Path, Entry]
    dropped: list[Path] = field(default_factory=list)


class Ledger:
    """The ledger of the output folder ``out``."""

    def __init__(self, out: Path) -> None:
        self.out = Path(out)
        self.file = self.out / LEDGER

    def name(self, path: Path) -> str:
        """How ``path`` is stored: relative to ``out/`` inside it, else absolute."""
        path, out = norm(path), norm(self.out)
        return path.relative_to(out).as_posix() if path.is_relative_to(out) else str(path)

    def path(self, name: str) -> Path:
        return Path(name) if os.path.isabs(name) else self.out / name

    def read(self) -> dict[Path, Entry]:
        """The live entries; a missing ledger is an empty one (an output folder of a version
        before it, or a new one)."""
        try:
            with open(self.file, "rb") as f:
                return self._parse(f.read())[0]
        except FileNotFoundError:
            return {}

    def add(self, entries: Iterable[Entry]) -> None:
        """Note files as written (a fresh open under the lock: jobs at once lose no line)."""
        text = "".join(self._line("wrote", e) for e in entries)
        if text:
            append_text(self.file, text)

    @contextlib.contextmanager
    def hold(self) -> Iterator[Held]:
        """The live entries under the lock, kept while the caller removes files; what it put
        in ``dropped`` is noted on the way out, and a ledger of many dead lines rewritten."""
        with locked_file(self.file) as fd:
            with open(self.file, "rb") as f:  # the file locked: no other job appends now
                entries, lines = self._parse(f.read())
            held = Held(entries)
            yield held
            gone = {norm(p) for p in held.dropped}
            for p in gone:
                entries.pop(p, None)
            if lines + len(gone) - len(entries) > max(COMPACT_AFTER, len(entries)):
                # a new file replaces this one; a job waiting on the lock reopens it
                atomic_write_text(self.file, "".join(self._line("wrote", e)
                                                     for e in entries.values()))  # fmt: skip
            elif gone:
                append_locked(fd, "".join(self._line("dropped", Entry(p, "", None))
                                          for p in sorted(gone)))  # fmt: skip

    def _line(self, op: str, e: Entry) -> str:
        fields = {"op": op, "path": self.name(e.path)}
        if op == "wrote":
            fields |= {k: v for k, v in asdict(e).items() if k != "path"}
        return json.dumps(fields, ensure_ascii=False) + "\n"

    def _parse(self, data: bytes) -> tuple[dict[Path, Entry], int]:
        """The live entries of the ledger's bytes, and its count of lines."""
        entries: dict[Path, Entry] = {}
        lines = data.splitlines()
        for line in lines:
            try:
                d = json.loads(line)
                path = norm(self.path(d["path"]))
                if d["op"] == "wrote":
                    source, dev = d.get("source"), d.get("dev")
                    if not (isinstance(source, str | None) and isinstance(dev, int | None)):
                        continue  # edited by hand into something else: not evidence
                    entries[path] = Entry(path, str(d["hash"]), source, dev)
                else:
                    entries.pop(path, None)
            except (ValueError, KeyError, TypeError):
                continue  # torn by a killed job, or not ours: the other lines still count
        return entries, len(lines)
