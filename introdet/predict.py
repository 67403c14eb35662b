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
from dataclasses import asdict, dataclass, field
from functools import partial
from importlib.metadata import version
from pathlib import Path

import numpy as np
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from introdet.atomic import TEMP_SUFFIX, abandoned_temp_files
from introdet.checks import FLAG, NULL, TEXT, check_values, one_of, whole
from introdet.cli import command
from introdet.config import check_nodes
from introdet.detection.channels import Rows, season_evidence, snap_to_season
from introdet.detection.detector import Detector, file_digest, load_detector
from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.postprocess import PostprocessConfig, Segment, as_config
from introdet.detection.refine import RefineConfig, refine_episode
from introdet.detection.scoring import (
    group_by_series,
    intro_of,
    model_probabilities,
    recurrence_probabilities,
)
from introdet.detection.season import (
    SeasonEpisode,
)
from introdet.device import resolve_device
from introdet.errors import ConfigError, MediaError, OutputWriteError, RecordError
from introdet.extract import Summary
from introdet.features.fingerprints import (
    EpisodePrints,
    PicturePrint,
    picture_print,
)
from introdet.features.print_store import PrintScan, resound_of
from introdet.features.shards import MANIFEST, ShardMeta, check_consistent, encoder_name
from introdet.features.sources import PictureOf, load_episodes, load_prints, season_prints
from introdet.media.library import VideoJob
from introdet.media.paths import relative_key
from introdet.outputs.chapters import apply_chapters
from introdet.outputs.export import (
    FORMATS,
    check_edl_action,
    episode_record,
    read_record,
    write_csv,
    write_files,
)
from introdet.outputs.layout import Layout, common_root

log = logging.getLogger(__name__)

METHODS = ("auto", "model", "season", "recurrence")
ENCODER = "none (season mode: sound)"  # a season-mode record's encoder: no image features
INTRO_KEYS = ("start", "end", "score")  # a record's intro besides what refinement adds


@dataclass
class Episode:
    meta: ShardMeta
    feats: np.ndarray  # [T, D] float16
    probs: np.ndarray | None = None  # [T]
    mode: str = "single"  # single | season | recurrence
    intro: Segment | None = None
    encoder: str = ENCODER  # what made the features, for the record
    extra: dict = field(default_factory=dict)  # more fields of the episode's record
    season: SeasonEpisode | None = None  # season mode's findings, when its channels were used
    key: str = ""  # where its outputs go: its path relative to the input, without suffix
    previous: dict | None = None  # its record from an earlier run over the same file


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
            channels, cfg.progress,
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
    scan = PrintScan.of(scfg)
    prints, picture_of = season_prints(metas, shard_dir, scan)
    rows = [Rows(m.start, m.fps, len(episodes[i].feats)) for m, i in zip(metas, idx, strict=True)]
    resound = resound_of([m.source for m in metas], scan)
    evidence = season_evidence(prints, picture_of, rows, scfg, resound)
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
            given = _given_postprocess(cfg)
            log.info("post-processing of the run (chosen on validation episodes): %s%s", path,
                     f", with {given} from the command line" if given else "")  # fmt: skip
            return as_config(json.loads(path.read_text()) | given)
    return as_config(OmegaConf.to_object(cfg.postprocess))


def _given_postprocess(cfg: DictConfig) -> dict:
    """The ``postprocess.*`` keys set on the command line: they win over tuned ones."""
    try:
        task = HydraConfig.get().overrides.task
    except ValueError:  # composed without @hydra.main (tests, library use): none given
        return {}
    keys = [o.split("=", 1)[0].lstrip("+~") for o in task]
    names = [k.removeprefix("postprocess.") for k in keys if k.startswith("postprocess.")]
    return {k: cfg.postprocess[k] for k in names if k in cfg.postprocess}


def refine(episodes: Sequence[Episode], rcfg: RefineConfig, progress: bool = False) -> None:
    """Frame-exact boundaries from a few seconds of full-rate video around each 1-fps one;
    an intro an earlier run already refined from the same unrefined one is kept, so old
    episodes are not decoded again."""
    for e in tqdm(episodes, unit="ep", desc="refine", disable=not progress):
        if e.intro is None:
            continue
        old = (e.previous or {}).get("intro") or {}
        if (old.get("coarse_start"), old.get("coarse_end")) == (e.intro.start, e.intro.end):
            e.intro = Segment(old["start"], old["end"], e.intro.score)
            e.extra["intro_extra"] = {k: v for k, v in old.items() if k not in INTRO_KEYS}
        else:
            e.intro, e.extra["intro_extra"] = refine_episode(e.meta.source, e.intro, rcfg)
        if e.extra["intro_extra"].get("video_fps"):
            e.extra["video_fps"] = e.extra["intro_extra"]["video_fps"]  # errors in frames


