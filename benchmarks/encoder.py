"""Benchmark 2, encoder: images per second of ClipEncoder.embed per device, precision and batch
(random weights: the same speed as trained ones)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

Row = dict[str, Any]
# bf16 is the fast CPU choice on CPUs with AVX512-BF16/AMX; fp16 is CUDA only
PRECISIONS = {"cpu": ("fp32", "bf16"), "cuda": ("fp16", "bf16")}


def images_per_second(encoder, batch: int, repeats: int) -> float:
    """Median over ``repeats`` timed embeds of one batch, after one warm-up embed."""
    size = encoder.image_size
    frames = np.random.default_rng(0).integers(0, 256, (batch, size, size, 3), dtype=np.uint8)
    encoder.batch_size = batch
    encoder.embed(frames)  # warm-up: kernel selection, allocator, compilation
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        encoder.embed(frames)  # returns CPU numpy, so CUDA work is finished when it returns
        times.append(time.perf_counter() - start)
    return batch / statistics.median(times)


def bench_encoder(
    model: str = "ViT-B-32",
    batches: Sequence[int] = (32, 64, 128, 256),
    repeats: int = 3,
    devices: Sequence[str] | None = None,
    budget_s: float = 60,
    pretrained: str | None = None,
    precisions: Sequence[str] | None = None,
    channels_last: bool = True,
    compile: bool = False,
) -> dict[str, Any]:
    """Images/s of ClipEncoder.embed (random weights by default: same speed) per device,
    precision (default: ``PRECISIONS`` of the device) and batch.

    A precision stops growing its batch once one cell took over ``budget_s``, or at the first
    batch that runs out of memory.
    """
    import torch

    from introdet.features.encoder import ClipEncoder

    if devices is None:
        devices = ["cpu", "cuda"] if torch.cuda.is_available() else ["cpu"]
    weights = "random weights" if pretrained is None else f"weights {pretrained}"
    rows, notes = [], [f"median of {repeats} embeds after 1 warm-up; {weights}"]
    for device in devices:
        kind = torch.device(device).type
        for precision in precisions or PRECISIONS[kind]:
            encoder = ClipEncoder(
                model,
                pretrained=pretrained,
                device=device,
                precision=precision,
                channels_last=channels_last,
                compile=compile,
            )
            for batch in batches:
                t0 = time.perf_counter()
                try:
                    ips = images_per_second(encoder, batch, repeats)
                except torch.OutOfMemoryError:
                    notes.append(f"{device} {precision}: batch {batch} out of memory")
                    break
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
            if kind == "cuda":
                torch.cuda.empty_cache()
    _speedup(rows, notes)
    return {"rows": rows, "notes": notes}


def _speedup(rows: list[Row], notes: list[str]) -> None:
    fp32 = {(r["device"], r["batch"]): r["images_per_s"] for r in rows if r["precision"] == "fp32"}
    for r in rows:
        ref = fp32.get((r["device"], r["batch"]))
        r["x_vs_fp32"] = r["images_per_s"] / ref if ref else None
    notes.append("x_vs_fp32: images/s over fp32 images/s at the same device and batch")
