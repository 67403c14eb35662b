"""Tests for introdet.detection.postprocess on hand-made probability arrays."""

from __future__ import annotations

import numpy as np
import pytest

from introdet.detection.postprocess import (
    PostprocessConfig,
    Segment,
    smooth,
    to_segments,
)
from introdet.media.labels import labels_for


def probs_with(length: int, runs: list[tuple[int, int, float]], low: float = 0.1) -> np.ndarray:
    """[length] array at ``low`` with value p on each half-open [i, j)."""
    p = np.full(length, low)
    for i, j, value in runs:
        p[i:j] = value
    return p


def test_clean_run_gives_exactly_that_segment():
    p = probs_with(60, [(10, 40, 0.9)])
    assert to_segments(p) == [Segment(10.0, 40.0, pytest.approx(0.9))]


def test_score_is_mean_of_raw_probabilities():
    p = probs_with(60, [(10, 20, 0.8), (20, 30, 0.6)])
    (seg,) = to_segments(p)
    assert (seg.start, seg.end) == (10.0, 30.0)
    assert seg.score == pytest.approx(0.7)
    assert seg.duration == 20.0


def test_empty_and_all_low_give_nothing():
    assert to_segments(np.array([])) == []
    assert to_segments(np.full(100, 0.3)) == []


def test_short_blips_are_dropped():
    cfg = PostprocessConfig(smooth=1, min_seconds=3, keep="all")
    p = probs_with(60, [(5, 7, 0.9), (20, 30, 0.9), (45, 46, 0.95)])
    assert [(s.start, s.end) for s in to_segments(p, cfg)] == [(20.0, 30.0)]
    # a run of exactly min_seconds is kept
    p = probs_with(60, [(20, 23, 0.9)])
    assert [(s.start, s.end) for s in to_segments(p, cfg)] == [(20.0, 23.0)]


def test_gap_of_max_gap_merges_and_one_more_does_not():
    cfg = PostprocessConfig(smooth=1, max_gap=2, keep="all")
    merged = probs_with(60, [(10, 20, 0.9), (22, 30, 0.9)])  # gap: seconds 20, 21
    (seg,) = to_segments(merged, cfg)
    assert (seg.start, seg.end) == (10.0, 30.0)
    assert seg.score == pytest.approx((18 * 0.9 + 2 * 0.1) / 20)  # the gap counts in the mean
    apart = probs_with(60, [(10, 20, 0.9), (23, 30, 0.9)])  # gap: seconds 20, 21, 22
    assert [(s.start, s.end) for s in to_segments(apart, cfg)] == [(10.0, 20.0), (23.0, 30.0)]


def test_min_seconds_applies_after_merging():
    # two 2 s pieces 1 s apart: each alone is too short, merged they are 5 s
    cfg = PostprocessConfig(smooth=1, max_gap=1, min_seconds=4)
    p = probs_with(30, [(10, 12, 0.9), (13, 15, 0.9)])
    assert [(s.start, s.end) for s in to_segments(p, cfg)] == [(10.0, 15.0)]


def test_keep_best_picks_largest_probability_mass():
    # run A: 10 s at 0.7 (mass 7); run B: 4 s at 0.99 (mass 3.96) -> A, although B is surer
    p = probs_with(80, [(10, 20, 0.7), (50, 54, 0.99)])
    (best,) = to_segments(p, PostprocessConfig(keep="best"))
    assert (best.start, best.end) == (10.0, 20.0)
    both = to_segments(p, PostprocessConfig(keep="all"))
    assert [(s.start, s.end) for s in both] == [(10.0, 20.0), (50.0, 54.0)]
    # sorted by start even when the later run is the stronger one
    p = probs_with(80, [(10, 14, 0.9), (40, 70, 0.9)])
    assert [s.start for s in to_segments(p, PostprocessConfig(keep="all"))] == [10.0, 40.0]
    assert [s.start for s in to_segments(p, PostprocessConfig(keep="best"))] == [40.0]


def test_start_near_zero_snaps_to_zero():
    p = probs_with(60, [(1, 30, 0.9)])
    (seg,) = to_segments(p)
    assert (seg.start, seg.end) == (0.0, 30.0)
    assert seg.score == pytest.approx(0.9)  # the snapped-over second is not part of the score
    assert to_segments(probs_with(60, [(2, 30, 0.9)]))[0].start == 0.0  # "within" includes 2
    p = probs_with(60, [(3, 30, 0.9)])  # 3 s > snap_start = 2
    assert to_segments(p)[0].start == 3.0
    no_snap = PostprocessConfig(snap_start=0)
    assert to_segments(probs_with(60, [(1, 30, 0.9)]), no_snap)[0].start == 1.0


