"""Benchmark 1, sampler: seconds of video sampled per wall second at 1 fps, introdet against
the ffmpeg command line and a plain PyAV loop."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import av

from benchmarks.videos import CACHE, FPS, GOP, bench_video
from introdet.errors import BenchError

Row = dict[str, Any]


def sample_introdet(path: Path, size: int = 224, **sampler: Any) -> int:
    from introdet.media.sampling import frames_per_second

    return sum(1 for _ in frames_per_second(path, size=size, **sampler))


def sample_keyframes(path: Path, size: int = 224) -> int:
    from introdet.media.sampling import keyframes

    return sum(1 for _ in keyframes(path, size=size))


def sample_pyav(path: Path, size: int = 224) -> int:
    """The plain PyAV loop: decode every frame (threaded), convert the first of each second."""
    n = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # without it PyAV decodes on one core: an unfair baseline
        for frame in container.decode(stream):
            if frame.time is not None and frame.time >= n:
                frame.reformat(size, size, format="rgb24").to_ndarray()  # [size, size, 3]
                n += 1
    return n


def sample_ffmpeg(path: Path, size: int = 224) -> int:
    """The ffmpeg command line reading 1 fps into a pipe; returns frames received."""
    exe = shutil.which("ffmpeg")
    if exe is None:
        raise BenchError("ffmpeg: not installed")
    cmd = [exe, "-v", "error", "-nostdin", "-i", str(path)]
    cmd += ["-vf", f"fps=1,scale={size}:{size}", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:"]
    proc = subprocess.run(cmd, capture_output=True, check=False)
    if proc.returncode != 0:
        raise BenchError(f"{path}: ffmpeg failed: {proc.stderr.decode(errors='replace')[-300:]}")
    return len(proc.stdout) // (size * size * 3)


def median_seconds(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    """(median wall seconds over ``repeats`` calls, last result); no warm-up call."""
    times, result = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), result


def bench_sampler(
    heights: Sequence[int] = (1080, 720),
    seconds: float = 60,
    repeats: int = 3,
    size: int = 224,
    cache: str | Path = CACHE,
) -> dict[str, Any]:
    """Seconds of video sampled per wall second, introdet vs ffmpeg vs plain PyAV."""
    from introdet.media.probe import probe

    methods: dict[str, Callable[[Path], int]] = {
        "introdet frames_per_second": lambda p: sample_introdet(p, size),
        "introdet decode=all": lambda p: sample_introdet(p, size, decode="all"),
        "introdet skip_nonref=True": lambda p: sample_introdet(p, size, skip_nonref=True),
        "introdet decode=keyframes (coarse)": lambda p: sample_introdet(
            p, size, decode="keyframes"
        ),
        "introdet keyframes()": lambda p: sample_keyframes(p, size),
        "ffmpeg -vf fps=1,scale": lambda p: sample_ffmpeg(p, size),
        "PyAV decode-all loop": lambda p: sample_pyav(p, size),
    }
    notes = [f"median of {repeats} runs; {size}x{size} RGB out; video H.264 {FPS} fps, GOP {GOP}"]
    if shutil.which("ffmpeg") is None:
        del methods["ffmpeg -vf fps=1,scale"]
        notes.append("ffmpeg baseline skipped: not installed (apt-get install -y ffmpeg)")
    rows = []
    for height in heights:
        path = bench_video(cache, height, seconds)
        info = probe(path)
        mbps = path.stat().st_size * 8 / info.duration / 1e6
        speeds = {}
        for name, fn in methods.items():
            wall, frames = median_seconds(lambda fn=fn, p=path: fn(p), repeats)
            speeds[name] = info.duration / wall
            rows.append(
                {
                    "video": f"{height}p {info.duration:.0f}s {mbps:.1f} Mbit/s",
                    "method": name,
                    "frames": frames,
                    "wall_s": wall,
                    "video_s_per_s": speeds[name],
                }
            )
        base = speeds["introdet frames_per_second"]
        for row in rows[-len(methods) :]:
            row["x_vs_ffmpeg"] = _ratio(base, speeds.get("ffmpeg -vf fps=1,scale"), row)
            row["x_vs_pyav"] = _ratio(base, speeds["PyAV decode-all loop"], row)
    notes.append("x_vs_*: how many times faster introdet frames_per_second is than that row")
    return {"rows": rows, "notes": notes}


def _ratio(base: float, other: float | None, row: Row) -> float | None:
    if other is None or row["method"] != "introdet frames_per_second":
        return None
    return base / other
