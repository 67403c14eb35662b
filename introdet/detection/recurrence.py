"""Season mode: per-second recurrence features across episodes of one series, and a baseline.

An intro is what recurs from episode to episode: the same consecutive seconds, at one time
offset per pair of episodes. Each episode is compared with a few partner episodes (see
:func:`partners`); for each pair the cosine matrix ``S = A_i @ A_j.T`` is thresholded at
``sim_threshold`` (near-identical frames), and matches are grouped into *runs* along the
diagonals of ``S`` (one diagonal = one time offset). A run counts when it spans at least
``2 * neighbourhood + 1`` seconds; gaps of up to ``max_gap`` unmatched seconds inside a run are
bridged, because at 1 fps two episodes sample a fast-cut intro at different phases.

Channels (``N_CHANNELS = 4``, float32, each in [0, 1]), one row per second:

0. ``available``: 1 if the episode had at least one partner, else 0. A row of all zeros means
   "no information" (a lone episode), unlike "no recurrence" (available 1, the rest low).
1. ``best_sim``: mean over partners of the best cosine to any second of the partner, clipped to
   [0, 1]. High for any repeated *frame* (black, a flat colour), so alone it proves nothing.
2. ``consistent_share``: share of partners in which the second lies inside a run. A recurring
   single frame (black) has no run; a recurring set (similar, not identical frames) stays below
   the threshold; a "previously on" recap is shared by one partner, so its share is 1/k.
3. ``run_support``: ``R(t) / max R``, where ``R(t)`` is the mean over partners of the length of
   the run through the second (0 where none): the longest widely shared run gets 1.

A studio logo shown right before the intro recurs just as consistently and, when adjacent,
joins the intro's run: these features cannot tell it from the intro; the learned model has to,
from labels. Likewise a flat stretch (e.g. 5+ s of black) present in most episodes forms a run.

Cost: ``n_episodes * max_others / 2`` pairs (a pair is computed once for both sides), each a
float32 ``[T_i, D] @ [D, T_j]`` product: near-linear in the number of episodes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from introdet.errors import RecurrenceError

N_CHANNELS = 4
AVAILABLE, BEST_SIM, CONSISTENT_SHARE, RUN_SUPPORT = range(N_CHANNELS)


def partners(n: int, max_others: int = 8, seed: int = 0) -> list[list[int]]:
    """For each of ``n`` episodes, the ``min(max_others, n - 1)`` episodes nearest in order.

    Episodes are expected in broadcast order, and near neighbours are the likeliest to share
    the same intro version (intros change between seasons). ``seed`` only breaks ties between
    two episodes equally near (one before, one after) when a single slot is left.
    """
    if n < 0:
        raise ValueError(f"number of episodes must be >= 0, got {n}")
    if max_others < 1:
        raise ValueError(f"max_others must be >= 1, got {max_others}")
    priority = np.random.default_rng(seed).permutation(n)  # tie-break rank per episode
    out = []
    for i in range(n):
        near = range(max(0, i - max_others), min(n, i + max_others + 1))  # O(max_others) each
        others = sorted((j for j in near if j != i), key=lambda j: (abs(j - i), priority[j]))
        out.append(sorted(others[:max_others]))
    return out


def _unit_rows(x: np.ndarray, index: int, dim: int | None) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim != 2:
        raise RecurrenceError(f"episode {index}: features must be [T, D], got shape {x.shape}")
    if dim is not None and x.shape[1] != dim:
        raise RecurrenceError(f"episode {index}: feature width {x.shape[1]}, expected {dim}")
    x = x.astype(np.float32)
    if not np.isfinite(x).all():
        raise RecurrenceError(f"episode {index}: features contain NaN or inf")
    # re-normalise: float16 storage leaves norms slightly off 1, and thresholds are cosines
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norm, 1e-6)  # all-zero rows stay zero


def _diagonal_runs(
    match: np.ndarray, min_len: int, max_gap: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Runs of matches along the diagonals of ``match`` [T_i, T_j].

    Returns ``(start, offset, span)``: the run covers seconds ``start .. start + span - 1`` of
    episode i and the same seconds ``+ offset`` of episode j. Only runs spanning ``>= min_len``.
    """
    t, s = np.nonzero(match)  # matches are sparse: work on their coordinates
    d = s - t
    order = np.lexsort((t, d))  # by offset, then by time
    t, d = t[order], d[order]
    breaks = (np.diff(d) != 0) | (np.diff(t) > max_gap + 1)
    first = np.concatenate(([True], breaks)) if len(t) else np.zeros(0, bool)
    last = np.concatenate((breaks, [True])) if len(t) else np.zeros(0, bool)
    start, end, offset = t[first], t[last], d[first]
    span = end - start + 1
    keep = span >= min_len
    return start[keep], offset[keep], span[keep]


