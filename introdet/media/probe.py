"""Probe a video with PyAV: its metadata, display size and true duration."""

from __future__ import annotations

import functools
import itertools
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import av
import numpy as np

from introdet.errors import VideoError
from introdet.media.container import open_input, open_video, sample_aspect
from introdet.media.packets import decoded, frame_ticks

log = logging.getLogger(__name__)

# a tail longer than this between the last decoded frame and the stated duration is treated as
# truncation (stop there), not as a sparse stream whose last frame stays on screen
MAX_TAIL_GAP = 1.0
# seconds before the end that a search for the last keyframe seeks to, in turn (MPEG-TS seeks
# land on any packet, maybe after the last keyframe); a GOP not found so is not checked
TAIL_SEEKS = (0, 10, 60)
MAX_TAIL_PACKETS = 3000  # packets of the last GOP (two, if it is open) held for the check
RATE_PACKETS = 48  # packets from the start whose timestamps check the declared frame rate
REORDER = 16  # packets read past those: a B-frame comes at most 16 after its later reference
MS = 0.001  # coarsest rounding found in a finer clock (Matroska's milliseconds remuxed to MP4)
# two declared rates this close are one, once written as a measured average: 24 and
# 230400/9599 are, 24 and 24000/1001 (1/1001 apart) are not
SAME_RATE = 1 / 2000


@dataclass(frozen=True)
class VideoInfo:
    path: str
    duration: float  # seconds of the video stream
    fps: float | None  # frame rate: the declared one its timestamps agree with (``frame_rate``)
    width: int  # display size: sample aspect ratio and rotation applied
    height: int
    rotation: int  # counter-clockwise degrees (0, 90, 180, 270) that make the picture upright
    codec: str
    start_time: float  # seconds, pts of the stream's first frame (may be non-zero)
    has_audio: bool
    # the headers promise over MAX_TAIL_GAP more than the packets hold: probing said so, and
    # ``duration`` is where the packets end
    truncated: bool = False
    # the stream's declared frame rates, most trusted first, and the seconds its timestamps
    # are rounded to: what ``frame_rate`` checks other frame times against
    rates: tuple[Fraction, ...] = ()
    resolution: float = MS


def probe(path: str | os.PathLike) -> VideoInfo:
    """Read a video's metadata and decode its first frame, so an unreadable file fails here.

    What a file says is kept while it is unchanged (same size and modification time): season
    mode reads one video's pictures in several places, and a 1080p episode's probe costs
    about 60 ms (a keyframe decoded, the first packets' times, the last ones')."""
    try:
        st = os.stat(path)
    except OSError:
        return _probe(path)  # the one clear line on what is wrong comes from there
    return _probe_kept(os.fspath(path), st.st_mtime_ns, st.st_size)


@functools.lru_cache(maxsize=1024)
def _probe_kept(path: str, mtime_ns: int, size: int) -> VideoInfo:
    return _probe(path)


def _probe(path: str | os.PathLike) -> VideoInfo:
    with open_video(path) as (container, stream):
        first = next(decoded(container, stream, path), None)
        if first is None:
            raise VideoError(path, "no decodable video frame")
        origin = origin_pts(container, stream)
        rotation = _rotation(stream, first)
        sar = sample_aspect(stream)
        width, height = round(first.width * sar), first.height
        if rotation in (90, 270):
            width, height = height, width
        rates = declared_rates(stream)
        steps, resolution = _first_steps(container, stream, origin)
        duration, truncated = _duration(container, stream, path, origin)
        return VideoInfo(
            path=str(path),
            duration=duration,
            fps=frame_rate(rates, steps, resolution, average=True),
            width=width,
            height=height,
            rotation=rotation,
            codec=stream.codec_context.name,
            start_time=float(origin * stream.time_base),
            has_audio=bool(container.streams.audio),
            truncated=truncated,
            rates=rates,
            resolution=resolution,
        )


def frame_rate(
    rates: Sequence[Fraction], steps: Sequence[float], resolution: float, average: bool = False
) -> float | None:
    """Frames per second: the first declared rate (``rates``, most trusted first) that the
    timestamps agree with, else what the timestamps say; None where neither says anything.

    ``steps`` are seconds between consecutive frames, their ends rounded to ``resolution``
    seconds: a 24-fps Matroska file (1 ms time base) steps 41 or 42 ms, never 41.667, so its
    median step alone would say 23.81 or 24.39. A declared rate agrees when at least half the
    steps are within ``resolution`` of its frame interval; one that does not (a variable frame
    rate, a wrong header) gives way to the timestamps: the mean of the steps within
    ``resolution`` of their median (the usual frame step), or with ``average`` of all of
    them (frames a second over the steps' span). Without steps, the first declared rate is
    taken as it is.
    """
    rates = [r for r in rates if r and r > 0]
    d = np.asarray([x for x in steps if x > 0], np.float64)  # [S] seconds
    if not len(d):
        return _simplest(rates[0], rates) if rates else None
    tol = resolution * (1 + 1e-6) + 1e-9  # float seconds: pts * time_base leaves ~1e-15
    agree = [r for r in rates if 2 * np.count_nonzero(np.abs(d - 1 / float(r)) <= tol) >= len(d)]
    if agree:
        return _simplest(agree[0], agree)
    if average:
        return float(len(d) / d.sum())
    near = d[np.abs(d - np.median(d)) <= tol]  # empty where the middle two steps differ much
    return float(1 / (near.mean() if len(near) else np.median(d)))


