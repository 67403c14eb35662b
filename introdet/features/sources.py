"""The features of the episodes to predict: a shard folder, the feature cache, or keyframes.

``input=`` is a shard folder (its manifest), or videos: then the features are extracted into
the cache (``shards=``, else ``<out>/shards``; a re-run reuses them), or, coarse to fine, taken
from keyframes and sampled exactly later around the intro (``fine_pass``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from introdet.errors import ConfigError, ShardError
from introdet.extract import Summary, extract, sound_prints
from introdet.features.coarse import coarse_episodes, fine_pass
from introdet.features.fingerprints import (
    EpisodePrints,
    PicturePrint,
    picture_print,
    prints_ahead,
)
from introdet.features.print_store import (
    PrintScan,
    cached_prints,
    is_current,
    keep_prints,
    pictures_of,
    read_prints,
)
from introdet.features.shards import (
    MANIFEST,
    ShardMeta,
    check_consistent,
    load_features,
    read_manifest,
)
from introdet.media.library import VideoJob, series_of, video_jobs

FinePass = Callable[[str, object], tuple[np.ndarray, dict]]


@dataclass
class Source:
    episodes: list[tuple[ShardMeta, np.ndarray]]  # sorted by episode id; features [T, D]
    summary: Summary
    fine_pass: FinePass | None = None  # (episode id, coarse intro) -> (features, report)
    shard_dir: Path | None = None  # where the features (and their prints) are stored


DEFAULT_CACHE = ".shards"  # predict's feature cache under its output folder


def load_episodes(
    cfg: DictConfig, identity: dict | None, out: Path, prints: bool = False
) -> Source:
    """The episodes of ``cfg.input``; ``identity``: the encoder a checkpoint was trained on;
    ``prints``: the sound is fingerprinted too when features are extracted."""
    src, only = Path(cfg.input), selected(cfg.only)
    if (src / MANIFEST).is_file():
        if cfg.coarse.enabled:
            raise ConfigError(f"{src}: coarse.enabled=true needs videos as input, not shards")
        metas = {k: v for k, v in read_manifest(src).items() if only is None or k in only}
        if identity is not None:
            check_consistent(metas.values(), encoder=identity, where=str(src))
        return Source(_load(src, regroup(metas, None, cfg.series)), Summary(), shard_dir=src)
    # hidden, like the logs: out/ mirrors the library, whose folders may have any name
    shard_dir = Path(cfg.shards) if cfg.shards else out / DEFAULT_CACHE
    encoder = image_encoder(cfg, identity, shard_dir)
    sampler = OmegaConf.to_object(cfg.sampler)
    if cfg.coarse.enabled:
        if prints:
            raise ConfigError("coarse.enabled=true takes a single-episode model: this one "
                              "was trained with season channels")  # fmt: skip
        return _coarse(cfg, src, encoder, sampler, only)
    summary = extract(
        src,
        shard_dir,
        encoder,
        sampler,
        series=cfg.series,
        decoders=cfg.decoders,
        progress=cfg.progress,
        only=only,
        processes=cfg.processes,
        prints=PrintScan.of(cfg.recurring) if prints else None,
    )
    metas = read_manifest(shard_dir) if (shard_dir / MANIFEST).is_file() else {}
    wanted = set(summary.done) | set(summary.skipped)  # the cache may hold other episodes
    metas = regroup({k: v for k, v in metas.items() if k in wanted}, src, cfg.series)
    return Source(_load(shard_dir, metas), summary, shard_dir=shard_dir)


def regroup(metas: dict[str, ShardMeta], root: Path | None, series: str | None) -> dict:
    """Series decided now, from where the videos are (``root``: the folder searched; None:
    the folder all sources share), never the grouping recorded when the cache was made."""
    sources = [Path(m.source) for m in metas.values()]
    if root is None and sources:
        root = Path(os.path.commonpath([p.parent for p in sources]))
    for m, path in zip(metas.values(), sources, strict=True):
        if series:
            m.series = series
        elif root is not None and path.is_relative_to(root):
            m.series = series_of(path, root if root.is_dir() else path.parent)
    return metas


def _load(shard_dir: Path, metas: dict[str, ShardMeta]) -> list[tuple[ShardMeta, np.ndarray]]:
    return [(m, load_features(shard_dir, e, mmap=False)) for e, m in sorted(metas.items())]


def _coarse(cfg: DictConfig, src: Path, encoder, sampler, only: set[str] | None) -> Source:
    ccfg, summary = OmegaConf.to_object(cfg.coarse), Summary()
    eps = coarse_episodes(
        src, encoder, sampler, ccfg, summary, only, cfg.series, cfg.decoders, cfg.processes
    )
    by_id = {e.meta.episode: e for e in eps}

    def fine(episode: str, intro) -> tuple[np.ndarray, dict]:
        ep = by_id[episode]
        feats = fine_pass(ep, intro, encoder, sampler, ccfg)
        return feats, ep.report

    pairs = [(e.meta, e.coarse.feats) for e in sorted(eps, key=lambda e: e.meta.episode)]
    return Source(pairs, summary, fine)


def image_encoder(cfg: DictConfig, identity: dict | None, shard_dir: Path):
    """The image encoder: the checkpoint's, else the feature cache's, else ``encoder.*``."""
    from introdet.features.encoder import ClipEncoder, encoder_from_identity

    enc = {
        k: v for k, v in OmegaConf.to_container(cfg.encoder, resolve=True).items() if v is not None
    }
    enc.pop("_target_", None)
    if identity is None and (shard_dir / MANIFEST).is_file():
        # the recurrence baseline needs features, not a model: reuse the cache's encoder
        identity = check_consistent(read_manifest(shard_dir).values(), where=str(shard_dir))
    if identity is not None:
        enc.pop("model_name", None)  # the recorded encoder decides
        return encoder_from_identity(identity, **enc)
    if "model_name" in enc:
        return ClipEncoder(**enc)
    raise ConfigError("method=recurrence on videos needs encoder.model_name (e.g. encoder=tiny)")


def selected(spec) -> set[str] | None:
    """``only=``: a labels file (its episode ids) or a list of ids; None = every episode."""
    if spec is None:
        return None
    if isinstance(spec, str):
        from introdet.training.annotations import load_annotations

        ann = load_annotations(spec)
        return set(ann.intros) | {e for e, _ in ann.rejected}
    return {str(x) for x in spec}


def season_prints(
    metas: Sequence[ShardMeta], shard_dir: Path | None, scan: PrintScan
) -> tuple[list[EpisodePrints], Callable[[int], PicturePrint]]:
    """Prints of these episodes: stored in their shards, else made from their videos."""
    found = []
    for m in metas:
        if shard_dir is not None and is_current(m.extra.get("prints"), scan):
            found.append(read_prints(shard_dir, m.episode, m.extra["prints"]))
        elif Path(m.source).is_file():
            found.append((sound_prints(m.source, scan), None))
        else:
            raise ShardError(f"{m.episode}: no fingerprints in {shard_dir} and no video at "
                             f"{m.source} to make them from")  # fmt: skip
    return [p for p, _ in found], pictures_of(metas, found)


PictureOf = Callable[[VideoJob, EpisodePrints], PicturePrint]
PRINT_CACHE = ".prints"  # season mode's prints, kept in the output folder between runs


def load_prints(cfg: DictConfig) -> tuple[list[tuple[VideoJob, EpisodePrints]], Summary, PictureOf]:
    """Fingerprints of the episodes of ``cfg.input`` for season mode (no image encoder): of
    its videos, or stored in its shards; and the picture print of an episode on demand."""
    src = Path(cfg.input)
    if (src / MANIFEST).is_file():
        return _stored_prints(cfg, src)
    jobs, failed = video_jobs(src, only=selected(cfg.only), series=cfg.series)
    summary = Summary(failed=list(failed), work="fingerprinted")
    cache, scan = Path(cfg.out) / PRINT_CACHE, PrintScan.of(cfg.recurring)
    # kept by key (the path in the library): an id changes when another file takes its name
    kept = {j.episode: cached_prints(cache, j.key, j.source_hash, scan) for j in jobs}
    todo = [j for j in jobs if kept[j.episode] is None]
    rec = cfg.recurring
    ahead = prints_ahead(
        [j.path for j in todo], rec.scan, rec.scan_fraction, rec.tail, cfg.decoders, cfg.processes
    )
    made = {}
    bar = tqdm(todo, unit="ep", desc="fingerprint", disable=not cfg.progress)
    for job, (_, res) in zip(bar, ahead, strict=True):
        if isinstance(res, Exception):
            summary.fail(job.path, res)
            continue
        keep_prints(cache, job.key, str(job.path), job.source_hash, res, scan)
        made[job.episode] = res
    found: list[tuple[VideoJob, EpisodePrints]] = []
    for job in jobs:
        if job.episode in made:
            _found(job, made[job.episode], found, summary)
        elif kept[job.episode] is not None:
            _found(job, kept[job.episode][0], found, summary, fresh=False)
    seen = {e: pair[1] for e, pair in kept.items() if pair is not None and pair[1] is not None}

    def picture(job: VideoJob, prints: EpisodePrints) -> PicturePrint:
        """The pictures over the scan, made once and kept beside the sound for re-runs."""
        if job.episode not in seen:
            seen[job.episode] = picture_print(job.path, max_seconds=prints.head)
            keep_prints(cache, job.key, str(job.path), job.source_hash, prints, scan,
                        seen[job.episode])  # fmt: skip
        return seen[job.episode]

    return found, summary, picture


def _found(
    job: VideoJob, prints: EpisodePrints, found: list, summary: Summary, fresh: bool = True
) -> None:
    """Count one episode's prints: made now (``fresh``), or kept from an earlier run."""
    if prints.audio is None:
        summary.notes.append(f"{job.path}: no audio track: its pictures are compared")
    found.append((job, prints))
    if fresh:
        summary.done.append(job.episode)
        summary.seconds += prints.duration
    else:
        summary.skipped.append(job.episode)


def _stored_prints(cfg: DictConfig, src: Path):
    """``load_prints`` of a shard folder: the prints its shards hold."""
    only, scan = selected(cfg.only), PrintScan.of(cfg.recurring)
    metas = {k: v for k, v in read_manifest(src).items() if only is None or k in only}
    metas = regroup(metas, None, cfg.series)
    summary, found, stored = Summary(work="fingerprinted"), [], {}
    for eid, m in sorted(metas.items()):
        job = VideoJob(Path(m.source), eid, m.series, m.source_hash)
        try:
            if not is_current(m.extra.get("prints"), scan):
                raise ShardError(f"{src / eid}: no fingerprints over this scan (run "
                                 f"`python -m introdet.extract input=... out={src}`)")  # fmt: skip
            prints, _ = stored[eid] = read_prints(src, eid, m.extra["prints"])
        except ShardError as e:
            summary.fail(src / eid, e)
            continue
        _found(job, prints, found, summary)
    picture = {eid: pictures_of([metas[eid]], [pair]) for eid, pair in stored.items()}
    return found, summary, lambda job, prints: picture[job.episode](0)
