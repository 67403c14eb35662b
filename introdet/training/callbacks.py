"""What happens after fit and test, as Lightning callbacks (conf/callbacks/default.yaml):
post-processing tuned on the validation episodes, the whole-episode test report, and a final
last.ckpt that says the run is finished."""

from __future__ import annotations

import io
import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback

from introdet.atomic import atomic_write_bytes, atomic_write_text
from introdet.detection.checkpoint import POSTPROCESS_KEY


def _episodes_mode(trainer: L.Trainer) -> bool:
    data = trainer.datamodule
    return data is not None and getattr(data, "hparams", {}).get("mode") == "episodes"


class TunePostprocess(Callback):
    """After fit: post-processing parameters chosen on the validation episodes with the best
    checkpoint, written into the run's best and last checkpoints (a checkpoint copied
    anywhere predicts with them) and shown in ``<dirpath>/postprocess.json``."""

    def __init__(self, dirpath: str, batch_size: int = 64) -> None:
        self.dirpath, self.batch_size = Path(dirpath), batch_size

    def on_fit_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from introdet.detection.postprocess import PostprocessConfig
        from introdet.training.tune import tune_postprocess

        data = trainer.datamodule
        ckpt = trainer.checkpoint_callback
        best = ckpt.best_model_path if ckpt else ""
        if not (trainer.is_global_zero and _episodes_mode(trainer) and data.tracks.get("val")):
            return
        if not best:
            return
        model = type(pl_module).load_from_checkpoint(best, weights_only=True).eval()
        model.to(pl_module.device)
        probs = model.episode_probabilities(
            {t.name: t.feats for t in data.tracks["val"]}, self.batch_size
        )
        truth = {ep: data.intros["val"][ep].interval for ep in probs}
        tuned, tried = tune_postprocess(probs, truth)
        (iou, useful), _ = tried[0]
        atomic_write_text(self.dirpath / "postprocess.json", json.dumps(asdict(tuned), indent=2))
        for path in {Path(best), Path(ckpt.dirpath or "") / "last.ckpt"}:
            if path.is_file():
                store_postprocess(path, asdict(tuned))
        what = "kept the defaults" if tuned == PostprocessConfig() else "tuned"
        print(
            f"post-processing {what} on {len(probs)} validation episodes "
            f"(mean IoU {iou:.3f}, useful {useful:.3f}): {asdict(tuned)}"
        )


def store_postprocess(path: Path, tuned: dict) -> None:
    """``tuned`` inside the checkpoint ``path``, rewritten whole or not at all."""
    data = torch.load(path, map_location="cpu", weights_only=True)
    data[POSTPROCESS_KEY] = tuned
    buffer = io.BytesIO()
    torch.save(data, buffer)
    atomic_write_bytes(path, buffer.getvalue())


class EpisodeReport(Callback):
    """After test (episodes mode): post-processed segments of whole test episodes against the
    labels, boundary errors included: a table, ``<dirpath>/test_episodes.json``, plots, and
    the same figures in the loggers that take images (W&B)."""

    def __init__(self, dirpath: str) -> None:
        self.dirpath = Path(dirpath)
        self.report: dict | None = None

    def on_test_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        from introdet.detection.postprocess import to_segments
        from introdet.evaluation.metrics import EpisodeResult, summarize
        from introdet.evaluation.report import format_table, write_plots

        if not (trainer.is_global_zero and _episodes_mode(trainer)):
            return
        intros = trainer.datamodule.intros["test"]
        results = []
        for ep, probs in sorted(pl_module.episode_probabilities().items()):
            segs = to_segments(probs)
            detected = (segs[0].start, segs[0].end) if segs else None
            results.append(
                EpisodeResult(
                    episode=ep, probs=probs, fps=1.0, truth=intros[ep].interval, detected=detected
                )
            )
        if not results:
            return
        self.report = summarize(results)
        print("whole test episodes (default post-processing):")
        print(format_table({"test": self.report}))
        atomic_write_text(self.dirpath / "test_episodes.json", json.dumps(self.report, indent=2))
        figures = write_plots(self.dirpath / "plots", "test", results, self.report)
        for lg in trainer.loggers:
            if hasattr(lg, "log_image"):
                for key, path in figures.items():
                    lg.log_image(key=f"test/{key}", images=[str(path)])


class FinishedRun(Callback):
    """When fit ends: last.ckpt written once more, with the fit loop's final state and the
    objective, so that running the same command again can tell that the run is finished
    (the step-interval checkpoint may have written last.ckpt before the last validation)."""

    def __init__(self, objective: str) -> None:
        self.objective_name = objective
        self.objective: float | None = None
        self.stopped = False

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        value = trainer.callback_metrics.get(self.objective_name)
        self.objective = None if value is None else float(value)
        self.stopped = bool(trainer.should_stop)  # early stopping, not the epoch/step budget
        ckpt = trainer.checkpoint_callback
        if ckpt is not None and ckpt.save_last and ckpt.dirpath:
            trainer.save_checkpoint(Path(ckpt.dirpath) / "last.ckpt", weights_only=False)  # whole

    def state_dict(self) -> dict[str, Any]:
        return {"objective": self.objective, "stopped": self.stopped}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.objective = state_dict.get("objective")
        self.stopped = bool(state_dict.get("stopped", False))
