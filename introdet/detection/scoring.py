"""Episodes -> per-second intro probabilities -> the intro segment of each.

Probabilities come from a trained model (single-episode mode, or season mode when it was
trained with the recurrence channels and several episodes of a series are given) or from the
training-free recurrence baseline; ``intro_of`` turns them into the segment players skip.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import numpy as np

from introdet.detection.channels import N_SEASON, appended
from introdet.detection.postprocess import PostprocessConfig, Segment, to_segments
from introdet.detection.recurrence import add_season_channels, recurrence_scores
from introdet.media.library import series_key

log = logging.getLogger(__name__)

SeasonChannels = Callable[[list[int]], list[np.ndarray]]  # episode indices -> [T_i, C] each


def group_by_series(series: Sequence[str], order: Sequence[str]) -> dict[str, list[int]]:
    """Indices of the episodes of each series, in ``order`` (episode ids: broadcast order),
    keyed by the series' name as its first episode spells it (spellings are folded)."""
    groups: dict[str, list[int]] = {}
    names: dict[str, str] = {}
    for i in sorted(range(len(series)), key=lambda i: order[i]):
        name = names.setdefault(series_key(series[i]), series[i])
        groups.setdefault(name, []).append(i)
    return groups


def model_probabilities(
    detector,
    feats: Sequence[np.ndarray],
    groups: dict[str, list[int]],
    stride: int = 30,
    batch_size: int = 64,
    season: str = "auto",
    max_others: int = 8,
    season_channels: SeasonChannels | None = None,
    progress: bool = False,
) -> tuple[list[np.ndarray], list[str]]:
    """Per-episode probabilities [T_i] and the mode each was scored in (single | season).

    A model trained with season channels gets them from ``season_channels(indices)`` for the
    episodes of each series given together (the rows of a lone episode are zero)."""
    inputs, modes = list(feats), ["single"] * len(feats)
    kind = detector.recurrence
    if kind != "off":
        for name, idx in groups.items():
            together = season != "off" and len(idx) > 1
            group = [feats[i] for i in idx]
            if kind == "clip":
                channels = add_season_channels(group, max_others, together)
            else:
                extra = [np.zeros((len(f), N_SEASON), np.float32) for f in group]
                if together and season_channels is not None:
                    extra = season_channels(idx)
                channels = appended(group, extra)
            for i, f in zip(idx, channels, strict=True):
                inputs[i], modes[i] = f, ("season" if together else "single")
            if together:
                log.info("season mode: series %r, %d episodes compared", name, len(idx))
    elif season == "auto" and any(len(idx) > 1 for idx in groups.values()):
        log.info("the checkpoint was trained without season features: single-episode mode")
    window = detector.window
    from introdet.detection.windows import score_windows  # torch: for a model only

    probs = score_windows(
        detector, inputs, window, min(stride, window), batch_size, detector.device, progress
    )
    return probs, modes


def recurrence_probabilities(
    feats: Sequence[np.ndarray], groups: dict[str, list[int]], max_others: int = 8
) -> list[np.ndarray]:
    """The training-free baseline: the longest consistent recurring run of each series."""
    probs: list[np.ndarray] = [np.zeros(0)] * len(feats)
    for idx in groups.values():
        scores = recurrence_scores([feats[i] for i in idx], max_others=max_others)
        for i, s in zip(idx, scores, strict=True):
            probs[i] = np.asarray(s, dtype=np.float64)
    return probs


def intro_of(
    probs: np.ndarray, offset: float, duration: float, cfg: PostprocessConfig
) -> tuple[Segment | None, list[list[float]]]:
    """The intro (seconds of the video) and, with ``keep=all``, the other runs found.

    ``offset``: the second of the video where row 0 was sampled."""
    segs = to_segments(probs, cfg)
    if not segs:
        return None, []
    s = segs[0]  # the best run, or the first of several with keep="all"
    intro = Segment(s.start + offset, min(s.end + offset, duration), s.score)
    return intro, [[x.start + offset, x.end + offset, x.score] for x in segs[1:]]
