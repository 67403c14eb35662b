"""Probe videos and sample their frames with PyAV: one per second, keyframes, or every frame."""

from __future__ import annotations

import itertools
import logging
import math
import os
from bisect import bisect_right
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from introdet.errors import ConfigError, VideoError

log = logging.getLogger(__name__)

# open_clip's Resize is bicubic; swscale widens its bicubic kernel when it shrinks, so a
# 1080p -> 224 resize is antialiased like PIL's
INTERPOLATION = "BICUBIC"
# after this many undecodable packets in a row the damage is taken to run to the end
MAX_BAD_PACKETS = 64
# a tail longer than this between the last decoded frame and the stated duration is treated as
# truncation (stop there), not as a sparse stream whose last frame stays on screen
MAX_TAIL_GAP = 1.0

Frame = np.ndarray  # RGB uint8 [H, W, 3]


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


@dataclass
class SamplerConfig:
    """``sampler.*`` of extract and predict: which frames become feature rows.

    The keys are those of ``frames_per_second``; these are the commands' defaults."""

    fps: float = 1.0  # samples per second of video
    start: float = 0.0  # seconds into the video of row 0
    max_seconds: float | None = (
        600.0  # scan length: intros come early (every labelled one by 7 min)
    )
    fraction: float | None = None  # or scan only this share of each episode, whichever ends first
    skip_nonref: bool = False  # drop non-reference frames in the decoder (faster, <= ~0.12 s early)
    threads: int = 0  # FFmpeg decoding threads, 0 = one per core
    decode: str = "needed"  # needed | all (same frames, slower) | keyframes (coarse pass)

    def __post_init__(self) -> None:
        if self.decode not in ("needed", "all", "keyframes"):
            raise ConfigError(
                f"sampler.decode must be 'needed', 'all' or 'keyframes', got {self.decode!r}"
            )
        if not self.fps > 0 or self.start < 0:
            raise ConfigError(
                f"sampler.fps must be > 0 and sampler.start >= 0, got {self.fps}, {self.start}"
            )
        if self.max_seconds is not None and not self.max_seconds > 0:
            raise ConfigError(f"sampler.max_seconds must be > 0 or null, got {self.max_seconds}")
        if self.fraction is not None and not 0 < self.fraction <= 1:
            raise ConfigError(
                f"sampler.fraction must lie in (0, 1] or be null, got {self.fraction}"
            )
        if self.threads < 0:
            raise ConfigError(f"sampler.threads must be >= 0, got {self.threads}")

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
) -> Iterator[tuple[int, Frame]]:
    """Yield ``(k, frame)`` for k = 0, 1, 2, ...: the frame on screen at ``start + k / fps``.

    Times count from the stream's first frame. Frame k is the last frame whose presentation time
    is <= ``start + k / fps``; a sparse stream (variable frame rate, long frames) repeats the
    previous frame, so no k is ever missing. k runs while ``start + k / fps < scan_end`` with
    ``scan_end = min(duration, start + max_seconds, start + fraction * duration)``: a 5.0 s file
    at 25 fps (last frame at 4.96 s) gives k = 0..4.

    ``size`` resizes the shortest display side to ``size`` inside FFmpeg (aspect kept), then
    ``crop`` center-crops to ``[size, size, 3]``, as CLIP's Resize + CenterCrop do; ``None``
    keeps the coded size. Rotation metadata is applied. Damaged packets are skipped with a
    warning; where decoding cannot go on, iteration stops at the damage with a warning.

    ``skip_nonref`` has the decoder drop non-reference frames (most B-frames): faster, but a
    dropped frame is replaced by the reference frame before it, so a sample can come from up to
    one run of consecutive non-reference frames early (x264 defaults: <= 3 frames, ~0.12 s at
    25 fps). ``threads`` is FFmpeg's thread count, 0 = one per core.

    ``decode="needed"`` (default) hands the decoder only the packets that the sampled frames
    depend on: a GOP with no sampled frame is not decoded, a GOP's packets after its last
    sampled frame are dropped, and non-reference frames other than the sampled ones are
    skipped. The frames returned are the same as with ``decode="all"`` (every packet decoded),
    which is what files without timestamps, AVI files and unknown codecs always get.

    ``decode="keyframes"`` decodes keyframes only (only those that some sample needs, where
    packets allow): sample k is then the last *keyframe* at or before its time, up to a
    keyframe interval early. That is the coarse pass of coarse-to-fine prediction.
    """
    if decode not in ("needed", "all", "keyframes"):
        raise ValueError(f"decode must be 'needed', 'all' or 'keyframes', got {decode!r}")
    if fps <= 0 or start < 0:
        raise ValueError(f"fps must be > 0 and start >= 0, got fps={fps}, start={start}")
    if fraction is not None and not 0 < fraction <= 1:
        raise ValueError(f"fraction must lie in (0, 1], got {fraction}")
    info = probe(path)
    scan_end = scan_end_of(info, start, max_seconds, fraction)
    f_fps, f_start = _frac(fps), _frac(start)
    n = sample_count(scan_end, fps, start)
    if n == 0:
        return

    with _open(path) as (container, stream):
        skip = "NONKEY" if decode == "keyframes" else "NONREF" if skip_nonref else None
        _configure(stream, threads, skip)
        tb = stream.time_base
        origin = _origin_pts(container, stream)
        if stream.start_time is None and container.start_time is None:
            # every time below is a frame count over a guessed rate: say so, it may be wrong
            log.warning(
                "%s: no timestamps (raw elementary stream?); times assume %.3g fps",
                path,
                info.fps or 25.0,
            )
        to_rgb = _Converter(size, crop, info.rotation, _sar(stream))

        def target(k: int) -> int:  # last pts that is on screen at sample k
            return origin + math.floor((f_start + k / f_fps) / tb)

        plan = None
        if decode != "all" and _plannable(container, stream):
            wants = [target(k) for k in range(n)]
            plan = _Plan(container, stream, path, wants, skip_nonref, decode == "keyframes")
            frames = plan.frames(target(0))
        else:
            frames = _frames_from(container, stream, path, target(0))
        k, want, prev = 0, target(0), None
        for frame in frames:
            while frame.pts > want:  # everything up to `want` has been seen: prev is on screen
                yield k, to_rgb(prev if prev is not None else frame)
                k += 1
                if k == n:
                    return
                want = target(k)
            prev = frame
        if prev is None:
            return
        # the stream ended: its last frame stays on screen for its duration, then to scan_end
        # unless the gap is so long that the file looks truncated
        last_end = float((prev.pts - origin) * tb) + _frame_seconds(prev, stream)
        if plan is not None:  # frames after the last sample were not decoded: packets tell
            last_end = math.inf if plan.end is None else float((plan.end - origin) * tb)
        if scan_end - last_end > MAX_TAIL_GAP:
            log.warning(
                "%s: video frames end at %.2f s but the duration is %.2f s; stopping there",
                path,
                last_end,
                info.duration,
            )
            scan_end = last_end
        while k < n and float(f_start + k / f_fps) < scan_end:
            yield k, to_rgb(prev)
            k += 1


