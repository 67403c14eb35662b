"""Fixed-length windows over per-second features: where they start, how they are scored in
batches, and how their per-window probabilities are stitched back into one per second."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from introdet.errors import OutOfDeviceMemory

log = logging.getLogger(__name__)

# net(x [B, W, F] float32, mask [B, W] bool, True = a real second) -> logits [B, W]
WindowNet = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def window_starts(length: int, window: int, stride: int, offset: int = 0) -> list[int]:
    """Training windows: starts inside [0, length) whose windows end by ``length`` (no
    overhang); one padded window when length < window.

    With ``offset == 0`` this is the paper's count: (length - window) // stride + 1.
    """
    if length <= window:
        return [0]
    return list(range(min(offset, length - window), length - window + 1, stride))


def tile_starts(length: int, window: int, stride: int) -> list[int]:
    """Scoring windows: starts 0, stride, 2*stride, ... until a window reaches ``length`` (the
    last one may overhang), so every second is covered."""
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    if stride > window:
        raise ValueError(f"stride {stride} > window {window} would leave seconds uncovered")
    if length < 0:
        raise ValueError(f"length must be >= 0, got {length}")
    if length <= window:
        return [0]
    # the first start whose window reaches the end is the last one needed
    n = -(-(length - window) // stride) + 1  # ceil((length - window) / stride) + 1
    return [k * stride for k in range(n)]


def stitch_windows(
    window_probs: np.ndarray,
    starts: Sequence[int],
    length: int,
    valid: np.ndarray | None = None,
) -> np.ndarray:
    """Average per-window probabilities onto [length] seconds; uncovered seconds get 0.0.

    Positions at or past ``length`` (padding) and positions where ``valid`` is False are ignored.
    """
    window_probs = np.asarray(window_probs, dtype=np.float64)  # [N, W]
    if window_probs.ndim != 2:
        raise ValueError(f"window_probs must be [N, W], got shape {window_probs.shape}")
    n, w = window_probs.shape
    starts = np.asarray(starts, dtype=np.int64).reshape(-1)  # [N]
    if starts.size != n:
        raise ValueError(f"{starts.size} window starts for {n} windows")
    if n and starts.min() < 0:
        raise ValueError(f"window starts must be >= 0, got {starts.min()}")
    keep = np.ones((n, w), dtype=bool) if valid is None else np.asarray(valid, dtype=bool)
    if keep.shape != (n, w):
        raise ValueError(f"valid mask shape {keep.shape} != window_probs shape {(n, w)}")
    pos = starts[:, None] + np.arange(w)[None, :]  # [N, W] absolute second of each position
    keep = keep & (pos < length)
    total = np.bincount(pos[keep], weights=window_probs[keep], minlength=length)  # [length]
    count = np.bincount(pos[keep], minlength=length)  # [length]
    out = np.zeros(length, dtype=np.float64)
    covered = count > 0
    out[covered] = total[covered] / count[covered]
    return out  # [length]


def stitch_episode(
    windows: Mapping[int, tuple[np.ndarray, np.ndarray]], length: int | None = None
) -> np.ndarray:
    """windows[start] = (probabilities [W], real-second mask [W]) -> [length] probabilities;
    without ``length``, the episode ends at the last real second of its windows."""
    starts = list(windows)
    probs = np.stack([p for p, _ in windows.values()])  # [N, W]
    valid = np.stack([m for _, m in windows.values()])  # [N, W]
    if length is None:
        length = max(s + int(m.sum()) for s, m in zip(starts, valid, strict=True))
    return stitch_windows(probs, starts, length, valid)


def _batch(
    feats: Sequence[np.ndarray], chunk: Sequence[tuple[int, int]], window: int
) -> tuple[np.ndarray, np.ndarray]:
    x = np.zeros((len(chunk), window, feats[0].shape[1]), np.float32)  # [B, W, F]
    mask = np.zeros((len(chunk), window), bool)  # True = a real second
    for j, (i, s) in enumerate(chunk):
        part = feats[i][s : s + window]
        x[j, : len(part)], mask[j, : len(part)] = part, True
    return x, mask


@torch.inference_mode()
def score_windows(
    net: WindowNet,
    feats: Sequence[np.ndarray],
    window: int,
    stride: int,
    batch_size: int = 64,
    device: torch.device | str = "cpu",
    progress: bool = False,
) -> list[np.ndarray]:
    """Per-second probabilities [T_i] of every episode's features [T_i, F]: overlapping windows
    (a stride over the window is clamped to it), batched across episodes, averaged back."""
    device = torch.device(device)
    stride = min(stride, window)
    index = [(i, s) for i, f in enumerate(feats) for s in tile_starts(len(f), window, stride)]
    parts: list[dict[int, tuple]] = [{} for _ in feats]
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    # None: a bar only on a terminal (a log file gets no progress lines)
    bar = tqdm(total=len(index), unit="window", desc="score", disable=None if progress else True)
    b = 0
    while b < len(index):
        chunk = index[b : b + batch_size]
        x, mask = _batch(feats, chunk, window)
        try:
            with autocast:
                logits = net(torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device))
        except torch.OutOfMemoryError as e:
            if batch_size == 1:
                raise OutOfDeviceMemory(
                    "out of GPU memory even at batch_size=1: use device=cpu"
                ) from e
            batch_size //= 2  # a shared GPU lost memory: smaller batches, same result
            torch.cuda.empty_cache()
            log.warning("out of GPU memory: window batch size halved to %d", batch_size)
            continue
        probs = torch.sigmoid(logits.float()).cpu().numpy()  # [B, W]
        for j, (i, s) in enumerate(chunk):
            parts[i][s] = (probs[j], mask[j])
        b += len(chunk)
        bar.update(len(chunk))
    bar.close()
    return [stitch_episode(p, len(f)) for p, f in zip(parts, feats, strict=True)]