def test_smoothing_removes_spike_and_fills_hole():
    spike = probs_with(30, [(12, 13, 0.95)])
    assert to_segments(spike, PostprocessConfig(min_seconds=0)) == []
    assert len(to_segments(spike, PostprocessConfig(smooth=1, min_seconds=0))) == 1
    hole = probs_with(30, [(5, 15, 0.9), (15, 16, 0.1), (16, 25, 0.9)])
    cfg = PostprocessConfig(max_gap=0, keep="all")  # no merging: only the median can bridge it
    assert [(s.start, s.end) for s in to_segments(hole, cfg)] == [(5.0, 25.0)]
    assert len(to_segments(hole, PostprocessConfig(smooth=1, max_gap=0, keep="all"))) == 2


def test_smooth_is_centred_median_with_edge_values():
    p = np.array([0.9, 0.1, 0.9, 0.9, 0.1, 0.1, 0.8])
    # edge-padded windows: [.9 .9 .1] [.9 .1 .9] [.1 .9 .9] [.9 .9 .1] [.9 .1 .1] [.1 .1 .8]
    # and [.1 .8 .8]
    expected = [0.9, 0.9, 0.9, 0.9, 0.1, 0.1, 0.8]
    np.testing.assert_allclose(smooth(p, 3), expected)
    np.testing.assert_array_equal(smooth(p, 1), p)
    with pytest.raises(ValueError, match="odd"):
        smooth(p, 4)


def test_fps_scales_seconds():
    # 2 samples per second: samples 20..59 are seconds 10..30
    p = probs_with(120, [(20, 60, 0.9)])
    (seg,) = to_segments(p, PostprocessConfig(fps=2.0))
    assert (seg.start, seg.end) == (10.0, 30.0)


def test_bad_input_and_config_raise():
    with pytest.raises(ValueError, match=r"\[T\]"):
        to_segments(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="NaN"):
        to_segments(np.array([0.1, np.nan]))
    with pytest.raises(ValueError, match="keep"):
        PostprocessConfig(keep="first")
    with pytest.raises(ValueError, match="smooth"):
        PostprocessConfig(smooth=2)
    with pytest.raises(ValueError, match="unknown keys"):
        to_segments(np.zeros(3), {"treshold": 0.4})


def test_mapping_config_is_accepted():
    p = probs_with(60, [(10, 40, 0.45)])
    assert to_segments(p) == []
    assert len(to_segments(p, {"threshold": 0.4})) == 1


def to_labels(segments: list[Segment], length: int, fps: float = 1.0) -> np.ndarray:
    """[length] 0/1 labels: sample k is intro when [k, k+1)/fps overlaps one segment by >= half."""
    labels = np.zeros(length, dtype=np.int64)
    for s in segments:
        labels |= labels_for(length, (s.start, s.end), fps)
    return labels


def test_to_labels_half_overlap_rule():
    labels = to_labels([Segment(10.4, 20.6, 0.9)], 30)
    # second 10 overlaps by 0.6, 20 by 0.6: both in; 9 and 21 not at all
    expected = np.zeros(30, dtype=int)
    expected[10:21] = 1
    np.testing.assert_array_equal(labels, expected)
    # [10.6, 20.4): seconds 10 and 20 overlap by only 0.4
    expected = np.zeros(30, dtype=int)
    expected[11:20] = 1
    np.testing.assert_array_equal(to_labels([Segment(10.6, 20.4, 0.9)], 30), expected)
    # exactly half counts
    assert to_labels([Segment(10.5, 12.0, 0.9)], 15)[10] == 1


def test_to_labels_fps_and_segments_round_trip():
    labels = to_labels([Segment(1.0, 2.0, 1.0)], 8, fps=2.0)  # samples 2, 3 are [1.0, 2.0)
    np.testing.assert_array_equal(labels, [0, 0, 1, 1, 0, 0, 0, 0])
    segs = [Segment(0.0, 12.0, 0.9), Segment(40.0, 70.0, 0.9)]
    probs = to_labels(segs, 100).astype(float)
    cfg = PostprocessConfig(keep="all")
    assert [(s.start, s.end) for s in to_segments(probs, cfg)] == [(0.0, 12.0), (40.0, 70.0)]


def test_intro_length_limits_drop_too_short_and_too_long_runs():
    from introdet.detection.postprocess import PostprocessConfig, to_segments

    cfg = PostprocessConfig(smooth=1, max_gap=0, min_seconds=2, max_seconds=60)
    p = np.r_[np.zeros(5), np.ones(1), np.zeros(5), np.ones(70), np.zeros(5), np.ones(30)]
    (seg,) = to_segments(p, cfg)  # the 1-s blip and the 70-s run are out; the 30-s run stays
    assert (seg.start, seg.end) == (86.0, 116.0)


@pytest.mark.parametrize(
    "bad", [{"max_seconds": 1, "min_seconds": 2}, {"threshold": 2.0}, {"threshold": -0.1}]
)
def test_bad_limits_name_the_key(bad):
    from introdet.detection.postprocess import PostprocessConfig

    with pytest.raises(ValueError, match="postprocess."):
        PostprocessConfig(**bad)
