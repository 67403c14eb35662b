"""Chapters written into the video itself: a remuxed copy, no re-encoding, no sidecar file.

Players and media servers that ignore ``.ffmetadata`` and ``.chapters.vtt`` files still show the
chapters a container carries. The copy keeps every packet as it is, the container's tags (title,
creation_time...) and each stream's tags and disposition; only the chapters are replaced.
"""

from __future__ import annotations

import os
import tempfile
from fractions import Fraction
from pathlib import Path

import av

from introdet.atomic import TEMP_SUFFIX, file_mode
from introdet.errors import VideoError
from introdet.media.container import failure, open_input
from introdet.outputs.timeline import chapters

# containers whose muxers write chapters, by the destination's suffix
MUXERS = {".mkv": "matroska", ".webm": "webm", ".mp4": "mp4", ".m4v": "mp4", ".mov": "mov"}
# data streams are left out: an MP4's chapter track shows up as one, and copying it would
# leave the old chapters beside the new ones
_COPIED = ("video", "audio", "subtitle", "attachment")
# "surrogateescape": tags that are not UTF-8 go back out byte for byte
_TAG_ERRORS = "surrogateescape"


def apply_chapters(video: Path, record: dict, dest: Path) -> Path:
    """Write ``dest``: ``video`` with the record's chapters, every packet copied as it is."""
    video, dest = Path(video), Path(dest)
    muxer = MUXERS.get(dest.suffix.lower())
    if muxer is None:
        kind = repr(dest.suffix) if dest.suffix else "suffix-less"
        raise VideoError(dest, f"cannot write chapters into a {kind} file; use {', '.join(MUXERS)}")
    if not video.is_file():
        raise VideoError(video, "no such file")
    marks = chapter_dicts(record)  # before any file is touched: a bad record is a RecordError
    try:
        _write_atomically(video, dest, muxer, marks)
    except VideoError:
        raise
    except (av.FFmpegError, OSError, ValueError) as e:
        # the reason alone: str(e) of an FFmpegError repeats the path and FFmpeg's errno
        reason = failure(e)
        raise VideoError(video, f"cannot write a copy with chapters to {dest} ({reason})") from e
    return dest


def chapter_dicts(record: dict) -> list[dict]:
    """The record's chapters as ``OutputContainer.set_chapters`` takes them (ms, ids from 1)."""
    ms = Fraction(1, 1000)
    return [
        {"id": i, "start": start, "end": end, "time_base": ms, "metadata": {"title": title}}
        for i, (title, start, end) in enumerate(chapters(record), 1)  # Matroska: ids are UIDs, > 0
    ]


def _write_atomically(video: Path, dest: Path, muxer: str, marks: list[dict]) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    # a temp file beside dest: os.replace is atomic within one file system only, and a player
    # or media server never sees a half-written video; dest may be video itself
    fd, tmp = tempfile.mkstemp(
        dir=dest.parent, prefix=f".{dest.name}.{os.getpid()}.", suffix=TEMP_SUFFIX
    )
    os.close(fd)
    try:
        _remux(video, tmp, muxer, marks)
        os.chmod(tmp, file_mode())  # mkstemp makes 0600 files; media servers run as other users
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, dest)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _remux(video: Path, out_path: str, muxer: str, marks: list[dict]) -> None:
    with (
        open_input(video, metadata_errors=_TAG_ERRORS) as src,
        av.open(out_path, "w", format=muxer, metadata_errors=_TAG_ERRORS) as out,
    ):
        out.metadata.update(src.metadata)
        remap = {}
        for stream in src.streams:
            if stream.type not in _COPIED:
                continue
            # opaque: the template's codec as it is, not an encoder looked up by its name
            copy = out.add_stream_from_template(stream, opaque=True)
            copy.metadata.update(stream.metadata)
            copy.disposition = stream.disposition
            remap[stream.index] = copy
        if not (src.streams.video or src.streams.audio):
            raise VideoError(video, "no video or audio stream to copy")
        out.set_chapters(marks)  # before the first packet: muxers write chapters in the header
        for packet in src.demux([src.streams[i] for i in remap]):
            # the demuxer ends each stream with an empty packet; a packet without dts is still a
            # frame (the first ones of a Matroska stream with B-frames): the muxer derives it
            if packet.size == 0:
                continue
            packet.stream = remap[packet.stream.index]
            out.mux(packet)
