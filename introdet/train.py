"""train(cfg): what train.py runs (prediction and extraction live in their own modules)."""

from __future__ import annotations

import contextlib
import gc
import hashlib
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from introdet.atomic import TEMP_SUFFIX, abandoned_temp_files, folder_lock
from introdet.checks import FLAG, NULL, check_values, number, one_of, whole
from introdet.cli import command, say
from introdet.detection.checkpoint import Checkpoint, read_checkpoint
from introdet.errors import (
    EXIT_INTERRUPTED,
    CheckpointError,
    CheckpointMismatch,
    CheckpointNotFound,
    ConfigError,
    FolderInUse,
)
from introdet.features.identity import encoder_name, same_encoder
from introdet.training import run_folder
from introdet.training.callbacks import FinishedRun
from introdet.training.csv_logger import CSVHistoryLogger
from introdet.training.interruption import Progress, Watch, interrupted, run_stage
from introdet.training.quiet import progress_bar, quiet_lightning

log = logging.getLogger(__name__)

# hyperparameters that change the network's shape: a checkpoint with others cannot resume
ARCH_KEYS = ("feature_dim", "window", "d_model", "depth", "heads", "ffn_dim", "head", "recurrence")


def stable_id(cfg: DictConfig) -> str:
    """Same run folder -> same W&B run id, so a resumed run continues its W&B run."""
    try:
        cwd = HydraConfig.get().runtime.cwd
    except ValueError:  # composed outside @hydra.main (tests)
        cwd = os.getcwd()
    rel = os.path.relpath(str(cfg.paths.output_dir), cwd)
    return hashlib.sha1(rel.encode()).hexdigest()[:12]


# the validation scores a run can be judged by (the checkpoint callback keeps their maximum)
OBJECTIVES = ("val/f1", "val/precision", "val/recall", "val/accuracy")
RUN_RULES = {
    "seed": whole(0, 2**32 - 1),
    "objective": one_of(*OBJECTIVES),
    "test_after_fit": FLAG,
    "retest": FLAG,
}
TRAINER_RULES = {
    "max_epochs": whole(-1),
    "max_steps": whole(-1),
    "min_epochs": whole(0) | NULL,
    "gradient_clip_val": number(0) | NULL,
    "log_every_n_steps": whole(1),
    "accumulate_grad_batches": whole(1),
    "check_val_every_n_epoch": whole(1) | NULL,
    "num_sanity_val_steps": whole(-1),
    "deterministic": FLAG | one_of("warn"),
    "enable_model_summary": FLAG,
    "enable_progress_bar": FLAG,
}


def check_run(cfg: DictConfig) -> None:
    """The run's own keys, ``trainer.*`` (its accelerator among them) and the step checkpoint's
    interval, before anything is built (``data.*`` and ``model.*`` are checked by their
    classes)."""
    check_values("", cfg, RUN_RULES)
    check_values("trainer", cfg.trainer, TRAINER_RULES)
    check_accelerator(cfg.trainer)
    steps = OmegaConf.select(cfg, "callbacks.checkpoint_steps.every_n_train_steps")
    if steps is not None:
        check_values("callbacks.checkpoint_steps", {"every_n_train_steps": steps},
                     {"every_n_train_steps": whole(0)})  # fmt: skip


# trainer.accelerator -> what it needs, as said when this machine has none of it
HARDWARE = {"gpu": "GPU (CUDA or MPS)", "cuda": "CUDA GPU", "mps": "MPS device", "tpu": "TPU"}


def check_accelerator(trainer: DictConfig) -> None:
    """An accelerator this machine has; Lightning's own refusal ("No supported gpu backend
    found!") came only once the run had started and made its folder."""
    from lightning.pytorch.accelerators import AcceleratorRegistry

    name = trainer.get("accelerator")
    key = name.lower() if isinstance(name, str) else None
    if key not in HARDWARE:  # auto, cpu, an Accelerator object, or a name Lightning refuses
        return
    kinds = [k for k in (("cuda", "mps") if key == "gpu" else (key,)) if k in AcceleratorRegistry]
    if any(AcceleratorRegistry[k]["accelerator"].is_available() for k in kinds):
        return
    raise ConfigError(
        f"trainer.accelerator={name}: this machine has no {HARDWARE[key]} that torch can use; "
        "trainer=auto trains on the GPU when there is one and on the CPU otherwise"
    )