def find_previous(episodes: Sequence[Episode], layout: Layout, root: Path | None) -> None:
    """Each episode's key, and its record of an earlier run over the same file content."""
    for e in episodes:
        e.key = relative_key(Path(e.meta.source), root) if root else e.meta.episode
        path = layout.paths(e.key, e.meta.source, ["json"])["json"]
        try:
            old = read_record(path) if path.is_file() else None
        except RecordError:
            old = None  # damaged or of another schema: written anew
        if old and old.get("source_hash") == e.meta.source_hash:
            e.previous = old


def write_outputs(episodes: Sequence[Episode], cfg: DictConfig, trace: dict) -> list[dict]:
    """Each episode's record in every asked format, where ``cfg.sidecars`` puts them (beside
    the video, or in ``out/`` mirroring the input tree), and ``out/intros.csv``. A record the
    same as the earlier run's is left as it is (its files too, when all are there)."""
    out, records = Path(cfg.out), []
    layout = Layout(out, bool(cfg.sidecars))
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
            key=e.key,
            source_hash=e.meta.source_hash,
            provenance=trace | _season_trace(e, cfg),
            **extra,
        )
        paths = layout.paths(e.key, e.meta.source, ["json", *cfg.formats])
        if rec != e.previous or not all(p.is_file() for p in paths.values()):
            write_files(paths, rec, cfg.edl_action)
        if cfg.chapters == "apply":
            try:
                apply_chapters(Path(e.meta.source), rec, layout.chapters_copy(e.key, e.meta.source))
            except MediaError as err:  # one video's container: the others still get theirs
                log.warning("%s", err)
        records.append(rec)
    try:
        write_csv(records, out / "intros.csv")
    except OSError as e:
        why = f"cannot write {out / 'intros.csv'} ({e.strerror or e})"
        raise OutputWriteError(e.errno, why, str(out / "intros.csv")) from e
    return records


def provenance(cfg: DictConfig, method: str) -> dict:
    """What made a record: introdet's version, the method, the checkpoint (path and content
    hash), and the settings actually used (post-processing, scan, refinement)."""
    ckpt = None
    if method == "model":
        ckpt = {"path": str(Path(cfg.ckpt).resolve()), "sha256": file_digest(cfg.ckpt)}
    post = None if method == "season" else asdict(postprocess_config(cfg))
    sampler = None if method == "season" else OmegaConf.to_container(cfg.sampler, resolve=True)
    return {
        "introdet": version("introdet"),
        "method": method,
        "checkpoint": ckpt,
        "postprocess": post,
        "sampler": sampler,
        "refine": OmegaConf.to_container(cfg.refine, resolve=True),
    }


def _season_trace(e: Episode, cfg: DictConfig) -> dict:
    """Season mode's settings, for a record its findings went into."""
    if e.mode != "season":
        return {}
    return {"season": OmegaConf.to_container(cfg.recurring, resolve=True)}


def output_root(cfg: DictConfig, episodes: Sequence[Episode]) -> Path | None:
    """The folder the outputs mirror: the input's (a shard folder's: its videos' common one)."""
    src = Path(cfg.input)
    if (src / MANIFEST).is_file():
        return common_root([Path(e.meta.source) for e in episodes])
    return src if src.is_dir() else src.parent


PREDICT_RULES = {
    "input": TEXT,
    "out": TEXT,
    "ckpt": TEXT | NULL,
    "sidecars": FLAG,
    "chapters": one_of("none", "apply"),
    "tuned_postprocess": FLAG,
    "runtime": one_of("torch", "onnx"),
    "season": one_of("auto", "off"),
    "stride": whole(1, 3600),
    "batch_size": whole(1, 65536),
    "decoders": whole(1, 64),
    "processes": FLAG,
    "progress": FLAG,
    "max_others": whole(1, 1000),
}


