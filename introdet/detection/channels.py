"""Per-second channels a model takes beside the CLIP features (``data.recurrence``):

- ``off``: none (single-episode mode);
- ``clip``: the recurrence of the CLIP features across the series (``recurrence.py``);
- ``season``: what recurs in the sound and the pictures across the season, and how season
  mode judged each recurring stretch (``season.py``).

Season channels (``N_SEASON``, float32 in [0, 1]), one row per feature row:

0. ``available``: the episode was compared with others (all zero: a lone episode);
1. ``support``: the share of the season's episodes the recurring stretch here occurs in;
2-6. the share of the row's second covered by a recurring stretch of each kind: intro,
   credits, logo, recap, other. Coverage carries sub-second edges into the 1-fps rows.

A model trained on labels with them learns which recurring stretch is the intro; the
stretches' own edges (sound at 0.05 s) then give the boundaries (``snap_to_season``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.postprocess import Segment
from introdet.detection.recurrence import N_CHANNELS
from introdet.detection.season import (
    SeasonConfig,
    SeasonEpisode,
)
from introdet.errors import ConfigError
from introdet.features.fingerprints import EpisodePrints, PicturePrint

KINDS = ("off", "clip", "season")
SEASON_KINDS = ("intro", "credits", "logo", "recap", "other")
AVAILABLE, SUPPORT = 0, 1
N_SEASON = 2 + len(SEASON_KINDS)


def recurrence_kind(value: object) -> str:
    """``data.recurrence`` as one of ``KINDS``; true/false are the older spellings of
    clip/off (checkpoints made before season channels existed)."""
    if value is None or value is False:
        return "off"
    if value is True:
        return "clip"
    if value not in KINDS:
        raise ConfigError(f"data.recurrence must be one of {list(KINDS)}, got {value!r}")
    return str(value)


def extra_channels(kind: object) -> int:
    """Channels appended to the features for ``kind``."""
    return {"off": 0, "clip": N_CHANNELS, "season": N_SEASON}[recurrence_kind(kind)]


@dataclass
class Rows:
    """An episode's feature rows: row r samples ``start + r / fps`` s of the video."""

    start: float
    fps: float
    n: int


@dataclass
class SeasonEvidence:
    channels: list[np.ndarray]  # [n_i, N_SEASON] float32 per episode
    results: list[SeasonEpisode]  # season mode's own intro and credits per episode


def _coverage(s: float, e: float, rows: Rows) -> np.ndarray:
    """Share of each row's second [t, t + 1/fps) inside [s, e): float32 [n]."""
    t0 = rows.start + np.arange(rows.n) / rows.fps
    overlap = np.minimum(e, t0 + 1 / rows.fps) - np.maximum(s, t0)
    return np.clip(overlap * rows.fps, 0.0, 1.0).astype(np.float32)


def season_evidence(
    prints: Sequence[EpisodePrints],
    picture_of: Callable[[int], PicturePrint],
    rows: Sequence[Rows],
    cfg: SeasonConfig,
    resound: Callable[[int, float], EpisodePrints | None] | None = None,
) -> SeasonEvidence:
    """Season channels and season mode's results for ONE season's episodes (broadcast order)."""
    n = len(prints)
    channels = [np.zeros((r.n, N_SEASON), np.float32) for r in rows]
    if n < 2:
        return SeasonEvidence(channels, [SeasonEpisode() for _ in prints])
    findings = season_findings(SeasonSources(prints, picture_of, resound), cfg)
    items = findings.items
    for x in channels:
        x[:, AVAILABLE] = 1.0
    for it in items:
        kind = it.kind if it.kind in SEASON_KINDS else "other"  # a preview: as trained
        col = 2 + SEASON_KINDS.index(kind)
        for ep, (s, e) in it.spans.items():
            cov = _coverage(s, e, rows[ep])
            x = channels[ep]
            x[:, col] = np.maximum(x[:, col], cov)
            x[:, SUPPORT] = np.maximum(x[:, SUPPORT], np.where(cov > 0, it.support / n, 0.0))
    return SeasonEvidence(channels, findings.results)


def appended(feats: Sequence[np.ndarray], extra: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Each episode's features with its channels appended, float16 [T, D + C]."""
    return [
        np.concatenate([np.asarray(f, np.float16), x.astype(np.float16)], axis=1)
        for f, x in zip(feats, extra, strict=True)
    ]


def snap_to_season(intro: Segment | None, season: Segment | None) -> Segment | None:
    """The model's intro with season mode's edges when both name the same stretch (they
    overlap by at least half the shorter): the sound's edges are finer than 1-fps rows."""
    if intro is None or season is None:
        return intro
    overlap = min(intro.end, season.end) - max(intro.start, season.start)
    shorter = min(intro.end - intro.start, season.end - season.start)
    if shorter <= 0 or overlap < 0.5 * shorter:
        return intro
    return Segment(season.start, season.end, intro.score)
