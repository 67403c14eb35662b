"""The chapters a video already carries (Matroska editions, MP4 chapter lists, Ogg comments...):
read from the container's header through FFmpeg, nothing decoded.

A chapter's end is what the container says where it says one; a chapter without an end (or
with one before its start) ends where the next begins, the last one with the file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av

from introdet.errors import VideoError
from introdet.media.container import failure, open_input


@dataclass(frozen=True)
class FileChapter:
    start: float  # seconds on the file's timeline
    end: float
    title: str  # "" where the chapter has none


@dataclass(frozen=True)
class FileChapters:
    chapters: tuple[FileChapter, ...]  # in order of start
    duration: float | None  # seconds the container says it lasts (None: it does not say)


def read_chapters(path: str | os.PathLike) -> FileChapters:
    """The chapters of ``path``, in order; ``VideoError`` for a file that cannot be opened."""
    try:
        with open_input(path) as container:
            raw = container.chapters()
            duration = container.duration / 1e6 if container.duration else None
    except (av.FFmpegError, OSError) as e:
        raise VideoError(path, f"cannot open ({failure(e)})") from e
    marks = []
    for c in raw:
        tb = c.get("time_base")
        if not tb:
            continue  # no clock: its times mean nothing
        start, end = float(c["start"] * tb), float(c["end"] * tb)
        title = str((c.get("metadata") or {}).get("title", "")).strip()
        marks.append((start, end, title))
    marks.sort(key=lambda m: m[0])
    out = []
    for k, (start, end, title) in enumerate(marks):
        nxt = marks[k + 1][0] if k + 1 < len(marks) else duration
        if end <= start and nxt is not None:
            end = nxt
        if end > start:
            out.append(FileChapter(start, end, title))
    return FileChapters(tuple(out), duration)
