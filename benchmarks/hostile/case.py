"""A case of the corpus: a name, a kind, and a function that builds its inputs under its own
folder, runs the commands and returns a ``Verdict``."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.outcome import Verdict


@dataclass
class Ctx:
    """What a case function gets: its own empty folder, the shared assets, a seeded rng."""

    kind: str
    name: str
    dir: Path
    assets: Assets
    seed: int

    @property
    def rng(self) -> np.random.Generator:
        return np.random.default_rng([self.seed, zlib.crc32(f"{self.kind}/{self.name}".encode())])


@dataclass
class Case:
    kind: str
    name: str
    fn: Callable[[Ctx], Verdict]
    cost: float = 10.0  # rough seconds of work, to start the long cases first