def auto_precision(accelerator: object) -> str:
    """``trainer.precision=auto``: bf16-mixed where the trainer runs on a CUDA GPU with native
    bf16 (Ampere and newer: about 2x the fp32 throughput), 32-true elsewhere (the CPU, MPS,
    older GPUs)."""
    name = accelerator.lower() if isinstance(accelerator, str) else "auto"
    cuda = name in ("auto", "gpu", "cuda") and torch.cuda.is_available()
    return "bf16-mixed" if cuda and torch.cuda.get_device_capability()[0] >= 8 else "32-true"


def make_trainer(conf: DictConfig, **kwargs) -> L.Trainer:
    """The Lightning Trainer of ``trainer.*``; a value Lightning refuses is one line naming it.
    ``precision: auto`` becomes the one this machine runs best (``auto_precision``)."""
    from lightning.fabric.utilities.exceptions import MisconfigurationException

    from introdet.training.checkpoint_io import AtomicCheckpointIO

    if not conf.get("plugins"):  # a user's own plugins (a CheckpointIO among them) win
        kwargs["plugins"] = [AtomicCheckpointIO()]
    if conf.get("enable_progress_bar") is None:
        kwargs["enable_progress_bar"] = progress_bar()
    if conf.get("precision") == "auto":
        kwargs["precision"] = auto_precision(conf.get("accelerator"))
        log.info("trainer.precision=auto: %s", kwargs["precision"])
    try:
        return instantiate(conf, **kwargs)
    except InstantiationException as e:
        if isinstance(e.__cause__, MisconfigurationException | ValueError):
            raise ConfigError(f"trainer: {e.__cause__}") from e
        raise


def resolve_ckpt(ckpt_path: str | None, output_dir: Path) -> Checkpoint | None:
    """'last' -> the run's last.ckpt when it exists (else a fresh start), or, when that one is
    damaged (a kill while it was written, a full disk), the newest checkpoint that reads; a
    path must exist and read. Read once: the checks before fitting use what was read."""
    if ckpt_path in (None, "", "none", "null"):
        return None
    if ckpt_path == "last":
        folder = output_dir / "checkpoints"
        last = folder / "last.ckpt"
        others = sorted(
            (p for p in folder.glob("*.ckpt") if p != last and p.is_file()),
            key=lambda p: p.stat().st_mtime,
        )
        if not (last.exists() or last.is_symlink()) and not others:
            log.info("no %s: starting a new run", last)
            return None
        _clear_folder_in_place_of(last)
        # a last.ckpt that is missing beside other checkpoints, or a dangling link, is as
        # damaged as a cut-short one: the run goes on from its newest good checkpoint
        for candidate in [last, *reversed(others)]:
            try:
                found = read_checkpoint(candidate)
            except CheckpointError as e:
                log.warning("%s", e)
                continue
            if candidate != last:
                log.warning("resuming from %s, the newest checkpoint that reads", candidate)
            return found
        raise CheckpointError(f"{folder}: no checkpoint of this run reads (ckpt_path=null "
                              "starts over)")  # fmt: skip
    if not Path(ckpt_path).is_file():
        raise CheckpointNotFound(f"{ckpt_path}: checkpoint not found (ckpt_path)")
    return read_checkpoint(ckpt_path)


def _clear_folder_in_place_of(last: Path) -> None:
    """Every save of the run would fail on a folder named like its checkpoint: an empty one is
    removed (with a warning), one that holds files is the user's to move."""
    if not last.is_dir() or last.is_symlink():
        return
    try:
        last.rmdir()
    except OSError as e:
        raise CheckpointError(
            f"{last}: a folder holding files sits where the run saves its checkpoint; move it "
            "away to resume"
        ) from e
    log.warning("%s: removed the empty folder in the place of the run's checkpoint", last)


