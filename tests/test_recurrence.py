"""Season-mode recurrence features and the training-free baseline, on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from introdet.detection.recurrence import (
    AVAILABLE,
    BEST_SIM,
    CONSISTENT_SHARE,
    N_CHANNELS,
    RUN_SUPPORT,
    RecurrenceError,
    partners,
    recurrence_features,
    recurrence_scores,
)

D = 512
T = 300
INTRO_LEN = 20
# hand-placed so that nothing overlaps; episode 5 has no intro
INTRO_AT = [30, 55, 80, 12, 100, None]
SET_AT = [120, 10, 200, 90, 230, 150]
BLACK_AT = [[5, 200, 260], [100, 150, 290], [20, 170, 240], [60, 180, 280], [40, 70, 210],
            [10, 110, 250]]  # fmt: skip
RECAP_FROM, RECAP_TO, RECAP_LEN = (2, 250), (3, 150), 10  # episode 2's content, shown in 3


def unit(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=-1, keepdims=True)


def make_series(rng: np.random.Generator) -> list[np.ndarray]:
    intro = unit(rng.standard_normal((INTRO_LEN, D)))
    black = unit(rng.standard_normal(D))
    base = unit(rng.standard_normal(D))
    series = []
    for e in range(len(INTRO_AT)):
        x = unit(rng.standard_normal((T, D)))  # random content, different per episode
        if INTRO_AT[e] is not None:
            noisy = intro + 0.005 * rng.standard_normal(intro.shape)  # re-encoding noise
            x[INTRO_AT[e] : INTRO_AT[e] + INTRO_LEN] = unit(noisy)
        x[BLACK_AT[e]] = black
        # noise of norm 0.75 puts the set's frames at cosine 0.8 to the base
        x[SET_AT[e] : SET_AT[e] + 10] = unit(base + 0.75 * unit(rng.standard_normal(D)))
        series.append(x.astype(np.float16))
    (src, a), (dst, b) = RECAP_FROM, RECAP_TO
    series[dst][b : b + RECAP_LEN] = series[src][a : a + RECAP_LEN]
    return series


@pytest.fixture(scope="module")
def series() -> list[np.ndarray]:
    return make_series(np.random.default_rng(7))


@pytest.fixture(scope="module")
def features(series) -> list[np.ndarray]:
    return recurrence_features(series)


@pytest.fixture(scope="module")
def scores(series) -> list[np.ndarray]:
    return recurrence_scores(series)


def longest_run(mask: np.ndarray) -> tuple[int, int] | None:
    """[start, end) of the longest run of True, by a plain scan (independent of the module)."""
    best, start = None, None
    for t, m in enumerate([*mask, False]):
        if m and start is None:
            start = t
        elif not m and start is not None:
            if best is None or t - start > best[1] - best[0]:
                best = (start, t)
            start = None
    return best


def test_shapes_dtype_and_range(series, features):
    assert len(features) == len(series)
    for x, f in zip(features, series, strict=True):
        assert x.shape == (len(f), N_CHANNELS)
        assert x.dtype == np.float32
        assert (x >= 0).all() and (x <= 1).all()
        assert (x[:, AVAILABLE] == 1).all()


def test_single_episode_means_no_information(series):
    (x,) = recurrence_features(series[:1])
    assert x.shape == (T, N_CHANNELS)
    assert not x.any()
    (score,) = recurrence_scores(series[:1])
    assert not score.any()


def test_intro_scores_high_and_is_found_within_a_second(scores):
    for e, at in enumerate(INTRO_AT):
        if at is None:
            continue
        assert (scores[e][at : at + INTRO_LEN] > 0.5).all(), e
        run = longest_run(scores[e] > 0.5)
        assert run is not None
        assert abs(run[0] - at) <= 1 and abs(run[1] - (at + INTRO_LEN)) <= 1, (e, run)


def test_everything_but_the_intro_scores_low(scores):
    for e, at in enumerate(INTRO_AT):
        outside = np.ones(T, bool)
        if at is not None:
            outside[at : at + INTRO_LEN] = False
        assert (scores[e][outside] < 0.5).all(), e  # content, black, set, recap


def test_episode_without_intro_has_no_run_above_half(scores):
    assert longest_run(scores[5] > 0.5) is None


def test_channels_tell_frames_sets_and_recaps_from_the_intro(features):
    n_partners = len(INTRO_AT) - 1  # 6 episodes, max_others 8: everyone else
    # the intro: found in the 4 other episodes that have one, at a consistent offset
    x = features[0][INTRO_AT[0] : INTRO_AT[0] + INTRO_LEN]
    assert np.allclose(x[:, CONSISTENT_SHARE], 4 / n_partners)
    assert np.allclose(x[:, RUN_SUPPORT], 1.0)  # the longest shared run of episode 0
    assert (x[:, BEST_SIM] > 4 / n_partners * 0.98).all()  # mean: the 5th partner has no intro
    # the black frame matches in every other episode, but no run goes through it
    black = features[0][BLACK_AT[0]]
    assert (black[:, BEST_SIM] > 0.99).all()
    assert (black[:, CONSISTENT_SHARE] == 0).all()
    # the set: similar (cos ~0.64 between episodes), not identical
    s = features[0][SET_AT[0] : SET_AT[0] + 10]
    assert (s[:, BEST_SIM] < 0.8).all() and (s[:, CONSISTENT_SHARE] == 0).all()
    # the recap recurs, but in one other episode only, on both sides of the copy
    for e, at in (RECAP_FROM, RECAP_TO):
        r = features[e][at : at + RECAP_LEN]
        assert np.allclose(r[:, CONSISTENT_SHARE], 1 / n_partners), e
        assert (r[:, RUN_SUPPORT] > 0).all()


def test_shorter_shared_run_scores_below_the_longest():
    # a 6-s logo shared by all, away from the 20-s intro: the baseline keeps only the intro
    rng = np.random.default_rng(1)
    intro, logo = unit(rng.standard_normal((20, 64))), unit(rng.standard_normal((6, 64)))
    series = []
    for e in range(4):
        x = unit(rng.standard_normal((120, 64)))
        x[10 + e : 16 + e] = logo
        x[50 + 3 * e : 70 + 3 * e] = intro
        series.append(x)
    for e, s in enumerate(recurrence_scores(series)):
        assert longest_run(s > 0.5) == (50 + 3 * e, 70 + 3 * e)
        assert np.allclose(s[10 + e : 16 + e], 6 / 20)  # share 1, run 6 of the longest 20


def test_a_dropped_second_inside_the_intro_is_bridged():
    rng = np.random.default_rng(2)
    intro = unit(rng.standard_normal((20, 64)))
    series = [unit(rng.standard_normal((80, 64))) for _ in range(3)]
    for e, x in enumerate(series):
        x[20 + e : 40 + e] = intro
    series[1][20 + 1 + 10] = unit(rng.standard_normal(64))  # one second differs in episode 1
    x = recurrence_features(series)[0]
    assert (x[20:40, CONSISTENT_SHARE] == 1).all()  # max_gap=1 keeps both runs whole
    x = recurrence_features(series, max_gap=0)[0]
    assert x[30, CONSISTENT_SHARE] == 0.5  # without bridging: the run with episode 1 breaks


def test_max_others_bounds_the_comparisons():
    # 30 episodes with the same 8-s intro, except episode 0. With max_others=4, episode 1 is
    # compared with 0, 2, 3, 4: three of its four partners share the intro.
    rng = np.random.default_rng(3)
    intro = unit(rng.standard_normal((8, 32)))
    series = [unit(rng.standard_normal((40, 32))) for _ in range(30)]
    for e in range(1, 30):
        series[e][e % 20 : e % 20 + 8] = intro
    feats = recurrence_features(series, max_others=4)
    assert len(feats) == 30
    assert np.allclose(feats[1][1:9, CONSISTENT_SHARE], 3 / 4)
    assert np.allclose(feats[10][10:18, CONSISTENT_SHARE], 1.0)
    for x in feats:
        assert np.allclose(x[:, CONSISTENT_SHARE] * 4, np.round(x[:, CONSISTENT_SHARE] * 4))


def test_partners_nearest_in_order():
    assert partners(6, 2) == [[1, 2], [0, 2], [1, 3], [2, 4], [3, 5], [3, 4]]
    assert partners(4, 8) == [[1, 2, 3], [0, 2, 3], [0, 1, 3], [0, 1, 2]]
    assert partners(1, 8) == [[]]
    assert partners(0, 8) == []


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 40), k=st.integers(1, 10), seed=st.integers(0, 2**32 - 1))
def test_partners_properties(n, k, seed):
    plan = partners(n, k, seed)
    assert plan == partners(n, k, seed)  # deterministic
    assert len(plan) == n
    for i, p in enumerate(plan):
        assert i not in p
        assert len(set(p)) == len(p) == min(k, n - 1)
        assert all(0 <= j < n for j in p)
        if n >= 2:
            assert p
        # nearest in order: nobody left out is closer than someone taken
        left_out = [abs(j - i) for j in range(n) if j != i and j not in p]
        assert not left_out or min(left_out) >= max(abs(j - i) for j in p)


def test_uneven_lengths_and_empty_episode():
    rng = np.random.default_rng(4)
    intro = unit(rng.standard_normal((10, 16)))
    a, b = unit(rng.standard_normal((50, 16))), unit(rng.standard_normal((30, 16)))
    a[5:15], b[18:28] = intro, intro
    xa, xb, xe = recurrence_features([a, b, np.zeros((0, 16), np.float32)])
    assert xa.shape == (50, N_CHANNELS) and xb.shape == (30, N_CHANNELS)
    assert xe.shape == (0, N_CHANNELS)
    assert np.allclose(xa[5:15, CONSISTENT_SHARE], 1 / 2)  # the empty partner never matches
    assert recurrence_features([]) == []


def test_bad_input_names_the_episode():
    good = unit(np.random.default_rng(5).standard_normal((10, 8)))
    with pytest.raises(RecurrenceError, match="episode 1: feature width 4"):
        recurrence_features([good, good[:, :4]])
    with pytest.raises(RecurrenceError, match=r"episode 0: .*\[T, D\]"):
        recurrence_features([good[0], good])
    bad = good.copy()
    bad[3, 2] = np.nan
    with pytest.raises(RecurrenceError, match="episode 2: .*NaN"):
        recurrence_features([good, good, bad])
    with pytest.raises(ValueError, match="max_others"):
        recurrence_features([good, good], max_others=0)


def test_centering_removes_a_shared_look():
    # every second of the show shares one strong direction (its palette): unrelated scenes then
    # have cosine ~0.99 to each other, as the random-weight encoder gives on the demo library
    rng = np.random.default_rng(3)
    look = unit(rng.standard_normal(D))
    intro = rng.standard_normal((INTRO_LEN, D))
    eps = []
    for at in (40, 90, 10, 150):
        x = rng.standard_normal((200, D))
        x[at : at + INTRO_LEN] = intro + 0.01 * rng.standard_normal((INTRO_LEN, D))
        eps.append(unit(12 * look + 0.1 * unit(x)))  # content cosines ~0.99, intro ~1.0
    raw = recurrence_scores(eps, center=False)
    centred = recurrence_scores(eps, center=True)
    assert (raw[0] > 0.5).mean() > 0.5  # without centring nearly everything "recurs"
    for s, at in zip(centred, (40, 90, 10, 150), strict=True):
        hits = np.flatnonzero(s > 0.5)
        assert hits.min() == at and hits.max() == at + INTRO_LEN - 1
