"""Every frame of a few seconds of a video, decoded once and held for the next reader.

Season mode looks at the pictures around each intro's edges (8 a second, to see where the
pictures that episodes share begin), and refinement then snaps the same edges to a frame, from
every frame within 2 s of them: both windows lie inside the same stretch, and decoding a
1080p stretch costs more than everything done with it. ``HELD.between`` decodes a stretch the
first time it is asked for and serves it from memory after, up to ``BUDGET`` bytes (the
stretches used longest ago go first; one asked for again then is decoded again).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from introdet.media.sampling import Frame, frames_between

BUDGET = 512 << 20  # bytes of frames held: at 64 px, the edges of about 50 episodes


@dataclass(frozen=True)
class Stretch:
    """Every frame whose time lies in [t0, t1): times [N] (s) and frames (RGB uint8)."""

    t0: float
    t1: float
    times: np.ndarray  # float64 [N]
    frames: list[Frame]

    @property
    def nbytes(self) -> int:
        return sum(f.nbytes for f in self.frames)

    def part(self, t0: float, t1: float) -> list[tuple[float, Frame]]:
        lo, hi = np.searchsorted(self.times, [t0, t1], "left")
        return list(zip(self.times[lo:hi].tolist(), self.frames[lo:hi], strict=True))


class HeldFrames:
    """Stretches of videos' frames (``frames_between``'s), decoded once, held to a budget."""

    def __init__(self, budget: int = BUDGET) -> None:
        self.budget = budget
        self.held: OrderedDict[tuple, list[Stretch]] = OrderedDict()  # oldest use first
        self.lock = threading.Lock()  # readers in threads: season mode looks at edges so

    def between(
        self, path: str | os.PathLike, t0: float, t1: float, size: int | None = 64
    ) -> list[tuple[float, Frame]]:
        """``frames_between(path, t0, t1, size)``, decoded only where nothing held covers
        [t0, t1) (a stretch it overlaps is decoded again as one with it)."""
        st = os.stat(path)
        key = (os.fspath(path), size, st.st_mtime_ns, st.st_size)  # a file replaced: not it
        with self.lock:
            stretches = self.held.pop(key, [])
            self.held[key] = stretches
            for s in stretches:
                if s.t0 <= t0 and t1 <= s.t1:
                    return s.part(t0, t1)
            near = [s for s in stretches if s.t0 <= t1 and t0 <= s.t1]
        lo, hi = min([t0] + [s.t0 for s in near]), max([t1] + [s.t1 for s in near])
        decoded = list(frames_between(path, lo, hi, size=size))  # other threads go on meanwhile
        got = Stretch(lo, hi, np.array([t for t, _ in decoded], np.float64),
                      [f for _, f in decoded])  # fmt: skip
        with self.lock:
            kept = [s for s in self.held.pop(key, []) if s not in near]
            self.held[key] = kept + [got]
            self._trim()
        return got.part(t0, t1)

    def _trim(self) -> None:
        total = sum(s.nbytes for ss in self.held.values() for s in ss)
        while total > self.budget and self.held:
            _, gone = self.held.popitem(last=False)
            total -= sum(s.nbytes for s in gone)


HELD = HeldFrames()  # the process's frames held (season mode's edges, then refinement)
