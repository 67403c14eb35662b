from __future__ import annotations

import numpy as np

from introdet.detection.postprocess import PostprocessConfig
from introdet.training.tune import score, tune_postprocess


def test_tuning_finds_the_threshold_that_separates():
    rng = np.random.default_rng(0)
    probs, truth = {}, {}
    for i in range(6):
        p = rng.uniform(0.0, 0.55, 120)  # background reaches 0.55: a 0.5 threshold fires on it
        p[20 + i : 40 + i] = rng.uniform(0.65, 0.9, 20)
        probs[f"e{i}"], truth[f"e{i}"] = p, (20.0 + i, 40.0 + i)
    probs["none"], truth["none"] = rng.uniform(0.0, 0.55, 120), None
    grid = {"threshold": [0.5, 0.6], "smooth": [1], "max_gap": [0], "min_seconds": [1]}
    best, tried = tune_postprocess(probs, truth, grid=grid)
    assert best.threshold == 0.6 and len(tried) == 2
    assert tried[0][0][0] == 1.0 > tried[1][0][0]  # perfect IoU everywhere, incl. "no intro"


def test_score_counts_correct_absence():
    report = {"n_with_intro": 1, "n_without_intro": 1, "false_intros": 0, "iou": 0.5, "useful": 1.0}
    assert score(report) == (0.75, 1.0)
    assert isinstance(tune_postprocess({"a": np.zeros(5)}, {"a": None})[0], PostprocessConfig)


def test_the_defaults_stay_unless_a_grid_point_beats_them():
    # two validation episodes without an intro, and flat low probabilities: every grid point
    # (and the defaults) answers "none" and scores 1.0, so nothing beats the defaults
    probs = {"a": np.full(100, 0.1), "b": np.full(100, 0.2)}
    tuned, tried = tune_postprocess(probs, {"a": None, "b": None})
    assert tuned == PostprocessConfig()
    assert tried[0][1] == PostprocessConfig().__dict__
    # a blip the defaults' 2-s minimum drops but min_seconds=1 would keep scores worse: kept
    probs = {"a": np.r_[np.zeros(10), 0.9, np.zeros(89)]}
    assert tune_postprocess(probs, {"a": None})[0] == PostprocessConfig()


def test_the_grid_covers_the_intro_length_limits():
    # a 90-s "intro" is real here: only max_seconds beyond it finds it; the defaults (120) do
    p = np.r_[np.zeros(10), np.full(90, 0.9), np.zeros(50)]
    tuned, _ = tune_postprocess({"a": p}, {"a": (10.0, 100.0)})
    assert tuned.max_seconds >= 90