def scan_end_of(
    info: VideoInfo,
    start: float = 0.0,
    max_seconds: float | None = None,
    fraction: float | None = None,
) -> float:
    """Where ``frames_per_second`` stops sampling: seconds from the stream start."""
    end = info.duration
    if max_seconds is not None:
        end = min(end, start + max_seconds)
    if fraction is not None:
        end = min(end, start + fraction * info.duration)
    return end


def sample_count(scan_end: float, fps: float = 1.0, start: float = 0.0) -> int:
    """How many samples ``start + k / fps`` lie before ``scan_end``."""
    # rounding guards a duration like 5.0000001 s from adding a k that no frame covers
    return max(0, math.ceil(round((scan_end - start) * fps, 6)))


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
    with _open(path) as (container, stream):
        _configure(stream, 0, None)
        origin = _origin_pts(container, stream)
        to_rgb = _Converter(size, crop, info.rotation, _sar(stream))
        feed = _Feed(stream, path)
        try:
            for packet in _demuxed(container, stream, path, feed):
                if not packet.is_keyframe or not packet.size:
                    continue
                frames = _decode_alone(feed, packet)
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
    with _open(path) as (container, stream):
        _configure(stream, 0, None)
        tb = stream.time_base
        origin = _origin_pts(container, stream)
        lo = origin + math.ceil(_frac(t0) / tb)  # first pts at or after t0
        hi = origin + math.ceil(_frac(t1) / tb)  # first pts at or after t1 (excluded)
        to_rgb = _Converter(size, crop, info.rotation, _sar(stream))
        for frame in _frames_from(container, stream, path, lo):
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


