"""The run folder a training made for nothing: a run that stops before fit starts (a bad
setting, no GPU, Ctrl-C while the data loads) takes the folder it created away again, so that
no empty ``outputs/runs/<name>`` is left to look like a run.

Hydra creates the job's folder (and writes ``.hydra/`` and the log there) before the training
code runs, so only a note taken earlier can tell a folder this run created from one of an
earlier run: ``NewRunFolders``, a Hydra callback (conf/train.yaml ``hydra.callbacks``), takes it.
A folder of an earlier run, one that holds a checkpoint, or one whose creation was not seen
(jobs of a launcher that runs them in other processes) is always kept.
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger(__name__)

# folder Hydra will create for this process's jobs -> the folders under it that existed before
_SEEN: dict[str, set[str]] = {}


def _key(folder: str | Path) -> str:
    return os.path.abspath(os.fspath(folder))


def note_existing(root: str | Path, deep: bool = False) -> None:
    """Note which folders exist at ``root`` (``deep``: and under it) before Hydra creates any."""
    top = Path(_key(root))
    seen = {str(top)} if top.is_dir() else set()
    if deep and seen:
        seen |= {dirpath for dirpath, _, _ in os.walk(top)}
    _SEEN[str(top)] = seen


def created_by_this_run(folder: str | Path) -> bool:
    """Whether ``folder`` did not exist when this process's run (or sweep) began."""
    path = _key(folder)
    for root, seen in _SEEN.items():
        if path == root or path.startswith(root + os.sep):
            return path not in seen
    return False


def holds_checkpoint(folder: Path) -> bool:
    return any(p.suffix == ".ckpt" for p in folder.rglob("*"))


def discard(folder: str | Path) -> bool:
    """Remove ``folder`` unless it holds a checkpoint; the caller holds its lock and knows
    this run created it. Returns whether it was removed."""
    folder = Path(folder)
    if not folder.is_dir() or holds_checkpoint(folder):
        return False
    shutil.rmtree(folder, ignore_errors=True)
    log.debug("%s: removed, the run stopped before training", folder)
    return not folder.exists()


class NewRunFolders(Callback):
    """Hydra callback: notes the run's (or the sweep's) folder before Hydra creates it."""

    def on_run_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._note(config, "run", deep=False)

    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        self._note(config, "sweep", deep=True)

    @staticmethod
    def _note(config: DictConfig, mode: str, deep: bool) -> None:
        try:
            root = str(config.hydra[mode].dir)
        except Exception as e:  # a folder named by an interpolation not resolvable yet
            log.debug("run folder not noted: %s", e)
            return
        note_existing(root, deep=deep)
