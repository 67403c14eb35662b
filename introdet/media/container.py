"""Open a media file for reading: the one way in for every reader (probe, the sampler, the
audio decoder, the review app, the chapter writer), so that what bounds a hostile file is
the same everywhere.

Two bounds hold for every file. A read timeout (READ_TIMEOUT) ends a demuxer that gets no
packet for that long; FFmpeg's errors tell it as ``av.error.ExitError``, which ``failure``
words. A file that ends in a long run of zeros (``zero_tail``: a preallocated download not
finished), or in more than a megabyte of something else after its container ends
(``container_end``: a Matroska segment, MP4 boxes or AVI RIFF chunks followed by junk), is
read only up to its data, through FFmpeg's ``subfile`` protocol (native reads, the size known
to the demuxer), with one warning per file; other files are opened as they are.
``open_video`` also refuses picture sizes no decoder should be asked to allocate.
"""

from __future__ import annotations

import errno
import functools
import logging
import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path

import av

from introdet.errors import VideoError
from introdet.media.container_end import ContainerEnd, container_end
from introdet.media.zero_tail import ZeroTail, zero_tail

log = logging.getLogger(__name__)

# seconds the demuxer may read before it finds the next packet (FFmpeg's interrupt callback,
# timed afresh for each packet and checked between reads, not inside one): a backstop against
# whatever besides a zero tail makes it read on without end, such as resynchronising through
# gigabytes of junk. Generous: a spinning disk waking up or a busy share takes seconds
READ_TIMEOUT = 30.0
# the largest pictures decoded: a side of 16384 pixels, twice 8K's pixel count. A header
# claiming more is damaged or hostile (FFmpeg would allocate frames of gigabytes)
MAX_SIDE = 16384
MAX_PIXELS = 2 * 7680 * 4320
# the widest display shape, either way: the sampler scales the shorter side to its size, so
# a pixel aspect ratio of 1000:1 would make each sampled frame 1000 times its size wide
MAX_ASPECT = 64


def open_input(
    path: str | os.PathLike, metadata_errors: str = "ignore"
) -> av.container.InputContainer:
    """``av.open`` for reading with the bounds above; a file of nothing but zeros raises
    OSError (ENODATA) with a message saying so. ``metadata_errors``: how tags that are not
    UTF-8 are decoded (``"ignore"``; the chapter writer keeps them byte for byte)."""
    bound = _bound(path)
    url = os.fspath(path)
    if bound is not None:
        if bound.data_end == 0:
            raise OSError(errno.ENODATA, f"all its {_size(bound.size)} are zeros: a download "
                                         "not started?")  # fmt: skip
        # start,end are bytes of the file; the ",," ends the options, "file:" keeps a path
        # with a colon in it from being taken for a protocol
        url = f"subfile,,start,0,end,{bound.read_end},,:file:{os.path.abspath(url)}"
    return av.open(url, metadata_errors=metadata_errors, timeout=(None, READ_TIMEOUT))


def failure(e: Exception) -> str:
    """Why opening or reading failed, for a one-line message: FFmpeg's reason without the
    path (or the ``subfile`` address) its text repeats; a read timeout said as such."""
    if isinstance(e, av.error.ExitError):
        return f"no data came within {READ_TIMEOUT:.0f} s (a stalled disk or share?)"
    return getattr(e, "strerror", None) or str(e)


@contextmanager
def open_video(
    path: str | os.PathLike,
) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    """The file's container and its first video stream, closed on leaving; a missing, empty
    or unreadable file, one without video, or one whose pictures are implausibly large
    raises VideoError."""
    p = Path(path)
    if not p.exists():
        raise VideoError(path, "no such file")
    if not p.is_file():
        raise VideoError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = open_input(p)
    except (av.error.FFmpegError, OSError) as e:
        raise VideoError(path, f"not a readable media file ({failure(e)})") from e
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise VideoError(path, f"no video stream (has {', '.join(kinds)})")
        stream = container.streams.video[0]
        _check_picture(path, stream)
        yield container, stream
    finally:
        container.close()


def sample_aspect(stream: av.VideoStream) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


def _check_picture(path: str | os.PathLike, stream: av.VideoStream) -> None:
    """Refuse a stream whose headers claim pictures over MAX_SIDE or MAX_PIXELS, or a display
    shape over MAX_ASPECT (sizes not yet known, 0, pass: decoding finds them)."""
    w, h = stream.codec_context.width, stream.codec_context.height
    if max(w, h) > MAX_SIDE or w * h > MAX_PIXELS:
        raise VideoError(path, f"implausible picture size {w}x{h} (at most {MAX_SIDE} pixels a "
                               f"side and {MAX_PIXELS / 1e6:.0f} million in all are decoded; "
                               "a damaged header?)")  # fmt: skip
    sar = sample_aspect(stream)
    if w and h and max(w * sar / h, h / (w * sar)) > MAX_ASPECT:
        raise VideoError(path, f"implausible pixel aspect ratio {sar.numerator}:"
                               f"{sar.denominator} ({w}x{h} pictures shown {float(w * sar):.0f}"
                               f"x{h}; a damaged header?)")  # fmt: skip


def _bound(path: str | os.PathLike) -> ZeroTail | ContainerEnd | None:
    """Where reading a regular file stops (None for anything else: a FIFO would block), found
    once per state of the file: probe, sampler and audio decoder each open it again."""
    st = os.stat(path)
    if not stat.S_ISREG(st.st_mode):
        return None
    return _bound_of(os.fspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _bound_of(
    path: str, dev: int, ino: int, size: int, mtime_ns: int
) -> ZeroTail | ContainerEnd | None:
    """The zero tail or the container's end, whichever says the data ends sooner (a tail of
    zeros right after the container is told as zeros: a download not finished), said once."""
    tail = zero_tail(path)
    if tail is not None and tail.data_end == 0:
        return tail  # all zeros: open_input's error says it
    end = container_end(path)
    if end is not None and (tail is None or end.data_end < tail.data_end):
        log.warning("%s: %s after %s are not its data; read up to byte %d",
                    path, _size(end.junk), end.where, end.read_end)  # fmt: skip
        return end
    if tail is not None:
        log.warning("%s: its last %s are zeros (a download not finished?); read up to byte %d",
                    path, _size(tail.zeros), tail.read_end)  # fmt: skip
    return tail


def _size(n: int) -> str:
    """Bytes in the largest decimal unit below them: 20.0 GB, 64.0 MB, 512 bytes."""
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
