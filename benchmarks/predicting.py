"""Benchmarks 3 to 5, predict, coarse and library: ``predict`` from video files to intro files
(a fresh process per run), coarse to fine against exact sampling, and a whole folder."""

from __future__ import annotations

import itertools
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.sampling import median_seconds
from benchmarks.videos import CACHE, long_video
from benchmarks.workers import run_worker
from introdet import CONF_DIR
from introdet.errors import BenchError


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

    import introdet.config  # noqa: F401  (the typed config nodes predict.yaml names)

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
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
    ckpt = _random_checkpoint(cache, encoder, model_hparams)
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
            overrides = [_max_seconds(scan), f"encoder.precision={precision}", _coarse(mode)]
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
    from introdet.features.encoder import ClipEncoder
    from introdet.media.probe import probe

    precision = _cpu_precision(precision)
    video = long_video(cache, height, minutes, clip_seconds)
    duration = probe(video).duration
    encoder = ClipEncoder(model, pretrained=None, precision=precision)

    rows = [
        _coarse_row(video, encoder, scan, duration, fine_seconds, repeats, height) for scan in scans
    ]
    notes = [
        f"encoder {encoder.name} at {precision} on CPU (random weights: same speed); "
        f"median of {repeats} runs",
        "exact = frames_per_second (decode=needed) + encode every row; coarse pass = "
        "decode=keyframes + encode each keyframe once; fine pass = exact over "
        f"{fine_seconds:g} s (the span around an intro)",
    ]
    return {"rows": rows, "notes": notes}


def _coarse_row(
    video: Path,
    encoder,
    scan: float | None,
    duration: float,
    fine_seconds: float,
    repeats: int,
    height: int,
) -> dict[str, Any]:
    """One scan of ``bench_coarse``: exact rows vs the keyframe pass plus the fine pass."""
    from introdet.features.coarse import embed_samples, keyframe_samples
    from introdet.media.sampling import SamplerConfig, frames_per_second

    size = encoder.image_size

    def exact(sampler: dict) -> int:
        frames = [f for _, f in frames_per_second(video, size=size, **sampler)]
        return len(encoder.embed(np.stack(frames)))

    seconds = min(duration, scan) if scan is not None else duration
    fine_start = max(0.0, min(300.0, seconds - fine_seconds))  # an intro a few minutes in
    exact_s, n = median_seconds(lambda: exact({"max_seconds": scan}), repeats)
    coarse_s, c = median_seconds(
        lambda: embed_samples(
            keyframe_samples(video, size, SamplerConfig(max_seconds=scan)), encoder.embed
        ),
        repeats,
    )
    fine_s, _ = median_seconds(
        lambda: exact({"start": fine_start, "max_seconds": fine_seconds}), repeats
    )
    return {
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
    from introdet.features.encoder import ClipEncoder
    from introdet.media.probe import probe

    device, precision = _library_device(device, precision)
    decoders = decoders or os.cpu_count() or 1
    video = long_video(cache, height, minutes, clip_seconds)
    duration = probe(video).duration
    folder = _library(video, Path(cache) / f"library_{video.stem}_{episodes}", episodes)
    encoder = ClipEncoder(model, pretrained=None, precision="fp32")
    ckpt = _random_checkpoint(cache, encoder, model_hparams)
    seconds = episodes * (min(duration, scan) if scan is not None else duration)
    rows = []
    for mode in modes:
        overrides = [
            _max_seconds(scan),
            f"device={device}",
            f"encoder.precision={precision}",
            f"encoder.batch_size={256 if device == 'cuda' else 64}",
            f"decoders={decoders}",
            "processes=true",
            _coarse(mode),
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


def _library_device(device: str | None, precision: str) -> tuple[str, str]:
    """(device: cuda when there is one, precision: bf16 on cuda, else as on the CPU)."""
    import torch

    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if precision == "auto":
        precision = "bf16" if device == "cuda" else _cpu_precision("auto")
    return device, precision


def _random_checkpoint(cache: str | Path, encoder, model_hparams: dict | None) -> Path:
    # rewritten every time: a stale one could carry other hyperparameters
    path = Path(cache) / "introdetector_random.ckpt"
    return make_checkpoint(path, encoder.identity, **(model_hparams or {}))


def _library(video: Path, folder: Path, episodes: int) -> Path:
    """``folder`` with ``episodes`` names for ``video``."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(episodes):  # hard links: one file on disk, one page cache, many episodes
        ep = folder / f"ep{i:03d}{video.suffix}"
        if not ep.exists():
            try:
                os.link(video, ep)
            except OSError:
                shutil.copyfile(video, ep)
    return folder


def _max_seconds(scan: float | None) -> str:
    return f"sampler.max_seconds={'null' if scan is None else scan}"


def _coarse(mode: str) -> str:
    return f"coarse.enabled={mode == 'coarse'}"


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


def predict_worker(ckpt: str, video: str, out: str, overrides: list[str]) -> dict[str, Any]:
    from introdet.predict import predict

    cfg = predict_config(Path(ckpt), Path(video), Path(out), overrides)
    t0 = time.perf_counter()
    code = predict(cfg)
    wall = time.perf_counter() - t0
    if code != 0:
        raise BenchError(f"{video}: predict returned {code}")
    return {"wall_s": wall}
