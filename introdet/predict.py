"""``python predict.py``: episodes -> intros (and credits) -> player files.

Without a checkpoint (``method=season``, the default then), what recurs in the sound of each
season decides, from the videos alone. With one (``method=model``), features come from a shard
folder, or are extracted from the videos into a feature cache (or, coarse to fine, from their
keyframes), and the model scores every second; ``method=recurrence`` scores them by the
recurrence of the CLIP features. Refinement makes the boundaries frame-accurate; the outputs
are written in every asked format.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from omegaconf import DictConfig, OmegaConf

from introdet.cli import command
from introdet.detection.channels import Rows, season_evidence, snap_to_season
from introdet.detection.detector import Detector, load_detector
from introdet.detection.postprocess import PostprocessConfig, Segment, as_config
from introdet.detection.refine import RefineConfig, refine_episode
from introdet.detection.scoring import (
    group_by_series,
    intro_of,
    model_probabilities,
    recurrence_probabilities,
)
from introdet.detection.season import SeasonEpisode, decide, season_links
from introdet.errors import ConfigError
from introdet.extract import Summary
from introdet.features.fingerprints import EpisodePrints, PicturePrint
from introdet.features.print_store import PrintScan
from introdet.features.shards import ShardMeta, check_consistent, encoder_name
from introdet.features.sources import PictureOf, load_episodes, load_prints, season_prints
from introdet.media.library import VideoJob
from introdet.outputs.export import episode_record, write_csv, write_episode

log = logging.getLogger(__name__)

METHODS = ("auto", "model", "season", "recurrence")


@dataclass
class Episode:
    meta: ShardMeta
    feats: np.ndarray  # [T, D] float16
    probs: np.ndarray | None = None  # [T]
    mode: str = "single"  # single | season | recurrence
    intro: Segment | None = None
    encoder: str = "none (season mode: sound)"  # what made the features, for the record
    extra: dict = field(default_factory=dict)  # more fields of the episode's record
    season: SeasonEpisode | None = None  # season mode's findings, when its channels were used


def score(
    episodes: Sequence[Episode],
    detector: Detector | None,
    cfg: DictConfig,
    shard_dir: Path | None = None,
) -> None:
    """Probabilities (the model, or the recurrence baseline without one), then intros."""
    feats = [e.feats for e in episodes]
    groups = group_by_series([e.meta.series for e in episodes], [e.meta.episode for e in episodes])
    if detector is None:
        probs = recurrence_probabilities(feats, groups, cfg.max_others)
        modes = ["recurrence"] * len(episodes)
    else:
        channels = partial(season_channels, episodes, shard_dir, cfg)
        probs, modes = model_probabilities(
            detector, feats, groups, cfg.stride, cfg.batch_size, cfg.season, cfg.max_others,
            channels,
        )  # fmt: skip
    post = postprocess_config(cfg)
    for e, p, m in zip(episodes, probs, modes, strict=True):
        e.probs, e.mode = p, m
        find_intro(e, post)
        if e.season is not None:
            e.intro = snap_to_season(e.intro, e.season.intro)
            _season_record(e, e.season)


def season_channels(
    episodes: Sequence[Episode], shard_dir: Path | None, cfg: DictConfig, idx: list[int]
) -> list[np.ndarray]:
    """Season channels of the episodes ``idx`` of one series; their findings go on them."""
    scfg = OmegaConf.to_object(cfg.recurring)
    metas = [episodes[i].meta for i in idx]
    prints, picture_of = season_prints(metas, shard_dir, PrintScan.of(scfg))
    rows = [Rows(m.start, m.fps, len(episodes[i].feats)) for m, i in zip(metas, idx, strict=True)]
    evidence = season_evidence(prints, picture_of, rows, scfg)
    for i, r in zip(idx, evidence.results, strict=True):
        episodes[i].season = r
    return evidence.channels


def _season_record(e: Episode, r: SeasonEpisode) -> None:
    e.extra["season"] = r.evidence
    if r.credits is not None:
        e.extra["credits"] = [round(r.credits.start, 3), round(r.credits.end, 3)]


def find_intro(e: Episode, post: PostprocessConfig) -> None:
    """The intro of ``e.probs``; a second scoring (coarse to fine) leaves nothing stale."""
    e.intro, others = intro_of(e.probs, e.meta.start, e.meta.duration, post)
    e.extra.pop("other_intros", None)
    if others:
        e.extra["other_intros"] = others


def postprocess_config(cfg: DictConfig) -> PostprocessConfig:
    """``postprocess.*``, or the run's parameters tuned on validation (postprocess.json beside
    the checkpoints/ folder) when ``tuned_postprocess`` and a checkpoint are given."""
    if cfg.tuned_postprocess and cfg.ckpt and cfg.method == "model":
        path = Path(cfg.ckpt).resolve().parent.parent / "postprocess.json"
        if path.is_file():
            log.info("post-processing tuned on validation episodes: %s", path)
            return as_config(json.loads(path.read_text()))
    return as_config(OmegaConf.to_object(cfg.postprocess))


def refine(episodes: Sequence[Episode], rcfg: RefineConfig) -> None:
    """Frame-exact boundaries from a few seconds of full-rate video around each 1-fps one."""
    for e in episodes:
        if e.intro is not None:
            e.intro, extra = refine_episode(e.meta.source, e.intro, rcfg)
            e.extra["intro_extra"] = extra
            if extra.get("video_fps"):
                e.extra["video_fps"] = extra["video_fps"]  # boundary errors in frames


def write_outputs(episodes: Sequence[Episode], out: Path, formats: Sequence[str]) -> list[dict]:
    records = []
    for e in episodes:
        extra = dict(e.extra)
        intro_extra = extra.pop("intro_extra", None)
        rec = episode_record(
            e.meta.episode,
            e.meta.source,
            e.meta.duration,
            e.meta.fps,
            e.encoder,
            e.intro,
            e.probs.tolist(),
            intro_extra=intro_extra if e.intro else None,
            mode=e.mode,
            series=e.meta.series,
            **extra,
        )
        write_episode(rec, out, formats)
        records.append(rec)
    write_csv(records, out / "intros.csv")
    return records


def check(cfg: DictConfig) -> None:
    """Settings that cannot work stop the run before any decoding."""
    if cfg.method not in METHODS:
        raise ConfigError(f"method must be one of {list(METHODS)}, got {cfg.method!r}")
    if cfg.method == "model" and not cfg.ckpt:
        raise ConfigError("method=model needs ckpt= (method=season needs no training)")
    for key in ("stride", "batch_size", "max_others"):
        if cfg[key] < 1:
            raise ConfigError(f"{key} must be >= 1, got {cfg[key]}")
    if cfg.season not in ("auto", "off"):
        raise ConfigError(f"season must be 'auto' or 'off', got {cfg.season!r}")


def season_episodes(cfg: DictConfig) -> tuple[list[Episode], Summary]:
    """Training-free season mode: intros and credits from what recurs in the sound."""
    found, summary, picture = load_prints(cfg)
    scfg = OmegaConf.to_object(cfg.recurring)
    groups = group_by_series([j.series for j, _ in found], [j.episode for j, _ in found])
    episodes = []
    for name, idx in groups.items():
        members = [found[i] for i in idx]
        if len(members) == 1:
            log.warning("%s: the only episode of %r given: season mode needs its season "
                        "(or a checkpoint: ckpt=)", members[0][0].path, name)  # fmt: skip
        pictures = partial(_picture_of, members, picture)
        links = season_links([p for _, p in members], pictures, scfg)
        results = decide(links, [p.duration for _, p in members], scfg)
        for (job, p), r in zip(members, results, strict=True):
            n = math.ceil(p.duration)
            meta = ShardMeta(job.episode, job.series, str(job.path), job.source_hash,
                             p.duration, n, 1.0, 0.0, {})  # fmt: skip
            probs = np.zeros(n)
            if r.intro is not None:
                probs[int(r.intro.start) : math.ceil(r.intro.end)] = 1.0
            e = Episode(meta, np.zeros((n, 0), np.float16), probs, "season", r.intro)
            _season_record(e, r)
            episodes.append(e)
    return episodes, summary


def _picture_of(
    members: Sequence[tuple[VideoJob, EpisodePrints]], picture: PictureOf, k: int
) -> PicturePrint:
    """Pictures of episode k over the same stretch from 0:00 as its sound was heard."""
    return picture(*members[k])


def scored_episodes(cfg: DictConfig, method: str, out: Path) -> tuple[list[Episode], Summary]:
    """Features (extracted, cached or coarse to fine), then the model or the recurrence
    baseline on them."""
    detector = None
    if method == "model":
        detector = load_detector(cfg.ckpt, cfg.device, cfg.runtime, out / "onnx")
    needs_prints = detector is not None and detector.recurrence == "season"
    source = load_episodes(cfg, detector.encoder if detector else None, out, needs_prints)
    episodes = [Episode(m, f) for m, f in source.episodes]
    if not episodes:
        return [], source.summary
    ident = check_consistent([e.meta for e in episodes], where=str(cfg.input))
    if ident.get("random_weights"):
        log.warning(
            "features from %s: RANDOM encoder weights (demo/test only)", encoder_name(ident)
        )
    score(episodes, detector, cfg, source.shard_dir)
    if source.fine_pass is not None:
        for e in episodes:
            e.feats, e.extra["coarse_to_fine"] = source.fine_pass(e.meta.episode, e.intro)
        score(episodes, detector, cfg)
    for e in episodes:
        e.encoder = encoder_name(ident)
    return episodes, source.summary


def predict(cfg: DictConfig) -> int:
    """Exit code 0: every episode predicted; 1: some input failed (each named) or none found."""
    check(cfg)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.glob(".*.tmp"):  # unfinished atomic writes of a killed run: never read
        tmp.unlink(missing_ok=True)
    method = cfg.method
    if method == "auto":
        method = "model" if cfg.ckpt else "season"
    if method == "season":
        episodes, summary = season_episodes(cfg)
    else:
        episodes, summary = scored_episodes(cfg, method, out)
    if not episodes:
        print(summary.format())
        print("no episode to predict")
        return 1
    rcfg = OmegaConf.to_object(cfg.refine)
    if rcfg.enabled:
        refine(episodes, rcfg)
    records = write_outputs(episodes, out, list(cfg.formats))
    found = sum(r["intro"] is not None for r in records)
    modes = ", ".join(sorted({e.mode for e in episodes}))
    print(summary.format())
    print(f"predicted {len(records)} episodes ({modes} mode): {found} with an intro -> {out}")
    return 1 if summary.failed else 0


main = command("predict")(predict)  # console script introdet-predict, and python predict.py

if __name__ == "__main__":
    main()