def check(cfg: DictConfig) -> None:
    """Settings that cannot work stop the run before any decoding."""
    check_values("", cfg, {**PREDICT_RULES, "method": one_of(*METHODS)})
    check_nodes(cfg)
    if cfg.method == "model" and not cfg.ckpt:
        raise ConfigError("method=model needs ckpt= (method=season needs no training)")
    unknown = [f for f in cfg.formats if f not in FORMATS]
    if unknown:
        raise ConfigError(f"formats: unknown {unknown}; known: {sorted(FORMATS)}")
    check_edl_action(cfg.edl_action)
    resolve_device(cfg.device)


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
        resound = resound_of([job.path for job, _ in members], PrintScan.of(scfg))
        sources = SeasonSources([p for _, p in members], partial(_picture_of, members, picture),
                                resound, partial(_window, members))  # fmt: skip
        findings = season_findings(sources, scfg)
        for k, first in findings.identical.items():
            why = f"the same content as {members[first][0].path}: decided as one episode"
            summary.warned.append((str(members[k][0].path), why))
        encoder = "none (season mode: sound and pictures)" if findings.pictured else ENCODER
        for (job, p), r in zip(members, findings.results, strict=True):
            n = math.ceil(p.duration)
            meta = ShardMeta(job.episode, job.series, str(job.path), job.source_hash,
                             p.duration, n, 1.0, 0.0, {})  # fmt: skip
            probs = np.zeros(n)
            if r.intro is not None:
                probs[int(r.intro.start) : math.ceil(r.intro.end)] = 1.0
            e = Episode(meta, np.zeros((n, 0), np.float16), probs, "season", r.intro, encoder)
            _season_record(e, r)
            episodes.append(e)
    fresh = set(summary.done)
    again = [name for name, idx in groups.items() if any(found[i][0].episode in fresh for i in idx)]
    summary.notes.append(
        f"seasons decided: {len(groups)}, with new or changed episodes: {len(again)}"
        + (f" ({', '.join(again)})" if again else "")
    )
    return episodes, summary


def _picture_of(
    members: Sequence[tuple[VideoJob, EpisodePrints]], picture: PictureOf, k: int
) -> PicturePrint:
    """Pictures of episode k over the same stretch from 0:00 as its sound was heard."""
    return picture(*members[k])


EDGE_FPS = 8.0  # pictures per second around an intro's edges


def _window(
    members: Sequence[tuple[VideoJob, EpisodePrints]], k: int, t0: float, t1: float
) -> PicturePrint | None:
    """Episode k's pictures from t0 to t1 s (None: its video is not there)."""
    path = members[k][0].path
    return picture_print(path, fps=EDGE_FPS, start=t0, max_seconds=t1 - t0, skip_nonref=True,
                         thumbs=True) if path.is_file() else None  # fmt: skip


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
    for tmp in abandoned_temp_files(out.rglob(f".*{TEMP_SUFFIX}")):  # of a killed run
        tmp.unlink(missing_ok=True)
    method = cfg.method
    if method == "auto":
        method = "model" if cfg.ckpt else "season"
        cfg.method = method  # what every later step asks (the tuned post-processing, the record)
    if method != "season":  # the settings used, read once: every later step takes them from cfg
        cfg.postprocess = asdict(postprocess_config(cfg))
        cfg.tuned_postprocess = False
    if method == "season":
        episodes, summary = season_episodes(cfg)
    else:
        episodes, summary = scored_episodes(cfg, method, out)
    if not episodes:
        print(summary.format())
        log.warning("%s: no episode to predict", cfg.input)
        return 1
    find_previous(episodes, Layout(out, bool(cfg.sidecars)), output_root(cfg, episodes))
    rcfg = OmegaConf.to_object(cfg.refine)
    if rcfg.enabled:
        refine(episodes, rcfg, cfg.progress)
    records = write_outputs(episodes, cfg, provenance(cfg, method))
    found = sum(r["intro"] is not None for r in records)
    modes = ", ".join(sorted({e.mode for e in episodes}))
    print(summary.format())
    print(f"predicted {len(records)} episodes ({modes} mode): {found} with an intro -> {out}")
    return 1 if summary.failed else 0


main = command("predict")(predict)  # console script introdet-predict, and python predict.py

if __name__ == "__main__":
    main()