def _decoded(
    container: av.container.InputContainer, stream: av.VideoStream, path: str | os.PathLike
) -> Iterator[av.VideoFrame]:
    """Decode from the current position, skipping damage; every frame leaves with a pts."""
    feed = _Feed(stream, path)
    try:
        for packet in _demuxed(container, stream, path, feed):
            frames = feed.decode(packet)
            if frames is None:
                return
            yield from frames
    finally:
        feed.close()


def _demuxed(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    feed: _Feed,
) -> Iterator[av.Packet]:
    """The stream's packets from the current position, ending with the decoder's flush packet;
    a demuxer error ends them with a warning."""
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.error.FFmpegError as e:
            log.warning(
                "%s: cannot read on after %s (%s); stopping",
                path,
                _at(feed.last_pts, stream.time_base),
                e,
            )
            return
        yield packet


class _Feed:
    """Hands packets to the decoder: damage is skipped and reported, every frame gets a pts."""

    def __init__(self, stream: av.VideoStream, path: str | os.PathLike) -> None:
        self.stream, self.path = stream, path
        self.step = _frame_ticks(stream)
        self.bad, self.last_pts = 0, None
        self.damage = _DamageLog(path)

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame] | None:
        """Good frames out of ``packet`` (None: drain the decoder); None = give up here."""
        tb = self.stream.time_base
        try:
            frames = self.stream.codec_context.decode(packet)
        except av.error.FFmpegError as e:
            self.bad += 1
            where = _at(packet.pts if packet is not None else None, tb)
            self.damage.report("undecodable packet near %s skipped (%s)", where, e)
            if self.bad >= MAX_BAD_PACKETS:
                log.warning("%s: %d bad packets in a row; stopping", self.path, self.bad)
                return None
            return []
        self.bad = 0
        good = []
        for frame in frames:
            if frame.pts is None:
                # raw elementary streams carry no timestamps: count frames at the average rate
                if frame.dts is not None:
                    frame.pts = frame.dts
                else:
                    frame.pts = 0 if self.last_pts is None else self.last_pts + self.step
            self.last_pts = frame.pts
            if frame.is_corrupt:
                self.damage.report("corrupt frame at %s skipped", _at(frame.pts, tb))
                continue
            good.append(frame)
        return good

    def close(self) -> None:
        self.damage.close()


# containers whose packets carry no presentation times of their own (AVI: frame counters)
_UNPLANNED_FORMATS = {"avi"}
# codecs whose packets hold exactly one frame each, stamped with that frame's pts
_PLANNED_CODECS = {"h264", "hevc", "vp8", "vp9", "av1", "mpeg2video", "mpeg1video", "mpeg4"}


