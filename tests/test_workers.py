"""run_ahead: order, concurrency, errors in place, crashed processes."""

from __future__ import annotations

import os
import threading
import time

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
