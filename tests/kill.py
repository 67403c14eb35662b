"""A callback that SIGKILLs the training process at a chosen hook and step: the resume tests
use it to stop a run exactly where the team's runs were cut (mid-epoch, in validation)."""

from __future__ import annotations

import os
import signal

from lightning.pytorch import Callback


class KillAt(Callback):
    """SIGKILL this process in ``hook`` once the global step reaches ``step``."""

    def __init__(self, hook: str, step: int) -> None:
        self.step = step
        setattr(self, hook, self._maybe_kill)

    def _maybe_kill(self, trainer, *args, **kwargs) -> None:
        if trainer.global_step >= self.step:
            os.kill(os.getpid(), signal.SIGKILL)
