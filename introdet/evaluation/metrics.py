"""Per-second, balanced and boundary metrics of detected intros against annotated ones."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_f1_score,
    binary_precision,
    binary_recall,
    binary_stat_scores,
)

from introdet.errors import EvaluationError
from introdet.media.labels import labels_for

WITHIN_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
USEFUL_START_S = 15.0  # a viewer skips a little late or early at the start...
USEFUL_END_S = 5.0  # ...but landing after the intro's end costs real content
# tolerance on "within k s": 20.1 - 20 is 0.10000000000000142 in binary floating point
_EPS = 1e-9

Interval = tuple[float, float]


@dataclass
class EpisodeResult:
    """One episode's prediction record next to its ground truth."""

    episode: str
    probs: np.ndarray  # [T] float
    truth: Interval | None
    detected: Interval | None
    fps: float  # frame rate for boundary errors in frames

    @property
    def labels(self) -> np.ndarray:  # [T] int64
        return labels_from_interval(len(self.probs), self.truth)
_ZERO_COUNTS = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}


# ---------------------------------------------------------------- per-second labels and metrics


def labels_from_interval(n: int, interval: Interval | None) -> np.ndarray:
    """[n] int64 by the project's labelling rule (introdet.media.labels.labels_for)."""
    return labels_for(n, interval)


def frame_metrics(
    probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], threshold: float = 0.5
) -> dict:
    """Accuracy, precision, recall, F1 and counts over all seconds of all episodes.

    A second counts as predicted intro when its probability is above ``threshold`` (strictly,
    as in torchmetrics and postprocess).
    """
    threshold = float(threshold)  # torchmetrics rejects an int threshold
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probability arrays but {len(labels)} label arrays")
    for i, (p, y) in enumerate(zip(probs, labels, strict=True)):
        if len(p) != len(y):
            raise ValueError(f"episode {i}: {len(p)} probabilities but {len(y)} labels")
    p = torch.from_numpy(_concat(probs, np.float64))  # [N] over all episodes
    y = torch.from_numpy(_concat(labels, np.int64))  # [N]
    out = {"n_seconds": int(len(y)), "n_intro_seconds": int(y.sum())}
    if len(y) == 0:  # nothing to score is not a score of 0
        return out | dict.fromkeys(("accuracy", "precision", "recall", "f1")) | _ZERO_COUNTS
    tp, fp, tn, fn, _ = binary_stat_scores(p, y, threshold).tolist()
    return out | {
        "accuracy": float(binary_accuracy(p, y, threshold)),
        "precision": float(binary_precision(p, y, threshold)),
        "recall": float(binary_recall(p, y, threshold)),
        "f1": float(binary_f1_score(p, y, threshold)),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
    }


