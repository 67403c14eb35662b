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
from typing import Any

import numpy as np
from tqdm import tqdm

from introdet.errors import ConfigError, ShardError
from introdet.features.coarse import CoarseConfig, coarse_episodes, fine_pass
from introdet.features.extraction import Summary, extract, sound_prints
from introdet.features.fingerprints import (
    EpisodePrints,
    PicturePrint,
    episode_prints,
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
from introdet.media.labels import load_annotations
from introdet.media.library import (
    VideoJob,
    find_videos,
    in_season_shard,
    series_of,
    video_jobs,
)
from introdet.media.sampling import SamplerConfig

FinePass = Callable[[str, object], tuple[np.ndarray, dict]]


@dataclass(frozen=True)
class Inputs:
    """What a run reads: a video, a folder of videos or a shard folder, and which episodes."""

    path: Path
    only: object = None  # a labels file (its episode ids) or a list of ids; None: every one
    series: str | None = None  # the series of every file; None: from folder names
    shard: tuple[int, int] | None = None  # (i, n): a fixed 1/n of the seasons, never split
    decoders: int = 1  # episodes decoding ahead
    processes: bool = False  # decoders in processes of their own
    progress: bool = False


@dataclass(frozen=True)
class Features:
    """How image features are made (or found) for the model and the CLIP baseline."""

    sampler: SamplerConfig
    coarse: CoarseConfig
    encoder: dict  # encoder.* keys; null ones come from the checkpoint or the cache
    cache: Path | None = None  # the feature cache; None: <out>/.shards


@dataclass
class Source:
    episodes: list[tuple[ShardMeta, np.ndarray]]  # sorted by episode id; features [T, D]
    summary: Summary
    fine_pass: FinePass | None = None  # (episode id, coarse intro) -> (features, report)
    shard_dir: Path | None = None  # where the features (and their prints) are stored


DEFAULT_CACHE = ".shards"  # predict's feature cache under its output folder


def load_episodes(
    inputs: Inputs,
    how: Features,
    out: Path,
    identity: dict | None,
    prints: PrintScan | None = None,
) -> Source:
    """The episodes of ``inputs``; ``identity``: the encoder a checkpoint was trained on;
    ``prints``: the sound is fingerprinted too when features are extracted."""
    src, only = inputs.path, wanted(inputs)
    if (src / MANIFEST).is_file():
        if how.coarse.enabled:
            raise ConfigError(f"{src}: coarse.enabled=true needs videos as input, not shards")
        metas = {k: v for k, v in read_manifest(src).items() if only is None or k in only}
        if identity is not None:
            check_consistent(metas.values(), encoder=identity, where=str(src))
        return Source(_load(src, regroup(metas, None, inputs.series)), Summary(), shard_dir=src)
    # hidden, like the logs: out/ mirrors the library, whose folders may have any name
    shard_dir = how.cache or out / DEFAULT_CACHE
    encoder = image_encoder(how.encoder, identity, shard_dir)
    if how.coarse.enabled:
        if prints:
            raise ConfigError("coarse.enabled=true takes a single-episode model: this one "
                              "was trained with season channels")  # fmt: skip
        return _coarse(inputs, how, encoder, only)
    summary = extract(
        src,
        shard_dir,
        encoder,
        how.sampler,
        series=inputs.series,
        decoders=inputs.decoders,
        progress=inputs.progress,
        only=only,
        processes=inputs.processes,
        prints=prints,
    )
    metas = read_manifest(shard_dir) if (shard_dir / MANIFEST).is_file() else {}
    done = set(summary.done) | set(summary.skipped)  # the cache may hold other episodes
    metas = regroup({k: v for k, v in metas.items() if k in done}, src, inputs.series)
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


def _coarse(inputs: Inputs, how: Features, encoder, only: set[str] | None) -> Source:
    summary = Summary()
    eps = coarse_episodes(inputs.path, encoder, how.sampler, how.coarse, summary, only,
                          inputs.series, inputs.decoders, inputs.processes)  # fmt: skip
    others: list[Path] = []
    find_videos(inputs.path, others)  # the files coarse_episodes passed over
    summary.pass_over(others, inputs.path)
    by_id = {e.meta.episode: e for e in eps}

    def fine(episode: str, intro) -> tuple[np.ndarray, dict]:
        ep = by_id[episode]
        feats = fine_pass(ep, intro, encoder, how.sampler, how.coarse)
        return feats, ep.report

    pairs = [(e.meta, e.coarse.feats) for e in sorted(eps, key=lambda e: e.meta.episode)]
    return Source(pairs, summary, fine)


def image_encoder(keys: dict, identity: dict | None, shard_dir: Path):
    """The image encoder: the checkpoint's, else the feature cache's, else ``encoder.*``."""
    from introdet.features.encoder import ClipEncoder, encoder_from_identity

    enc = {k: v for k, v in keys.items() if v is not None and k != "_target_"}
    if identity is None and (shard_dir / MANIFEST).is_file():
        # the CLIP baseline needs features, not a model: reuse the cache's encoder
        identity = check_consistent(read_manifest(shard_dir).values(), where=str(shard_dir))
    if identity is not None:
        enc.pop("model_name", None)  # the recorded encoder decides
        return encoder_from_identity(identity, **enc)
    if "model_name" in enc:
        return ClipEncoder(**enc)
    raise ConfigError("method=clip on videos needs encoder.model_name (e.g. encoder=tiny)")


def selected(spec) -> set[str] | None:
    """``only=``: a labels file (its episode ids) or a list of ids; None = every episode."""
    if spec is None:
        return None
    if isinstance(spec, str):
        ann = load_annotations(spec)
        return set(ann.intros) | {e for e, _ in ann.rejected}
    return {str(x) for x in spec}


def wanted(inputs: Inputs) -> set[str] | None:
    """The episode ids this run takes (None: every one): ``only``, and of those the ones in
    the seasons of its ``shard``."""
    only = selected(inputs.only)
    if inputs.shard is None:
        return only
    if (inputs.path / MANIFEST).is_file():
        metas = regroup(read_manifest(inputs.path), None, inputs.series)
        series = {e: m.series for e, m in metas.items()}
    else:
        jobs, _ = video_jobs(inputs.path, only=only, series=inputs.series)
        series = {j.episode: j.series for j in jobs}
    return {e for e, name in series.items()
            if (only is None or e in only) and in_season_shard(name, inputs.shard)}  # fmt: skip


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
Answered = Callable[[Path], Any]  # a video's answer without its sound (its chapters), or None
PRINT_CACHE = ".prints"  # season mode's prints, kept in the output folder between runs


def load_prints(
    inputs: Inputs, cache: Path, scan: PrintScan, answered: Answered | None = None
) -> tuple[list[tuple[VideoJob, EpisodePrints]], Summary, PictureOf, list[tuple[VideoJob, Any]]]:
    """Fingerprints of the episodes of ``inputs`` for season mode (no image encoder): of its
    videos (kept in ``cache`` for re-runs), or stored in its shards; the picture print of an
    episode on demand; and the videos ``answered`` decides without a sound (their answers):
    all those of a series where it answers every one, none of it decoded."""
    src = inputs.path
    if (src / MANIFEST).is_file():
        return (*_stored_prints(inputs, scan), [])
    others: list[Path] = []
    jobs, failed = video_jobs(src, only=wanted(inputs), series=inputs.series, passed_over=others)
    summary = Summary(failed=list(failed), work="fingerprinted")
    summary.pass_over(others, src)
    told = _answered(jobs, answered)
    if told:
        summary.notes.append(f"decided by their own chapters, nothing decoded: {len(told)}")
        jobs = [j for j in jobs if j.episode not in told]
    # kept by key (the path in the library): an id changes when another file takes its name
    kept = {j.episode: cached_prints(cache, j.key, j.source_hash, scan) for j in jobs}
    todo = [j for j in jobs if kept[j.episode] is None]
    ahead = prints_ahead([j.path for j in todo], scan.scan, scan.fraction, scan.tail,
                         inputs.decoders, inputs.processes)  # fmt: skip
    made = {}
    # disable=None: a bar only on a terminal (a log file gets no progress lines)
    bar = tqdm(todo, unit="ep", desc="fingerprint", disable=None if inputs.progress else True)
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
    first = {job.episode: p for job, p in found}
    seen = {(e, pair[0].head): pair[1] for e, pair in kept.items()
            if pair is not None and pair[1] is not None}  # fmt: skip

    def picture(job: VideoJob, prints: EpisodePrints) -> PicturePrint:
        """The pictures over the scan, made once; kept beside the sound for re-runs where that
        is the sound first heard (a wider hearing's are made again)."""
        at = (job.episode, prints.head)
        if at not in seen:
            seen[at] = picture_print(job.path, max_seconds=prints.head)
            if first.get(job.episode) is prints:
                keep_prints(cache, job.key, str(job.path), job.source_hash, prints, scan,
                            seen[at])  # fmt: skip
        return seen[at]

    return found, summary, picture, list(told.values())


WIDER = ".wider"  # in the prints cache: the episodes heard over more than the first scan
Widen = Callable[[VideoJob, bool, bool], EpisodePrints]


def widen(cache: Path, season) -> Widen:
    """An episode heard again over the whole scan (``head``) or tail (``tail``) of
    ``season.*``, kept in ``cache/.wider`` for re-runs."""

    def wider(job: VideoJob, head: bool, tail: bool) -> EpisodePrints:
        scan = PrintScan.wider(season, head, tail)
        kept = cached_prints(cache / WIDER, job.key, job.source_hash, scan)
        if kept is not None:
            return kept[0]
        prints = episode_prints(job.path, scan.scan, scan.fraction, scan.tail)
        keep_prints(cache / WIDER, job.key, str(job.path), job.source_hash, prints, scan)
        return prints

    return wider


def _answered(jobs: list[VideoJob], answered: Answered | None) -> dict[str, tuple[VideoJob, Any]]:
    """episode -> (job, answer) for the series whose every video ``answered`` decides; a
    series stops being asked at its first video it does not (one read for a plain library)."""
    if answered is None:
        return {}
    series: dict[str | None, list[VideoJob]] = {}
    for j in jobs:
        series.setdefault(j.series, []).append(j)
    out = {}
    for members in series.values():
        answers = []
        for j in members:
            answers.append(answered(j.path))
            if answers[-1] is None:
                break
        else:
            out |= {j.episode: (j, a) for j, a in zip(members, answers, strict=True)}
    return out


def _found(
    job: VideoJob, prints: EpisodePrints, found: list, summary: Summary, fresh: bool = True
) -> None:
    """Count one episode's prints: made now (``fresh``), or kept from an earlier run."""
    if prints.audio is None:
        summary.notes.append(f"{job.path}: no sound to hear: its pictures are compared")
    found.append((job, prints))
    if fresh:
        summary.done.append(job.episode)
        summary.seconds += prints.duration
    else:
        summary.skipped.append(job.episode)


def _stored_prints(inputs: Inputs, scan: PrintScan):
    """``load_prints`` of a shard folder: the prints its shards hold."""
    src, only = inputs.path, wanted(inputs)
    metas = {k: v for k, v in read_manifest(src).items() if only is None or k in only}
    metas = regroup(metas, None, inputs.series)
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