def check_compatible(ckpt: Checkpoint, hparams: dict) -> None:
    """Refuse to resume a checkpoint of another architecture or encoder."""
    saved = ckpt.hparams
    diff = {k: (saved.get(k), hparams.get(k)) for k in ARCH_KEYS if saved.get(k) != hparams.get(k)}
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
        raise CheckpointMismatch(
            f"{ckpt.path}: model shape differs from the config ({lines}); use another run_name "
            "for a new experiment, or ckpt_path=null to start over"
        )
    a, b = saved.get("encoder"), hparams.get("encoder")
    if a and b and not same_encoder(a, b):
        raise CheckpointMismatch(
            f"{ckpt.path}: trained on features of {encoder_name(a)}, but the shards come from "
            f"{encoder_name(b)}; training refuses to mix encoders"
        )


def build_loggers(cfg: DictConfig, resume_step: int = 0) -> list:
    """The configured loggers; a resumed run's CSV history continues from ``resume_step``."""
    loggers = []
    for conf in (cfg.get("logger") or {}).values():
        if conf is None:
            continue
        if conf._target_.endswith("WandbLogger"):
            logger = instantiate(conf, id=stable_id(cfg), resume="allow")
            run_cfg = OmegaConf.masked_copy(cfg, [k for k in cfg if k != "hydra"])
            logger.log_hyperparams(OmegaConf.to_container(run_cfg, resolve=True))
        else:
            logger = instantiate(conf)
            if isinstance(logger, CSVHistoryLogger):
                logger.resume_step = resume_step
        loggers.append(logger)
    return loggers


@dataclass
class RunState:
    """What a run's last.ckpt says about it."""

    epochs: int  # training epochs done
    step: int  # global step
    finished: bool  # the trainer's budget (epochs, steps) was spent, or it stopped early
    best: str  # best checkpoint by the objective ("" when none)
    objective: float  # the objective when fit ended (nan when unknown)


def run_state(ckpt: Checkpoint, cfg: DictConfig) -> RunState:
    """The resume point, and whether fit is done, decided as Lightning's fit loop does."""
    ckpt = ckpt.data
    fit = ckpt.get("loops", {}).get("fit_loop", {})
    epochs = int(fit.get("epoch_progress", {}).get("current", {}).get("processed", 0))
    step = int(ckpt.get("global_step", 0))
    max_steps = cfg.trainer.get("max_steps", -1)
    max_epochs = cfg.trainer.get("max_epochs")
    if max_epochs is None:  # Lightning's default: 1000 epochs unless a step budget is set
        max_epochs = 1000 if max_steps == -1 else -1
    states = ckpt.get("callbacks", {})
    end = states.get(FinishedRun.__qualname__, {})
    monitored = [s for s in states.values() if s.get("monitor") == cfg.objective]
    best = str(monitored[0].get("best_model_path") or "") if monitored else ""
    objective = end.get("objective")
    if objective is None and monitored and monitored[0].get("current_score") is not None:
        objective = float(monitored[0]["current_score"])
    finished = (
        (max_epochs != -1 and epochs >= max_epochs)
        or (max_steps != -1 and step >= max_steps)
        or bool(end.get("stopped"))
    )
    return RunState(epochs, step, finished, best, math.nan if objective is None else objective)


def finish_wandb() -> None:
    """Hydra's basic launcher runs every sweep job in one process: close this job's run."""
    try:
        import wandb
    except ImportError:
        return
    if wandb.run is not None:
        wandb.finish()


def format_metrics(metrics: dict[str, float]) -> str:
    stages = ["train", "val", "test"]
    names = ["accuracy", "precision", "recall", "f1", "loss"]
    rows = [f"{'':10s}" + "".join(f"{n:>11s}" for n in names)]
    for s in stages:
        if not any(f"{s}/{n}" in metrics for n in names):
            continue
        cells = "".join(
            f"{metrics[f'{s}/{n}']:11.3f}" if f"{s}/{n}" in metrics else f"{'-':>11s}"
            for n in names
        )
        rows.append(f"{s:10s}{cells}")
    return "\n".join(rows)


def _scalars(metrics: dict) -> dict[str, float]:
    return {k: float(v) for k, v in metrics.items() if getattr(v, "numel", lambda: 1)() == 1}


