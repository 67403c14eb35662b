"""Coarse to fine: score every episode on keyframe rows, then sample exactly around the intro.

Keyframe features are never cached as shards: they must not pass for exact ones.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np

from introdet.features.coarse import (
    CoarseConfig,
    CoarseFeatures,
    embed_samples,
    fine_rows,
    keyframe_samples,
    sample_exact,
)
from introdet.features.shards import ShardMeta
from introdet.media.library import video_jobs
from introdet.media.sampling import SamplerConfig
from introdet.media.workers import run_ahead

log = logging.getLogger(__name__)


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
