"""One benchmark worker in a fresh process, started by ``benchmarks.workers.run_worker``:
``python benchmarks/worker.py REQUEST.json`` (the request names the worker, its arguments and
the file for its result)."""

import sys
from pathlib import Path

sys.path[0] = str(Path(__file__).resolve().parents[1])  # benchmarks.* from the checkout

from benchmarks.workers import worker_main  # noqa: E402

if __name__ == "__main__":
    worker_main(sys.argv[1])
