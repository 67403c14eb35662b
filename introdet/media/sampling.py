"""Sample a video's frames: one per second (or any rate), keyframes, or every frame in a span.

Every sampler turns its frames upright, resizes them in FFmpeg and crops them as CLIP's
preprocessing does (``_Converter``).

``decode="needed"`` (the default) hands the decoder only the packets that the sampled frames
depend on: a GOP with no sampled frame is not decoded, a GOP's packets after its last sampled
frame are dropped, and non-reference frames other than the sampled ones are skipped. The frames
returned are the same as with ``decode="all"`` (every packet decoded), which is what files
without timestamps, AVI files and unknown codecs always get. ``decode="keyframes"`` decodes
keyframes only (only those that some sample needs, where packets allow): sample k is then the
last *keyframe* at or before its time, up to a keyframe interval early. That is the coarse pass
of coarse-to-fine prediction.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from introdet.checks import FLAG, NULL, check_node, number, one_of, whole
from introdet.media.packets import (
    Feed,
    Plan,
    decode_alone,
    demuxed,
    frame_ticks,
    frames_from,
    plannable,
)
from introdet.media.probe import (
    VideoInfo,
    cut_off_at,
    open_video,
    origin_pts,
    probe,
    sample_aspect,
    sample_count,
    scan_end,
)

TAIL_SLACK = 1e-6  # seconds: float rounding only; a sample at the last frame's end is past it
log = logging.getLogger(__name__)

# open_clip's Resize is bicubic; swscale widens its bicubic kernel when it shrinks, so a
# 1080p -> 224 resize is antialiased like PIL's
INTERPOLATION = "BICUBIC"

Frame = np.ndarray  # RGB uint8 [H, W, 3]


# a day is the longest episode thought of; a sample at least every 100 s; FFmpeg threads are
# capped where more only costs memory (a huge count stalls the decoder's start)
SAMPLER_RULES = {
    "fps": number(0.01, 120),
    "start": number(0, 86400),
    "max_seconds": number(0, 86400, lo_open=True) | NULL,
    "min_fraction": number(0, 1, lo_open=True) | NULL,
    "fraction": number(0, 1, lo_open=True) | NULL,
    "skip_nonref": FLAG,
    "threads": whole(0, 64),
    "decode": one_of("needed", "all", "keyframes"),
}


@dataclass
class SamplerConfig:
    """``sampler.*`` of extract and predict: which frames become feature rows.

    The keys are those of ``frames_per_second``; these are the commands' defaults."""

    fps: float = 1.0  # samples per second of video
    start: float = 0.0  # seconds into the video of row 0
    # scan length: real labels files have intros starting after 7:00, one from 708 to 749 s;
    # a long episode is scanned over min_fraction of its length when that is longer
    max_seconds: float | None = 900.0
    min_fraction: float | None = 0.4
    fraction: float | None = None  # or scan only this share of each episode, whichever ends first
    skip_nonref: bool = False  # drop non-reference frames in the decoder (faster, <= ~0.12 s early)
    threads: int = 0  # FFmpeg decoding threads, 0 = one per core
    decode: str = "needed"  # needed | all (same frames, slower) | keyframes (coarse pass)

    def __post_init__(self) -> None:
        check_node("sampler", self, SAMPLER_RULES)

    def keys(self) -> dict:
        """The keyword arguments of ``frames_per_second``."""
        return asdict(self)