def _plannable(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Whether packet timestamps say which frame is where: then decode="needed" may pick packets."""
    formats = set(container.format.name.split(","))
    if formats & _UNPLANNED_FORMATS or stream.codec_context.name not in _PLANNED_CODECS:
        return False
    return stream.start_time is not None or container.start_time is not None


class _Plan:
    """Feeds the decoder only the packets that the sampled frames need (``decode="needed"``).

    Packets are read a GOP at a time: from one keyframe to the next one that starts a closed
    GOP (no leading frames after it that show before it, which would reference the GOP in
    front). A GOP's presentation times run from its keyframe's to the next GOP's keyframe's, so
    once it is read, the frame on screen at each wanted time is known: the packet with the
    largest pts not after it. A GOP without such a packet is not decoded; otherwise its packets
    are decoded up to the last such packet in decode order, the chosen ones in full and the
    others with non-reference frames skipped (nothing refers to those). Where packets were left
    out, the decoder is drained and flushed before the next keyframe, as a seek would. With
    ``keyframes`` only keyframe packets may be chosen, and nothing else is fed.
    """

    # a GOP longer than this (in packets) is decoded as it comes rather than held in memory
    MAX_GOP_PACKETS = 1500

    def __init__(
        self,
        container: av.container.InputContainer,
        stream: av.VideoStream,
        path: str | os.PathLike,
        wants: list[int],
        skip_nonref: bool = False,
        keyframes: bool = False,
    ) -> None:
        self.container, self.stream, self.path = container, stream, path
        self.wants, self.j = wants, 0  # pts targets, ascending; wants[j:] have no packet yet
        self.keyframes = keyframes  # only keyframes may stand for a wanted time
        self.sample_skip = "NONKEY" if keyframes else "NONREF" if skip_nonref else "DEFAULT"
        self.end: int | None = None  # where the last packet ends, once the demuxer reached it
        self.feed = _Feed(stream, path)
        self.dirty = False  # packets were left out since the decoder last started afresh
        self.started = False  # some wanted time has been given a packet
        self.stop = False  # too many bad packets

    def frames(self, first: int) -> Iterator[av.VideoFrame]:
        """Decoded frames in presentation order, among them every sampled one."""
        try:
            yield from self._run(self._packets(first))
            if not self.stop:
                yield from self._drain()
        finally:
            self.feed.close()

    def _packets(self, first: int) -> Iterator[av.Packet]:
        """Packets from the keyframe at or before pts ``first`` (from the start if none)."""
        container, stream, path = self.container, self.stream, self.path
        if not _seek_near(container, stream, path, first):
            return _demuxed(container, stream, path, self.feed)
        packets = _demuxed(container, stream, path, self.feed)
        # MPEG-TS seeks land on any packet: what comes before the next keyframe cannot decode
        head = next((p for p in packets if p.size and p.is_keyframe), None)
        if head is not None and head.pts is not None and head.pts <= first:
            return itertools.chain([head], packets)
        # the index put us past the target (or nowhere): read from the start
        log.debug("%s: seek to pts %d landed at %s; reading from the start", path, first, head)
        _seek(container, stream, path, stream.start_time)
        return _demuxed(container, stream, path, self.feed)

    def _run(self, packets: Iterator[av.Packet]) -> Iterator[av.VideoFrame]:
        gop: list[av.Packet] = []
        head = None  # a keyframe not yet known to start a closed GOP
        streaming = False  # packets are decoded as they come (over-long GOP, no timestamps)
        end = None
        for packet in packets:
            if packet.size == 0:  # the flush packet at the end
                continue
            pts = packet.pts if packet.pts is not None else (end if end is not None else 0)
            packet_end = pts + (packet.duration or self.feed.step)
            end = packet_end if end is None else max(end, packet_end)
            if packet.pts is None or len(gop) >= self.MAX_GOP_PACKETS:
                streaming = True
            if streaming:
                if head is not None:
                    gop.append(head)
                    head = None
                if gop:
                    yield from self._decode_all(gop)
                    gop = []
                if packet.is_keyframe and packet.pts is not None:  # plan again from here
                    streaming, gop = False, [packet]
                    self._skip_wants_before(packet.pts)
                else:
                    yield from self._decode_all([packet])
                continue
            if head is not None:
                if packet.pts < head.pts:  # a leading frame: open GOP, one run with the last
                    gop.append(head)
                else:
                    yield from self._gop(gop, head.pts)
                    gop = [head]
                head = None
            if self.j >= len(self.wants) or self.stop:
                return  # every wanted time has its packet: the rest of the file is not read
            if packet.is_keyframe and gop:
                head = packet
            else:
                gop.append(packet)
        if head is not None:
            yield from self._gop(gop, head.pts)
            gop = [head]
        yield from self._gop(gop, None)
        self.end = end

    def _skip_wants_before(self, pts: int) -> None:
        # times before an over-long GOP's end were served by its frames, all decoded
        while self.j < len(self.wants) and self.wants[self.j] < pts:
            self.j += 1

    def _gop(self, gop: list[av.Packet], next_key: int | None) -> Iterator[av.VideoFrame]:
        """Decode what the wanted times before ``next_key`` (None: all) need from ``gop``."""
        if not gop:
            return
        eligible = [i for i in range(len(gop)) if gop[i].is_keyframe or not self.keyframes]
        order = sorted(eligible or [0], key=lambda i: gop[i].pts)
        pts = [gop[i].pts for i in order]
        chosen = set()
        while self.j < len(self.wants) and (next_key is None or self.wants[self.j] < next_key):
            i = bisect_right(pts, self.wants[self.j]) - 1
            if i >= 0:
                chosen.add(order[i])
            elif not self.started:  # a time before the first frame shows the first frame
                chosen.add(order[0])
            self.j += 1
        if not chosen:
            self.dirty = True
            return
        self.started = True
        last = max(chosen)
        yield from self._restart()
        for i in range(last + 1):
            if i in chosen and self.keyframes:
                yield from self._key_alone(gop[i])
            elif i in chosen:
                yield from self._decode(gop[i], self.sample_skip)
            elif self.keyframes:  # a keyframe decodes on its own: nothing else is fed
                self.dirty = True
            else:
                yield from self._decode(gop[i], "NONREF")
        if last + 1 < len(gop):
            self.dirty = True

    def _decode_all(self, packets: list[av.Packet]) -> Iterator[av.VideoFrame]:
        self.started = True
        yield from self._restart()
        for packet in packets:
            if self.keyframes:
                yield from self._key_alone(packet)
            else:
                yield from self._decode(packet, self.sample_skip)

    def _key_alone(self, packet: av.Packet) -> Iterator[av.VideoFrame]:
        """A keyframe decoded on its own (anything else is passed over): recovery points would
        otherwise be reordered by the picture order counts of frames that were never fed."""
        if not packet.is_keyframe:
            self.dirty = True
            return
        yield from self._decode(packet, self.sample_skip, alone=True)

    def _decode(self, packet: av.Packet, skip: str, alone: bool = False) -> Iterator[av.VideoFrame]:
        if self.stop:
            return
        self.stream.codec_context.skip_frame = skip
        frames = _decode_alone(self.feed, packet) if alone else self.feed.decode(packet)
        if frames is None:
            self.stop = True
            return
        yield from frames

    def _restart(self) -> Iterator[av.VideoFrame]:
        """Where packets were left out, drain and flush the decoder, as a seek would."""
        if self.dirty:
            yield from self._drain()
            self.stream.codec_context.flush_buffers()
            self.dirty = False

    def _drain(self) -> Iterator[av.VideoFrame]:
        yield from self.feed.decode(None) or []


def _decode_alone(feed: _Feed, packet: av.Packet) -> list[av.VideoFrame] | None:
    """The frames of one packet, drained at once and the decoder flushed after (None: give up)."""
    frames = feed.decode(packet)
    if frames is None:
        return None
    frames += feed.decode(None) or []
    feed.stream.codec_context.flush_buffers()
    return frames


class _DamageLog:
    """Warns about the first few damaged spots of a file, then only counts them."""

    MAX_REPORTS = 10

    def __init__(self, path: str | os.PathLike) -> None:
        self.path, self.count = path, 0

    def report(self, message: str, *args: object) -> None:
        self.count += 1
        level = logging.WARNING if self.count <= self.MAX_REPORTS else logging.DEBUG
        log.log(level, "%s: " + message, self.path, *args)

    def close(self) -> None:
        if self.count > self.MAX_REPORTS:
            log.warning("%s: %d damaged packets or frames in all", self.path, self.count)


def _frames_from(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    pts: int,
) -> Iterator[av.VideoFrame]:
    """Frames from the keyframe at or before ``pts`` on (from the start if no seek is needed)."""
    if _seek_near(container, stream, path, pts):
        frames = _decoded(container, stream, path)
        first = next(frames, None)
        if first is not None and first.pts <= pts:
            yield first
            yield from frames
            return
        # the index put us past the target (or nowhere): fall back to decoding from the start
        log.debug("%s: seek to pts %d landed at %s; decoding from the start", path, pts, first)
        _seek(container, stream, path, stream.start_time)
    yield from _decoded(container, stream, path)


def _seek_near(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    pts: int,
) -> bool:
    """Seek to the keyframe at or before ``pts`` when that is over a second in (True if so)."""
    first_pts = stream.start_time
    # no start time = no timestamps (raw elementary streams): such inputs cannot seek
    if first_pts is not None and pts - first_pts > 1 / stream.time_base:
        _seek(container, stream, path, pts)
        return True
    return False


def _seek(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    pts: int,
) -> None:
    """Seek to the keyframe at or before ``pts`` (PyAV flushes the decoder)."""
    try:
        container.seek(pts, backward=True, any_frame=False, stream=stream)
    except av.error.FFmpegError as e:
        raise VideoError(path, f"cannot seek to {float(pts * stream.time_base):.2f} s ({e})") from e


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


def _frame_ticks(stream: av.VideoStream) -> int:
    """One frame interval in stream ticks (1/25 s when the rate is unknown)."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return max(1, round(1 / (rate * stream.time_base)))


def _frame_seconds(frame: av.VideoFrame, stream: av.VideoStream) -> float:
    ticks = frame.duration if frame.duration else _frame_ticks(stream)
    return float(ticks * stream.time_base)


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


def _frac(x: float) -> Fraction:
    # decimal-looking inputs (0.1, 2.5) become the exact ratio the caller meant
    return Fraction(x).limit_denominator(1_000_000)


def _at(pts: int | None, tb: Fraction) -> str:
    return "the start" if pts is None else f"{float(pts * tb):.2f} s"
