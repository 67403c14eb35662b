"""train(cfg): what train.py runs (prediction and extraction live in their own modules)."""

from __future__ import annotations

import gc
import hashlib
import json
import logging
import math
import os
from pathlib import Path

import lightning as L
import torch
from hydra.core.hydra_config import HydraConfig
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from introdet.cli import command
from introdet.errors import CheckpointMismatch
from introdet.features.shards import encoder_name
from introdet.training.module import read_checkpoint

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


def resolve_ckpt(ckpt_path: str | None, output_dir: Path) -> str | None:
    """'last' -> the run's last.ckpt when it exists (else a fresh start); a path must exist."""
    if ckpt_path in (None, "", "none", "null"):
        return None
    if ckpt_path == "last":
        last = output_dir / "checkpoints" / "last.ckpt"
        if last.is_file():
            return str(last)
        log.info("no %s: starting a new run", last)
        return None
    if not Path(ckpt_path).is_file():
        raise FileNotFoundError(f"{ckpt_path}: checkpoint not found (ckpt_path)")
    return str(ckpt_path)


def check_compatible(ckpt: str, hparams: dict) -> None:
    """Refuse to resume a checkpoint of another architecture or encoder."""
    saved = read_checkpoint(ckpt).get("hyper_parameters", {})
    diff = {k: (saved.get(k), hparams.get(k)) for k in ARCH_KEYS if saved.get(k) != hparams.get(k)}
    if diff:
        lines = ", ".join(f"{k}: checkpoint {a!r} vs config {b!r}" for k, (a, b) in diff.items())
        raise CheckpointMismatch(
            f"{ckpt}: model shape differs from the config ({lines}); use another run_name "
            "for a new experiment, or ckpt_path=null to start over"
        )
    a, b = saved.get("encoder"), hparams.get("encoder")
    if a and b and encoder_name(a) != encoder_name(b):
        raise CheckpointMismatch(
            f"{ckpt}: trained on features of {encoder_name(a)}, but the shards come from "
            f"{encoder_name(b)}; training refuses to mix encoders"
        )


def build_loggers(cfg: DictConfig) -> list:
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
            if conf._target_.endswith("CSVLogger"):
                _keep_csv_history(Path(logger.log_dir))
        loggers.append(logger)
    return loggers


def _keep_csv_history(log_dir: Path) -> None:
    """Lightning's CSV logger deletes metrics.csv when a run resumes: keep it as metrics.N.csv."""
    old = log_dir / "metrics.csv"
    if old.is_file():
        n = 1 + sum(1 for _ in log_dir.glob("metrics.*.csv"))
        old.rename(log_dir / f"metrics.{n}.csv")


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


def train(cfg: DictConfig) -> float:
    """Fit (resuming when the run has a last.ckpt), test the best checkpoint, print metrics."""
    L.seed_everything(cfg.seed, workers=True)
    out = Path(cfg.paths.output_dir)
    data = instantiate(cfg.data, _convert_="all")
    encoder = data.prepare_encoder()
    if encoder.get("random_weights"):
        log.warning(
            "features come from %s: RANDOM encoder weights, fine for tests and the demo, "
            "meaningless for real episodes",
            encoder_name(encoder),
        )
    # plain containers: checkpoints must load with weights_only=True, without omegaconf
    model = instantiate(cfg.model, encoder=encoder, _convert_="all")
    ckpt = resolve_ckpt(cfg.ckpt_path, out)
    if ckpt:
        check_compatible(ckpt, dict(model.hparams))
        log.info("resuming from %s", ckpt)
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values()]
    loggers = build_loggers(cfg)
    trainer = instantiate(cfg.trainer, logger=loggers or False, callbacks=callbacks)
    try:
        trainer.fit(model, datamodule=data, ckpt_path=ckpt)
        metrics = _scalars(trainer.callback_metrics)
        best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
        if data.hparams.mode == "episodes" and data.tracks.get("val") and best:
            _tune_postprocess(type(model).load_from_checkpoint(best, weights_only=True), data, out)
        if cfg.get("test_after_fit", True) and data.tracks.get("test"):
            trainer.test(model, datamodule=data, ckpt_path=best or None)
            metrics.update(_scalars(trainer.callback_metrics))
            _report_episodes(model, data, out, loggers)
        print(format_metrics(metrics))
        if best:
            print(f"best checkpoint: {best}")
            for lg in loggers:  # W&B: keep the checkpoint's path with the run
                if hasattr(lg, "experiment") and hasattr(lg.experiment, "summary"):
                    lg.experiment.summary["best_checkpoint"] = best
        return float(metrics.get(cfg.objective, math.nan))
    finally:
        finish_wandb()
        del trainer, model
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()


def _report_episodes(model, data, out: Path, loggers: list = ()) -> dict | None:
    """Whole-episode view of the test split (episodes mode), beside the window metrics:
    post-processed segments against the labels, boundary errors included."""
    if data.hparams.mode != "episodes":
        return None
    from introdet.atomic import atomic_write_text
    from introdet.detection.postprocess import to_segments
    from introdet.evaluation.metrics import summarize
    from introdet.evaluation.report import format_table, write_plots
    from introdet.evaluation.results import EpisodeResult

    results = []
    for ep, probs in sorted(model.episode_probabilities().items()):
        segs = to_segments(probs)
        intro = data.intros["test"][ep]
        results.append(
            EpisodeResult(
                episode=ep,
                probs=probs,
                fps=1.0,
                truth=intro.interval,
                detected=(segs[0].start, segs[0].end) if segs else None,
            )
        )
    if not results:
        return None
    report = summarize(results)
    print("whole test episodes (default post-processing):")
    print(format_table({"test": report}))
    atomic_write_text(out / "test_episodes.json", json.dumps(report, indent=2))
    figures = write_plots(out / "plots", "test", results, report)
    for lg in loggers:  # W&B shows the same figures as the files
        if hasattr(lg, "log_image"):
            for key, path in figures.items():
                lg.log_image(key=f"test/{key}", images=[str(path)])
    return report


def _tune_postprocess(model, data, out: Path) -> None:
    """Post-processing parameters chosen on the validation episodes, saved beside the
    checkpoints (predict.py uses them for this run's checkpoints)."""
    from dataclasses import asdict

    from torch.utils.data import DataLoader

    from introdet.atomic import atomic_write_text
    from introdet.training.tune import tune_postprocess

    loader = DataLoader(data.dataset("val"), batch_size=64)
    probs = model.eval().episode_probabilities(loader)
    truth = {ep: data.intros["val"][ep].interval for ep in probs}
    best, tried = tune_postprocess(probs, truth)
    (iou, useful), _ = tried[0]
    atomic_write_text(out / "postprocess.json", json.dumps(asdict(best), indent=2))
    print(
        f"post-processing tuned on {len(probs)} validation episodes "
        f"(mean IoU {iou:.3f}, useful {useful:.3f}): {asdict(best)}"
    )


main = command("train")(train)  # console script introdet-train, and python train.py
