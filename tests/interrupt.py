"""A callback that sends this process SIGINT (what Ctrl+C in a terminal sends) at a chosen
training step: the tests of what training says when it is interrupted use it."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback


class SigintAt(Callback):
    """SIGINT to this process at the start of training batch ``step`` (global step)."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGINT)
