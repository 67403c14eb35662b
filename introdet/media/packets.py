"""The packets under the sampler: damage-tolerant decoding, seeking, and the GOP planner that
hands the decoder only the packets the sampled frames need (``decode="needed"``)."""

from __future__ import annotations

import itertools
import logging
import os
from bisect import bisect_right
from collections.abc import Iterator
from fractions import Fraction

import av

from introdet.errors import VideoError
from introdet.media.container import failure

log = logging.getLogger(__name__)

# after this many undecodable packets in a row the damage is taken to run to the end
MAX_BAD_PACKETS = 64


def decoded(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    feed: Feed | None = None,
) -> Iterator[av.VideoFrame]:
    """Decode from the current position, skipping damage; every frame leaves with a pts."""
    own = feed is None
    feed = feed or Feed(stream, path)
    try:
        for packet in demuxed(container, stream, path, feed):
            frames = feed.decode(packet)
            if frames is None:
                return
            yield from frames
    finally:
        if own:  # a caller's feed is closed by the caller
            feed.close()


def demuxed(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    feed: Feed,
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
                failure(e),
            )
            return
        feed.reached(packet)
        yield packet


class Feed:
    """Hands packets to the decoder: damage is skipped and reported, every frame gets a pts."""

    def __init__(
        self, stream: av.VideoStream, path: str | os.PathLike, shown_to: int | None = None
    ) -> None:
        self.stream, self.path = stream, path
        self.step = frame_ticks(stream)
        self.bad, self.last_pts = 0, None
        self.damage = _DamageLog(path)
        self.end: int | None = None  # where the packets read so far end (pts ticks)
        # damage after this pts shows in no sample: it is not reported (the decoder's delay
        # decodes past the last sample by more or less frames with the thread count, so a
        # report would come and go from machine to machine; a cut file's broken last frame
        # is said once, by the sampler)
        self.shown_to = shown_to

    def _unseen(self, pts: int | None) -> bool:
        return self.shown_to is not None and pts is not None and pts > self.shown_to

    def reached(self, packet: av.Packet) -> None:
        """Count a demuxed packet's span, empty ones included: AVI writes a dropped frame as a
        packet of size 0 whose time the previous picture stays on screen."""
        if packet.pts is not None:
            end = packet.pts + (packet.duration or self.step)
            self.end = end if self.end is None else max(self.end, end)

    def decode(self, packet: av.Packet | None) -> list[av.VideoFrame] | None:
        """Good frames out of ``packet`` (None: drain the decoder); None = give up here."""
        tb = self.stream.time_base
        try:
            frames = self.stream.codec_context.decode(packet)
        except av.error.FFmpegError as e:
            self.bad += 1
            pts = packet.pts if packet is not None else None
            if not self._unseen(pts):
                self.damage.report("undecodable packet near %s skipped (%s)", _at(pts, tb), e)
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
                if not self._unseen(frame.pts):
                    self.damage.report("corrupt frame at %s skipped", _at(frame.pts, tb))
                continue
            good.append(frame)
        return good

    def close(self) -> None:
        self.damage.close()


def decode_alone(feed: Feed, packet: av.Packet) -> list[av.VideoFrame] | None:
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


def frames_from(
    container: av.container.InputContainer,
    stream: av.VideoStream,
    path: str | os.PathLike,
    pts: int,
    feed: Feed | None = None,
) -> Iterator[av.VideoFrame]:
    """Frames from the keyframe at or before ``pts`` on (from the start if no seek is needed);
    ``feed`` (optional) is the caller's, to read where the packets ended; it is closed here."""
    try:
        if _seek_near(container, stream, path, pts):
            frames = decoded(container, stream, path, feed)
            first = next(frames, None)
            if first is not None and first.pts <= pts:
                yield first
                yield from frames
                return
            # the index put us past the target (or nowhere): fall back to decoding from the start
            log.debug("%s: seek to pts %d landed at %s; decoding from the start", path, pts, first)
            _seek(container, stream, path, stream.start_time)
        yield from decoded(container, stream, path, feed)
    finally:
        if feed is not None:
            feed.close()


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


# containers whose packets carry no presentation times of their own (AVI: frame counters)
_UNPLANNED_FORMATS = {"avi"}
# codecs whose packets hold exactly one frame each, stamped with that frame's pts
_PLANNED_CODECS = {"h264", "hevc", "vp8", "vp9", "av1", "mpeg2video", "mpeg1video", "mpeg4"}


def plannable(container: av.container.InputContainer, stream: av.VideoStream) -> bool:
    """Whether packet timestamps say which frame is where: then decode="needed" may pick packets."""
    formats = set(container.format.name.split(","))
    if formats & _UNPLANNED_FORMATS or stream.codec_context.name not in _PLANNED_CODECS:
        return False
    return stream.start_time is not None or container.start_time is not None


class Plan:
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
        self.feed = Feed(stream, path, shown_to=wants[-1])
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
            return demuxed(container, stream, path, self.feed)
        packets = demuxed(container, stream, path, self.feed)
        # MPEG-TS seeks land on any packet: what comes before the next keyframe cannot decode
        head = next((p for p in packets if p.size and p.is_keyframe), None)
        if head is not None and head.pts is not None and head.pts <= first:
            return itertools.chain([head], packets)
        # the index put us past the target (or nowhere): read from the start
        log.debug("%s: seek to pts %d landed at %s; reading from the start", path, first, head)
        _seek(container, stream, path, stream.start_time)
        return demuxed(container, stream, path, self.feed)

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
        # empty packets (AVI's dropped frames) hold the picture on: the feed counted them
        self.end = max((e for e in (end, self.feed.end) if e is not None), default=None)

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
        frames = decode_alone(self.feed, packet) if alone else self.feed.decode(packet)
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


def frame_ticks(stream: av.VideoStream) -> int:
    """One frame interval in stream ticks (1/25 s when the rate is unknown)."""
    rate = stream.average_rate or stream.guessed_rate or Fraction(25)
    return max(1, round(1 / (rate * stream.time_base)))


def _at(pts: int | None, tb: Fraction) -> str:
    return "the start" if pts is None else f"{float(pts * tb):.2f} s"
