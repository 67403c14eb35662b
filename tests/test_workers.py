"""run_ahead: order, concurrency, errors in place, crashed processes."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from introdet.media.workers import WorkerCrashed, run_ahead


def square_or_fail(x: int) -> int:
    if x == 3:
        raise ValueError(f"item {x} is bad")
    if x == 5:
        os._exit(7)  # a decoder dying the way FFmpeg crashes take a process down
    return x * x


def slow_or_fail(x: int) -> int:
    if x == 1:
        time.sleep(1.0)  # still running when the process beside it dies
    return square_or_fail(x)


def test_results_in_order_with_errors_in_place():
    got = list(run_ahead(range(5), square_or_fail, workers=3))
    assert [i for i, _ in got] == [0, 1, 2, 3, 4]
    assert [r for _, r in got if not isinstance(r, Exception)] == [0, 1, 4, 16]
    assert isinstance(got[3][1], ValueError) and "item 3" in str(got[3][1])


@pytest.mark.parametrize(("workers", "met"), [(2, True), (1, False)])
def test_workers_run_at_the_same_time(workers: int, met: bool):
    barrier = threading.Barrier(2, timeout=5 if met else 0.3)

    def meet(x: int) -> int:
        barrier.wait()  # only returns when the other item is being worked on too
        return x

    got = [r for _, r in run_ahead([1, 2], meet, workers=workers)]
    if met:
        assert got == [1, 2]
    else:  # one at a time: nobody comes
        assert all(isinstance(r, threading.BrokenBarrierError) for r in got)


def test_a_crashed_process_fails_only_its_item():
    got = dict(run_ahead([1, 5, 2, 3, 4], square_or_fail, workers=2, processes=True))
    assert isinstance(got[5], WorkerCrashed)
    assert isinstance(got[3], ValueError)
    assert (got[1], got[2], got[4]) == (1, 4, 16)


def test_a_crash_beside_a_running_item_spares_it():
    got = dict(run_ahead([1, 5, 2], slow_or_fail, workers=2, processes=True))
    assert isinstance(got[5], WorkerCrashed)
    assert (got[1], got[2]) == (1, 4)


def _children(pid: int) -> set[int]:
    """The pids whose parent is ``pid`` (from /proc)."""
    out = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.add(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie (dead, not yet reaped by its new parent) counts as gone
    state = (Path("/proc") / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_decoder_processes_die_with_a_killed_parent(tmp_path):
    from introdet.demo.videofile import write_video

    lib = tmp_path / "lib" / "Show"
    rng = np.random.default_rng(0)
    for k in range(6):  # noise decodes slowly: the workers are busy when the parent dies
        frames = [rng.integers(0, 255, (240, 320, 3), dtype=np.uint8) for _ in range(300)]
        write_video(lib / f"e{k}.mp4", frames, fps=10)
    cmd = [sys.executable, "-m", "introdet.extract", f"input={tmp_path / 'lib'}",
           f"out={tmp_path / 'shards'}", "encoder=tiny", "decoders=2", "processes=true",
           "progress=false"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    parent = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    workers: set[int] = set()
    while len(workers) < 2 and time.monotonic() < deadline and parent.poll() is None:
        workers = _children(parent.pid)
        time.sleep(0.2)
    assert len(workers) >= 2, "the decoder processes never started"
    parent.kill()
    parent.wait()
    deadline = time.monotonic() + 20
    while any(_alive(p) for p in workers) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = [p for p in workers if _alive(p)]
    for p in left:
        os.kill(p, 9)
    assert not left, f"worker processes outlived their parent: {left}"
