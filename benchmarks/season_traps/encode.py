"""Write a plan to a video file with PyAV: frames synthesised one by one, audio in 1-s chunks
interleaved with them, one or two audio streams, per-container codecs.

Codec settings keep every frame's timestamp on the plan's grid: x264/x265 ``ultrafast`` and
explicit ``bframes=0`` (no reordering, no edit-list shift in mp4), frame ``k`` written with
``pts = k`` in a ``1/fps`` time base. Matroska/WebM store milliseconds, so there a frame's
stored time may be rounded by up to 0.5 ms (at 23.976 and 29.97 fps).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from benchmarks.season_traps.timeline import Plan, master

CODECS = {  # container -> (video codec, video options, audio codec)
    "mp4": ("libx264", {"preset": "ultrafast", "bf": "0", "g": "48"}, "aac"),
    "mkv": (
        "libx265",
        {"preset": "ultrafast", "x265-params": "log-level=error:bframes=0:keyint=48"},
        "libopus",
    ),
    "webm": ("libvpx-vp9", {"deadline": "realtime", "cpu-used": "8", "g": "48"}, "libopus"),
    "avi": ("mpeg4", {"qscale": "4", "g": "48"}, "pcm_s16le"),
}


def write(plan: Plan, path: Path, width: int, height: int) -> None:
    vcodec, vopts, acodec = CODECS[plan.container]
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    audio = [master(plan, s) for s in range(plan.n_streams)]
    layout = "stereo" if plan.channels == 2 else "mono"
    with av.open(str(tmp), "w") as box:
        v = box.add_stream(vcodec, rate=plan.out_fps)
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.options = dict(vopts)
        streams = []
        for i in range(plan.n_streams):
            a = box.add_stream(acodec, rate=plan.sr)
            a.layout = layout
            if plan.n_streams > 1:
                a.disposition = (
                    av.stream.Disposition.default
                    if i == plan.default_stream
                    else av.stream.Disposition(0)
                )
                a.metadata["language"] = "deu" if i == 0 else "eng"
                a.metadata["title"] = "dub" if i == 0 else "original"
            streams.append(a)
        chunk, sent = plan.sr, 0  # audio samples per chunk, samples sent so far
        tb = Fraction(1) / plan.out_fps
        shots = iter(plan.shots)
        shot = next(shots)
        for k in range(plan.frames):
            while k >= shot.stop:
                shot = next(shots)
            img = shot.picture(float(Fraction(k - shot.first) / plan.fps))
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(img), format="rgb24")
            frame.pts, frame.time_base = k, tb
            box.mux(v.encode(frame))
            while sent < len(audio[0]) and sent <= (k + 1) * tb * plan.sr:
                _send(box, streams, audio, sent, chunk, plan)
                sent += chunk
        while sent < len(audio[0]):
            _send(box, streams, audio, sent, chunk, plan)
            sent += chunk
        box.mux(v.encode(None))
        for a in streams:
            box.mux(a.encode(None))
    tmp.replace(path)


def _send(box, streams, audio, at: int, chunk: int, plan: Plan) -> None:
    for a, x in zip(streams, audio, strict=True):
        part = x[at : at + chunk]
        arr = np.stack([part, part * 0.85]) if plan.channels == 2 else part[None]
        frame = av.AudioFrame.from_ndarray(
            np.ascontiguousarray(arr, np.float32),
            format="fltp",
            layout="stereo" if plan.channels == 2 else "mono",
        )
        frame.sample_rate, frame.pts = plan.sr, at
        frame.time_base = Fraction(1, plan.sr)
        box.mux(a.encode(frame))
