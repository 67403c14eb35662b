"""Coarse to fine: score keyframes across the scan, then sample exactly at 1 fps around the intro.

Decoding only keyframes costs a small fraction of decoding every frame, but a keyframe has to
stand for every second up to the next one, so the intro found on such features can be off by
up to a keyframe interval at each end. The coarse intro is therefore sampled again exactly
(``frames_per_second``, the rows extraction would give) from the keyframe ``margin`` seconds
before its start to the keyframe ``margin`` seconds after its end, and the episode is scored
again with those rows replaced. Episodes where the coarse pass finds no intro keep their
coarse result; episodes whose keyframes lie more than ``max_gap`` seconds apart on average
(x264's default allows 10 s) are sampled exactly from the start, since their keyframes miss
whole title cards. Keyframe features are never cached as shards: they must not pass for
exact ones.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path

import numpy as np

from introdet.checks import FLAG, check_node, number
from introdet.errors import VideoError
from introdet.features.shards import ShardMeta
from introdet.media.library import video_jobs
from introdet.media.probe import VideoInfo, probe
from introdet.media.sampling import SamplerConfig, frames_per_second
from introdet.media.workers import run_ahead

log = logging.getLogger(__name__)


COARSE_RULES = {
    "enabled": FLAG,
    "step": number(0, 3600),
    "margin": number(0, 3600),
    "max_gap": number(0, 3600),
}


@dataclass
class CoarseConfig:
    """``predict.py coarse.*``: keys mirror these fields."""

    enabled: bool = False
    step: float = 0.0  # encode at most one keyframe per this many seconds (0: every keyframe)
    margin: float = 5.0  # exact seconds sampled beyond each end of the coarse intro
    max_gap: float = 5.0  # keyframes further apart on average: the episode is sampled exactly

    def __post_init__(self) -> None:
        check_node("coarse", self, COARSE_RULES)


@dataclass
class CoarseFeatures:
    info: VideoInfo
    feats: np.ndarray  # [n, D] float16: row k = the keyframe on screen last at start + k / fps
    key_times: np.ndarray  # [K] seconds of the rows where each encoded keyframe first stands
    rows: np.ndarray  # [n] index into key_times of each row's keyframe
    exact: np.ndarray  # [n] bool: rows sampled exactly (all of them: keyframes too sparse)


def thin(times: Sequence[float], step: float) -> list[int]:
    """Indices of the keyframes kept when at most one per ``step`` seconds is wanted."""
    kept: list[int] = []
    for i, t in enumerate(times):
        if not kept or t - times[kept[-1]] >= step:
            kept.append(i)
    return kept


@dataclass
class KeyframeSamples:
    """What the coarse pass decodes, before any encoding (it pickles: decoder processes)."""

    info: VideoInfo
    frames: np.ndarray  # [K, S, S, 3] uint8: each distinct keyframe once (or every row: exact)
    times: list[float]  # [K] seconds of the row where each first stands
    rows: list[int]  # [n] index into frames of each row
    exact: bool  # keyframes too sparse: frames are the exact rows


def keyframe_samples(
    path: str | os.PathLike, size: int, sampler: SamplerConfig, max_gap: float = 5.0
) -> KeyframeSamples:
    """The rows ``frames_per_second(path, **sampler.keys())`` gives, each as the last keyframe at or
    before its time (``decode="keyframes"``), each keyframe kept once. Where keyframes lie more
    than ``max_gap`` s apart on average they say too little: every row is sampled exactly."""
    fps, start = sampler.fps, sampler.start
    info = probe(path)
    frames: list[np.ndarray] = []
    times: list[float] = []
    rows: list[int] = []
    keys = replace(sampler, decode="keyframes").keys()
    for k, frame in frames_per_second(path, size=size, crop=True, **keys):
        # consecutive rows repeat the keyframe still on screen: one encoding serves them all
        if not frames or not np.array_equal(frame, frames[-1]):
            frames.append(frame)
            times.append(start + k / fps)
        rows.append(len(frames) - 1)
    if not frames:
        raise VideoError(path, "no decodable keyframe")
    n = len(rows)
    if n / fps / len(frames) > max_gap:
        log.info(
            "%s: a keyframe every %.1f s on average (> max_gap %g s): sampled exactly",
            path,
            n / fps / len(frames),
            max_gap,
        )
        keys = replace(sampler, decode="needed").keys()
        exact = [f for _, f in frames_per_second(path, size=size, crop=True, **keys)]
        return KeyframeSamples(info, np.stack(exact), times, list(range(len(exact))), True)
    return KeyframeSamples(info, np.stack(frames), times, rows, False)


def embed_samples(
    samples: KeyframeSamples, embed: Callable[[np.ndarray], np.ndarray], step: float = 0.0
) -> CoarseFeatures:
    """Encode the keyframes (at most one per ``step`` s); every row gets its keyframe's."""
    n = len(samples.rows)
    if samples.exact:
        feats = embed(samples.frames)
        return CoarseFeatures(
            samples.info, feats, np.array(samples.times), np.arange(n), np.ones(n, bool)
        )
    kept = thin(samples.times, step)
    index = np.searchsorted(kept, np.array(samples.rows), side="right") - 1  # [n] into kept
    feats = embed(samples.frames[kept])  # [K, D]
    times = np.array([samples.times[i] for i in kept])
    return CoarseFeatures(samples.info, feats[index], times, index, np.zeros(n, bool))


