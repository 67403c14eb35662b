"""The trained intro model at prediction time: one loader, torch or ONNX behind one interface."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from introdet.detection.channels import recurrence_kind
from introdet.errors import CheckpointNotFound, ConfigError

if TYPE_CHECKING:  # torch loads with a checkpoint only: season mode never needs it (1.5 s)
    import torch

    from introdet.detection.checkpoint import Checkpoint

log = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnx")


class Detector(Protocol):
    """What prediction needs of a trained model, whichever runtime executes it."""

    path: Path  # the file it was loaded from
    sha256: str  # of the checkpoint's bytes, for the records
    window: int  # seconds per window
    recurrence: str  # the channels it was trained with beside the features: off|clip|season
    encoder: dict | None  # identity of the image encoder whose features it was trained on
    season: dict | None  # the settings its season channels were computed with in training
    postprocess: dict | None  # the post-processing tuned on its validation episodes
    device: torch.device

    def __call__(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """feats [B, W, F] float32 + mask [B, W] (True = a real second) -> logits [B, W]."""
        ...


class TorchDetector:
    """The network of a checkpoint, in eval mode, without gradients (and without Lightning)."""

    def __init__(self, ckpt: Checkpoint, device: str | torch.device = "cpu") -> None:
        import torch

        hp = ckpt.hparams
        self.path, self.sha256 = ckpt.path, ckpt.sha256
        self.net = ckpt.model(device)
        self.window, self.recurrence = int(hp["window"]), recurrence_kind(hp.get("recurrence"))
        self.encoder, self.season = hp.get("encoder"), ckpt.season
        self.postprocess = ckpt.postprocess
        self.device = torch.device(device)

    def __call__(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(feats, pad=None if mask is None else ~mask)


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
    if path.suffix == ".onnx":
        return _onnx_detector(path)
    from introdet.detection.checkpoint import read_checkpoint
    from introdet.device import resolve_device

    ckpt = read_checkpoint(path)
    if runtime == "torch":
        return TorchDetector(ckpt, resolve_device(device))
    from introdet.detection.onnx_runtime import export_detector

    onnx_path = (cache or path.parent) / f"{path.stem}-{ckpt.sha256[:16]}.onnx"
    if not onnx_path.is_file():
        log.info("exporting %s to %s", path, onnx_path)
        export_detector(ckpt, onnx_path)
    return _onnx_detector(onnx_path)


def _onnx_detector(path: Path) -> Detector:
    from introdet.detection.onnx_runtime import OnnxDetector  # onnxruntime: an extra

    return OnnxDetector(path)