def _simplest(rate: Fraction, others: Sequence[Fraction]) -> float:
    """``rate``, or the fewest-digits rate of ``others`` that is the same rate (SAME_RATE):
    r_frame_rate's 30000/1001 rather than average_rate's 576000/19219 measured from an MP4."""
    same = [r for r in others if abs(r / rate - 1) <= SAME_RATE]
    return float(min(same, key=lambda r: (r.denominator, same.index(r))))


def declared_rates(stream: av.VideoStream) -> tuple[Fraction, ...]:
    """The frame rates the stream states, most trusted first: FFmpeg's average rate, the base
    rate (r_frame_rate), its guess, the decoder's; each once, none that is zero or absent."""
    cc = stream.codec_context
    said = (stream.average_rate, stream.base_rate, stream.guessed_rate, cc.framerate)
    return tuple(dict.fromkeys(Fraction(r) for r in said if r and r > 0))


def _first_steps(
    container: av.container.InputContainer, stream: av.VideoStream, origin: int
) -> tuple[list[float], float]:
    """Seconds between the presentation times of the first RATE_PACKETS packets, and the
    seconds those times are rounded to: one tick of the time base, or the coarser grain by
    which their steps differ, up to MS (milliseconds written into a finer clock: 24 fps in
    MP4's 1/16000 steps 656 or 672 ticks). Steps that never differ show no rounding: exact
    timestamps, checked to the tick. No steps where the stream has no timestamps or does not
    seek back to its start."""
    tb = stream.time_base
    pts: list[int] = []
    try:
        container.seek(origin, stream=stream)
        for packet in container.demux(stream):
            if packet.size and packet.pts is not None:
                pts.append(packet.pts)
                if len(pts) == RATE_PACKETS + REORDER:
                    break
    except av.error.FFmpegError:
        pts = []
    # decoding order -> presentation order; the last ones read may still miss B-frames
    pts = sorted(set(pts))[:RATE_PACKETS]
    ticks = [b - a for a, b in itertools.pairwise(pts)]
    grain = math.gcd(*(b - a for a, b in itertools.pairwise(ticks)))
    resolution = max(float(tb), min(float(grain * tb), MS))
    return [float(t * tb) for t in ticks], resolution


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


def origin_pts(container: av.container.InputContainer, stream: av.VideoStream) -> int:
    """pts of the stream's first frame: all returned times count from here."""
    if stream.start_time is not None:
        return stream.start_time
    if container.start_time is not None:
        return _ticks(container.start_time, stream.time_base)
    return 0  # no timestamps at all: ``decoded`` counts frames from 0


def _duration(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    origin: int,
) -> tuple[float, bool]:
    """Seconds of video: where the last packet ends, else the stream header, else the container's;
    and whether the headers promise over MAX_TAIL_GAP more (a file cut short: warned here).

    Headers mislead: MP4 muxers write variable-frame-rate durations short, Matroska counts the
    container duration from 0 rather than from the start time, a truncated file keeps its full
    header duration. The last packets, found by one seek near the end, say where the video ends.
    """
    tb = stream.time_base
    header = _header_end(container, stream, origin)
    last = _last_packet_end(container, stream, path, header)
    if last is None:
        if header is None:
            raise VideoError(path, "duration unknown: no header duration and no timestamps")
        return float((header - origin) * tb), False
    if header is not None and (header - last) * tb > MAX_TAIL_GAP:
        log.warning(
            "%s: header says %.2f s but the video ends at %.2f s (truncated?)",
            path,
            float((header - origin) * tb),
            float((last - origin) * tb),
        )
        return float((last - origin) * tb), True
    if header is not None and header > last:
        last = header  # the header knows the last frame's real length (AVI packets say 1 tick)
    return float((last - origin) * tb), False


