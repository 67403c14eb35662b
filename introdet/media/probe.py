"""Probe a video with PyAV: its metadata, display size and true duration; open it safely."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from introdet.errors import VideoError
from introdet.media.packets import _decoded, _frame_ticks

log = logging.getLogger(__name__)

# a tail longer than this between the last decoded frame and the stated duration is treated as
# truncation (stop there), not as a sparse stream whose last frame stays on screen
MAX_TAIL_GAP = 1.0


@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration: float  # seconds of the video stream
    fps: float | None  # average frame rate
    width: int  # display size: sample aspect ratio and rotation applied
    height: int
    rotation: int  # counter-clockwise degrees (0, 90, 180, 270) that make the picture upright
    codec: str
    start_time: float  # seconds, pts of the stream's first frame (may be non-zero)
    has_audio: bool


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's metadata and decode its first frame, so an unreadable file fails here."""
    with _open(path) as (container, stream):
        first = next(_decoded(container, stream, path), None)
        if first is None:
            raise VideoError(path, "no decodable video frame")
        origin = _origin_pts(container, stream)
        rotation = _rotation(stream, first)
        sar = _sar(stream)
        width, height = round(first.width * sar), first.height
        if rotation in (90, 270):
            width, height = height, width
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            path=str(path),
            duration=_duration(container, stream, path, origin),
            fps=float(rate) if rate else None,
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            start_time=float(origin * stream.time_base),
            has_audio=bool(container.streams.audio),
        )


def scan_end(
    duration: float,
    start: float = 0.0,
    max_seconds: float | None = None,
    fraction: float | None = None,
    min_fraction: float | None = None,
) -> float:
    """``start + max_seconds``, or ``start + min_fraction * duration`` when that is longer;
    then no further than ``start + fraction * duration`` nor the end."""
    end = duration
    if max_seconds is not None:
        longest = start + max_seconds
        if min_fraction is not None:
            longest = max(longest, start + min_fraction * duration)
        end = min(end, longest)
    if fraction is not None:
        end = min(end, start + fraction * duration)
    return end


def sample_count(scan_end: float, fps: float = 1.0, start: float = 0.0) -> int:
    """How many samples ``start + k / fps`` lie before ``scan_end``."""
    # rounding guards a duration like 5.0000001 s from adding a k that no frame covers
    return max(0, math.ceil(round((scan_end - start) * fps, 6)))


@contextmanager
def _open(path: str | os.PathLike) -> Iterator[tuple[av.container.InputContainer, av.VideoStream]]:
    p = Path(path)
    if not p.exists():
        raise VideoError(path, "no such file")
    if not p.is_file():
        raise VideoError(path, "not a regular file")
    if p.stat().st_size == 0:
        raise VideoError(path, "empty file (0 bytes)")
    try:
        container = av.open(str(p), metadata_errors="ignore")
    except (av.error.FFmpegError, OSError) as e:
        # strerror alone: str(e) repeats the path and FFmpeg's tag-sized errno
        raise VideoError(path, f"not a readable media file ({e.strerror or e})") from e
    try:
        if not container.streams.video:
            kinds = sorted({s.type for s in container.streams}) or ["no streams"]
            raise VideoError(path, f"no video stream (has {', '.join(kinds)})")
        yield container, container.streams.video[0]
    finally:
        container.close()


def _configure(stream: av.VideoStream, threads: int, skip: str | None) -> None:
    stream.thread_type = "AUTO"  # frame + slice threading
    stream.codec_context.thread_count = threads
    if skip:
        stream.codec_context.skip_frame = skip


