"""Each evaluation figure is written as a real PNG of the promised size."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest

from introdet.evaluation import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_png(path: Path, size_inches: tuple[float, float]) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)  # [H, W, 4] floats
    w, h = size_inches
    assert image.shape[:2] == (round(h * plots.DPI), round(w * plots.DPI))
    assert image.std() > 0  # something was drawn, not a blank canvas


def test_plot_episode(tmp_path):
    probs = np.zeros(90)
    probs[10:40] = 0.9
    open_before = plt.get_fignums()
    path = plots.plot_episode(
        probs,
        tmp_path / "sub" / "ep.png",  # missing parent folders are created
        threshold=0.5,
        detected=(10.0, 40.0),
        truth=(12.0, 41.5),
        title="s1e1",
    )
    assert path == tmp_path / "sub" / "ep.png"
    _check_png(path, plots.EPISODE_SIZE)
    assert plt.get_fignums() == open_before  # nothing left open in pyplot


def test_plot_episode_without_segments(tmp_path):
    path = plots.plot_episode(np.full(5, 0.2), tmp_path / "ep.png")
    _check_png(path, plots.EPISODE_SIZE)


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0:00"), (59.6, "1:00"), (125, "2:05"), (3600, "60:00")]
)
def test_time_axis_labels_are_minutes_and_seconds(seconds, text):
    assert plots._mmss(seconds) == text


def test_plot_boundary_errors(tmp_path):
    path = plots.plot_boundary_errors([0.0, -1.5, 2.0, 0.5], [3.0, -0.5], tmp_path / "err.png")
    _check_png(path, plots.HISTOGRAM_SIZE)


def test_plot_boundary_errors_empty(tmp_path):
    path = plots.plot_boundary_errors([], [], tmp_path / "err.png")
    _check_png(path, plots.HISTOGRAM_SIZE)


def test_plot_pr_curve(tmp_path):
    rng = np.random.default_rng(0)
    labels = [np.r_[np.zeros(20, int), np.ones(10, int)], np.r_[np.ones(5, int), np.zeros(15, int)]]
    probs = [np.clip(y * 0.6 + rng.uniform(0, 0.4, len(y)), 0, 1) for y in labels]
    path = plots.plot_pr_curve(probs, labels, tmp_path / "pr.png")
    _check_png(path, plots.PR_SIZE)


def test_plot_pr_curve_length_mismatch(tmp_path):
    with pytest.raises(ValueError, match="3 probabilities but 2 labels"):
        plots.plot_pr_curve([np.zeros(3)], [np.zeros(2, int)], tmp_path / "pr.png")
