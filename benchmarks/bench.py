"""Benchmarks of sampling, encoding, prediction and training speed, printed as markdown tables.

``python benchmarks/bench.py [run=[sampler,encoder,predict,coarse,library,train]] [quick=true]
[out=results.json]`` from a checkout (conf/bench.yaml lists every key).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: benchmarks.* from the checkout, not this folder
    sys.path[0] = str(Path(__file__).resolve().parents[1])

from omegaconf import DictConfig, OmegaConf

from benchmarks.encoder import bench_encoder
from benchmarks.predicting import bench_coarse, bench_library, bench_predict
from benchmarks.sampling import bench_sampler
from benchmarks.season import bench_season
from benchmarks.training import bench_train
from benchmarks.videos import CACHE, machine
from introdet.atomic import atomic_write_text
from introdet.cli import command
from introdet.errors import BenchError

BENCHMARKS = ("sampler", "encoder", "predict", "coarse", "library", "season", "train")

Row = dict[str, Any]


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


def _scans(cfg: DictConfig) -> list[float | None]:
    """``scans``: sampler.max_seconds values, null or "none" = the whole episode."""
    scans = cfg.scans if cfg.scans is not None else ([600] if cfg.quick else [600, None])
    return [None if s is None or str(s).lower() == "none" else float(s) for s in scans]


def bench_one(name: str, cfg: DictConfig) -> dict[str, Any]:
    """One benchmark with the settings of ``cfg`` (``quick``: short videos, few repeats)."""
    quick = cfg.quick
    repeats = cfg.repeats or (2 if quick else 3)
    budget = cfg.budget or (30 if quick else 120)
    seconds = cfg.seconds or (20 if quick else 60)
    cache = cfg.cache or CACHE
    if name == "sampler":
        return bench_sampler(list(cfg.heights), seconds, repeats, cache=cache)
    if name == "encoder":
        batches = list(cfg.batches or ([32, 64] if quick else [32, 64, 128, 256]))
        encoder = OmegaConf.to_container(cfg.encoder, resolve=True)
        return bench_encoder(batches=batches, repeats=repeats, budget_s=budget, **encoder)
    if name in ("predict", "coarse"):  # the same episode, the same scans
        return (bench_predict if name == "predict" else bench_coarse)(
            cfg.minutes,
            clip_seconds=seconds,
            scans=_scans(cfg),
            precision=cfg.precision,
            repeats=1 if quick else repeats,
            cache=cache,
        )
    if name == "library":
        return bench_library(
            cfg.episodes or (2 if quick else 8),
            cfg.minutes,
            clip_seconds=seconds,
            scan=_scans(cfg)[0],
            decoders=cfg.decoders,
            precision=cfg.precision,
            cache=cache,
        )
    if name == "season":
        episodes = cfg.episodes or (3 if quick else 8)
        return bench_season(10 if quick else cfg.minutes, episodes, 720 if quick else 1080, cache,
                            cfg.cold)  # fmt: skip
    return bench_train(list(cfg.train_batches), steps=3 if quick else 10, budget_s=budget)


def run(cfg: DictConfig) -> dict[str, Any]:
    """Run the selected benchmarks, print their tables, return every result."""
    chosen = list(cfg.run) or list(BENCHMARKS)
    unknown = set(chosen) - set(BENCHMARKS)
    if unknown:
        raise BenchError(f"unknown benchmark {sorted(unknown)}; choose from {BENCHMARKS}")
    results: dict[str, Any] = {"machine": machine(), "quick": cfg.quick}
    print(report("machine", {"rows": [results["machine"]]}), flush=True)
    for name in chosen:
        t0 = time.perf_counter()
        res = bench_one(name, cfg)
        res["bench_s"] = round(time.perf_counter() - t0, 1)
        results[name] = res
        print(report(name, res), flush=True)
    return results


@command("bench")
def main(cfg: DictConfig) -> int:
    if cfg.threads:
        import torch

        torch.set_num_threads(cfg.threads)
    results = run(cfg)
    if cfg.out:
        atomic_write_text(cfg.out, json.dumps(results, indent=2, default=str))
        print(f"results -> {cfg.out}")
    return 0


if __name__ == "__main__":
    main()