def frames_per_second(
    path: str | os.PathLike,
    fps: float = 1.0,
    size: int | None = 224,
    crop: bool = True,
    start: float = 0.0,
    max_seconds: float | None = None,
    fraction: float | None = None,
    skip_nonref: bool = False,
    threads: int = 0,
    decode: str = "needed",
    min_fraction: float | None = None,
) -> Iterator[tuple[int, Frame]]:
    """Yield ``(k, frame)`` for k = 0, 1, 2, ...: the frame on screen at ``start + k / fps``.

    Times count from the stream's first frame. Frame k is the last frame whose presentation time
    is <= ``start + k / fps``; a sparse stream (variable frame rate, long frames) repeats the
    previous frame, so no k is ever missing. k runs while ``start + k / fps < scan_end`` with
    ``scan_end = min(duration, start + max(max_seconds, min_fraction * duration), start +
    fraction * duration)`` (``probe.scan_end``): a 5.0 s file at 25 fps (last frame at 4.96 s)
    gives k = 0..4.

    ``size`` resizes the shortest display side to ``size`` inside FFmpeg (aspect kept), then
    ``crop`` center-crops to ``[size, size, 3]``, as CLIP's Resize + CenterCrop do; ``None``
    keeps the coded size. Rotation metadata is applied. Damaged packets are skipped with a
    warning; where decoding cannot go on, iteration stops at the damage with a warning. A file
    cut short gives no sample after its last frame, and one warning says so (where the scan
    reaches the end of the video, its last frame is checked for a cut: a file without a header
    duration, such as MPEG-TS, shows a cut only there).

    ``skip_nonref`` has the decoder drop non-reference frames (most B-frames): faster, but a
    dropped frame is replaced by the reference frame before it, so a sample can come from up to
    one run of consecutive non-reference frames early (x264 defaults: <= 3 frames, ~0.12 s at
    25 fps). ``threads`` is FFmpeg's thread count, 0 = one per core.
    ``decode``: which packets are decoded (the module's docstring).
    """
    if decode not in ("needed", "all", "keyframes"):
        raise ValueError(f"decode must be 'needed', 'all' or 'keyframes', got {decode!r}")
    if fps <= 0 or start < 0:
        raise ValueError(f"fps must be > 0 and start >= 0, got fps={fps}, start={start}")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    info = probe(path)
    end = scan_end(info.duration, start, max_seconds, fraction, min_fraction)
    n = sample_count(end, fps, start)
    if n == 0:
        return
    f_fps, f_start = _frac(fps), _frac(start)
    times = [f_start + k / f_fps for k in range(n)]  # exact seconds of each sample
    with open_video(path) as (container, stream):
        skip = "NONKEY" if decode == "keyframes" else "NONREF" if skip_nonref else None
        _configure(stream, threads, skip)
        to_rgb = _Converter(size, crop, info.rotation, sample_aspect(stream))
        said = yield from _on_screen(
            container, stream, info, times, end, to_rgb, decode, skip_nonref
        )
    # a scan that ran to the end would have had more rows from a longer file: where no warning
    # said the file is short, look for the trace a cut leaves in the last frame
    if end >= info.duration and not (said or info.truncated):
        _say_if_cut_off(info, n)


def _configure(stream: av.VideoStream, threads: int, skip: str | None) -> None:
    """FFmpeg's frame + slice threads (``threads``, 0 = one per core) and frame skipping."""
    stream.thread_type = "AUTO"  # frame + slice threading
    stream.codec_context.thread_count = threads
    if skip:
        stream.codec_context.skip_frame = skip


def _on_screen(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    info: VideoInfo,
    times: list[Fraction],
    scan_end: float,
    to_rgb: _Converter,
    decode: str,
    skip_nonref: bool,
) -> Generator[tuple[int, Frame], None, bool]:
    """``frames_per_second``'s samples out of an opened stream: the frame on screen at each time;
    returns whether it warned that samples were left out."""
    path, tb = info.path, stream.time_base
    origin = origin_pts(container, stream)
    if stream.start_time is None and container.start_time is None:
        # every time below is a frame count over a guessed rate: say so, it may be wrong
        log.warning(
            "%s: no timestamps (raw elementary stream?); times assume %.3g fps",
            path,
            info.fps or 25.0,
        )
    wants = [origin + math.floor(t / tb) for t in times]  # last pts on screen at each sample
    plan = None
    if decode != "all" and plannable(container, stream):
        plan = Plan(container, stream, path, wants, skip_nonref, decode == "keyframes")
        frames = plan.frames(wants[0])
    else:
        feed = Feed(stream, path, shown_to=wants[-1])
        frames = frames_from(container, stream, path, wants[0], feed)
    k, n, prev = 0, len(wants), None
    for frame in frames:
        while frame.pts > wants[k]:  # everything up to wants[k] has been seen: prev is on screen
            yield k, to_rgb(prev if prev is not None else frame)
            k += 1
            if k == n:
                return False
        prev = frame
    if prev is None:
        return False
    # the stream ended: its last frame stays on screen for its duration; a sample after that
    # would show a frame the file does not have there (a file cut short whose header still
    # counts the lost part): none is made up, and the loss is said
    packets_end = plan.end if plan is not None else feed.end
    last_end = _picture_end(prev, stream, origin, packets_end, all_read=plan is None)
    lost = sum(1 for t in times[k:] if last_end - TAIL_SLACK <= float(t) < scan_end)
    if lost:
        log.warning(
            "%s: video frames end at %.2f s but the duration is %.2f s (truncated?); "
            "%d sample(s) after that left out",
            path,
            last_end,
            info.duration,
            lost,
        )
        scan_end = last_end - TAIL_SLACK
    while k < n and float(times[k]) < scan_end:
        yield k, to_rgb(prev)
        k += 1
    return bool(lost)


def _picture_end(
    last: av.VideoFrame,
    stream: av.VideoStream,
    origin: int,
    packets_end: int | None,
    all_read: bool,
) -> float:
    """Seconds from the first frame to where the last picture leaves the screen. ``all_read``:
    every packet was decoded, ``last`` is the last frame, and ``packets_end`` (empty packets
    after it keep it on screen) can only lengthen it; otherwise frames after the last sample
    were not decoded, and only the packets tell (None: the plan stopped before the end)."""
    tb = stream.time_base
    if not all_read:
        return math.inf if packets_end is None else float((packets_end - origin) * tb)
    end = float((last.pts - origin) * tb) + _frame_seconds(last, stream)
    return end if packets_end is None else max(end, float((packets_end - origin) * tb))


