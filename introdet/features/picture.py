"""Compact picture fingerprints for near-duplicate frames: a 64-bit DCT hash and a tiny thumbnail.

``picture_hash`` is the pHash of imagehash: the frame in gray, area-averaged to 32x32, its 2-D
DCT-II, and one bit per coefficient of the 8x8 lowest frequencies: above their median or not.
Low frequencies survive re-encoding, another resolution and small text over the frame, and the
median makes the bits invariant to brightness and contrast. ``thumbnails`` are 16x9 gray
pictures with zero mean and unit norm, compared by cosine. ``flat_frames`` flags frames with
almost no structure (black, one colour): their hash bits are noise, so they must not match.
"""

from __future__ import annotations

import numpy as np

from introdet.errors import FramesError

HASH_SIZE = 32  # the gray square the DCT runs on
LOW = 8  # 8x8 low frequencies -> 64 bits
THUMB = (9, 16)  # thumbnail height, width
_LUMA = np.array([0.299, 0.587, 0.114], np.float32)
_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], np.uint8)


def _check(frames: np.ndarray) -> np.ndarray:
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise FramesError(f"expected uint8 RGB frames [N, H, W, 3], got {frames.dtype} "
                          f"{frames.shape}")  # fmt: skip
    return frames


def _bins(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray]:
    """[start, end) pixel rows of each of n_out bins over n_in pixels, none empty: int [n_out]."""
    edges = np.floor(np.linspace(0, n_in, n_out + 1)).astype(np.int64)  # [n_out + 1]
    start = np.minimum(edges[:-1], n_in - 1)
    return start, np.maximum(edges[1:], start + 1)


def gray_resize(frames: np.ndarray, height: int, width: int, chunk: int = 64) -> np.ndarray:
    """Gray (BT.601 luma) frames [N, H, W, 3] area-averaged to float32 [N, height, width]."""
    frames = _check(frames)
    n, h, w = frames.shape[:3]
    (y0, y1), (x0, x1) = _bins(h, height), _bins(w, width)
    out = np.empty((n, height, width), np.float32)
    for lo in range(0, n, chunk):  # chunks bound the integral image's memory
        gray = frames[lo : lo + chunk].astype(np.float32) @ _LUMA  # [c, H, W]
        integral = np.zeros((len(gray), h + 1, w + 1), np.float64)
        integral[:, 1:, 1:] = gray.cumsum(1).cumsum(2)
        total = (
            integral[:, y1][:, :, x1] - integral[:, y0][:, :, x1]
            - integral[:, y1][:, :, x0] + integral[:, y0][:, :, x0]
        )  # fmt: skip  # [c, height, width]
        area = np.outer(y1 - y0, x1 - x0)  # [height, width]
        out[lo : lo + chunk] = total / area
    return out


def _dct_rows(n: int, k: int) -> np.ndarray:
    """The first k rows of the (unscaled) DCT-II matrix of size n: float64 [k, n]."""
    return np.cos(np.pi * (2 * np.arange(n) + 1)[None, :] * np.arange(k)[:, None] / (2 * n))


_DCT = _dct_rows(HASH_SIZE, LOW)  # [8, 32]
_WEIGHTS = np.left_shift(np.uint64(1), np.arange(LOW * LOW, dtype=np.uint64))  # [64]


def picture_hash(frames: np.ndarray) -> np.ndarray:
    """64-bit pHash of each frame [N, H, W, 3] uint8: uint64 [N]."""
    small = gray_resize(frames, HASH_SIZE, HASH_SIZE).astype(np.float64)  # [N, 32, 32]
    low = _DCT @ small @ _DCT.T  # [N, 8, 8]
    flat = low.reshape(len(low), -1)  # [N, 64]
    bits = flat > np.median(flat, axis=1, keepdims=True)  # [N, 64]
    out = np.zeros(len(bits), np.uint64)
    for k in range(LOW * LOW):  # OR the bits in: a uint64 matmul would go through float
        out |= bits[:, k].astype(np.uint64) * _WEIGHTS[k]
    return out


def flat_frames(frames: np.ndarray, min_std: float = 2.0) -> np.ndarray:
    """Frames whose 32x32 gray picture varies by less than ``min_std`` levels: bool [N]."""
    small = gray_resize(frames, HASH_SIZE, HASH_SIZE)  # [N, 32, 32]
    return small.reshape(len(small), -1).std(axis=1) < min_std


def thumbnails(frames: np.ndarray) -> np.ndarray:
    """16x9 gray thumbnails, zero mean and unit norm (zero for a flat frame): float16 [N, 144]."""
    small = gray_resize(frames, *THUMB).reshape(len(frames), -1)  # [N, 144]
    small -= small.mean(axis=1, keepdims=True)
    norm = np.linalg.norm(small, axis=1, keepdims=True)  # [N, 1]
    return np.where(norm > 1e-3, small / np.maximum(norm, 1e-3), 0).astype(np.float16)


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine of thumbnails a [..., d] and b [..., d] (unit norm already): float32 [...]."""
    return (a.astype(np.float32) * b.astype(np.float32)).sum(axis=-1)


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between unsigned codes a and b (broadcast): int64, same shape."""
    x = np.bitwise_xor(a, b)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    x = np.ascontiguousarray(x)  # numpy < 2: count the bits of each byte
    per_byte = _BYTE_BITS[x.view(np.uint8)].reshape(*x.shape, x.dtype.itemsize)
    return per_byte.sum(axis=-1, dtype=np.int64)
