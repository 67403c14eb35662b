"""IntroDetector: the LightningModule around IntroTransformer (loss, metrics, optimiser)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path

import lightning as L
import numpy as np
import torch
import torch.nn.functional as F
from torchmetrics import MetricCollection
from torchmetrics.classification import (
    BinaryAccuracy,
    BinaryF1Score,
    BinaryPrecision,
    BinaryRecall,
)

from introdet.detection.channels import extra_channels, recurrence_kind
from introdet.detection.checkpoint import read_checkpoint
from introdet.detection.model import IntroTransformer, check_model
from introdet.detection.windows import score_windows, stitch_episode
from introdet.errors import CheckpointError, ConfigError


def _collect(parts: dict, batch: dict, logits: torch.Tensor) -> None:
    """parts[episode][start] = (probabilities [W], real-second mask [W]) of each window."""
    probs = torch.sigmoid(logits.float()).cpu().numpy()
    masks = batch["mask"].cpu().numpy()
    for ep, s, p, m in zip(batch["episode"], batch["start"].tolist(), probs, masks, strict=True):
        parts[ep][int(s)] = (p, m)


def load_module(path: str | Path, map_location: str | torch.device = "cpu") -> IntroDetector:
    """A checkpoint as an IntroDetector; a damaged, foreign or refused file is a
    CheckpointError naming it (a hyper-parameter out of range included)."""
    read_checkpoint(path)  # one clear line for a damaged or foreign file, before Lightning
    try:
        return IntroDetector.load_from_checkpoint(
            path, map_location=map_location, weights_only=True
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: its hyper-parameters are refused ({e})") from e
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: does not load as an IntroDetector ({e})") from e


class IntroDetector(L.LightningModule):
    """Per-second intro classifier. Hyperparameters are plain values, so checkpoints load
    with ``weights_only=True`` and without Hydra; ``encoder`` records which CLIP features
    the model was trained on, so prediction can refuse features from another encoder, and
    ``season`` the settings its season channels were computed with, so prediction computes
    them the same way."""

    def __init__(
        self,
        feature_dim: int = 512,
        window: int = 60,
        d_model: int = 512,
        depth: int = 16,
        heads: int = 16,
        ffn_dim: int = 2048,
        dropout: float = 0.1,
        head: str = "shared",
        lr: float = 5e-5,
        weight_decay: float = 0.0,
        optimizer: str = "adam",
        pos_weight: float = 1.0,
        threshold: float = 0.5,
        recurrence: str | bool = "off",
        encoder: dict | None = None,
        season: dict | None = None,
    ) -> None:
        super().__init__()
        check_model(locals())
        self.save_hyperparameters()
        self.hparams.recurrence = recurrence_kind(recurrence)  # old checkpoints: true/false
        # season mode appends its channels to the CLIP features
        in_dim = feature_dim + extra_channels(recurrence)
        self.net = IntroTransformer(in_dim, window, d_model, depth, heads, ffn_dim, dropout, head)
        self.register_buffer("pos_weight", torch.tensor(float(pos_weight)), persistent=False)
        scores = MetricCollection(
            {
                "accuracy": BinaryAccuracy(threshold=threshold, ignore_index=-1),
                "precision": BinaryPrecision(threshold=threshold, ignore_index=-1),
                "recall": BinaryRecall(threshold=threshold, ignore_index=-1),
                "f1": BinaryF1Score(threshold=threshold, ignore_index=-1),
            }
        )
        # one collection per stage: a shared one would mix validation into training scores
        self.train_scores = scores.clone(prefix="train/")
        self.val_scores = scores.clone(prefix="val/")
        self.test_scores = scores.clone(prefix="test/")
        self._test_probs: dict[str, dict[int, tuple]] = defaultdict(dict)

    def forward(self, feats: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(feats, pad=None if mask is None else ~mask)  # [B, T] logits

    def _step(self, batch: dict, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self(batch["feats"], batch["mask"])  # [B, T]
        y = batch["labels"]
        keep = y >= 0  # -1 marks padding
        loss = F.binary_cross_entropy_with_logits(
            logits[keep], y[keep].float(), pos_weight=self.pos_weight
        )
        scores = getattr(self, f"{stage}_scores")
        scores.update(logits.detach().float(), y)  # torchmetrics applies sigmoid to logits
        n = len(batch["feats"])
        self.log(
            f"{stage}/loss",
            loss,
            on_step=stage == "train",
            on_epoch=True,
            batch_size=n,
            prog_bar=stage != "test",
        )
        self.log_dict(scores, on_step=False, on_epoch=True, batch_size=n, prog_bar=stage == "val")
        return loss, logits

    def training_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")[0]

    def validation_step(self, batch: dict, batch_idx: int) -> None:
        self._step(batch, "val")

    def test_step(self, batch: dict, batch_idx: int) -> None:
        _, logits = self._step(batch, "test")
        # keep per-window probabilities, to score whole episodes at the end of the test
        _collect(self._test_probs, batch, logits)

    def on_test_epoch_start(self) -> None:
        self._test_probs.clear()

    def episode_probabilities(
        self, feats: Mapping[str, np.ndarray] | None = None, batch_size: int = 64
    ) -> dict[str, np.ndarray]:
        """Per-second probabilities of each episode: of the last test run, or of episodes'
        features ``feats[episode] = [T, F]`` tiled with stride == window; overlapping windows
        are averaged."""
        if feats is None:
            return {ep: stitch_episode(windows) for ep, windows in self._test_probs.items()}
        names = list(feats)
        W = self.hparams.window
        probs = score_windows(self, [feats[e] for e in names], W, W, batch_size, self.device)
        return dict(zip(names, probs, strict=True))

    def predict_step(self, batch: dict, batch_idx: int) -> torch.Tensor:
        return torch.sigmoid(self(batch["feats"], batch["mask"]).float())

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        if hp.optimizer == "adam":  # the paper's setup
            return torch.optim.Adam(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay)
        if hp.optimizer == "adamw":
            decay = [p for p in self.parameters() if p.ndim >= 2]
            rest = [p for p in self.parameters() if p.ndim < 2]
            groups = [
                {"params": decay, "weight_decay": hp.weight_decay},
                {"params": rest, "weight_decay": 0.0},
            ]
            return torch.optim.AdamW(groups, lr=hp.lr)
        raise ValueError(f"model.optimizer must be 'adam' or 'adamw', got {hp.optimizer!r}")
