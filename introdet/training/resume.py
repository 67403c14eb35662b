"""Exact resume: a run killed at any point and resumed trains what the uninterrupted run trains.

Three things make a resumed run drift from the uninterrupted one, and each is pinned here:

- **data order**: each epoch's shuffle (and each window's random offset) is a function of the
  seed and the epoch alone (``EpochOrder``), not of how many generators ran before it, and a
  run resumed mid-epoch starts at the batch the checkpoint had not yet trained;
- **random draws** of the model (dropout): the generators' states travel in the checkpoint and
  are put back just before the first batch trained after the resume (``RandomState``);
- **the epoch's validation**: a step checkpoint saved on an epoch's last batch would resume past
  that epoch's validation, and the best checkpoint would be chosen without it
  (``StepCheckpoint`` leaves that batch to the checkpoint saved after validation).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.pytorch.callbacks import Callback, ModelCheckpoint
from torch.utils.data import Sampler

STATE_KEY = "introdet_random_state"


class EpochOrder(Sampler):
    """A shuffled pass over ``n`` items per epoch, as ``(index, draw)`` keys: ``draw`` seeds
    whatever the dataset picks at random for that item (a window's offset), so the items of
    an epoch are the same whether the run was interrupted or not."""

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed = n, seed
        self.epoch, self.skip = 0, 0

    def set_epoch(self, epoch: int) -> None:  # Lightning calls it at every epoch start
        self.epoch = epoch

    def resume(self, epoch: int, items: int) -> None:
        """The next pass is ``epoch``, from its ``items``-th item on (one pass only)."""
        self.epoch, self.skip = epoch, items

    def __iter__(self) -> Iterator[tuple[int, int]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        order = rng.permutation(self.n)
        draws = rng.integers(0, 2**31, self.n)
        skip, self.skip = self.skip, 0
        return iter(zip(order[skip:].tolist(), draws[skip:].tolist(), strict=True))

    def __len__(self) -> int:
        # the whole epoch, also when resumed: Lightning counts the batches already trained
        return self.n


def position(trainer: L.Trainer) -> dict[str, int]:
    """Where training stands, as the epoch and the batches of it already trained (the next
    epoch at 0 once the epoch's batches are all done)."""
    done = trainer.fit_loop.epoch_loop.batch_progress.current.processed
    epoch = trainer.current_epoch
    if done >= trainer.num_training_batches:
        return {"epoch": epoch + 1, "batches": 0}
    return {"epoch": epoch, "batches": done}


def _capture() -> dict[str, Any]:
    """The generators' states in types a ``weights_only`` load accepts."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "torch": torch.get_rng_state(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _restore(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


class RandomState(Callback):
    """Saves the random generators with every checkpoint; after a resume, puts them back just
    before the first batch is trained (what ran in between, loading and the sanity check,
    drew nothing the uninterrupted run drew)."""

    def __init__(self) -> None:
        self._pending: dict[str, Any] | None = None

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        checkpoint[STATE_KEY] = _capture()

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict[str, Any]) -> None:
        self._pending = checkpoint.get(STATE_KEY)  # older checkpoints: nothing to restore

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if self._pending is not None:
            _restore(self._pending)
            self._pending = None


class StepCheckpoint(ModelCheckpoint):
    """``ModelCheckpoint`` every N training steps, except on an epoch's last batch: a resume
    from there would skip that epoch's validation; the checkpoint saved after validation
    covers that step."""

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if trainer.fit_loop.epoch_loop.batch_progress.is_last_batch:
            return
        super().on_train_batch_end(trainer, pl_module, outputs, batch, batch_idx)
