"""Benchmark work in a fresh Python process (``benchmarks/worker.py``): its own peak RSS and
no state from earlier runs."""

from __future__ import annotations

import importlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from introdet.atomic import atomic_write_text
from introdet.errors import BenchError

WORKER_SCRIPT = Path(__file__).resolve().parent / "worker.py"
# name -> "module:function"; imported when called (those modules import this one)
WORKERS = {
    "predict": "benchmarks.predicting:predict_worker",
    "train": "benchmarks.training:train_worker",
}


def _worker(name: str):
    module, _, function = WORKERS[name].partition(":")
    return getattr(importlib.import_module(module), function)


def run_worker(name: str, args: dict[str, Any], isolate: bool = True) -> dict[str, Any]:
    """Run a worker in a fresh Python process: its own peak RSS, no state from earlier runs
    (``isolate=False``: in this process, for tests)."""
    if not isolate:
        t0 = time.perf_counter()
        out = _worker(name)(**args)
        out.update(process_s=time.perf_counter() - t0, peak_rss_mb=peak_rss_mb())
        if out.get("peak_mem_mb") is None:
            out["peak_mem_mb"] = out["peak_rss_mb"]
        return out
    with tempfile.TemporaryDirectory(prefix="introdet-bench-") as tmp:
        request, result = Path(tmp) / "request.json", Path(tmp) / "result.json"
        request.write_text(json.dumps({"name": name, "args": args, "out": str(result)}))
        t0 = time.perf_counter()
        cmd = [sys.executable, str(WORKER_SCRIPT), str(request)]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
        process_s = time.perf_counter() - t0
        if proc.returncode != 0 or not result.is_file():
            raise BenchError(f"worker {name} {args} failed:\n{proc.stderr[-2000:]}")
        out = json.loads(result.read_text())
    out["process_s"] = process_s
    if out.get("peak_mem_mb") is None:
        out["peak_mem_mb"] = out["peak_rss_mb"]
    return out


def worker_main(request_path: str) -> None:
    """Run the worker a request file names (``{"name", "args", "out"}``); its result -> out."""
    request = json.loads(Path(request_path).read_text())
    result = _worker(request["name"])(**request["args"])
    result["peak_rss_mb"] = peak_rss_mb()
    atomic_write_text(request["out"], json.dumps(result))


def peak_rss_mb() -> float:
    # ru_maxrss is KiB on Linux, bytes on macOS
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20