def coarse_features(
    path: str | os.PathLike,
    embed: Callable[[np.ndarray], np.ndarray],
    size: int,
    sampler: SamplerConfig,
    step: float = 0.0,
    max_gap: float = 5.0,
) -> CoarseFeatures:
    """``keyframe_samples`` then ``embed_samples``: ``embed`` maps uint8 [N, S, S, 3] to
    [N, D]."""
    return embed_samples(keyframe_samples(path, size, sampler, max_gap), embed, step)


def fine_rows(
    coarse: CoarseFeatures,
    intro_start: float,
    intro_end: float,
    sampler: SamplerConfig,
    margin: float,
) -> tuple[int, int]:
    """Row range [a, b) to sample exactly: from the keyframe ``margin`` s before the coarse
    start to the keyframe after ``margin`` s past the coarse end, where the true boundaries lie
    when each is within a keyframe interval of the coarse one."""
    fps, start = sampler.fps, sampler.start
    kt, n = coarse.key_times, len(coarse.feats)
    i = max(0, int(np.searchsorted(kt, intro_start - margin, side="right")) - 1)
    j = int(np.searchsorted(kt, intro_end + margin, side="left"))
    lo = min(kt[i], intro_start - margin)
    a = max(0, int(np.floor((lo - start) * fps)))
    if j == len(kt):  # no keyframe after: to the end of the scan
        return a, n
    hi = max(kt[j], intro_end + margin)
    return a, max(a, min(n, int(np.ceil((hi - start) * fps)) + 1))


def sample_exact(
    path: str | os.PathLike,
    coarse: CoarseFeatures,
    rows: tuple[int, int],
    embed: Callable[[np.ndarray], np.ndarray],
    size: int,
    sampler: SamplerConfig,
) -> int:
    """Replace rows [a, b) by features of the frames exactly at their times; returns how many."""
    a, b = rows
    if b <= a:
        return 0
    rows_only = replace(
        sampler,
        start=sampler.start + a / sampler.fps,
        max_seconds=(b - a) / sampler.fps,
        fraction=None,
        min_fraction=None,  # exactly these rows, however long the episode
        decode="all" if sampler.decode == "all" else "needed",  # exact either way
    )
    frames = [f for _, f in frames_per_second(path, size=size, crop=True, **rows_only.keys())]
    frames = frames[: b - a]
    if not frames:
        return 0
    coarse.feats[a : a + len(frames)] = embed(np.stack(frames))
    coarse.exact[a : a + len(frames)] = True
    return len(frames)


# --- whole episodes: keyframe features of a folder, then the fine pass around an intro


@dataclass
class CoarseEpisode:
    meta: ShardMeta
    coarse: CoarseFeatures
    report: dict = field(default_factory=dict)  # what was sampled exactly, for the record


def coarse_episodes(
    src: Path,
    encoder,
    sampler: SamplerConfig,
    cfg: CoarseConfig,
    summary,
    only: set[str] | None = None,
    series: str | None = None,
    decoders: int = 1,
    processes: bool = False,
) -> list[CoarseEpisode]:
    """Keyframe features of every video under ``src`` (``only``: just these episode ids);
    failures go to ``summary``. ``decoders`` episodes decode ahead, in processes if asked."""
    jobs, failed = video_jobs(src, only=only, series=series)
    summary.failed += failed
    decode = partial(
        keyframe_samples, size=encoder.image_size, sampler=sampler, max_gap=cfg.max_gap
    )
    decoded = run_ahead([j.path for j in jobs], decode, decoders, processes)
    episodes = []
    for job, (_, res) in zip(jobs, decoded, strict=True):
        if isinstance(res, Exception):
            summary.fail(job.path, res)
            continue
        c = embed_samples(res, encoder.embed, cfg.step)
        meta = ShardMeta.of_video(
            job, c.info.duration, len(c.feats), sampler, encoder.identity, coarse=True
        )
        episodes.append(CoarseEpisode(meta, c))
        summary.done.append(job.episode)
        summary.seconds += len(c.feats) / meta.fps
    return episodes


def fine_pass(
    ep: CoarseEpisode, intro, encoder, sampler: SamplerConfig, cfg: CoarseConfig
) -> np.ndarray:
    """Sample the coarse ``intro`` (and ``cfg.margin`` around it) exactly; the new features."""
    c = ep.coarse
    info = {"keyframes": len(c.key_times), "coarse_intro": None, "exact_rows": None}
    if c.exact.all():  # keyframes too sparse: sampled exactly already, scored already
        info["exact_rows"] = [0, len(c.exact) - 1]
    elif intro is not None:
        info["coarse_intro"] = [round(intro.start, 3), round(intro.end, 3)]
        rows = fine_rows(c, intro.start, intro.end, sampler, cfg.margin)
        try:
            sample_exact(ep.meta.source, c, rows, encoder.embed, encoder.image_size, sampler)
        except ValueError as err:  # a file that seeks badly keeps its coarse result
            log.warning("%s: exact sampling failed (%s); coarse result kept", ep.meta.source, err)
        if c.exact.any():
            info["exact_rows"] = [int(x) for x in np.flatnonzero(c.exact)[[0, -1]]]
    ep.report = info
    return c.feats
