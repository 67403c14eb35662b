"""Taking back what introdet wrote and nothing wants any more: the outputs of a video that is
gone (deleted, or renamed: the new name gets outputs of its own), and the files of a format,
a place (``sidecars=``) or a chapters copy a run no longer asks for. Else a player would keep
skipping the old intro of a replaced video, or a part of one that is gone.

Only files in the ledger are ever removed, and only while they hold what introdet wrote (one
changed since is let go, with a line). A video counts as gone only when a run covers it, that
is its ``input=`` folder holds the video's path (a run on ``Show/Season 2`` leaves Season 1
alone), and only by the file system's word: not being in this run (a ``shard=`` job sees its
share, ``only=`` a few) is no sign. A video missing where its folder is now on another device
than when its outputs were written is on a share that is not mounted: kept.
"""

from __future__ import annotations

import errno
import logging
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from introdet.errors import printable
from introdet.outputs.ledger import Entry, Held, Ledger, file_hash, norm

log = logging.getLogger(__name__)

GONE = "its video is gone (deleted or renamed)"
NOT_ASKED = "no longer asked for"
_ABSENT = (errno.ENOENT, errno.ENOTDIR)


@dataclass(frozen=True)
class Wanted:
    """What a run keeps: the files of each video whose outputs it wrote, every video it took
    (written or failed, their outputs stay), and the folder its input covers (None: a shard
    folder, whose videos may be anywhere)."""

    files: dict[str, set[Path]]  # source (absolute) -> its outputs now
    taken: set[str]
    scope: Path | None


def tidy(ledger: Ledger, wanted: Wanted) -> None:
    """Remove the ledger's files that ``wanted`` no longer wants, one line per video."""
    with ledger.hold() as held:
        groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
        unmounted, asked = [], {}  # asked: the file system's answer for each video, once
        for entry in held.entries.values():
            why = _unwanted(entry, wanted, asked)
            if why == "unmounted":
                unmounted.append(entry.source)
            elif why:
                groups[entry.source, why].append(entry)
        prune = wanted.scope is None or not norm(wanted.scope).is_relative_to(norm(ledger.out))
        for (source, why), entries in sorted(groups.items()):
            removed = [ledger.name(e.path) for e in entries if _remove(e, held, ledger, prune)]
            if removed:
                log.info("%s: %s: removed %s", printable(source), why,
                         printable(", ".join(sorted(removed))))  # fmt: skip
    if unmounted:
        first = sorted(set(unmounted))
        log.warning("%s and %d more videos not found where their folder is now on another "
                    "device (a share not mounted?): their outputs kept", printable(first[0]),
                    len(first) - 1)  # fmt: skip


def _unwanted(entry: Entry, wanted: Wanted, asked: dict) -> str | None:
    """Why the run no longer wants ``entry`` (``"unmounted"``: it may, later), or None."""
    source = entry.source
    if source is None:
        return None  # the run's own (intros.csv): rewritten whole by each run
    if source in wanted.files:
        return None if entry.path in wanted.files[source] else NOT_ASKED
    if source in wanted.taken or wanted.scope is None:
        return None
    if not Path(source).is_relative_to(norm(wanted.scope)):
        return None
    if (source, entry.dev) not in asked:
        asked[source, entry.dev] = _gone(source, entry.dev)
    return asked[source, entry.dev]


def _gone(source: str, dev: int | None) -> str | None:
    """``GONE`` if the file system says ``source`` is not there; ``"unmounted"`` if its
    nearest folder that is is on another device than its folder was; None if it is there or
    cannot be told (a folder that cannot be read is no deleted video)."""
    try:
        os.lstat(source)
        return None
    except OSError as e:
        if e.errno not in _ABSENT:
            return None
    folder = Path(source).parent
    while True:
        try:
            here = os.stat(folder).st_dev
            break
        except OSError as e:
            if e.errno not in _ABSENT or folder.parent == folder:
                return None
            folder = folder.parent
    return GONE if dev is None or here == dev else "unmounted"


def _remove(entry: Entry, held: Held, ledger: Ledger, prune: bool) -> bool:
    """Remove the file of ``entry`` if it holds what introdet wrote; whether it did."""
    path = entry.path
    try:
        same = file_hash(path, entry.hash) == entry.hash
        if same:
            path.unlink()
    except FileNotFoundError:
        held.dropped.append(path)  # removed already (by hand, or by another job)
        return False
    except OSError as e:  # a read-only folder: tried again by the next run
        log.warning("%s: cannot be removed (%s)", printable(str(path)), e.strerror or e)
        return False
    held.dropped.append(path)
    if not same:
        log.warning("%s: changed since introdet wrote it: left as it is, no longer tracked",
                    printable(str(path)))  # fmt: skip
        return False
    if prune and path.is_relative_to(norm(ledger.out)):
        _prune(path.parent, norm(ledger.out))
    return True


def _prune(folder: Path, out: Path) -> None:
    """Remove the folders of out/'s mirrored tree that the removal left empty."""
    while folder != out and folder.is_relative_to(out):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty: other episodes, or a user's files
        folder = folder.parent
