"""Choose post-processing parameters by measurement: a grid search on validation episodes."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import asdict, replace

import numpy as np

from introdet.detection.postprocess import PostprocessConfig, to_segments
from introdet.evaluation.metrics import boundary_report

GRID = {
    "smooth": [1, 3, 5],
    "threshold": [0.3, 0.4, 0.5, 0.6, 0.7],
    "max_gap": [0, 2, 5],
    "min_seconds": [1, 2, 4],
    "max_seconds": [60, 120],
}


def score(report: dict) -> tuple[float, float]:
    """What users judge: segment IoU per episode (misses and false intros count 0), then the
    share of useful detections to break ties."""
    b = report
    n = b["n_with_intro"] + b["n_without_intro"]
    iou = (b["iou"] or 0.0) * b["n_with_intro"]
    iou += b["n_without_intro"] - b["false_intros"]  # a correct "no intro" is a perfect answer
    return iou / max(n, 1), b["useful"] or 0.0


def tune_postprocess(
    probs: Mapping[str, np.ndarray],
    truth: Mapping[str, tuple[float, float] | None],
    base: PostprocessConfig | None = None,
    grid: Mapping[str, list] | None = None,
) -> tuple[PostprocessConfig, list[tuple[tuple[float, float], dict]]]:
    """Best config on these episodes, and every (score, config) tried, best first. ``base``
    (the defaults) is kept unless a grid point scores strictly better: a grid fitted to a few
    validation episodes must earn its place."""
    base = base or PostprocessConfig()
    grid = grid or GRID
    keys = list(grid)
    tried = []
    for values in itertools.product(*(grid[k] for k in keys)):
        cfg = replace(base, **dict(zip(keys, values, strict=True)))
        tried.append((_score(probs, truth, cfg), asdict(cfg)))
    # stable on ties: earlier grid points (smaller smoothing, gaps) win
    tried.sort(key=lambda t: t[0], reverse=True)
    default = _score(probs, truth, base)
    if not tried or tried[0][0] <= default:
        return base, [(default, asdict(base)), *tried]
    return PostprocessConfig(**tried[0][1]), tried


def _score(probs, truth, cfg: PostprocessConfig) -> tuple[float, float]:
    pred = {}
    for ep, p in probs.items():
        segs = to_segments(p, cfg)
        pred[ep] = (segs[0].start, segs[0].end) if segs else None
    return score(boundary_report(pred, {e: truth[e] for e in probs}))
