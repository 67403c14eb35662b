"""Benchmarks of sampling, encoding, prediction and training speed, printed as markdown tables."""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from introdet.atomic import atomic_write_text
from introdet.errors import BenchError

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache"
BENCH_ENCODER = ROOT / "benchmarks" / "bench_encoder.py"
BENCHMARKS = ("sampler", "encoder", "predict", "coarse", "library", "train")
FPS = 25  # PAL broadcast rate
GOP = 50  # 2 s keyframe interval, as broadcast encoders use
BITRATE = "4M"  # H.264 1080p TV is a few Mbit/s
WINDOW = 60  # the paper's window: 60 one-second tokens
# dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets; MFU needs one of them
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}

Row = dict[str, Any]


# ---------------------------------------------------------------- machine


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


# ---------------------------------------------------------------- 1. sampler


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


# ---------------------------------------------------------------- 2. encoder


def _encoder_script():
    """benchmarks/bench_encoder.py as a module (it is a script, not part of the package)."""
    if not BENCH_ENCODER.is_file():
        raise BenchError(f"{BENCH_ENCODER}: missing (run from a source checkout)")
    spec = importlib.util.spec_from_file_location("bench_encoder", BENCH_ENCODER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def bench_encoder(
    model: str = "ViT-B-32",
    batches: Sequence[int] = (32, 64, 128, 256),
    repeats: int = 3,
    devices: Sequence[str] | None = None,
    budget_s: float = 60,
) -> dict[str, Any]:
    """Images/s of ClipEncoder.embed (random weights: same speed) per device, precision, batch.

    A precision stops growing its batch once one cell took over ``budget_s``.
    """
    import torch

    from introdet.features.encoder import ClipEncoder

    script = _encoder_script()
    if devices is None:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    rows, notes = [], [f"median of {repeats} embeds after 1 warm-up; random weights"]
    for device in devices:
        kind = torch.device(device).type
        for precision in script.PRECISIONS[kind]:
            encoder = ClipEncoder(model, pretrained=None, device=device, precision=precision)
            for batch in batches:
                t0 = time.perf_counter()
                ips = script.images_per_second(encoder, batch, repeats)
                rows.append(
                    {
                        "model": model,
                        "device": device,
                        "precision": precision,
                        "batch": batch,
                        "images_per_s": ips,
                    }
                )
                if time.perf_counter() - t0 > budget_s and batch != batches[-1]:
                    notes.append(f"{device} {precision}: batches > {batch} skipped (time budget)")
                    break
            del encoder
    _speedup(rows, notes)
    return {"rows": rows, "notes": notes}


def _speedup(rows: list[Row], notes: list[str]) -> None:
    fp32 = {(r["device"], r["batch"]): r["images_per_s"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        ref = fp32.get((r["device"], r["batch"]))
        r["x_vs_fp32"] = r["images_per_s"] / ref if ref else None
    notes.append("x_vs_fp32: images/s over fp32 images/s at the same device and batch")


# ---------------------------------------------------------------- 3. predict


def make_checkpoint(path: str | Path, encoder_identity: dict, **hparams: Any) -> Path:
    """A paper-size IntroDetector with random weights, saved as a Trainer checkpoint would be."""
    import lightning
    import torch

    from introdet.training.module import IntroDetector

    model = IntroDetector(encoder=dict(encoder_identity), **hparams)
    ckpt = {
        "state_dict": model.state_dict(),
        "hyper_parameters": dict(model.hparams),
        "pytorch-lightning_version": lightning.__version__,
    }
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ckpt, path)
    return path


def predict_config(ckpt: Path, video: Path, out: Path, overrides: Sequence[str] = ()):
    """conf/predict.yaml composed with the given overrides (as ``python predict.py`` would)."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return compose(
            config_name="predict",
            overrides=[f"ckpt={ckpt}", f"input={video}", f"out={out}", *overrides],
        )


def _cpu_precision(precision: str) -> str:
    import torch

    if precision != "auto":
        return precision
    # bf16 without AVX512-BF16/AMX runs ~10x slower than fp32: auto falls back
    return "bf16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "fp32"


def bench_predict(
    minutes: float = 45,
    height: int = 1080,
    clip_seconds: float = 60,
    scans: Sequence[float | None] = (600, None),
    precision: str = "auto",
    model: str = "ViT-B-32",
    repeats: int = 1,
    cache: str | Path = CACHE,
    model_hparams: dict | None = None,
    isolate: bool = True,
    modes: Sequence[str] = ("exact",),
) -> dict[str, Any]:
    """Wall time and peak RSS of ``predict`` from a video file to intro files, on the CPU.

    Each run is a fresh process with a fresh output folder (no feature cache); ``scans`` are
    ``sampler.max_seconds`` values, None = the whole episode; ``modes``: "exact" (every second
    sampled exactly), "coarse" (coarse to fine, ``coarse.enabled=true``; with random weights
    the coarse intro, hence the span sampled exactly, is arbitrary: ``bench_coarse`` times that
    path instead). ``isolate=False``
    runs in this process (tests): the peak RSS is then this process's peak so far.
    """
    from introdet.features.encoder import ClipEncoder
    from introdet.media.probe import probe

    precision = _cpu_precision(precision)
    video = long_video(cache, height, minutes, clip_seconds)
    duration = probe(video).duration
    encoder = ClipEncoder(model, pretrained=None, precision=precision)
    # rewritten every time: a stale one could carry other hyperparameters
    ckpt = make_checkpoint(
        Path(cache) / "introdetector_random.ckpt", encoder.identity, **(model_hparams or {})
    )
    notes = [
        f"encoder {encoder.name} at {precision} on CPU (random weights: same speed)",
        f"model: IntroDetector {model_hparams or 'paper size (depth 16, d_model 512)'}, "
        "random weights",
        f"median of {repeats} runs, each in a fresh process and output folder; "
        "wall = predict(cfg) (load, decode, encode, infer, refine, export); "
        "process = the same plus Python and torch start-up",
    ]
    rows = []
    for scan, mode in itertools.product(scans, modes):
        runs = []
        for _ in range(repeats):
            overrides = [
                f"sampler.max_seconds={'null' if scan is None else scan}",
                f"encoder.precision={precision}",
                f"coarse.enabled={mode == 'coarse'}",
            ]
            runs.append(_predict_run(ckpt, video, overrides, isolate))
        seconds = min(duration, scan) if scan is not None else duration
        wall = statistics.median(r["wall_s"] for r in runs)
        rows.append(
            {
                "video": f"{height}p {duration / 60:.0f} min",
                "scan": "whole episode" if scan is None else f"first {scan:g} s (default)",
                "sampling": "coarse to fine" if mode == "coarse" else "exact 1 fps",
                "wall_s": wall,
                "process_s": statistics.median(r["process_s"] for r in runs),
                "video_s_per_s": seconds / wall,
                "peak_rss_mb": max(r["peak_rss_mb"] for r in runs),
            }
        )
    return {"rows": rows, "notes": notes}


def bench_coarse(
    minutes: float = 45,
    height: int = 1080,
    clip_seconds: float = 60,
    scans: Sequence[float | None] = (600, None),
    fine_seconds: float = 90,
    precision: str = "auto",
    model: str = "ViT-B-32",
    repeats: int = 1,
    cache: str | Path = CACHE,
) -> dict[str, Any]:
    """Coarse to fine against exact 1-fps sampling, timing what differs: sampling + encoding.

    exact: ``frames_per_second`` over the scan, every row encoded. coarse: ``keyframe_samples``
    + ``embed_samples`` over the scan, plus the fine pass over ``fine_seconds`` (an intro with
    its margins) sampled exactly and encoded. The model's passes cost the same either way and
    are left out: with random weights its intro, hence the fine span, would be arbitrary.
    """
    from introdet.features.coarse import embed_samples, keyframe_samples
    from introdet.features.encoder import ClipEncoder
    from introdet.media.probe import probe
    from introdet.media.sampling import frames_per_second

    precision = _cpu_precision(precision)
    video = long_video(cache, height, minutes, clip_seconds)
    duration = probe(video).duration
    encoder = ClipEncoder(model, pretrained=None, precision=precision)
    size = encoder.image_size

    def exact(sampler: dict) -> int:
        frames = [f for _, f in frames_per_second(video, size=size, **sampler)]
        return len(encoder.embed(np.stack(frames)))

    rows = []
    for scan in scans:
        seconds = min(duration, scan) if scan is not None else duration
        fine_start = max(0.0, min(300.0, seconds - fine_seconds))  # an intro a few minutes in
        exact_s, n = median_seconds(lambda scan=scan: exact({"max_seconds": scan}), repeats)
        coarse_s, c = median_seconds(
            lambda scan=scan: embed_samples(
                keyframe_samples(video, size, {"max_seconds": scan}), encoder.embed
            ),
            repeats,
        )
        fine_s, _ = median_seconds(
            lambda s0=fine_start: exact({"start": s0, "max_seconds": fine_seconds}), repeats
        )
        rows.append(
            {
                "video": f"{height}p {duration / 60:.0f} min",
                "scan": "whole episode" if scan is None else f"first {scan:g} s",
                "rows": n,
                "exact_s": exact_s,
                "keyframes_encoded": len(c.key_times),
                "coarse_pass_s": coarse_s,
                f"fine_pass_{fine_seconds:g}s": fine_s,
                "coarse_to_fine_s": coarse_s + fine_s,
                "speedup": exact_s / (coarse_s + fine_s),
            }
        )
    notes = [
        f"encoder {encoder.name} at {precision} on CPU (random weights: same speed); "
        f"median of {repeats} runs",
        "exact = frames_per_second (decode=needed) + encode every row; coarse pass = "
        "decode=keyframes + encode each keyframe once; fine pass = exact over "
        f"{fine_seconds:g} s (the span around an intro)",
    ]
    return {"rows": rows, "notes": notes}


def bench_library(
    episodes: int = 8,
    minutes: float = 45,
    height: int = 1080,
    clip_seconds: float = 60,
    scan: float | None = 600,
    device: str | None = None,
    decoders: int | None = None,
    precision: str = "auto",
    model: str = "ViT-B-32",
    cache: str | Path = CACHE,
    model_hparams: dict | None = None,
    modes: Sequence[str] = ("exact",),
    isolate: bool = True,
) -> dict[str, Any]:
    """Seconds of video per wall second over a library: ``episodes`` names for the 45-minute
    episode, ``predict`` from the folder to intro files, ``decoders`` episodes decoding at once
    in processes (default: one per core), the encoder and model on ``device`` (default: cuda
    when there is one). One run per mode, fresh process and output folder."""
    import torch

    from introdet.features.encoder import ClipEncoder
    from introdet.media.probe import probe

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    decoders = decoders or os.cpu_count() or 1
    if precision == "auto":
        precision = "bf16" if device == "cuda" else _cpu_precision("auto")
    video = long_video(cache, height, minutes, clip_seconds)
    duration = probe(video).duration
    folder = Path(cache) / f"library_{video.stem}_{episodes}"
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(episodes):  # hard links: one file on disk, one page cache, many episodes
        ep = folder / f"ep{i:03d}{video.suffix}"
        if not ep.exists():
            try:
                os.link(video, ep)
            except OSError:
                shutil.copyfile(video, ep)
    encoder = ClipEncoder(model, pretrained=None, precision="fp32")
    ckpt = make_checkpoint(
        Path(cache) / "introdetector_random.ckpt", encoder.identity, **(model_hparams or {})
    )
    seconds = episodes * (min(duration, scan) if scan is not None else duration)
    rows = []
    for mode in modes:
        overrides = [
            f"sampler.max_seconds={'null' if scan is None else scan}",
            f"device={device}",
            f"encoder.precision={precision}",
            f"encoder.batch_size={256 if device == 'cuda' else 64}",
            f"decoders={decoders}",
            "processes=true",
            f"coarse.enabled={mode == 'coarse'}",
        ]
        r = _predict_run(ckpt, folder, overrides, isolate)
        rows.append(
            {
                "library": f"{episodes} x {height}p {duration / 60:.0f} min",
                "scan": "whole episodes" if scan is None else f"first {scan:g} s",
                "sampling": "coarse to fine" if mode == "coarse" else "exact 1 fps",
                "device": f"{device} {precision}",
                "decoders": decoders,
                "wall_s": r["wall_s"],
                "video_s_per_s": seconds / r["wall_s"],
                "peak_rss_mb": r["peak_rss_mb"],
            }
        )
    notes = [
        f"encoder {encoder.name} and a paper-size IntroDetector, random weights (same speed)",
        "decoders: episodes decoding at once in processes (predict decoders=N processes=true)",
    ]
    return {"rows": rows, "notes": notes}


def _predict_run(ckpt: Path, input: Path, overrides: list[str], isolate: bool) -> dict[str, Any]:
    """One timed ``predict`` run into a fresh output folder (a fresh process if ``isolate``)."""
    with tempfile.TemporaryDirectory(prefix="introdet-bench-") as tmp:
        args = {
            "ckpt": str(ckpt),
            "video": str(input),
            "out": tmp,
            "overrides": [*overrides, "progress=false"],
        }
        return run_worker("predict", args, isolate)


def _predict_worker(ckpt: str, video: str, out: str, overrides: list[str]) -> dict[str, Any]:
    from introdet.predict import predict

    cfg = predict_config(Path(ckpt), Path(video), Path(out), overrides)
    t0 = time.perf_counter()
    code = predict(cfg)
    wall = time.perf_counter() - t0
    if code != 0:
        raise BenchError(f"{video}: predict returned {code}")
    return {"wall_s": wall}


# ---------------------------------------------------------------- 4. train


def bench_train(
    batches: Sequence[int] = (8, 256),
    precisions: Sequence[str] = ("fp32", "bf16"),
    devices: Sequence[str] | None = None,
    steps: int = 5,
    budget_s: float = 60,
    hparams: dict | None = None,
    isolate: bool = True,
) -> dict[str, Any]:
    """Windows/s, peak memory and MFU of training steps (forward, backward, Adam step).

    A plain loop over IntroDetector.training_step and its configure_optimizers: what a
    Trainer adds on top (logging, checkpoints) is not measured. Each cell is a fresh
    process. A cell whose step, extrapolated from the smaller batch, would exceed
    ``budget_s`` is skipped and its estimate reported.
    """
    import torch

    if devices is None:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    rows = []
    notes = [
        "plain loop: training_step + loss.backward + Adam (configure_optimizers); "
        f"median step of up to {steps} after 1 warm-up; each cell a fresh process",
        "FLOPs/step = 6 x params x tokens (tokens = batch x 60 s); attention scores ignored",
        "steps 0: the warm-up step alone took over the budget and is what is shown",
        "peak memory: CPU = process peak RSS (incl. ~torch runtime), CUDA = max allocated",
        "MFU = achieved FLOP/s / dense bf16 peak: "
        + ", ".join(f"{k} {v / 1e12:g} TFLOP/s" for k, v in PEAK_BF16.items()),
    ]
    for device in devices:
        for precision in precisions if device == "cpu" else ("bf16",):
            per_window = None  # seconds per window of the last measured batch
            for batch in sorted(batches):
                estimate = None if per_window is None else per_window * batch
                if estimate is not None and estimate > budget_s:
                    rows.append(_skipped_row(device, precision, batch, estimate))
                    continue
                n = steps if estimate is None else max(1, min(steps, int(budget_s / estimate) - 1))
                args = {
                    "device": device,
                    "precision": precision,
                    "batch": batch,
                    "steps": n,
                    "budget_s": budget_s,
                    "hparams": hparams or {},
                }
                r = run_worker("train", args, isolate)
                per_window = r["step_s"] / batch
                rows.append(_train_row(device, precision, batch, r))
    return {"rows": rows, "notes": notes}


def _train_row(device: str, precision: str, batch: int, r: dict) -> Row:
    flops = 6 * r["params"] * batch * WINDOW / r["step_s"]
    peak = next((v for k, v in PEAK_BF16.items() if k in (r["device_name"] or "")), None)
    mfu = f"{100 * flops / peak:.1f}%" if device != "cpu" and peak else "n/a"
    return {
        "device": r["device_name"] or device,
        "precision": precision if precision == "fp32" else f"{precision} autocast",
        "batch": batch,
        "steps": r["steps"],
        "step_s": r["step_s"],
        "windows_per_s": batch / r["step_s"],
        "tflop_per_s": flops / 1e12,
        "mfu": mfu,
        "peak_mem_mb": r["peak_mem_mb"],
    }


def _skipped_row(device: str, precision: str, batch: int, estimate: float) -> Row:
    return {
        "device": device,
        "precision": precision if precision == "fp32" else f"{precision} autocast",
        "batch": batch,
        "steps": None,
        "step_s": f"~{estimate:.0f} (est., skipped)",
        "windows_per_s": batch / estimate,
        "tflop_per_s": None,
        "mfu": "n/a",
        "peak_mem_mb": None,
    }


def _train_worker(
    device: str, precision: str, batch: int, steps: int, budget_s: float, hparams: dict
) -> dict[str, Any]:
    import torch

    from introdet.training.module import IntroDetector

    torch.manual_seed(0)
    model = IntroDetector(**hparams).to(device).train()
    window = model.hparams.window
    opt = model.configure_optimizers()
    params = sum(p.numel() for p in model.parameters() if p.requires_grad)
    data = {
        "feats": torch.randn(batch, window, model.hparams.feature_dim, device=device),
        "labels": torch.randint(0, 2, (batch, window), device=device),
        "mask": torch.ones(batch, window, dtype=torch.bool, device=device),
    }
    kind = torch.device(device).type
    cuda = kind == "cuda"
    autocast = torch.autocast(kind, dtype=torch.bfloat16, enabled=precision == "bf16")

    def step(i: int) -> None:
        with autocast, warnings.catch_warnings():
            # training_step logs; without a Trainer Lightning warns and drops the values
            warnings.filterwarnings("ignore", message=r"You are trying to `self.log\(\)`")
            loss = model.training_step(data, i)
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        if cuda:
            torch.cuda.synchronize()

    t0 = time.perf_counter()
    step(0)  # warm-up: allocator, kernel choice, Adam state
    warm_up = time.perf_counter() - t0
    if warm_up > budget_s:  # one more step would blow the budget: the warm-up step must do
        return _train_result(warm_up, 0, params, cuda)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    times, start = [], time.perf_counter()
    for i in range(steps):
        t0 = time.perf_counter()
        step(i + 1)
        times.append(time.perf_counter() - t0)
        if time.perf_counter() - start > budget_s:
            break
    return _train_result(statistics.median(times), len(times), params, cuda)


def _train_result(step_s: float, steps: int, params: int, cuda: bool) -> dict[str, Any]:
    import torch

    return {
        "step_s": step_s,
        "steps": steps,
        "params": params,
        "device_name": torch.cuda.get_device_name() if cuda else "cpu",
        "peak_mem_mb": torch.cuda.max_memory_allocated() / 2**20 if cuda else None,
    }


# ---------------------------------------------------------------- isolation + output

_WORKERS: dict[str, Callable[..., dict]] = {"predict": _predict_worker, "train": _train_worker}


def run_worker(name: str, args: dict[str, Any], isolate: bool = True) -> dict[str, Any]:
    """Run a worker in a fresh Python process: its own peak RSS, no state from earlier runs
    (``isolate=False``: in this process, for tests)."""
    if not isolate:
        t0 = time.perf_counter()
        out = _WORKERS[name](**args)
        out.update(process_s=time.perf_counter() - t0, peak_rss_mb=_peak_rss_mb())
        if out.get("peak_mem_mb") is None:
            out["peak_mem_mb"] = out["peak_rss_mb"]
        return out
    with tempfile.TemporaryDirectory(prefix="introdet-bench-") as tmp:
        result = Path(tmp) / "result.json"
        cmd = [sys.executable, "-m", "introdet.bench", "--worker", name, json.dumps(args)]
        cmd += ["--out", str(result)]
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False, cwd=ROOT)
        process_s = time.perf_counter() - t0
        if proc.returncode != 0 or not result.is_file():
            raise BenchError(f"worker {name} {args} failed:\n{proc.stderr[-2000:]}")
        out = json.loads(result.read_text())
    out["process_s"] = process_s
    if out.get("peak_mem_mb") is None:
        out["peak_mem_mb"] = out["peak_rss_mb"]
    return out


def _worker_main(name: str, args_json: str, out: str) -> None:
    result = _WORKERS[name](**json.loads(args_json))
    result["peak_rss_mb"] = _peak_rss_mb()
    atomic_write_text(out, json.dumps(result))


def _peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


def markdown_table(rows: Sequence[Row]) -> str:
    """Rows of equal keys -> a GitHub markdown table (None prints as an empty cell)."""
    if not rows:
        return "(no rows)"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "|".join("---" for _ in cols) + "|"]
    for r in rows:
        lines.append("| " + " | ".join(_cell(r.get(c)) for c in cols) + " |")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):  # rows keep full precision (JSON); tables show 4 digits
        return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.0f}"
    return str(value)


def report(name: str, result: dict[str, Any]) -> str:
    notes = "\n".join(f"- {n}" for n in result.get("notes", []))
    return f"### {name}\n\n{markdown_table(result['rows'])}\n\n{notes}\n"


# ---------------------------------------------------------------- CLI


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m introdet.bench",
        description=__doc__,
        epilog="--quick: short videos, small batches, few repeats (a few minutes in all)",
    )
    p.add_argument("benchmarks", nargs="*", help=f"any of {', '.join(BENCHMARKS)}; default all")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--out", help="also write the results as JSON here")
    p.add_argument("--cache", default=str(CACHE), help="test videos and checkpoint (reused)")
    p.add_argument("--repeats", type=int, help="timed runs per cell (default 3, quick 2)")
    p.add_argument("--seconds", type=float, help="sampler clip length (default 60, quick 20)")
    p.add_argument("--heights", type=int, nargs="+", default=[1080, 720])
    p.add_argument("--batches", type=int, nargs="+", help="encoder batches")
    p.add_argument("--train-batches", type=int, nargs="+", default=[8, 256])
    p.add_argument("--minutes", type=float, default=45, help="predict: episode length")
    p.add_argument(
        "--scans",
        nargs="+",
        help="predict: sampler.max_seconds values, 'none' = whole episode "
        "(default: 600 none; quick: 600)",
    )
    p.add_argument("--precision", default="auto", help="predict encoder precision on CPU")
    p.add_argument("--budget", type=float, help="seconds per cell before skipping bigger ones")
    p.add_argument("--threads", type=int, help="torch CPU threads")
    p.add_argument("--episodes", type=int, help="library: episodes (default 8, quick 2)")
    p.add_argument("--decoders", type=int, help="library: decoder processes (default: cores)")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the selected benchmarks, print their tables, return every result."""
    chosen = args.benchmarks or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        raise BenchError(f"unknown benchmark {sorted(unknown)}; choose from {BENCHMARKS}")
    quick = args.quick
    repeats = args.repeats or (2 if quick else 3)
    budget = args.budget or (30 if quick else 120)
    seconds = args.seconds or (20 if quick else 60)
    scans = args.scans or (["600"] if quick else ["600", "none"])
    results: dict[str, Any] = {"machine": machine(), "quick": quick}
    print(report("machine", {"rows": [results["machine"]]}), flush=True)
    for name in chosen:
        t0 = time.perf_counter()
        if name == "sampler":
            res = bench_sampler(args.heights, seconds, repeats, cache=args.cache)
        elif name == "encoder":
            batches = args.batches or ([32, 64] if quick else [32, 64, 128, 256])
            res = bench_encoder(batches=batches, repeats=repeats, budget_s=budget)
        elif name in ("predict", "coarse"):  # the same episode, the same scans
            res = (bench_predict if name == "predict" else bench_coarse)(
                args.minutes,
                clip_seconds=seconds,
                scans=[None if s.lower() == "none" else float(s) for s in scans],
                precision=args.precision,
                repeats=1 if quick else repeats,
                cache=args.cache,
            )
        elif name == "library":
            scan = None if scans[0].lower() == "none" else float(scans[0])
            res = bench_library(
                args.episodes or (2 if quick else 8),
                args.minutes,
                clip_seconds=seconds,
                scan=scan,
                decoders=args.decoders,
                precision=args.precision,
                cache=args.cache,
            )
        else:
            res = bench_train(args.train_batches, steps=3 if quick else 10, budget_s=budget)
        res["bench_s"] = round(time.perf_counter() - t0, 1)
        results[name] = res
        print(report(name, res), flush=True)
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.worker:
        _worker_main(args.worker, args.benchmarks[0], args.out)
        return 0
    try:
        results = run(args)
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.out:
        atomic_write_text(args.out, json.dumps(results, indent=2, default=str))
        print(f"results -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