def _header_end(
    container: av.container.InputContainer, stream: av.VideoStream, origin: int
) -> int | None:
    """End pts the headers promise: the stream's duration, else Matroska's tag, else the
    container's; a frame count that promises more wins (None: the headers say nothing)."""
    tb = stream.time_base
    header = None
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
    counted = _counted_end(stream, origin)
    if counted is not None and (header is None or counted > header):
        header = counted
    return header


def _counted_end(stream: av.VideoStream, origin: int) -> int | None:
    """End pts by the header's frame count, where timestamps count frames (one tick a frame).

    There the count is the header's duration, but FFmpeg's duration need not be: a cut AVI's
    is shrunk in proportion to the bytes missing (cut to 80 %, 5 s of frames "last" 4 s), which
    would hide the cut. Elsewhere a count over an average rate is no promise (an MP4 edit list
    leaves counted frames out of the presentation), so it is not used."""
    rate = stream.average_rate
    if not stream.frames or not rate or rate * stream.time_base != 1:
        return None
    return origin + stream.frames


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
    with open_input(path) as fresh:
        return _packets_end(fresh, fresh.streams.video[0])


def _packets_end(container: av.container.InputContainer, stream: av.VideoStream) -> int | None:
    step, end = frame_ticks(stream), None
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


def cut_off_at(path: str | os.PathLike, duration: float) -> float | None:
    """Seconds (from the first frame) of the video's last packet where that packet does not
    decode whole, None where it does or no keyframe is found near the end (``duration``).

    A copy interrupted mid-frame ends so. Where no header promises more (MPEG-TS has no
    duration field; FFmpeg estimates one from the last timestamps), this is the only trace of
    the cut: the frames after it are simply not there.
    """
    with open_video(path) as (container, stream):
        if stream.start_time is None and container.start_time is None:
            return None  # no timestamps: no seeking to the end, no time to put a cut at
        origin = origin_pts(container, stream)
        end = origin + math.ceil(Fraction(duration) / stream.time_base)
        packets = _tail_packets(container, stream, origin, end)
        at = _broken_at(stream, packets) if packets else None
        return None if at is None else float((at - origin) * stream.time_base)


def _tail_packets(
    container: av.container.InputContainer, stream: av.VideoStream, origin: int, end: int
) -> list[av.Packet] | None:
    """The packets from the last keyframe to the end of the file (``_last_gop``), None where
    no keyframe turns up within TAIL_SEEKS of the end ``end``."""
    for back in TAIL_SEEKS:
        try:
            container.seek(max(origin, end - round(back / stream.time_base)), stream=stream)
        except av.error.FFmpegError:
            return None
        packets = _last_gop(container, stream)
        if packets:
            return packets
    return None


def _last_gop(
    container: av.container.InputContainer, stream: av.VideoStream
) -> list[av.Packet] | None:
    """The last GOP's packets from the current position on (None: no decodable one seen). An
    open GOP comes with the one before: its leading frames refer to that one's pictures."""
    before, gop = [], []
    try:
        for packet in container.demux(stream):
            if not packet.size:  # the flush packet at the end
                continue
            if packet.is_keyframe:
                before, gop = gop, [packet]
            elif gop:
                gop.append(packet)
            if len(before) + len(gop) > MAX_TAIL_PACKETS:
                return None
    except av.error.FFmpegError:
        pass  # damage at the end: the packets read before it are the tail
    if not gop:
        return None  # MPEG-TS seeks land on any packet, maybe past the last keyframe
    key = gop[0].pts
    if key is not None and any(p.pts is not None and p.pts < key for p in gop[1:]):
        return before + gop if before else None
    return gop


def _broken_at(stream: av.VideoStream, packets: list[av.Packet]) -> int | None:
    """pts of the last of ``packets`` where it does not decode whole (None where it does):
    the demuxer flags it (an AVI chunk shorter than its header), decoding it fails, or its
    frame comes out corrupt (an MPEG-TS packet whose bytes end early: nothing says its size)."""
    last = packets[-1]
    if last.is_corrupt:
        return last.pts
    codec = stream.codec_context
    for packet in [*packets, None]:  # None drains the decoder
        try:
            frames = codec.decode(packet)
        except av.error.FFmpegError:
            if packet is last:
                return last.pts
            continue
        if any(f.is_corrupt and f.pts is not None and f.pts == last.pts for f in frames):
            return last.pts
    return None


def _rotation(stream: av.VideoStream, first: av.VideoFrame) -> int:
    """Counter-clockwise degrees from the display matrix, else the legacy ``rotate`` tag."""
    degrees = first.rotation  # FFmpeg copies the stream's display matrix onto each frame
    if not degrees and "rotate" in stream.metadata:
        try:
            degrees = -float(stream.metadata["rotate"])  # the tag counts clockwise
        except ValueError:
            degrees = 0
    return round(degrees / 90) * 90 % 360


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
