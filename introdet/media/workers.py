"""Decode episodes ahead of the encoder: a few at a time, in threads or processes, in order."""

from __future__ import annotations

import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, TypeVar

from introdet.errors import WorkerCrashed

T = TypeVar("T")


def cores() -> int:
    """The cores this process may run on (a container's or a ``taskset``'s share, not the
    machine's)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def decoding(decoders: int | None, processes: bool | None, whole_work: bool) -> tuple[int, bool]:
    """(episodes decoded at once, in processes): as asked, else for ``whole_work`` (decoding
    is the whole work, as season mode's fingerprints are) one process a core, at most 8; for a
    model's encoder, one episode decoded ahead of it in a thread."""
    if decoders is None:
        decoders = min(cores(), 8) if whole_work else 1
    return decoders, whole_work if processes is None else processes


def run_ahead(
    items: Iterable[T],
    fn: Callable[[T], Any],
    workers: int = 1,
    processes: bool = False,
) -> Iterator[tuple[T, Any]]:
    """Yield ``(item, fn(item))`` in the items' order while up to ``workers`` later items are
    being worked on. An exception raised by ``fn`` is yielded in place of its result. With
    ``processes`` each call runs in a spawned process (``fn`` and items must pickle): a crash
    there yields ``WorkerCrashed`` for the item that also crashes a process of its own, and the
    items behind it are started again; what a process logs is logged here, with its result."""
    workers = max(1, workers)
    todo = iter(items)
    if processes:
        fn = _Logged(fn)
    pool = _pool(workers, processes)
    try:
        ahead: deque[tuple[T, Future]] = deque(
            (item, _submit(pool, fn, item)) for item in itertools.islice(todo, workers)
        )
        while ahead:
            item, fut = ahead.popleft()
            try:
                res = fut.result()
            except BrokenProcessPool:
                # any process of the pool may have died: this item is run again on its own
                pool.shutdown(wait=True, cancel_futures=True)
                res = _alone(fn, item)
                pool = _pool(workers, processes)
                ahead = deque((i, _submit(pool, fn, i)) for i, _ in ahead)
            except Exception as e:
                res = e
            if processes:
                res = _relogged(res)
            nxt = next(todo, None)
            if nxt is not None:
                ahead.append((nxt, _submit(pool, fn, nxt)))
            yield item, res
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


class _Logged:
    """``fn`` in a worker process, its log records (warnings and worse) returned with its
    result or its exception: a spawned process has none of the parent's handlers, so they
    would reach the terminal bare, or nowhere."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def __call__(self, item: Any) -> _Reply:
        caught = _Records()
        root = logging.getLogger()
        root.addHandler(caught)
        try:
            return _Reply(self.fn(item), caught.records)
        except Exception as e:
            return _Reply(e, caught.records)
        finally:
            root.removeHandler(caught)


@dataclass
class _Reply:
    value: Any  # the result, or the exception raised
    records: list[logging.LogRecord]


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        record.msg, record.args = record.getMessage(), None  # the arguments may not pickle
        record.exc_info = record.exc_text = None
        self.records.append(record)


def _relogged(res: Any) -> Any:
    """A worker's result (or exception), its log records handled here by the loggers that
    made them."""
    if not isinstance(res, _Reply):
        return res  # the pool itself failed: no records came back
    for record in res.records:
        logging.getLogger(record.name).handle(record)
    return res.value


def _submit(pool: Executor, fn: Callable[[T], Any], item: T) -> Future:
    """``pool.submit``; a pool a crash has broken meanwhile gives a future that says so, to be
    handled where results are taken."""
    try:
        return pool.submit(fn, item)
    except BrokenProcessPool as e:
        fut: Future = Future()
        fut.set_exception(e)
        return fut


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def die_with_parent(parent: int) -> None:
    """Worker start-up: the kernel ends this process when its parent dies (a killed extract
    must not leave decoders running), and a parent gone already ends it now."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _pool(workers: int, processes: bool) -> Executor:
    if processes:
        # spawn: forking a process that runs torch and tqdm threads can deadlock the child
        return ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=die_with_parent,
            initargs=(os.getpid(),),
        )
    return ThreadPoolExecutor(workers)


def _alone(fn: Callable[[T], Any], item: T) -> Any:
    """``fn(item)`` in a process of its own: a crash there is the item's own."""
    with _pool(1, True) as solo:
        try:
            return solo.submit(fn, item).result()
        except BrokenProcessPool:
            return WorkerCrashed("the worker process died")
        except Exception as e:
            return e