def _model_and_data(cfg: DictConfig):
    data = instantiate(cfg.data, _convert_="all")
    encoder = data.prepare_encoder()
    if encoder.get("random_weights"):
        log.warning(
            "features come from %s: RANDOM encoder weights, fine for tests and the demo, "
            "meaningless for real episodes",
            encoder_name(encoder),
        )
    # plain containers: checkpoints must load with weights_only=True, without omegaconf
    model = instantiate(cfg.model, encoder=encoder, season=data.season_settings(), _convert_="all")
    return model, data


def _keep_best(best: str, loggers: list) -> None:
    say(f"best checkpoint: {best}")
    for lg in loggers:  # W&B: keep the checkpoint's path with the run
        if hasattr(lg, "experiment") and hasattr(lg.experiment, "summary"):
            lg.experiment.summary["best_checkpoint"] = best


def train(cfg: DictConfig) -> float:
    """Fit (resuming when the run has a last.ckpt), test the best checkpoint, print metrics;
    a finished run is only reported (or tested again with retest=true). A run that stops
    before fit starts takes away the folder it created; Ctrl-C is one line saying how the
    run goes on, and exit code 130."""
    out = Path(cfg.paths.output_dir)
    new = not out.exists() or run_folder.created_by_this_run(out)  # before we write in it
    progress = Progress()
    try:
        try:
            check_run(cfg)
        except BaseException:
            if new and out.exists():
                with contextlib.suppress(FolderInUse), folder_lock(out, "training"):
                    run_folder.discard(out)
            raise
        with folder_lock(out, "training"):  # one metrics history, one last.ckpt
            try:
                # a checkpoint write killed before its rename (training/checkpoint_io.py)
                for tmp in abandoned_temp_files(out.rglob(f".*{TEMP_SUFFIX}")):
                    tmp.unlink(missing_ok=True)
                return _train(cfg, progress)
            except BaseException:
                if new and progress.stage == "start-up":
                    run_folder.discard(out)
                raise
    except KeyboardInterrupt:
        print(interrupted(cfg, progress), file=sys.stderr, flush=True)
        sys.exit(EXIT_INTERRUPTED)


def _train(cfg: DictConfig, progress: Progress) -> float:
    quiet_lightning()
    L.seed_everything(cfg.seed, workers=True)
    model, data = _model_and_data(cfg)
    saved = resolve_ckpt(cfg.ckpt_path, Path(cfg.paths.output_dir))
    ckpt, state = (str(saved.path) if saved else None), None
    if saved:
        check_compatible(saved, dict(model.hparams))
        state = run_state(saved, cfg)
        if state.finished and not cfg.retest:
            print(
                f"run {cfg.run_name} is finished ({state.epochs} epochs, best checkpoint: "
                f"{state.best or 'none'}); retest=true to test it again, or another run_name "
                "for a new run"
            )
            return state.objective
        if not state.finished:
            log.info("resuming from %s", ckpt)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = build_loggers(cfg, resume_step=state.step if state else 0)
    trainer = make_trainer(
        cfg.trainer, logger=loggers or False, callbacks=[*callbacks, Watch(progress)]
    )
    try:
        retest = bool(state and state.finished)
        metrics, best = {}, state.best if retest else ""
        if not retest:
            run_stage(progress, trainer.fit, model, datamodule=data, ckpt_path=ckpt,
                      weights_only=True)  # fmt: skip
            metrics = _scalars(trainer.callback_metrics)
            best = (
                trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
            )
        progress.stage = "test"
        data.setup("test")
        if cfg.test_after_fit and data.tracks.get("test"):
            # verbose=False: the results table below says it once, in the log file too
            run_stage(progress, trainer.test, model, datamodule=data, ckpt_path=best or None,
                      weights_only=True, verbose=False)  # fmt: skip
            metrics.update(_scalars(trainer.callback_metrics))
        say(format_metrics(metrics))
        if best:
            _keep_best(best, loggers)
        stored = state.objective if retest else math.nan
        return float(metrics.get(cfg.objective, stored))
    finally:
        finish_wandb()
        del trainer, model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


main = command("train")(train)  # console script introdet-train, and python train.py

if __name__ == "__main__":
    main()
