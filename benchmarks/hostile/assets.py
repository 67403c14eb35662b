"""What many cases share, built once per run (lazily, one builder at a time per asset): the
sound 5-s clip and its features, the tiny demo library and its shards, two tiny trained
checkpoints, feature sets, and reference (uninterrupted) runs of the commands."""

from __future__ import annotations

import hashlib
import pickle
import re
import shutil
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.hostile.outcome import (
    EXTRACT,
    TRAIN,
    Run,
    records,
    run,
    shard_features,
)

# a tiny detector: seconds to train, and it finds the demo library's intros
TINY_MODEL = [
    "data=tiny", "trainer=cpu", "trainer.enable_model_summary=false",
    "+trainer.enable_progress_bar=false", "model.d_model=32", "model.depth=1", "model.heads=2",
    "model.ffn_dim=64", "model.lr=3e-3", "test_after_fit=false",
]  # fmt: skip
FORMATS = ("json", "edl", "ffmetadata", "vtt")
ALL_FORMATS = "formats=[json,edl,ffmetadata,vtt]"


class AssetError(RuntimeError):
    """A shared asset could not be built: every case that needs it is reported with this."""


class Assets:
    def __init__(self, work: Path, reuse: bool = False) -> None:
        self.root = work / "assets"
        self.root.mkdir(parents=True, exist_ok=True)
        self.reuse = reuse  # keep what an earlier run of the corpus built (development)
        self._lock = threading.Lock()
        self._locks: dict[str, threading.Lock] = {}
        self._cache: dict[str, Any] = {}

    def get(self, key: str, build: Callable[[], Any]) -> Any:
        with self._lock:
            lock = self._locks.setdefault(key, threading.Lock())
        with lock:
            saved = self.root / ".saved" / f"{hashlib.sha1(key.encode()).hexdigest()}.pkl"
            if key not in self._cache and self.reuse and saved.is_file():
                self._cache[key] = pickle.loads(saved.read_bytes())
            if key not in self._cache:
                try:
                    self._cache[key] = build()
                    saved.parent.mkdir(exist_ok=True)
                    saved.write_bytes(pickle.dumps(self._cache[key]))
                except AssetError as e:
                    self._cache[key] = e
                except Exception as e:
                    self._cache[key] = AssetError(f"{key}: {type(e).__name__}: {e}")
            value = self._cache[key]
        if isinstance(value, AssetError):
            raise value
        return value

    def _checked(self, r: Run, what: str) -> Run:
        if r.rc != 0 or r.timed_out:
            raise AssetError(f"{what} failed (exit {r.rc}): {r.line}\n{r.tail(800)}")
        return r

    # --- media ---------------------------------------------------------------------------

    @property
    def good(self) -> Path:
        """The sound clip every bad-input folder also holds (tests/badfiles.good, seed 0)."""

        def build() -> Path:
            from tests import badfiles

            return badfiles.good(self.root / "good" / "good.mp4")

        return self.get("good", build)

    @property
    def good_ref(self) -> dict:
        """Features of the sound clip extracted alone (episode -> (meta, features))."""

        def build() -> dict:
            out = self.root / "good_shards"
            shutil.rmtree(out, ignore_errors=True)
            self._checked(run([*EXTRACT, f"input={self.good.parent}", f"out={out}"]), "extract")
            return shard_features(out)

        return self.get("good_ref", build)

    def clip(self, name: str, build: Callable[[Path], Path]) -> Path:
        """A source clip made once (an uncut file a damaged copy is compared with)."""
        return self.get(f"clip:{name}", lambda: build(self.root / "clips" / name))

    def clip_features(self, name: str, build: Callable[[Path], Path]) -> dict:
        """Features of ``clip(name)`` extracted alone."""

        def make() -> dict:
            path = self.clip(name, build)
            folder = self.root / "clip_in" / name
            folder.mkdir(parents=True, exist_ok=True)
            link = folder / path.name
            if not link.exists():
                shutil.copy2(path, link)
            out = self.root / "clip_shards" / name
            shutil.rmtree(out, ignore_errors=True)
            self._checked(run([*EXTRACT, f"input={folder}", f"out={out}"]), f"extract {name}")
            return shard_features(out)

        return self.get(f"clipref:{name}", make)

    @property
    def lib(self) -> Path:
        """The tiny demo library (8 episodes of 20-25 s, 4 series, sound; mp4, mkv, webm, avi):
        ``lib/videos``, ``lib/train_labels.json``."""

        def build() -> Path:
            from introdet.demo.make_library import make_library

            out = self.root / "lib"
            make_library(out, seed=0, size="tiny")
            return out

        return self.get("lib", build)

    @property
    def lib_shards(self) -> Path:
        def build() -> Path:
            out = self.root / "lib_shards"
            shutil.rmtree(out, ignore_errors=True)
            self._checked(run([*EXTRACT, f"input={self.lib / 'videos'}", f"out={out}"]), "extract")
            return out

        return self.get("lib_shards", build)

    # --- features and checkpoints --------------------------------------------------------

    def feature_set(self, name: str, **kw) -> tuple[Path, Path]:
        """tests/conftest.make_feature_set: (shard folder, labels) of synthetic tiny-encoder
        features."""

        def build() -> tuple[Path, Path]:
            from tests.conftest import make_feature_set

            folder = self.root / "features" / name
            shutil.rmtree(folder, ignore_errors=True)
            return make_feature_set(folder, **kw)

        return self.get(f"features:{name}", build)

    def checkpoint(self, name: str, seed: int = 1234, *extra: str) -> Path:
        """A tiny detector trained on the demo library's shards (30 epochs, seconds)."""

        def build() -> Path:
            out = self.root / "runs" / name
            shutil.rmtree(out, ignore_errors=True)
            cmd = [*TRAIN, *self.lib_train_args(out), "trainer.max_epochs=30", f"seed={seed}",
                   *extra]  # fmt: skip
            self._checked(run(cmd, timeout=300), f"train {name}")
            return out / "checkpoints" / "last.ckpt"

        return self.get(f"ckpt:{name}", build)

    def lib_train_args(self, out: Path, labels: Path | None = None) -> list[str]:
        return [
            *TINY_MODEL,
            f"data.shard_dir={self.lib_shards}",
            f"data.train_labels={labels or self.lib / 'train_labels.json'}",
            "data.split_by=episode", "data.val_fraction=0.25", "data.test_fraction=0",
            f"paths.output_dir={out}", f"hydra.run.dir={out}",
        ]  # fmt: skip

    @property
    def ckpt_a(self) -> Path:
        return self.checkpoint("A", 1234)

    @property
    def ckpt_b(self) -> Path:
        return self.checkpoint("B", 7)

    # --- reference runs ------------------------------------------------------------------

    def reference(self, key: str, cmd: list[str], out: Path, what: str = "records") -> Any:
        """An uninterrupted run of ``cmd`` (writing to ``out``) and what it produced:
        records, or shard features. Runs of the same command (but ``out=``) share one."""
        same = "|".join(a for a in cmd if not a.startswith("out="))
        key = f"{key}-{hashlib.sha1(same.encode()).hexdigest()[:10]}"
        out = out.with_name(re.sub(r"[^\w.-]+", "_", key))
        cmd = [a if not a.startswith("out=") else f"out={out}" for a in cmd]

        def build() -> Any:
            shutil.rmtree(out, ignore_errors=True)
            r = self._checked(run(cmd, timeout=300), f"reference {key}")
            if what == "records":
                return records(out)
            if what == "shards":
                return shard_features(out)
            return r

        return self.get(f"ref:{key}", build)
