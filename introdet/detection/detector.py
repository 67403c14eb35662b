"""The trained intro model at prediction time: one loader, torch or ONNX behind one interface."""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path
from typing import Protocol

import torch

from introdet.detection.channels import recurrence_kind
from introdet.device import resolve_device
from introdet.errors import CheckpointNotFound, ConfigError

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")


class Detector(Protocol):
    """What prediction needs of a trained model, whichever runtime executes it."""

    path: Path  # the file it was loaded from
    window: int  # seconds per window
    recurrence: str  # the channels it was trained with beside the features: off|clip|season
    encoder: dict | None  # identity of the image encoder whose features it was trained on
    device: torch.device

    def __call__(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """feats [B, W, F] float32 + mask [B, W] (True = a real second) -> logits [B, W]."""
        ...


class TorchDetector:
    """An IntroDetector checkpoint, in eval mode, without gradients."""

    def __init__(self, path: str | Path, device: str | torch.device = "cpu") -> None:
        from introdet.training.module import load_module

        self.path = Path(path)
        self.model = load_module(self.path, device).eval().requires_grad_(False)
        hp = self.model.hparams
        self.window, self.recurrence = int(hp.window), recurrence_kind(hp.recurrence)
        self.encoder = hp.get("encoder")
        self.device = torch.device(device)

    def __call__(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(feats, mask)


def file_digest(path: str | Path, chunk: int = 1 << 20) -> str:
    """sha256 of a file's bytes: the identity of a checkpoint (its exports are keyed by it)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def load_detector(
    path: str | Path, device: str = "cpu", runtime: str = "torch", cache: Path | None = None
) -> Detector:
    """The model of a checkpoint: ``runtime=torch`` runs it in PyTorch; ``runtime=onnx`` runs
    an exported ``.onnx`` file, or exports the checkpoint once into ``cache`` under a name
    that carries the checkpoint's digest (another checkpoint never reuses the export)."""
    path = Path(path)
    if runtime not in RUNTIMES:
        raise ConfigError(f"runtime must be one of {list(RUNTIMES)}, got {runtime!r}")
    if not path.is_file():
        raise CheckpointNotFound(f"{path}: checkpoint not found (ckpt=)")
    if runtime == "torch" and path.suffix != ".onnx":
        return TorchDetector(path, resolve_device(device))
    from introdet.detection.onnx_runtime import OnnxDetector, export_detector

    if path.suffix != ".onnx":
        onnx_path = (cache or path.parent) / f"{path.stem}-{file_digest(path)[:16]}.onnx"
        if not onnx_path.is_file():
            log.info("exporting %s to %s", path, onnx_path)
            export_detector(path, onnx_path)
        path = onnx_path
    return OnnxDetector(path)
