"""The machine the figures come from, and the synthetic H.264 test videos (made once, cached)."""

from __future__ import annotations

import math
import os
import platform
import shutil
import subprocess
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from introdet.errors import BenchError

CACHE = Path(__file__).resolve().parent / ".cache"  # benchmarks/.cache of the checkout
FPS = 25  # PAL broadcast rate
GOP = 50  # 2 s keyframe interval, as broadcast encoders use
BITRATE = "4M"  # H.264 1080p TV is a few Mbit/s


def machine() -> dict[str, Any]:
    """What the figures were measured on: CPU, cores, torch, accelerator, ffmpeg."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cuda = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return {
        "cpu": cpu,
        "cores": usable,
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_native_bf16": bool(torch.ops.mkldnn._is_mkldnn_bf16_supported()),
        "cuda": cuda,
        "pyav": av.__version__,
        "ffmpeg": _ffmpeg_version(),
    }


def _ffmpeg_version() -> str | None:
    exe = shutil.which("ffmpeg")
    if exe is None:
        return None
    out = subprocess.run([exe, "-version"], capture_output=True, text=True, check=False).stdout
    return out.split("\n", 1)[0].removeprefix("ffmpeg version ").split(" ")[0] or "unknown"


# ---------------------------------------------------------------- test videos


def synthetic_frames(
    width: int, height: int, n_frames: int, fps: int = FPS, seed: int = 0
) -> Iterator[np.ndarray]:
    """RGB uint8 [H, W, 3] frames that an encoder cannot squeeze to nothing: moving gradients
    that change every 4 s (scene cuts), film-grain noise and moving rectangles."""
    rng = np.random.default_rng(seed)
    # one noise plate, cropped at a random offset per frame: fresh grain without a fresh draw
    grain = rng.integers(0, 24, (height + 64, width + 64), dtype=np.uint8)
    xs = (np.arange(width) * 255 // max(1, width - 1)).astype(np.uint8)[None, :]  # [1, W]
    ys = (np.arange(height) * 255 // max(1, height - 1)).astype(np.uint8)[:, None]  # [H, 1]
    frame = np.empty((height, width, 3), np.uint8)
    scene_len = 4 * fps
    for i in range(n_frames):
        if i % scene_len == 0:  # a new shot: new palette, speeds and objects
            speed, tint = rng.integers(1, 6, 3), rng.integers(0, 256, 3)
            boxes = _boxes(rng, width, height)
        t = i % 256
        oy, ox = rng.integers(0, 64, 2)
        noise = grain[oy : oy + height, ox : ox + width]  # [H, W]
        shift = [(t * int(v) + int(c)) % 256 for v, c in zip(speed, tint, strict=True)]
        # uint8 arithmetic wraps around: sawtooth gradients that scroll with t
        frame[..., 0] = xs + ys + noise + shift[0]
        frame[..., 1] = xs - ys + noise + shift[1]
        frame[..., 2] = ys - noise + shift[2]
        k = i % scene_len
        for x0, y0, w, h, vx, vy, color in boxes:
            x, y = (x0 + vx * k) % (width - w), (y0 + vy * k) % (height - h)
            frame[y : y + h, x : x + w] = color
        yield frame


def _boxes(rng: np.random.Generator, width: int, height: int) -> list[tuple]:
    boxes = []
    for _ in range(4):
        w = int(rng.integers(width // 12, width // 4))
        h = int(rng.integers(height // 12, height // 4))
        x0, y0 = int(rng.integers(0, width - w)), int(rng.integers(0, height - h))
        vx, vy = int(rng.integers(-12, 13)), int(rng.integers(-8, 9))
        boxes.append((x0, y0, w, h, vx, vy, rng.integers(0, 256, 3).astype(np.uint8)))
    return boxes


def make_clip(
    path: str | Path,
    height: int,
    seconds: float,
    fps: int = FPS,
    gop: int = GOP,
    bitrate: str = BITRATE,
    preset: str = "superfast",
) -> Path:
    """An H.264 16:9 clip of synthetic content; kept if it exists (the cache)."""
    from introdet.demo.videofile import write_video

    path = Path(path)
    if path.is_file():
        return path
    _init_cache(path.parent)
    width = round(height * 16 / 9 / 2) * 2
    n = round(seconds * fps)
    tmp = path.with_name(f".{path.stem}.tmp{path.suffix}")
    # superfast keeps B-frames and CABAC (what real files have) at twice veryfast's speed;
    # scenecut=0: keyframes exactly every `gop` frames, as broadcast encoders emit them
    options = {"preset": preset, "b": bitrate, "maxrate": bitrate, "bufsize": bitrate}
    options["x264-params"] = "scenecut=0"
    write_video(tmp, synthetic_frames(width, height, n, fps), fps=fps, gop=gop, options=options)
    os.replace(tmp, path)  # a killed run leaves no half-written clip behind
    return path


def loop_clip(src: str | Path, dst: str | Path, seconds: float) -> Path:
    """Repeat ``src`` end to end into ``dst`` up to ``seconds`` by stream copy (no re-encode).

    Each copy's packets keep their order and get pts/dts shifted by the clip length, so the
    result plays as one long video with a keyframe at every seam. Kept if it exists.
    """
    src, dst = Path(src), Path(dst)
    if dst.is_file():
        return dst
    with av.open(str(src)) as inp:
        istream = inp.streams.video[0]
        tb = istream.time_base
        ends = [(p.pts, p.pts + (p.duration or 0)) for p in inp.demux(istream) if p.pts is not None]
    if not ends:
        raise BenchError(f"{src}: no video packets to copy")
    period = max(e for _, e in ends) - min(s for s, _ in ends)  # clip length in ticks of tb
    reps = math.ceil(Fraction(seconds) / (period * tb))
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    # the template stream must outlive the output's header: keep one input open meanwhile
    with av.open(str(src)) as first, av.open(str(tmp), "w") as out:
        ostream = out.add_stream_from_template(first.streams.video[0])
        last_dts = None
        for r in range(reps):
            # demuxed afresh each time: muxing hands a packet's data over to FFmpeg
            with av.open(str(src)) as inp:
                for p in inp.demux(inp.streams.video[0]):
                    if p.size == 0:  # the flush packet at the end
                        continue
                    p.pts += r * period
                    if p.dts is not None:
                        p.dts += r * period
                        if last_dts is not None and p.dts <= last_dts:
                            raise BenchError(f"{src}: dts not increasing across the loop seam")
                        last_dts = p.dts
                    p.stream = ostream
                    out.mux(p)
    os.replace(tmp, dst)
    return dst


def bench_video(cache: str | Path, height: int, seconds: float) -> Path:
    """The cached H.264 test video of this height and length (made on first use)."""
    cache = Path(cache)
    name = f"h264_{height}p_{seconds:g}s_gop{GOP}_{BITRATE}.mp4"
    return make_clip(cache / name, height, seconds)


def long_video(cache: str | Path, height: int, minutes: float, clip_seconds: float) -> Path:
    """A ``minutes``-long episode made by looping the ``clip_seconds`` test clip."""
    clip = bench_video(cache, height, clip_seconds)
    dst = Path(cache) / f"{clip.stem}_x{minutes:g}min.mp4"
    return loop_clip(clip, dst, minutes * 60)


def _init_cache(cache: Path) -> None:
    cache.mkdir(parents=True, exist_ok=True)
    ignore = cache / ".gitignore"
    if not ignore.exists():  # as .pytest_cache does: the folder ignores itself
        ignore.write_text("# generated benchmark videos\n*\n")
