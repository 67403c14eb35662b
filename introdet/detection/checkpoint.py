"""A trained checkpoint as plain data, read once: its bytes are checked, hashed and unpickled
from the same read, and what prediction needs (the model's hyper-parameters and weights, the
post-processing tuned on validation, the season settings its channels were made with) is
taken from it without Lightning."""

from __future__ import annotations

import hashlib
import io
import pickle
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import torch

from introdet.detection.channels import extra_channels
from introdet.detection.model import IntroTransformer, check_model
from introdet.errors import CheckpointError, CheckpointNotFound, ConfigError

# the post-processing tuned on the validation episodes, written into the run's checkpoints
# when fit ends (Lightning keeps unknown top-level keys)
POSTPROCESS_KEY = "introdet_postprocess"


@dataclass(frozen=True)
class Checkpoint:
    path: Path
    sha256: str  # of the file's bytes: its identity in records and in the ONNX export's name
    data: dict  # what torch.load gives: state_dict, hyper_parameters, loops, callbacks...

    @property
    def hparams(self) -> dict:
        return dict(self.data.get("hyper_parameters") or {})

    @property
    def postprocess(self) -> dict | None:
        """The post-processing tuned on validation, when the run stored it here."""
        return self.data.get(POSTPROCESS_KEY)

    @property
    def season(self) -> dict | None:
        """The settings the season channels were computed with in training (None: the model
        takes none, or an older checkpoint that did not record them)."""
        return self.hparams.get("season")

    def model(self, device: str | torch.device = "cpu") -> IntroTransformer:
        """The plain network with the checkpoint's weights, in eval mode, without gradients."""
        hp = self.hparams
        try:
            check_model(hp)
        except (ConfigError, KeyError) as e:
            raise CheckpointError(f"{self.path}: its hyper-parameters are refused ({e})") from e
        net = IntroTransformer(
            int(hp["feature_dim"]) + extra_channels(hp.get("recurrence", "off")),
            int(hp["window"]),
            int(hp["d_model"]),
            int(hp["depth"]),
            int(hp["heads"]),
            int(hp["ffn_dim"]),
            float(hp["dropout"]),
            str(hp["head"]),
        )
        weights = {k[4:]: v for k, v in self.data["state_dict"].items() if k.startswith("net.")}
        try:
            net.load_state_dict(weights)
        except RuntimeError as e:  # torch lists every missing and unexpected key: the first
            first = str(e).strip().splitlines()[0]
            raise CheckpointError(f"{self.path}: its weights do not fit its model ({first})") from e
        return net.to(device).eval().requires_grad_(False)


def read_checkpoint(path: str | Path) -> Checkpoint:
    """The checkpoint's contents (weights_only: plain data), or an error naming the file."""
    path = Path(path)
    if path.exists() and not path.is_file():  # a folder, a FIFO (whose read would block)
        raise CheckpointError(f"{path}: not a checkpoint file")
    if not path.is_file():
        raise CheckpointNotFound(f"{path}: checkpoint not found")
    raw = path.read_bytes()
    try:
        with warnings.catch_warnings():  # torch's note on pickle protocols: noise for a user
            warnings.simplefilter("ignore", UserWarning)
            data = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:  # weights_only met something other than plain data
        raise CheckpointError(
            f"{path}: refused: not plain checkpoint data (damaged, or holding code that "
            "introdet never runs)"
        ) from e
    except Exception as e:  # torch raises RuntimeError, EOFError... by damage
        # the first line only: torch's messages run on for paragraphs
        first = str(e).strip().splitlines()[0] if str(e).strip() else "empty or cut short"
        raise CheckpointError(f"{path}: unreadable checkpoint ({type(e).__name__}: {first})") from e
    if not isinstance(data, dict) or "state_dict" not in data:
        raise CheckpointError(f"{path}: not a Lightning checkpoint (no state_dict)")
    # plain data may still be of any shape: weights must be named, settings a mapping
    weights, settings = data["state_dict"], data.get("hyper_parameters")
    if not isinstance(weights, dict) or not all(isinstance(k, str) for k in weights):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (its state_dict is not "
                              "weights by name)")  # fmt: skip
    if settings is not None and not isinstance(settings, dict):
        raise CheckpointError(f"{path}: not a Lightning checkpoint (its hyper_parameters are "
                              "not settings by name)")  # fmt: skip
    damaged = _failed_checksum(raw)
    if damaged:
        raise CheckpointError(f"{path}: damaged: its entry {damaged} fails its checksum")
    return Checkpoint(path, hashlib.sha256(raw).hexdigest(), data)


def _failed_checksum(raw: bytes) -> str | None:
    """The first entry of a torch zip checkpoint whose CRC-32 does not match its bytes: torch
    itself reads tensors without checking, so flipped bytes would load as other weights."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as archive:
            return archive.testzip()
    except zipfile.BadZipFile:  # the legacy format has no checksums to check
        return None
