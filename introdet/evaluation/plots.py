"""Evaluation figures as PNG files: one episode's curve, boundary errors, precision-recall."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, MaxNLocator
from torchmetrics.classification import BinaryPrecisionRecallCurve
from torchmetrics.functional.classification import binary_average_precision

# Figure objects straight from matplotlib.figure render with Agg and never enter pyplot's
# registry of open figures, so long evaluation runs cannot pile up figures or touch a GUI backend.
DPI = 100
EPISODE_SIZE = (10.0, 3.0)  # inches
HISTOGRAM_SIZE = (6.0, 4.0)
PR_SIZE = (5.0, 5.0)


def _mmss(seconds: float, _pos: object = None) -> str:
    sign = "-" if seconds < 0 else ""
    s = int(round(abs(seconds)))
    return f"{sign}{s // 60}:{s % 60:02d}"


def _save(fig: Figure, path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)  # no bbox "tight": keeps the pixel size fixed
    fig.clear()
    return path


def plot_episode(
    probs: Sequence[float] | np.ndarray,
    path: str | Path,
    threshold: float = 0.5,
    detected: tuple[float, float] | None = None,
    truth: tuple[float, float] | None = None,
    title: str = "",
) -> Path:
    """Per-second intro probability over time (m:ss) with threshold, detected and true intro."""
    probs = np.asarray(probs, dtype=np.float64)  # [T], value k covers second [k, k+1)
    fig = Figure(figsize=EPISODE_SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    if truth is not None:
        ax.axvspan(*truth, ymin=0.5, ymax=1.0, color="tab:green", alpha=0.25, label="true intro")
    if detected is not None:
        ax.axvspan(*detected, ymin=0.0, ymax=0.5, color="tab:orange", alpha=0.3, label="detected")
    ax.stairs(probs, np.arange(len(probs) + 1), color="tab:blue", label="p(intro)")
    ax.axhline(threshold, color="gray", linestyle="--", linewidth=1, label="threshold")
    ax.set_xlim(0, max(len(probs), 1))
    ax.set_ylim(-0.02, 1.02)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=12, steps=[1, 2, 3, 5, 6, 10]))
    ax.xaxis.set_major_formatter(FuncFormatter(_mmss))
    ax.set_xlabel("time (m:ss)")
    ax.set_ylabel("probability")
    ax.set_title(title)
    ax.legend(loc="upper right", fontsize="small")
    return _save(fig, path)


def plot_boundary_errors(
    start_errors: Sequence[float], end_errors: Sequence[float], path: str | Path
) -> Path:
    """Histogram of signed boundary errors (predicted - true, seconds) for starts and ends."""
    start = np.asarray(start_errors, dtype=np.float64)
    end = np.asarray(end_errors, dtype=np.float64)
    fig = Figure(figsize=HISTOGRAM_SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    both = np.concatenate([start, end])
    if len(both):
        # one shared set of bins so the two histograms compare bar for bar
        lo, hi = float(both.min()), float(both.max())
        bins = np.histogram_bin_edges(both, bins=30, range=(lo - 0.5, hi + 0.5))
        ax.hist(start, bins=bins, alpha=0.6, label=f"start (n={len(start)})")
        ax.hist(end, bins=bins, alpha=0.6, label=f"end (n={len(end)})")
        ax.legend(fontsize="small")
    else:
        ax.text(0.5, 0.5, "no detected intros", ha="center", va="center", transform=ax.transAxes)
    ax.axvline(0, color="black", linewidth=1)
    ax.set_xlabel("predicted - true (s)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("episodes")
    ax.set_title("boundary errors")
    return _save(fig, path)


def plot_pr_curve(
    probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], path: str | Path
) -> Path:
    """Per-second precision-recall curve over all episodes, with average precision."""
    if len(probs) == 0:
        raise ValueError("no episodes to draw a precision-recall curve from")
    p = torch.from_numpy(np.concatenate([np.asarray(a, np.float64).ravel() for a in probs]))
    y = torch.from_numpy(np.concatenate([np.asarray(a, np.int64).ravel() for a in labels]))
    if p.shape != y.shape:
        raise ValueError(f"{len(p)} probabilities but {len(y)} labels")
    curve = BinaryPrecisionRecallCurve()  # thresholds=None: exact, one point per distinct score
    curve.update(p, y)
    precision, recall, _ = curve.compute()
    fig = Figure(figsize=PR_SIZE, dpi=DPI, layout="constrained")
    ax = fig.add_subplot()
    ax.plot(recall.numpy(), precision.numpy(), drawstyle="steps-post", color="tab:blue")
    if y.any():
        ap = float(binary_average_precision(p, y))
        ax.set_title(f"precision-recall per second (AP {ap:.3f})")
    else:
        ax.set_title("precision-recall per second (no intro seconds)")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ax.grid(alpha=0.3)
    return _save(fig, path)
