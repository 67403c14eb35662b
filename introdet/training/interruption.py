"""Ctrl-C in training: one line saying where the same command goes on, and exit code 130.

Lightning catches the KeyboardInterrupt inside ``trainer.fit``/``trainer.test``, runs the
callbacks' ``on_exception`` and tears down, then calls ``sys.exit(1)`` (lightning 2.6,
``trainer/call.py``): ``Watch`` notes the interrupt, and ``run_stage`` makes that exit a
KeyboardInterrupt again, which ``train`` turns into ``interrupted(...)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import lightning as L
from omegaconf import DictConfig


@dataclass
class Progress:
    """How far a run got, for what it says and leaves when it stops early."""

    stage: str = "start-up"  # start-up (setup and the sanity check included) | fit | test
    interrupt: BaseException | None = field(default=None, repr=False)


class Watch(L.Callback):
    """Notes when fit really starts, and what stopped the trainer."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.progress.stage = "fit"

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        self.progress.interrupt = exception


def resume_point(output_dir: Path) -> Path | None:
    """The checkpoint ``ckpt_path=last`` resumes from: last.ckpt, else the newest other one
    (as ``introdet.train.resolve_ckpt`` picks it, before reading it)."""
    folder = output_dir / "checkpoints"
    if (folder / "last.ckpt").is_file():
        return folder / "last.ckpt"
    found = [p for p in folder.glob("*.ckpt") if p.is_file()] if folder.is_dir() else []
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


def interrupted(cfg: DictConfig, progress: Progress) -> str:
    """The line Ctrl-C leaves: where the same command goes on."""
    if progress.stage == "test":
        return ("interrupted while testing: the run is trained, and the same command reports it; "
                "retest=true tests its best checkpoint again")  # fmt: skip
    ckpt = resume_point(Path(cfg.paths.output_dir))
    if ckpt is None:
        return "interrupted: no checkpoint yet, the same command starts the run over"
    if cfg.ckpt_path != "last":
        return f"interrupted: ckpt_path=last resumes from {ckpt}"
    return f"interrupted: the same command resumes from {ckpt}"


def _not_lightnings_interrupt_line(record: logging.LogRecord) -> bool:
    return "Detected KeyboardInterrupt" not in record.getMessage()  # ours says more


def run_stage(progress: Progress, step, *args, **kwargs) -> None:
    """``trainer.fit`` or ``trainer.test``; the exit Lightning makes of Ctrl-C is Ctrl-C again."""
    progress.interrupt = None
    lightning_log = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    lightning_log.addFilter(_not_lightnings_interrupt_line)
    try:
        step(*args, **kwargs)
    except SystemExit:
        if isinstance(progress.interrupt, KeyboardInterrupt):
            raise KeyboardInterrupt from None
        raise
    finally:
        lightning_log.removeFilter(_not_lightnings_interrupt_line)