def _concat(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    parts = [np.asarray(a, dtype=dtype).ravel() for a in arrays]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def balanced_seconds(n: int, interval: Interval | None) -> np.ndarray:
    """Indices of the intro's seconds plus as many seconds right after it (clipped at n)."""
    intro = np.flatnonzero(labels_from_interval(n, interval))
    if len(intro) == 0:
        return intro
    return np.arange(intro[0], min(intro[-1] + 1 + len(intro), n))


def balanced_metrics(
    probs: Sequence[np.ndarray], truth_intervals: Sequence[Interval | None], threshold: float = 0.5
) -> dict:
    """The paper's protocol: per episode only the intro and an equal stretch right after it.

    Episodes without an intro contribute nothing (they have no intro seconds to balance).
    """
    if len(probs) != len(truth_intervals):
        raise ValueError(f"{len(probs)} probability arrays but {len(truth_intervals)} intervals")
    sub_p, sub_y = [], []
    for p, interval in zip(probs, truth_intervals, strict=True):
        p = np.asarray(p)
        keep = balanced_seconds(len(p), interval)
        sub_p.append(p[keep])
        sub_y.append(labels_from_interval(len(p), interval)[keep])
    return frame_metrics(sub_p, sub_y, threshold)


# ---------------------------------------------------------------- boundaries


def _stats(values: Sequence[float]) -> dict:
    if len(values) == 0:
        return {"mean": None, "median": None, "p90": None}
    a = np.abs(np.asarray(values, dtype=np.float64))
    return {
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
    }


def interval_iou(a: Interval, b: Interval) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float(a == b)


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def boundary_report(
    pred: Mapping[str, Interval | None],
    truth: Mapping[str, Interval | None],
    fps: float | Mapping[str, float] = 1.0,
) -> dict:
    """Boundary errors, hit shares, IoU, missed and false intros over episodes in both dicts.

    Errors are ``predicted - true`` (signed in ``per_episode``; stats are of absolute values),
    in seconds, and in frames at ``fps`` (one rate, or the video frame rate per episode).
    Shares of hits and the IoU are over episodes with a true intro, a missed one counting as
    a failure and IoU 0.
    """
    episodes = sorted(set(pred) & set(truth))
    start_err, end_err, start_frames, end_frames, ious = [], [], [], [], []
    within = dict.fromkeys(WITHIN_SECONDS, 0)
    useful = missed = false_intros = n_with = 0
    per_episode = {}
    for ep in episodes:
        t, p = truth[ep], pred[ep]
        row = {"truth": _pair(t), "pred": _pair(p), "start_error": None, "end_error": None}
        per_episode[ep] = row
        if t is None:
            false_intros += p is not None
            continue
        n_with += 1
        if p is None:
            missed += 1
            ious.append(0.0)
            row["iou"] = 0.0
            continue
        ds, de = float(p[0]) - float(t[0]), float(p[1]) - float(t[1])
        rate = _rate(fps, ep)
        row |= {"start_error": ds, "end_error": de, "iou": interval_iou(p, t)}
        start_err.append(ds)
        end_err.append(de)
        start_frames.append(ds * rate)
        end_frames.append(de * rate)
        ious.append(row["iou"])
        for k in WITHIN_SECONDS:
            within[k] += abs(ds) <= k + _EPS and abs(de) <= k + _EPS
        useful += abs(ds) <= USEFUL_START_S + _EPS and abs(de) <= USEFUL_END_S + _EPS
    n_without = len(episodes) - n_with
    return {
        "n_episodes": len(episodes),
        "n_with_intro": n_with,
        "n_without_intro": n_without,
        "n_detected": len(start_err),
        "missed": missed,
        "false_intros": false_intros,
        "missed_share": _share(missed, n_with),
        "false_share": _share(false_intros, n_without),
        "start_error": _stats(start_err),
        "end_error": _stats(end_err),
        "start_error_frames": _stats(start_frames),
        "end_error_frames": _stats(end_frames),
        "within": {f"{k:g}": _share(within[k], n_with) for k in WITHIN_SECONDS},
        "useful": _share(useful, n_with),
        "iou": float(np.mean(ious)) if ious else None,
        "per_episode": per_episode,
    }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]


def _rate(fps: float | Mapping[str, float], episode: str) -> float:
    if not isinstance(fps, Mapping):
        return float(fps)
    if episode not in fps:
        raise EvaluationError(f"no frame rate given for episode {episode!r}")
    return float(fps[episode])


def summarize(results: Sequence[EpisodeResult], threshold: float = 0.5) -> dict:
    """Frame, balanced and boundary metrics over one set of episodes."""
    probs = [r.probs for r in results]
    return {
        "n_episodes": len(results),
        "frame": frame_metrics(probs, [r.labels for r in results], threshold),
        "balanced": balanced_metrics(probs, [r.truth for r in results], threshold),
        "boundary": boundary_report(
            {r.episode: r.detected for r in results},
            {r.episode: r.truth for r in results},
            fps={r.episode: r.fps for r in results},
        ),
    }