def _say_if_cut_off(info: VideoInfo, n: int) -> None:
    """Warn where the samples ran to the video's end and its last frame is cut off mid-packet:
    a copy cut short whose lost part no header counts, so that comparing the duration with the
    frames (``_on_screen``) cannot see it."""
    at = cut_off_at(info.path, info.duration)
    if at is not None:
        log.warning(
            "%s: the video breaks off in its last frame, at %.2f s (truncated?): %d row(s) up "
            "to there; any the whole file has after that are missing (how many cannot be told)",
            info.path,
            at,
            n,
        )


def keyframes(
    path: str | os.PathLike,
    size: int | None = 224,
    crop: bool = True,
    max_seconds: float | None = None,
) -> Iterator[tuple[float, Frame]]:
    """Yield ``(seconds from stream start, frame)`` for keyframes only, in file order.

    Only keyframe packets reach the decoder, each drained on its own: decoders that ignore
    ``skip_frame`` (VP9) decode nothing else, and open-GOP recovery points (H.264 I-frames
    flagged as keys) come out at once instead of being reordered among each other.
    """
    info = probe(path)
    with open_video(path) as (container, stream):
        _configure(stream, 0, None)
        origin = origin_pts(container, stream)
        to_rgb = _Converter(size, crop, info.rotation, sample_aspect(stream))
        feed = Feed(stream, path)
        try:
            for packet in demuxed(container, stream, path, feed):
                if not packet.is_keyframe or not packet.size:
                    continue
                frames = decode_alone(feed, packet)
                if frames is None:
                    return
                for frame in frames:
                    t = float((frame.pts - origin) * stream.time_base)
                    if max_seconds is not None and t >= max_seconds:
                        return
                    yield t, to_rgb(frame)
        finally:
            feed.close()


def frames_between(
    path: str | os.PathLike,
    t0: float,
    t1: float,
    size: int | None = 64,
    crop: bool = False,
) -> Iterator[tuple[float, Frame]]:
    """Yield ``(seconds from stream start, frame)`` for every frame whose pts lies in [t0, t1).

    Seeks to the keyframe before ``t0`` and decodes forward at the full frame rate: the frame
    exact view that boundary refinement needs.
    """
    info = probe(path)
    with open_video(path) as (container, stream):
        _configure(stream, 0, None)
        tb = stream.time_base
        origin = origin_pts(container, stream)
        lo = origin + math.ceil(_frac(t0) / tb)  # first pts at or after t0
        hi = origin + math.ceil(_frac(t1) / tb)  # first pts at or after t1 (excluded)
        to_rgb = _Converter(size, crop, info.rotation, sample_aspect(stream))
        for frame in frames_from(container, stream, path, lo):
            if frame.pts >= hi:
                return
            if frame.pts >= lo:
                yield float((frame.pts - origin) * tb), to_rgb(frame)


def rotate_upright(frame: Frame, rotation: int) -> Frame:
    """Turn a decoded frame by ``rotation`` counter-clockwise degrees (a multiple of 90)."""
    return np.rot90(frame, k=(rotation // 90) % 4)


def center_crop(frame: Frame, size: int) -> Frame:
    """The central ``size`` x ``size`` square, offsets rounded as torchvision's CenterCrop."""
    h, w = frame.shape[:2]
    top, left = round((h - size) / 2.0), round((w - size) / 2.0)
    return frame[top : top + size, left : left + size]


def resized_shape(width: float, height: float, size: int) -> tuple[int, int]:
    """(width, height) with the shortest side = ``size``, long side as torchvision's Resize."""
    if width <= height:
        return size, int(size * height / width)
    return int(size * width / height), size


class _Converter:
    """Decoded frame -> upright RGB array, resized in FFmpeg with one reusable scaler."""

    def __init__(self, size: int | None, crop: bool, rotation: int, sar: Fraction) -> None:
        self.size, self.crop, self.rotation, self.sar = size, crop, rotation, sar
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> Frame:
        if self.size is None:
            width, height = frame.width, frame.height
        else:
            width, height = resized_shape(frame.width * self.sar, frame.height, self.size)
        rgb = self.reformatter.reformat(
            frame, width, height, format="rgb24", interpolation=INTERPOLATION
        ).to_ndarray()  # [H, W, 3]
        rgb = rotate_upright(rgb, self.rotation)
        if self.crop and self.size is not None:
            rgb = center_crop(rgb, self.size)
        return np.ascontiguousarray(rgb)


def _frame_seconds(frame: av.VideoFrame, stream: av.VideoStream) -> float:
    ticks = frame.duration if frame.duration else frame_ticks(stream)
    return float(ticks * stream.time_base)


def _frac(x: float) -> Fraction:
    # decimal-looking inputs (0.1, 2.5) become the exact ratio the caller meant
    return Fraction(x).limit_denominator(1_000_000)
