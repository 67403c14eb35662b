"""Benchmark 6, train: windows per second, peak memory, TFLOP/s and MFU of training steps of
the paper-size IntroDetector."""

from __future__ import annotations

import statistics
import time
import warnings
from collections.abc import Sequence
from typing import Any

from benchmarks.workers import run_worker

Row = dict[str, Any]
WINDOW = 60  # the paper's window: 60 one-second tokens
# dense bf16 tensor-core peaks (FLOP/s) from the vendors' data sheets; MFU needs one of them
PEAK_BF16 = {"H100": 989e12, "H200": 989e12, "A100": 312e12, "L4": 121e12, "A10": 125e12}


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


def train_worker(
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
