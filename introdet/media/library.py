"""A video library: its files and their content hashes, their series and episode ids, and a
process's share of them.

Layouts are ``Series/Season 1/episode.mkv`` or ``Series/episode.mkv``. An episode's id is its
file name without the suffix (what labels files name), unless another video under the same
input has that name too: then each of them is known by its key, its path relative to the
input without the suffix (``Show A/Season 1/Episode 1``), which never collides.
"""

from __future__ import annotations

import hashlib
import os
import re
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from introdet.errors import ConfigError, InputNotFound
from introdet.media.paths import relative_key

VIDEO_SUFFIXES = {
    ".mp4",
    ".m4v",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".ts",
    ".m2ts",
    ".mts",
    ".wmv",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ogv",
    ".3gp",
    # raw elementary streams (demuxed rips): no container, timestamps counted from the frames
    ".h264",
    ".264",
    ".h265",
    ".265",
    ".hevc",
}
# a season's folder, or the specials of a show (Season 0), which belong to it
_SEASON_DIR = re.compile(
    r"^(season|сезон|staffel|saison|s)\s*\d+$|^\d+\s*(season|сезон)$|^specials$", re.I
)
_HASH_CHUNK = 1 << 20  # bytes of each chunk content_hash reads


def content_hash(path: str | Path) -> str:
    """Cheap identity of a video file: its size and modification time, plus sha256 of its
    first, middle and last MiB.

    Hashing every byte of a library costs as much I/O as decoding it; three sampled chunks
    and the exact size catch a replaced, re-encoded or truncated file, and the modification
    time an edit of the same size between the chunks (a copy that does not keep the time is
    extracted again: stale features are worse than a second decode).
    """
    path = Path(path)
    st = path.stat()
    size = st.st_size
    h = hashlib.sha256(f"{size}:{st.st_mtime_ns}".encode())
    with open(path, "rb") as f:
        for offset in sorted({0, max(0, size // 2 - _HASH_CHUNK // 2), max(0, size - _HASH_CHUNK)}):
            f.seek(offset)
            h.update(f.read(_HASH_CHUNK))
    return f"sha256s:{h.hexdigest()[:32]}"


def find_videos(
    root: str | Path,
    passed_over: list[Path] | None = None,
    unreadable: list[tuple[Path, str]] | None = None,
) -> list[Path]:
    """Video files under root, sorted; linked folders are followed, each folder once (a link
    back up is cut); ``unreadable`` gets the folders that cannot be listed.

    Hidden files and folders are passed over. Broken links named like videos are listed too,
    so that the run reports them as failed rather than leaving an episode out without a word
    (an unmounted share, a moved file). ``passed_over``, if given, gets the other files, sorted
    (an ``.mp3``, a ``notes.txt``), for the run to name: all but the companions of a video
    (``e1.srt``, ``e1.nfo``, introdet's own ``e1.edl`` beside ``e1.mkv``), which belong to
    an episode that was taken.
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise InputNotFound(f"{root}: no such file or folder (input)")
    found, others = [], []
    for p in _files(root, unreadable):
        if _hidden(p.relative_to(root)):
            continue
        if p.suffix.lower() in VIDEO_SUFFIXES:
            if _video_entry(p):
                found.append(p)
        elif passed_over is not None and os.path.isfile(p):
            others.append(p)
    if passed_over is not None:
        stems = {(p.parent, p.stem) for p in found}
        passed_over += sorted(p for p in others if not _companion(p, stems))
    return sorted(found)


# a run's output folder holds this file: a scan of a library never goes into one below its root
# (out= inside input=: its chapter copies would be taken for episodes, run after run)
OUTPUT_MARK = ".introdet-outputs"


def _files(root: Path, unreadable: list[tuple[Path, str]] | None = None):
    """Every file under ``root``, through links to folders as media servers follow them (each
    folder once: a link back up is a loop, cut), but none of an output folder of introdet below
    it; ``unreadable`` gets each folder that cannot be listed, with the reason."""
    seen: set[tuple[int, int]] = set()

    def refused(error: OSError) -> None:
        if unreadable is not None:
            unreadable.append((Path(error.filename), error.strerror or str(error)))

    for folder, dirs, files in os.walk(root, onerror=refused, followlinks=True):
        here = Path(folder)
        st = here.stat()
        if (st.st_dev, st.st_ino) in seen:  # reached again through a link: a loop, or twice
            dirs[:] = []
            continue
        seen.add((st.st_dev, st.st_ino))
        # os.path.isfile: False, not an error, inside a folder that cannot be entered
        dirs[:] = [d for d in dirs if not os.path.isfile(here / d / OUTPUT_MARK)]
        yield from (here / f for f in files)


def _companion(path: Path, videos: set[tuple[Path, str]]) -> bool:
    """Named after a video of its folder: ``e1.srt``, ``e1.en.srt``, ``e1.chapters.vtt``."""
    stem = path.name
    while "." in stem:
        stem = stem.rsplit(".", 1)[0]
        if (path.parent, stem) in videos:
            return True
    return False


PASSED_OVER_SHOWN = 5  # files a note names; the others are counted


def passed_over_note(files: list[Path], root: str | Path) -> str | None:
    """One line for a run's report naming the files ``find_videos`` passed over (relative to
    the input ``root``); None when there are none."""
    if not files:
        return None
    base = Path(root) if Path(root).is_dir() else Path(root).parent
    names = [p.relative_to(base).as_posix() for p in files[:PASSED_OVER_SHOWN]]
    more = len(files) - len(names)
    listed = ", ".join(names) + (f" and {more} more" if more else "")
    n = len(files)
    files_word, its = ("1 file", "its") if n == 1 else (f"{n} files", "their")
    return f"passed over {files_word}, not video by {its} suffix: {listed}"


def _hidden(rel: Path) -> bool:
    """Under a dot-folder or dot-named, as media servers pass them over: macOS's ``._x.mkv``
    resource forks, trash and thumbnail folders, and introdet's own caches and logs."""
    return any(part.startswith(".") for part in rel.parts)


def _broken_link(path: Path) -> bool:
    """A symlink whose target is missing or loops back (exists() follows it and fails)."""
    return os.path.islink(path) and not os.path.exists(path)


def _video_entry(path: Path) -> bool:
    """Whether an entry named like a video is listed: a file, a broken link, or one that
    cannot be looked at (in a folder that can be listed but not entered), so that the run
    names it as failed rather than leaving it out without a word."""
    try:
        return path.is_file() or _broken_link(path)
    except OSError:
        return True


# "Show.Name.S01E02.mkv", "Show Name - 1x02.mkv": the series is what comes before the code
_EPISODE_CODE = re.compile(
    r"^(?P<show>.*?)[\s._\-\[(]*(?:s\d{1,2}[\s._-]*e\d{1,3}|\d{1,2}x\d{2,3})(?!\d)", re.I
)


def series_of(path: Path, root: Path) -> str:
    """The series of a file: ``Show/Season N/file`` -> Show; a file right in the folder
    searched, named with an episode code (``Show.Name.S01E02``, ``Show Name 1x02``) -> the
    name before the code; else its folder."""
    parent = path.parent
    if _SEASON_DIR.match(parent.name.strip()) and parent != root:
        return parent.parent.name or path.stem
    if parent == root:
        m = _EPISODE_CODE.match(path.stem)
        show = re.sub(r"[._]+", " ", m["show"]).strip(" -[(") if m else ""
        if show:
            return show
    return parent.name or path.stem


def parse_shard(shard: str | None) -> tuple[int, int] | None:
    """``"i/n"`` -> ``(i, n)`` with 0 <= i < n; None (every file) for an empty value."""
    if not shard:
        return None
    try:
        i, n = (int(x) for x in str(shard).split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise ConfigError(f"shard must be 'i/n' with 0 <= i < n, got {shard!r}") from None
    return i, n


def take_shard(paths: list[Path], shard: str | None) -> list[Path]:
    """Files of shard "i/n": by a hash of the file name, so adding files moves no others."""
    parsed = parse_shard(shard)
    if parsed is None:
        return paths
    i, n = parsed
    return [p for p in paths if zlib.crc32(p.name.encode()) % n == i]


def in_season_shard(series: str, shard: tuple[int, int]) -> bool:
    """Whether the season ``series`` falls in shard ``(i, n)``: by a hash of its name, so a
    season is never split and keeps its shard when others come or go."""
    i, n = shard
    return zlib.crc32(series.encode()) % n == i


# a file system name holds 255 bytes; an episode's files add their suffix
# (".chapters.vtt") and, while written, a temporary ".<name>.<pid>.<random>.tmp" around it
MAX_NAME_BYTES = 200


@dataclass
class VideoJob:
    path: Path
    episode: str  # the id: the file's stem, or its key when the stem is not unique
    series: str
    source_hash: str
    key: str = ""  # the path relative to the input, without suffix: where outputs go


def video_jobs(
    input: str | Path,
    shard: str | None = None,
    only: set[str] | None = None,
    series: str | None = None,
    passed_over: list[Path] | None = None,
) -> tuple[list[VideoJob], list[tuple[str, str]]]:
    """The videos under ``input`` to work on (``shard``: this process's share, ``only``: just
    these episode ids), and ``(path, reason)`` for each file that cannot be one (an episode id
    taken twice, a broken link, an unreadable file); ``passed_over``, if given, gets the files
    that are not videos (``find_videos``)."""
    root = Path(input)
    base = root if root.is_dir() else root.parent
    unreadable: list[tuple[Path, str]] = []
    videos = find_videos(root, passed_over, unreadable)
    stems = Counter(p.stem for p in videos)  # over the whole input: ids never depend on shard=
    jobs, owner = [], {}
    # a folder that cannot be listed is named, not left out without a word
    failed = [(str(f), f"folder cannot be read ({why}): its videos are left out")
              for f, why in unreadable]  # fmt: skip
    for path in take_shard(videos, shard):
        key = relative_key(path, base)
        ep = path.stem if stems[path.stem] == 1 else key
        if only is not None and ep not in only:
            continue
        if ep in owner:
            failed.append((str(path), f"episode id {ep!r} already used by {owner[ep]}"))
            continue
        owner[ep] = path
        name_bytes = len(os.fsencode(path.stem))  # the last part of the id, key or stem
        if name_bytes > MAX_NAME_BYTES:
            failed.append((str(path), f"file name too long: {name_bytes} bytes "
                           f"(the files made for it need <= {MAX_NAME_BYTES})"))  # fmt: skip
            continue
        if _broken_link(path):
            failed.append((str(path), "broken symbolic link (target missing or a loop)"))
            continue
        try:
            h = content_hash(path)
        except OSError as e:
            failed.append((str(path), f"cannot read ({e.strerror or e})"))
            continue
        ser = series or series_of(path, base)
        jobs.append(VideoJob(path, ep, ser, h, key))
    return jobs, failed


# --- series names ------------------------------------------------------------------------

# Latin letters typed in place of their Cyrillic look-alikes (and back) inside one series'
# names; folding both scripts onto one skeleton makes such names one group.
_LOOKALIKE = str.maketrans("аеорсхукмтнвіё", "aeopcxykmthbie")
_EPISODE_TAIL = re.compile(
    r"[\s.,:;\-–—_(\[]*("
    r"\d+\s*(сезон|season|серия|episode|эпизод|series)"
    r"|(сезон|season|серия|episode|эпизод)\s*\d+"
    r"|s\d{1,2}\s*e\d{1,3}|\d{1,2}x\d{1,3}"
    r").*$",
    re.IGNORECASE,
)


def series_from_name(name: str) -> str | None:
    """``"Блеск. 2 сезон, 5 серия"`` -> ``"Блеск"``; None when nothing is left."""
    head = _EPISODE_TAIL.sub("", unicodedata.normalize("NFKC", name)).strip().strip(".,:;-–—_ ")
    return head or None


def series_key(name: str) -> str:
    """Grouping key: case, spacing, punctuation and look-alike scripts folded away."""
    s = unicodedata.normalize("NFKC", name).casefold().translate(_LOOKALIKE)
    return re.sub(r"[\W_]+", " ", s).strip()
