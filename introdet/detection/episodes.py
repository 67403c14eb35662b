"""The episodes of one prediction run, from features or fingerprints to their intro, credits
and frame-exact edges: season mode (no training), the model, or the CLIP recurrence baseline.

Each step takes what it uses; an ``Episode`` carries what its record will say.
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from introdet.detection.channels import Rows, season_evidence, snap_to_season
from introdet.detection.chapter_names import ChapterAnswer, by_chapters, with_chapters
from introdet.detection.detector import Detector
from introdet.detection.end_credits import with_end_credits
from introdet.detection.fusion import SeasonFindings, SeasonSources, season_findings
from introdet.detection.postprocess import PostprocessConfig, Segment
from introdet.detection.refine import RefineConfig, refine_episode
from introdet.detection.scoring import (
    group_by_series,
    intro_of,
    model_probabilities,
    recurrence_probabilities,
)
from introdet.detection.season import SeasonConfig, SeasonEpisode
from introdet.detection.season_store import Decision, SeasonStore
from introdet.errors import AudioError, VideoError
from introdet.features.extraction import Summary
from introdet.features.fingerprints import EpisodePrints, PicturePrint, held_picture_print
from introdet.features.print_store import PrintScan, resound_of
from introdet.features.shards import ShardMeta
from introdet.features.sources import PictureOf, Widen, season_prints
from introdet.media.library import VideoJob

log = logging.getLogger(__name__)

SOUND = "none (season mode: sound)"  # a season-mode record's encoder: no image features
SOUND_AND_PICTURES = "none (season mode: sound and pictures)"
CHAPTERS = "none (the video's own chapters)"
INTRO_KEYS = ("start", "end", "score")  # a record's intro besides what refinement adds


@dataclass
class Episode:
    meta: ShardMeta
    feats: np.ndarray  # [T, D] float16
    probs: np.ndarray | None = None  # [T]
    mode: str = "single"  # single | season | clip
    intro: Segment | None = None
    encoder: str = SOUND  # what made the features, for the record
    season: SeasonEpisode | None = None  # season mode's findings, when its channels were used
    other_intros: list[list[float]] = field(default_factory=list)  # postprocess.keep=all
    coarse_to_fine: dict | None = None  # what the keyframe pass did, coarse to fine
    refined: dict = field(default_factory=dict)  # what refinement adds to the intro
    key: str = ""  # where its outputs go: its path relative to the input, without suffix
    previous: dict | None = None  # its record from an earlier run over the same file


@dataclass(frozen=True)
class Scoring:
    """How the model's windows are scored, and the baseline's partners."""

    stride: int = 30  # window stride; overlapping windows are averaged
    batch_size: int = 64
    channels: str = "auto"  # auto: season channels when a series has >= 2 episodes | off
    max_others: int = 8  # episodes each is compared with (the CLIP recurrence baseline)
    progress: bool = False


def score(
    episodes: Sequence[Episode],
    detector: Detector | None,
    how: Scoring,
    post: PostprocessConfig,
    season: Callable[[list[int]], list[np.ndarray]] | None = None,
) -> None:
    """Probabilities (the model, or the recurrence baseline without one), then intros;
    ``season(indices)``: the season channels of those episodes of one series."""
    feats = [e.feats for e in episodes]
    groups = group_by_series([e.meta.series for e in episodes], [e.meta.episode for e in episodes])
    if detector is None:
        probs = recurrence_probabilities(feats, groups, how.max_others)
        modes = ["clip"] * len(episodes)
    else:
        probs, modes = model_probabilities(
            detector, feats, groups, how.stride, how.batch_size, how.channels, how.max_others,
            season, how.progress,
        )  # fmt: skip
    for e, p, m in zip(episodes, probs, modes, strict=True):
        e.probs, e.mode = p, m
        find_intro(e, post)
        if e.season is not None:
            e.intro = snap_to_season(e.intro, e.season.intro)


def find_intro(e: Episode, post: PostprocessConfig) -> None:
    """The intro of ``e.probs``; a second scoring (coarse to fine) leaves nothing stale."""
    e.intro, e.other_intros = intro_of(e.probs, e.meta.start, e.meta.duration, post)


def season_channels(
    episodes: Sequence[Episode], shard_dir: Path | None, cfg: SeasonConfig, idx: list[int]
) -> list[np.ndarray]:
    """Season channels of the episodes ``idx`` of one series; their findings go on them."""
    metas = [episodes[i].meta for i in idx]
    scan = PrintScan.of(cfg)
    prints, picture_of = season_prints(metas, shard_dir, scan)
    rows = [Rows(m.start, m.fps, len(episodes[i].feats)) for m, i in zip(metas, idx, strict=True)]
    resound = resound_of([m.source for m in metas], [scan] * len(metas))
    evidence = season_evidence(prints, picture_of, rows, cfg, resound)
    for i, r in zip(idx, evidence.results, strict=True):
        episodes[i].season = r
    return evidence.channels


def refine(episodes: Sequence[Episode], cfg: RefineConfig, progress: bool = False) -> None:
    """Frame-exact boundaries from a few seconds of full-rate video around each 1-fps one;
    an intro an earlier run already refined from the same unrefined one is kept, so old
    episodes are not decoded again."""
    # disable=None: a bar only on a terminal (a log file gets no progress lines)
    for e in tqdm(episodes, unit="ep", desc="refine", disable=None if progress else True):
        if e.intro is None or by_chapters(e.season):
            continue  # a chapter's edges are the author's
        old = (e.previous or {}).get("intro") or {}
        if (old.get("coarse_start"), old.get("coarse_end")) == (e.intro.start, e.intro.end):
            e.intro = Segment(old["start"], old["end"], e.intro.score)
            e.refined = {k: v for k, v in old.items() if k not in INTRO_KEYS}
        else:
            e.intro, e.refined = refine_episode(e.meta.source, e.intro, cfg)


Found = Sequence[tuple[VideoJob, EpisodePrints]]


def season_episodes(
    found: Found, picture: PictureOf, cfg: SeasonConfig, summary: Summary,
    told: Sequence[tuple[VideoJob, ChapterAnswer]] = (), store: SeasonStore | None = None,
    wider: Widen | None = None,
) -> list[Episode]:  # fmt: skip
    """Training-free season mode: intros and credits from what recurs in each season's sound
    (and pictures, where the sound leaves doubt); ``told``: videos their chapters decide;
    ``store``: decisions of an earlier run, taken where nothing changed, and kept; ``wider``:
    the prints ``found`` are of the first scan, and this hears an episode over more."""
    groups = group_by_series([j.series for j, _ in found], [j.episode for j, _ in found])
    for idx in group_by_series([j.series for j, _ in told], [j.episode for j, _ in told]).values():
        _first_appearance([told[i][0] for i in idx], [told[i][1].found for i in idx])
    episodes = [_season_episode(job, EpisodePrints(a.duration, None), a.found, CHAPTERS)
                for job, a in told]  # fmt: skip
    kept = 0
    for name, idx in groups.items():
        members = [found[i] for i in idx]
        ids = [(str(job.key), str(job.path), job.source_hash) for job, _ in members]
        decision = store.get(name, ids, cfg) if store is not None else None
        kept += decision is not None
        if decision is None:
            decision = _decided(members, picture, cfg, wider)
            if store is not None:
                store.keep(name, ids, cfg, decision)
        summary.warned += decision.warned
        results, encoder = decision.results, decision.encoder
        if len(members) == 1 and results[0].intro is None:
            log.warning("%s: the only episode of %r given: its intro needs its season (or a "
                        "checkpoint: ckpt=), its credits were looked for in its last "
                        "pictures", members[0][0].path, name)  # fmt: skip
        for (job, p), r in zip(members, results, strict=True):
            episodes.append(_season_episode(job, p, r, encoder))
    fresh = set(summary.done)
    again = [name for name, idx in groups.items() if any(found[i][0].episode in fresh for i in idx)]
    summary.notes.append(
        f"seasons decided: {len(groups)}, with new or changed episodes: {len(again)}"
        + (f" ({', '.join(again)})" if again else "")
        + (f"; as the last run decided them: {kept}" if kept else "")
    )
    return episodes


def _decided(
    members: Found, picture: PictureOf, cfg: SeasonConfig, wider: Widen | None = None
) -> Decision:
    """One season decided: what recurs, heard and seen (``wider``: the episodes it leaves
    unexplained heard again over the whole scan, and the season decided again), then each
    episode's chapters and last pictures where the season gives no credits, and the first
    episode its intro plays in."""
    members = list(members)
    scans = [PrintScan.first(cfg) if wider is not None else PrintScan.of(cfg)] * len(members)
    findings = _heard(members, scans, picture, cfg)
    # a lone video has no partner to match more of its sound with (a film's credits come
    # from its pictures)
    lone = len(members) < 2
    more = _unexplained(members, findings.results, cfg) if wider is not None and not lone else {}
    heard_again = False
    for k, (head, tail) in more.items():
        job, prints = members[k]
        try:
            again = wider(job, head, tail)
        except (VideoError, AudioError, OSError) as e:
            log.warning("%s: not heard past its first scan (%s)", job.path, e)
            continue
        if again.audio is not None:
            members[k], scans[k] = (job, again), PrintScan.wider(cfg, head, tail)
            heard_again = True
    if heard_again:  # else the same prints would be decided again
        findings = _heard(members, scans, picture, cfg)
    warned = [(str(members[k][0].path),
               f"the same content as {members[first][0].path}: decided as one episode")
              for k, first in findings.identical.items()]  # fmt: skip
    results = [with_end_credits(job.path, with_chapters(job.path, r)) for (job, _), r in
               zip(members, findings.results, strict=True)]  # fmt: skip
    _first_appearance([job for job, _ in members], results, findings.identical)
    return Decision(results, warned, SOUND_AND_PICTURES if findings.pictured else SOUND)


def _heard(
    members: Found, scans: Sequence[PrintScan], picture: PictureOf, cfg: SeasonConfig
) -> SeasonFindings:
    resound = resound_of([job.path for job, _ in members], scans)
    sources = SeasonSources([p for _, p in members], partial(_picture_of, members, picture),
                            resound, partial(_window, members))  # fmt: skip
    return season_findings(sources, cfg)


# seconds an intro must end (credits start) inside the first scan (tail) to be explained by
# it: a theme cut off where the scan ends matches up to there (within a few codes)
INSIDE = 3.0


def _unexplained(
    members: Found, found: Sequence[SeasonEpisode], cfg: SeasonConfig
) -> dict[int, tuple[bool, bool]]:
    """Episode -> (hear the whole scan, the whole tail): those whose intro does not end well
    inside what was heard of their head, or whose credits do not start well inside their tail,
    where more was asked for."""
    whole = PrintScan.of(cfg)
    out = {}
    for k, ((_, p), r) in enumerate(zip(members, found, strict=True)):
        if p.audio is None or p.head is None:  # no sound, or all of it heard
            continue
        head = p.head < max(whole.scan, whole.fraction * p.duration) and (
            r.intro is None or r.intro.end > p.head - INSIDE)  # fmt: skip
        heard = p.duration - p.tail.start if p.tail is not None else 0.0
        tail = heard + 1.0 < whole.tail and (
            r.credits is None or r.credits.start < p.duration - heard + INSIDE)  # fmt: skip
        if head or tail:
            out[k] = (head, tail)
    return out


def _first_appearance(jobs: Sequence[VideoJob], found: Sequence[SeasonEpisode],
                      copies: dict[int, int] | None = None) -> None:  # fmt: skip
    """Mark the first of a season's episodes whose intro plays, and the first each other
    version of it plays in (a second opening: the episodes its intro recurs in): a player may
    choose not to skip an opening the first time it is heard. Broadcast order is the order of
    the videos' paths, numbers as numbers ("E2" before "E10"), not of their ids: an id is a
    stem or a whole key, as other shows' names make it. ``copies``: an identical copy's place
    -> its original's, marked as its original is."""

    def order(k: int) -> list:
        text = str(jobs[k].key or jobs[k].path)
        return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text)]

    playing = [k for k in sorted(range(len(jobs)), key=order) if found[k].intro is not None]
    firsts = set(playing[:1])
    for k in playing:  # each version of the opening (a second one, later) where it first plays
        version = found[k].intro_with | {k}
        if len(version) > 1:  # not one a file's chapters name alone
            firsts.add(next(j for j in playing if j in version))
    for k in firsts | {k for k, j in (copies or {}).items() if j in firsts}:
        found[k].evidence = found[k].evidence | {"first_appearance": True}


def _season_episode(job: VideoJob, p: EpisodePrints, r: SeasonEpisode, encoder: str) -> Episode:
    n = math.ceil(p.duration)
    meta = ShardMeta(job.episode, job.series, str(job.path), job.source_hash, p.duration, n,
                     1.0, 0.0, {})  # fmt: skip
    probs = np.zeros(n)
    if r.intro is not None:
        probs[int(r.intro.start) : math.ceil(r.intro.end)] = 1.0
    return Episode(meta, np.zeros((n, 0), np.float16), probs, "season", r.intro, encoder, r)


def _picture_of(members: Found, picture: PictureOf, k: int) -> PicturePrint:
    """Pictures of episode k over the same stretch from 0:00 as its sound was heard."""
    return picture(*members[k])


EDGE_FPS = 8.0  # pictures per second around an intro's edges


def _window(members: Found, k: int, t0: float, t1: float) -> PicturePrint | None:
    """Episode k's pictures from t0 to t1 s (None: its video is not there)."""
    path = members[k][0].path
    return held_picture_print(path, EDGE_FPS, t0, t1, thumbs=True) if path.is_file() else None
