"""Write real video files (any codec PyAV's FFmpeg encodes) from numpy frames."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

# pixel formats the encoders accept for 8-bit content
_PIX_FMT = {"libvpx": "yuv420p", "libvpx-vp9": "yuv420p", "mpeg4": "yuv420p"}


def write_video(
    path: str | Path,
    frames: Iterable[np.ndarray],
    fps: float = 25.0,
    codec: str = "libx264",
    times: Sequence[float] | None = None,
    start: float = 0.0,
    audio: bool = False,
    gop: int | None = None,
    options: dict[str, str] | None = None,
    rotation: int = 0,
    audio_tail: float = 0.0,
) -> Path:
    """Encode RGB uint8 frames [H, W, 3] into ``path`` (container chosen by its suffix).

    ``times`` gives each frame's presentation time in seconds (variable frame rate); otherwise
    frame i is shown at ``i / fps``. ``start`` shifts every timestamp, so the stream's start
    time is not zero. ``audio`` adds a quiet tone track of the same length, plus
    ``audio_tail`` seconds (audio that runs on past the last picture, as in many real files).
    ``rotation`` writes a display matrix turning the picture that many degrees
    counter-clockwise, as phones do.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rate = Fraction(fps).limit_denominator(1001)
    # a millisecond time base carries both constant and variable frame timing exactly enough;
    # AVI counts frames (its index has no timestamps): a 1 ms base there makes every frame
    # "last" 1 ms and seeks land one frame late; MPEG-1/2 encoders accept only standard rates
    frame_clock = path.suffix.lower() == ".avi" or codec in ("mpeg1video", "mpeg2video")
    time_base = 1 / rate if frame_clock else Fraction(1, 1000)
    with av.open(str(path), "w") as container:
        stream = _video_stream(container, codec, rate, time_base, gop, rotation, options)
        astream = None
        if audio:  # WebM carries only Opus/Vorbis audio
            webm = path.suffix.lower() == ".webm"
            astream = container.add_stream(
                "libopus" if webm else "aac", rate=48000 if webm else 22050
            )
        last_t = start
        first = True
        for i, arr in enumerate(frames):
            if first:
                h, w = arr.shape[:2]
                stream.width, stream.height = w - w % 2, h - h % 2
                first = False
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(arr[: stream.height, : stream.width]), format="rgb24"
            )
            t = (times[i] if times is not None else i / fps) + start
            frame.pts = round(t / time_base)
            frame.time_base = time_base
            last_t = t
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        if astream is not None:
            _write_tone(container, astream, seconds=last_t + 1.0 / fps + audio_tail)
    return path


def add_chapters(src: str | Path, dst: str | Path, marks: Sequence[tuple[float, float, str]]
                 ) -> Path:  # fmt: skip
    """``dst``: ``src``'s streams, every packet as it is, with chapters ``marks`` (start and
    end in seconds, title) in place of any it had."""
    ms = Fraction(1, 1000)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        copies = {s.index: out.add_stream_from_template(s, opaque=True) for s in inp.streams
                  if s.type in ("video", "audio")}  # fmt: skip
        out.set_chapters([{"id": k, "start": round(a * 1000), "end": round(b * 1000),
                           "time_base": ms, "metadata": {"title": t}}
                          for k, (a, b, t) in enumerate(marks, 1)])  # fmt: skip
        for packet in inp.demux([inp.streams[i] for i in copies]):
            if packet.size:
                packet.stream = copies[packet.stream.index]
                out.mux(packet)
    return Path(dst)


def _video_stream(container, codec, rate, time_base, gop, rotation, options) -> av.VideoStream:
    stream = container.add_stream(codec, rate=rate)
    stream.pix_fmt = _PIX_FMT.get(codec, "yuv420p")
    stream.time_base = time_base
    stream.codec_context.time_base = time_base
    if gop:
        stream.codec_context.gop_size = gop
    if rotation:
        stream.set_display_rotation(rotation)
    opts = {"x265-params": "log-level=error"} if codec == "libx265" else {}
    opts.update(options or {})
    if opts:
        stream.options = opts
    return stream


def _write_tone(container, stream, seconds: float) -> None:
    sr = stream.rate
    n = int(seconds * sr)
    t = np.arange(n) / sr
    wave = (0.05 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    step = stream.codec_context.frame_size or 1024
    for i in range(0, n, step):
        chunk = wave[i : i + step]
        if len(chunk) < step:
            chunk = np.pad(chunk, (0, step - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate = sr
        frame.pts = i
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