def _paint(n_seconds: int, start: np.ndarray, span: np.ndarray) -> np.ndarray:
    """Per second, the span of the longest run covering it (0 where none)."""
    out = np.zeros(n_seconds, np.float32)
    if len(span) == 0:
        return out
    first = np.repeat(np.cumsum(span) - span, span)  # position of each run's first cell
    idx = np.repeat(start, span) + np.arange(span.sum()) - first
    np.maximum.at(out, idx, np.repeat(span, span).astype(np.float32))
    return out


def recurrence_features(
    feats: Sequence[np.ndarray],
    max_others: int = 8,
    sim_threshold: float = 0.98,
    neighbourhood: int = 2,
    seed: int = 0,
    max_gap: int = 1,
    center: bool = True,
) -> list[np.ndarray]:
    """One float32 ``[T_i, N_CHANNELS]`` array per episode (channels: see the module docstring).

    ``feats`` are the CLIP features of episodes of ONE series, ``[T_i, D]``, one row per second.
    ``center`` subtracts the series' mean feature first: what every second of a show shares
    (its palette, its look) then no longer makes ordinary scenes match each other, while
    identical frames still match exactly.
    """
    if neighbourhood < 0 or max_gap < 0:
        raise ValueError(f"neighbourhood and max_gap must be >= 0, got {neighbourhood}, {max_gap}")
    if not -1.0 <= sim_threshold <= 1.0:
        raise ValueError(f"sim_threshold is a cosine in [-1, 1], got {sim_threshold}")
    units = _series_units(feats, center)
    n = len(units)
    plan = partners(n, max_others, seed) if n else []
    min_len = 2 * neighbourhood + 1

    best = [np.zeros(len(u), np.float32) for u in units]  # sums over partners
    share = [np.zeros(len(u), np.float32) for u in units]
    length = [np.zeros(len(u), np.float32) for u in units]
    pairs = sorted({(min(i, j), max(i, j)) for i in range(n) for j in plan[i]})
    for i, j in pairs:
        sim = units[i] @ units[j].T  # [T_i, T_j]
        start, offset, span = _diagonal_runs(sim >= sim_threshold, min_len, max_gap)
        # one pair serves both sides, but only the side(s) that chose it as partner
        for a, b, a_start, trans in ((i, j, start, False), (j, i, start + offset, True)):
            if b not in plan[a] or len(units[a]) == 0:
                continue
            if len(units[b]):
                best[a] += np.clip((sim.max(axis=0) if trans else sim.max(axis=1)), 0.0, 1.0)
            run = _paint(len(units[a]), a_start, span)  # [T_a]
            share[a] += run > 0
            length[a] += run

    return [_channels(best[i], share[i], length[i], len(plan[i])) for i in range(len(units))]


def _series_units(feats: Sequence[np.ndarray], center: bool) -> list[np.ndarray]:
    """Unit rows of each episode, centred on the series' mean first when ``center``."""
    dim = None
    units = []
    for i, f in enumerate(feats):
        units.append(_unit_rows(f, i, dim))
        dim = units[-1].shape[1]
    if center and any(len(u) for u in units):
        mean = np.concatenate(units).mean(axis=0)  # [D]
        units = [_unit_rows(u - mean, i, dim) if len(u) else u for i, u in enumerate(units)]
    return units


def _channels(best: np.ndarray, share: np.ndarray, length: np.ndarray, k: int) -> np.ndarray:
    """[T, N_CHANNELS] from the sums over ``k`` partners (all zero without partners)."""
    x = np.zeros((len(best), N_CHANNELS), np.float32)
    if k:
        x[:, AVAILABLE] = 1.0
        x[:, BEST_SIM] = best / k
        x[:, CONSISTENT_SHARE] = share / k
        mean_len = length / k
        peak = mean_len.max(initial=0.0)
        x[:, RUN_SUPPORT] = mean_len / peak if peak > 0 else 0.0
    return x


def recurrence_scores(feats: Sequence[np.ndarray], **kwargs) -> list[np.ndarray]:
    """Training-free baseline: per-second intro score in [0, 1], one float32 ``[T_i]`` per episode.

    ``consistent_share * run_support``: above 0.5 only for a second inside the longest run that
    a majority of partners share, so a recap (share 1/k) or a shorter shared run (a logo apart
    from the intro) stays low. Feed it to the usual post-processing (threshold 0.5, best run).
    ``kwargs`` go to :func:`recurrence_features`.
    """
    return [
        x[:, CONSISTENT_SHARE] * x[:, RUN_SUPPORT] for x in recurrence_features(feats, **kwargs)
    ]


def add_season_channels(
    feats: Sequence[np.ndarray], max_others: int = 8, season: bool = True
) -> list[np.ndarray]:
    """The features of ONE series' episodes with the recurrence channels appended, float16.

    With ``season`` and at least two episodes, each episode is compared with the others; else
    every episode gets the "no information" rows of single-episode mode.
    """
    if season and len(feats) > 1:
        rec = recurrence_features(feats, max_others=max_others)
    else:
        rec = [recurrence_features([f])[0] for f in feats]
    return [
        np.concatenate([np.asarray(f, np.float16), r.astype(np.float16)], axis=1)
        for f, r in zip(feats, rec, strict=True)
    ]