def _origin_pts(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """pts of the stream's first frame: all returned times count from here."""
    if stream.start_time is not None:
        return stream.start_time
    if container.start_time is not None:
        return _ticks(container.start_time, stream.time_base)
    return 0  # no timestamps at all: _decoded counts frames from 0


def _duration(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    origin: int,
) -> float:
    """Seconds of video: where the last packet ends, else the stream header, else the container's.

    Headers mislead: MP4 muxers write variable-frame-rate durations short, Matroska counts the
    container duration from 0 rather than from the start time, a truncated file keeps its full
    header duration. The last packets, found by one seek near the end, say where the video ends.
    """
    tb = stream.time_base
    header = None  # end pts the headers promise
    tag = _duration_tag(stream)
    if stream.duration:
        header = origin + stream.duration
    elif tag is not None:
        # Matroska's per-track DURATION: the video's own end, where the container's duration
        # also covers audio that runs on past the last picture
        end = math.floor(tag / tb)
        header = max(origin, min(end, origin + end))
    elif container.duration:
        # Matroska counts from 0, MP4 and MPEG-TS from the start time: take the later end to
        # seek near, the earlier one if nothing better turns up
        c_start = container.start_time or 0
        ends = [_ticks(container.duration, tb), _ticks(c_start + container.duration, tb)]
        header = max(origin, min(ends))
    last = _last_packet_end(container, stream, path, header)
    if last is None:
        if header is None:
            raise VideoError(path, "duration unknown: no header duration and no timestamps")
        return float((header - origin) * tb)
    if header is not None and (header - last) * tb > MAX_TAIL_GAP:
        log.warning(
            "%s: header says %.2f s but the video ends at %.2f s (truncated?)",
            path,
            float((header - origin) * tb),
            float((last - origin) * tb),
        )
    elif header is not None and header > last:
        last = header  # the header knows the last frame's real length (AVI packets say 1 tick)
    return float((last - origin) * tb)


def _last_packet_end(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    near: int | None,
) -> int | None:
    """End pts of the stream's last packet, from demuxing (never decoding) the last GOP.

    Where the index points past the data (a truncated file) or the input cannot seek (a raw
    elementary stream), every packet is demuxed from a fresh start instead.
    """
    if near is not None:
        try:
            # a backward seek lands on the last keyframe before: well past a short header
            container.seek(near + round(60 / stream.time_base), stream=stream)
            end = _packets_end(container, stream)
            if end is not None:
                return end
        except av.error.FFmpegError:
            pass
    with av.open(str(path), metadata_errors="ignore") as fresh:
        return _packets_end(fresh, fresh.streams.video[0])


def _packets_end(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    step, end = _frame_ticks(stream), None
    try:
        for packet in container.demux(stream):
            if packet.size == 0:  # the flush packet at the end
                continue
            # a packet without timestamps follows the one before (raw elementary streams)
            pts = packet.pts if packet.pts is not None else (end if end is not None else 0)
            packet_end = pts + (packet.duration or step)
            end = packet_end if end is None else max(end, packet_end)
    except av.error.FFmpegError:
        pass  # damage at the end: the packets read before it still count
    return end


def _rotation(stream: av.VideoStream, first: av.VideoFrame) -> int:
    """Counter-clockwise degrees from the display matrix, else the legacy ``rotate`` tag."""
    degrees = first.rotation  # FFmpeg copies the stream's display matrix onto each frame
    if not degrees and "rotate" in stream.metadata:
        try:
            degrees = -float(stream.metadata["rotate"])  # the tag counts clockwise
        except ValueError:
            degrees = 0
    return round(degrees / 90) * 90 % 360


def _sar(stream: av.VideoStream) -> Fraction:
    sar = stream.sample_aspect_ratio or stream.codec_context.sample_aspect_ratio
    return Fraction(sar) if sar and sar > 0 else Fraction(1)


def _duration_tag(stream: av.VideoStream) -> Fraction | None:
    """Seconds in a Matroska track's ``DURATION`` tag ("HH:MM:SS.nnnnnnnnn"), None if absent."""
    text = stream.metadata.get("DURATION") or stream.metadata.get("duration")
    if not text:
        return None
    try:
        h, m, sec = text.strip().split(":")
        return int(h) * 3600 + int(m) * 60 + Fraction(sec)
    except ValueError:
        return None  # a tag some muxer wrote its own way: the other headers decide


def _ticks(microseconds: int, tb: Fraction) -> int:
    return math.floor(Fraction(microseconds, av.time_base) / tb)
