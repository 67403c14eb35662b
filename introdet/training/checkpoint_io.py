"""Checkpoints written the way every other introdet file is: whole or not at all."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from introdet.atomic import atomic_write_bytes


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's own save goes through an fsspec transaction whose temp file sits in the
    system's temp folder, so the final move is a copy across file systems: on a full disk it
    leaves a cut-short ``last.ckpt`` that resuming then cannot read. Here the temp file sits
    beside the checkpoint and is renamed over it only once it is whole and synced."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any = None
    ) -> None:
        if storage_options is not None or "://" in str(path):  # remote storage: Lightning's way
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        atomic_write_bytes(path, buffer.getvalue())
