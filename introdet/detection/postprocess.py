"""Per-second intro probabilities -> intro segments."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields

import numpy as np

from introdet.checks import check_node, number, one_of, whole
from introdet.errors import ConfigError

_EPS = 1e-9  # float slack for comparisons of seconds computed as index / fps


@dataclass(frozen=True)
class Segment:
    """One detected intro on half-open ``[start, end)`` seconds."""

    start: float
    end: float
    score: float  # mean raw (unsmoothed) probability over the run's samples

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass
class PostprocessConfig:
    """How probabilities become segments; plain data, so Hydra can read it (conf/postprocess)."""

    smooth: int = 3  # odd window (seconds) of a centred moving median over probabilities; 1 = off
    threshold: float = 0.5  # a sample is intro when its smoothed probability is above this
    max_gap: float = 2  # merge runs separated by gaps of at most this many seconds
    # intro length limits (after merging): real intros run 2 to 59 s, so 2 s to 2 minutes
    min_seconds: float = 2  # drop runs shorter than this
    max_seconds: float = 120  # and longer than this
    keep: str = "best"  # "best": one run per episode, the largest score*duration; "all": every run
    snap_start: float = 2  # a start within this many seconds of 0:00 becomes 0:00
    fps: float = 1.0  # samples per second of the probability array

    def __post_init__(self) -> None:
        check_config(self)


POSTPROCESS_RULES = {
    "smooth": whole(1, 999),
    "threshold": number(0, 1, hi_open=True),
    "max_gap": number(0, 3600),
    "min_seconds": number(0, 3600),
    "max_seconds": number(0, 86400, lo_open=True),
    "keep": one_of("best", "all"),
    "snap_start": number(0, 3600),
    "fps": number(0.01, 120),
}


def check_config(cfg: PostprocessConfig) -> None:
    """``ConfigError`` naming the field when a setting cannot work."""
    check_node("postprocess", cfg, POSTPROCESS_RULES)
    if cfg.smooth % 2 == 0:
        raise ConfigError(f"postprocess.smooth must be an odd whole number >= 1, got {cfg.smooth}")
    if not cfg.max_seconds > cfg.min_seconds:
        raise ConfigError(
            f"postprocess.max_seconds must be > min_seconds, got {cfg.max_seconds} "
            f"and {cfg.min_seconds}"
        )


def as_config(cfg: PostprocessConfig | Mapping | None) -> PostprocessConfig:
    """Accept the dataclass, a plain mapping or a Hydra DictConfig node (None = defaults)."""
    if cfg is None:
        return PostprocessConfig()
    if isinstance(cfg, PostprocessConfig):
        check_config(cfg)  # the fields are mutable, so check again at the point of use
        return cfg
    known = {f.name for f in fields(PostprocessConfig)}
    unknown = sorted(set(cfg) - known)
    if unknown:
        raise ValueError(f"postprocess: unknown keys {unknown}; known: {sorted(known)}")
    return PostprocessConfig(**{k: cfg[k] for k in cfg})


def _check_probs(probs: np.ndarray) -> np.ndarray:
    probs = np.asarray(probs, dtype=np.float64)
    if probs.ndim != 1:
        raise ValueError(f"expected per-second probabilities of shape [T], got {probs.shape}")
    if not np.all(np.isfinite(probs)):
        bad = np.flatnonzero(~np.isfinite(probs))
        raise ValueError(f"probabilities contain NaN or inf at samples {bad.tolist()}")
    return probs


def smooth(probs: np.ndarray, window: int) -> np.ndarray:
    """Centred moving median over an odd ``window`` of samples; edges repeat the end values."""
    probs = _check_probs(probs)  # [T]
    if int(window) != window or window < 1 or window % 2 == 0:
        raise ValueError(f"median window must be an odd integer >= 1, got {window}")
    window = int(window)
    if window == 1 or probs.size == 0:
        return probs.copy()
    half = window // 2
    # edge padding: a run touching 0:00 or the end is not eroded by imaginary zeros
    padded = np.pad(probs, half, mode="edge")  # [T + 2 * half]
    return np.median(np.lib.stride_tricks.sliding_window_view(padded, window), axis=1)  # [T]


def _runs(mask: np.ndarray) -> list[tuple[int, int]]:
    """Half-open index ranges [i, j) where ``mask`` is True."""
    edges = np.diff(np.concatenate([[0], mask.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return list(zip(starts.tolist(), ends.tolist(), strict=True))


def _merge(runs: list[tuple[int, int]], max_gap_samples: float) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for i, j in runs:
        if merged and i - merged[-1][1] <= max_gap_samples + _EPS:
            merged[-1] = (merged[-1][0], j)
        else:
            merged.append((i, j))
    return merged


def _samples(seconds: float, fps: float) -> int:
    """Odd median window in samples for a window given in seconds."""
    n = max(1, round(seconds * fps))
    return n if n % 2 else n + 1


def to_segments(probs: np.ndarray, cfg: PostprocessConfig | Mapping | None = None) -> list[Segment]:
    """[T] probabilities -> segments sorted by start: smooth, threshold, merge, drop, pick, snap."""
    cfg = as_config(cfg)
    raw = _check_probs(probs)  # [T]
    if raw.size == 0:
        return []
    smoothed = smooth(raw, _samples(cfg.smooth, cfg.fps))  # [T]
    runs = _merge(_runs(smoothed > cfg.threshold), cfg.max_gap * cfg.fps)
    runs = [
        (i, j)
        for i, j in runs
        if cfg.min_seconds - _EPS <= (j - i) / cfg.fps <= cfg.max_seconds + _EPS
    ]
    segments = [Segment(i / cfg.fps, j / cfg.fps, float(raw[i:j].mean())) for i, j in runs]
    if cfg.keep == "best" and segments:
        # the sum of probability prefers a long confident intro over a short very confident blip
        segments = [max(segments, key=lambda s: s.score * s.duration)]
    return [_snap(s, cfg.snap_start) for s in segments]


def _snap(segment: Segment, snap_start: float) -> Segment:
    # an intro that starts a second or two in is a title card at 0:00 the sampler caught late;
    # score stays that of the detected run: the snapped-over seconds were not evidence
    if 0 < segment.start <= snap_start + _EPS:
        return Segment(0.0, segment.end, segment.score)
    return segment
