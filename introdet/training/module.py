"""IntroDetector: the LightningModule around IntroTransformer (loss, metrics, optimiser)."""

from __future__ import annotations

import pickle
import warnings
import zipfile
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

from introdet.checks import check_values, number, one_of, whole
from introdet.detection.channels import extra_channels, recurrence_kind
from introdet.detection.windows import score_windows, stitch_episode
from introdet.errors import CheckpointError, CheckpointNotFound, ConfigError
from introdet.training.model import IntroTransformer


def _collect(parts: dict, batch: dict, logits: torch.Tensor) -> None:
    """parts[episode][start] = (probabilities [W], real-second mask [W]) of each window."""
    probs = torch.sigmoid(logits.float()).cpu().numpy()
    masks = batch["mask"].cpu().numpy()
    for ep, s, p, m in zip(batch["episode"], batch["start"].tolist(), probs, masks, strict=True):
        parts[ep][int(s)] = (p, m)


def read_checkpoint(path: str | Path) -> dict:
    """The checkpoint's contents (weights_only: plain data), or an error naming the file."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO (whose read would block)
        raise CheckpointError(f"{path}: not a checkpoint file")
    if not path.is_file():
        raise CheckpointNotFound(f"{path}: checkpoint not found")
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols: noise for a user
            warnings.simplefilter("ignore", UserWarning)
            ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only met something other than plain data
        raise CheckpointError(
            f"{path}: refused: not plain checkpoint data (damaged, or holding code that "
            "introdet never runs)"
        ) from e
    except Exception as e:  # torch raises RuntimeError, EOFError... by damage
        # the first line only: torch's messages run on for paragraphs
        first = str(e).strip().splitlines()[0] if str(e).strip() else "empty or cut short"
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {first})") from e
    if not isinstance(ckpt, dict) or "state_dict" not in ckpt:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    damaged = _failed_checksum(path)
    if damaged:
        raise CheckpointError(f"{path}: damaged: its entry {damaged} fails its checksum")
    return ckpt


def _failed_checksum(path: Path) -> str | None:
    """The first entry of a torch zip checkpoint whose CRC-32 does not match its bytes: torch
    itself reads tensors without checking, so flipped bytes would load as other weights."""
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.testzip()
    except (zipfile.BadZipFile, OSError):  # the legacy format has no checksums to check
        return None


def load_module(path: str | Path, map_location: str | torch.device = "cpu") -> IntroDetector:
    """A checkpoint as an IntroDetector; a damaged, foreign or refused file is a
    CheckpointError naming it (a hyper-parameter out of range included)."""
    read_checkpoint(path)
    try:
        return IntroDetector.load_from_checkpoint(
            path, map_location=map_location, weights_only=True
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: its hyper-parameters are refused ({e})") from e
    except (KeyError, TypeError, RuntimeError) as e:
        raise CheckpointError(f"{path}: does not load as an IntroDetector ({e})") from e


MODEL_RULES = {
    "feature_dim": whole(1),
    "window": whole(1),
    "d_model": whole(1),
    "depth": whole(1),
    "heads": whole(1),
    "ffn_dim": whole(1),
    "dropout": number(0, 1, hi_open=True),
    "head": one_of("shared", "per_position"),
    "lr": number(0, 1, lo_open=True),
    "weight_decay": number(0),
    "optimizer": one_of("adam", "adamw"),
    "pos_weight": number(0, lo_open=True),
    "threshold": number(0, 1, lo_open=True, hi_open=True),
}


def check_model(hp: Mapping) -> None:
    """Every ``model.*`` value that cannot work stops the run here, naming the key and range."""
    check_values("model", hp, MODEL_RULES)
    if hp["d_model"] % hp["heads"]:
        raise ConfigError(
            f"model.heads must be a divisor of d_model ({hp['d_model']}), got {hp['heads']}"
        )
    recurrence_kind(hp["recurrence"])


class IntroDetector(L.LightningModule):
    """Per-second intro classifier. Hyperparameters are plain values, so checkpoints load
    with ``weights_only=True`` and without Hydra; ``encoder`` records which CLIP features
    the model was trained on, so prediction can refuse features from another encoder."""

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
