"""Coarse to fine: score keyframes across the scan, then sample exactly at 1 fps around the intro.

Decoding only keyframes costs a small fraction of decoding every frame, but a keyframe has to
stand for every second up to the next one, so the intro found on such features can be off by
up to a keyframe interval at each end. The coarse intro is therefore sampled again exactly
(``frames_per_second``, the rows extraction would give) from the keyframe ``margin`` seconds
before its start to the keyframe ``margin`` seconds after its end, and the episode is scored
again with those rows replaced. Episodes where the coarse pass finds no intro keep their
coarse result.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from introdet.video import VideoInfo, frames_per_second, keyframes, probe, sample_count, scan_end_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CoarseConfig:
    """``predict.py coarse.*``: keys mirror these fields."""

    enabled: bool = False
    step: float = 0.0  # encode at most one keyframe per this many seconds (0: every keyframe)
    margin: float = 5.0  # exact seconds sampled beyond each end of the coarse intro


@dataclass
class CoarseFeatures:
    info: VideoInfo
    feats: np.ndarray  # [n, D] float16: row k = the keyframe standing for start + k / fps
    key_times: np.ndarray  # [K] seconds of the encoded keyframes, ascending
    rows: np.ndarray  # [n] index into key_times of each row's keyframe
    exact: np.ndarray  # [n] bool: rows replaced by exact samples


def keyframe_rows(
    key_times: np.ndarray, n: int, fps: float = 1.0, start: float = 0.0
) -> np.ndarray:
    """For each of ``n`` sample times ``start + k / fps``, the index of the last keyframe at or
    before it (the first keyframe for times before every keyframe)."""
    t = start + np.arange(n) / fps
    return np.maximum(np.searchsorted(key_times, t + 1e-9, side="right") - 1, 0)


def thin(times: Sequence[float], step: float) -> list[int]:
    """Indices of the keyframes kept when at most one per ``step`` seconds is wanted."""
    kept: list[int] = []
    for i, t in enumerate(times):
        if not kept or t - times[kept[-1]] >= step:
            kept.append(i)
    return kept


def coarse_features(
    path: str | os.PathLike,
    embed: Callable[[np.ndarray], np.ndarray],
    size: int,
    sampler: dict,
    step: float = 0.0,
) -> CoarseFeatures:
    """Features for the rows ``frames_per_second(path, **sampler)`` would give, each from the
    keyframe on screen last before its time. ``embed``: uint8 [N, S, S, 3] -> [N, D]."""
    fps, start = float(sampler.get("fps", 1.0)), float(sampler.get("start", 0.0))
    info = probe(path)
    end = scan_end_of(info, start, sampler.get("max_seconds"), sampler.get("fraction"))
    n = sample_count(end, fps, start)
    times, frames = [], []
    for t, frame in keyframes(path, size=size, max_seconds=end):
        times.append(t)
        frames.append(frame)
    if not frames:
        raise ValueError(f"{path}: no decodable keyframe")
    # keyframes before the scan start stand in only for the rows before the first one inside
    first = max(0, int(np.searchsorted(times, start + 1e-9, side="right")) - 1)
    times, frames = times[first:], frames[first:]
    kept = thin(times, step)
    key_times = np.array([times[i] for i in kept])
    feats = embed(np.stack([frames[i] for i in kept]))  # [K, D]
    rows = keyframe_rows(key_times, n, fps, start)
    return CoarseFeatures(info, feats[rows], key_times, rows, np.zeros(n, bool))


def fine_rows(
    coarse: CoarseFeatures, intro_start: float, intro_end: float, sampler: dict, margin: float
) -> tuple[int, int]:
    """Row range [a, b) to sample exactly: from the keyframe ``margin`` s before the coarse
    start to the keyframe after ``margin`` s past the coarse end, where the true boundaries lie
    when each is within a keyframe interval of the coarse one."""
    fps, start = float(sampler.get("fps", 1.0)), float(sampler.get("start", 0.0))
    kt, n = coarse.key_times, len(coarse.feats)
    i = max(0, int(np.searchsorted(kt, intro_start - margin, side="right")) - 1)
    j = int(np.searchsorted(kt, intro_end + margin, side="left"))
    lo = min(kt[i], intro_start - margin)
    a = max(0, int(np.floor((lo - start) * fps)))
    if j == len(kt):  # no keyframe after: to the end of the scan
        return a, n
    hi = max(kt[j], intro_end + margin)
    return a, max(a, min(n, int(np.ceil((hi - start) * fps)) + 1))


def sample_exact(
    path: str | os.PathLike,
    coarse: CoarseFeatures,
    rows: tuple[int, int],
    embed: Callable[[np.ndarray], np.ndarray],
    size: int,
    sampler: dict,
) -> int:
    """Replace rows [a, b) by features of the frames exactly at their times; returns how many."""
    a, b = rows
    if b <= a:
        return 0
    fps, start = float(sampler.get("fps", 1.0)), float(sampler.get("start", 0.0))
    kwargs = {k: v for k, v in sampler.items() if k not in ("start", "max_seconds", "fraction")}
    kwargs["start"] = start + a / fps
    kwargs["max_seconds"] = (b - a) / fps
    frames = [f for _, f in frames_per_second(path, size=size, crop=True, **kwargs)]
    frames = frames[: b - a]
    if not frames:
        return 0
    coarse.feats[a : a + len(frames)] = embed(np.stack(frames))
    coarse.exact[a : a + len(frames)] = True
    return len(frames)
