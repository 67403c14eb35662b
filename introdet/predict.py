"""``python predict.py``: episodes -> intros (and credits) -> player files.

Without a checkpoint (``method=season``, the default then), what recurs across each season's
episodes decides, from the videos alone. With one (``method=model``), features come from a
shard folder, or are extracted from the videos into a feature cache (or, coarse to fine, from
their keyframes), and the model scores every second; ``method=clip`` scores them by how the
CLIP features recur. Refinement makes the boundaries frame-accurate; the outputs are written
in every asked format.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields, replace
from importlib.metadata import version
from pathlib import Path

from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig, OmegaConf

from introdet.atomic import TEMP_SUFFIX, abandoned_temp_files
from introdet.checks import FLAG, NULL, TEXT, check_values, one_of, whole
from introdet.cli import command, say
from introdet.config import check_nodes
from introdet.detection.detector import Detector, load_detector
from introdet.detection.episodes import Episode, Scoring, refine, score, season_channels
from introdet.detection.postprocess import PostprocessConfig, as_config
from introdet.detection.refine import RefineConfig
from introdet.detection.season import SeasonConfig
from introdet.detection.season_mode import season_mode
from introdet.device import resolve_device
from introdet.errors import ConfigError
from introdet.features.extraction import Summary
from introdet.features.print_store import PrintScan
from introdet.features.shards import check_consistent, encoder_name
from introdet.features.sources import PRINT_CACHE, Features, Inputs, load_episodes
from introdet.media.library import parse_shard
from introdet.media.workers import decoding
from introdet.outputs.records import Outputs, find_previous, output_root, write_outputs

log = logging.getLogger(__name__)

METHODS = ("auto", "model", "season", "clip")


@dataclass(frozen=True)
class Settings:
    """The command's config resolved once: the method decided, the checkpoint read, its tuned
    post-processing and season settings applied (keys given on the command line win)."""

    method: str  # model | season | clip
    inputs: Inputs
    outputs: Outputs
    features: Features
    scoring: Scoring
    postprocess: PostprocessConfig
    season: SeasonConfig
    refine: RefineConfig
    detector: Detector | None = None


def resolve(cfg: DictConfig) -> Settings:
    """``cfg`` as ``Settings``; the checkpoint (``method=model``) is read here, once."""
    method = cfg.method if cfg.method != "auto" else ("model" if cfg.ckpt else "season")
    detector = None
    if method == "model":
        detector = load_detector(cfg.ckpt, cfg.device, cfg.runtime, Path(cfg.out) / "onnx")
    given = _given(cfg)
    work = (*decoding(cfg.decoders, cfg.processes, method == "season"), cfg.progress)
    inputs = Inputs(Path(cfg.input), cfg.only, cfg.series, parse_shard(cfg.shard), *work)
    return Settings(
        method,
        inputs,
        _outputs(cfg),
        Features(OmegaConf.to_object(cfg.sampler), OmegaConf.to_object(cfg.coarse),
                 OmegaConf.to_container(cfg.encoder, resolve=True),
                 Path(cfg.shards) if cfg.shards else None),  # fmt: skip
        Scoring(cfg.stride, cfg.batch_size, cfg.season_channels, cfg.clip_others, cfg.progress),
        _postprocess(cfg, method, detector, given.get("postprocess", set())),
        _season(cfg, detector, given.get("season", set())),
        OmegaConf.to_object(cfg.refine),
        detector,
    )


def _outputs(cfg: DictConfig) -> Outputs:
    return Outputs.checked(cfg.out, cfg.formats, cfg.sidecars, cfg.edl_action, cfg.chapters,
                           cfg.segments)  # fmt: skip


def _given(cfg: DictConfig) -> dict[str, set[str]]:
    """The keys of each group set on the command line (``postprocess.threshold=0.6``)."""
    try:
        task = HydraConfig.get().overrides.task
    except ValueError:  # composed without @hydra.main (tests, library use): none given
        return {}
    found: dict[str, set[str]] = {}
    for key in (o.split("=", 1)[0].lstrip("+~") for o in task):
        group, _, name = key.partition(".")
        if name:
            found.setdefault(group, set()).add(name)
    return found


def _postprocess(cfg: DictConfig, method: str, detector: Detector | None, given: set[str]
                 ) -> PostprocessConfig:  # fmt: skip
    """``postprocess.*``, or the parameters the checkpoint's run tuned on its validation
    episodes (``tuned_postprocess=true``), with the keys given on the command line."""
    tuned = None
    if method == "model" and cfg.tuned_postprocess:
        tuned = detector.postprocess
        old = Path(cfg.ckpt).resolve().parent.parent / "postprocess.json"
        if tuned is None and old.is_file():
            log.info("%s: an older checkpoint, without its tuned post-processing: read from %s",
                     cfg.ckpt, old)  # fmt: skip
            tuned = json.loads(old.read_text())
    if tuned is None:
        return as_config(OmegaConf.to_object(cfg.postprocess))
    log.info("post-processing tuned on the run's validation episodes%s",
             f", with {sorted(given)} from the command line" if given else "")  # fmt: skip
    return as_config(tuned | {k: cfg.postprocess[k] for k in given if k in cfg.postprocess})


def _season(cfg: DictConfig, detector: Detector | None, given: set[str]) -> SeasonConfig:
    """``season.*``; for a model that takes season channels, the settings it learned them
    with, each key given otherwise on the command line named in a warning."""
    asked = OmegaConf.to_object(cfg.season)
    learned = detector.season if detector is not None and detector.recurrence == "season" else None
    if learned is None:
        return asked
    known = {f.name for f in fields(SeasonConfig)}
    saved = SeasonConfig(**{k: v for k, v in learned.items() if k in known})
    for k in sorted(given & known):
        if getattr(asked, k) != getattr(saved, k):
            log.warning("%s learned its season channels with season.%s=%s; this run computes "
                        "them with %s: its scores may suffer", cfg.ckpt, k, getattr(saved, k),
                        getattr(asked, k))  # fmt: skip
    return replace(saved, **{k: getattr(asked, k) for k in given & known})


PREDICT_RULES = {
    "input": TEXT, "out": TEXT, "ckpt": TEXT | NULL, "shard": TEXT | NULL,
    "method": one_of(*METHODS), "runtime": one_of("torch", "onnx"),
    "season_channels": one_of("auto", "off"), "chapters": one_of("none", "apply"),
    "stride": whole(1, 3600), "batch_size": whole(1, 65536), "decoders": whole(1, 64) | NULL,
    "clip_others": whole(1, 1000), "processes": FLAG | NULL,
    "sidecars": FLAG, "tuned_postprocess": FLAG, "progress": FLAG,
}  # fmt: skip


def check(cfg: DictConfig) -> None:
    """Settings that cannot work stop the run before any decoding."""
    check_values("", cfg, PREDICT_RULES)
    check_nodes(cfg)
    parse_shard(cfg.shard)
    if cfg.method == "model" and not cfg.ckpt:
        raise ConfigError("method=model needs ckpt= (method=season needs no training)")
    _outputs(cfg)
    if cfg.ckpt:  # a model runs there (season mode needs no device, nor torch: 1.5 s)
        resolve_device(cfg.device)


def scored_episodes(s: Settings) -> tuple[list[Episode], Summary]:
    """Features (extracted, cached or coarse to fine), then the model or the CLIP recurrence
    baseline on them."""
    detector = s.detector
    prints = PrintScan.of(s.season) if detector and detector.recurrence == "season" else None
    source = load_episodes(s.inputs, s.features, s.outputs.out,
                           detector.encoder if detector else None, prints)  # fmt: skip
    episodes = [Episode(m, f) for m, f in source.episodes]
    if not episodes:
        return [], source.summary
    ident = check_consistent([e.meta for e in episodes], where=str(s.inputs.path))
    if ident.get("random_weights"):
        log.warning("features from %s: RANDOM encoder weights (demo/test only)",
                    encoder_name(ident))  # fmt: skip

    def channels(idx: list[int]) -> list:
        return season_channels(episodes, source.shard_dir, s.season, idx)

    score(episodes, detector, s.scoring, s.postprocess, channels)
    if source.fine_pass is not None:
        for e in episodes:
            e.feats, e.coarse_to_fine = source.fine_pass(e.meta.episode, e.intro)
        score(episodes, detector, s.scoring, s.postprocess)
    for e in episodes:
        e.encoder = encoder_name(ident)
    return episodes, source.summary


def provenance(s: Settings) -> dict:
    """What made a record: introdet's version, the method, the checkpoint (path and content
    hash), and the settings actually used (post-processing, scan, refinement)."""
    d, season = s.detector, s.method == "season"
    return {
        "introdet": version("introdet"),
        "method": s.method,
        "checkpoint": {"path": str(d.path.resolve()), "sha256": d.sha256} if d else None,
        "postprocess": None if season else asdict(s.postprocess),
        "sampler": None if season else asdict(s.features.sampler),
        "refine": asdict(s.refine),
    }


def predict(cfg: DictConfig) -> int:
    """Exit code 0: every episode predicted; 1: some input failed (each named) or none found."""
    check(cfg)
    s = resolve(cfg)
    out = s.outputs.out
    out.mkdir(parents=True, exist_ok=True)
    for tmp in abandoned_temp_files(out.rglob(f".*{TEMP_SUFFIX}")):  # of a killed run
        tmp.unlink(missing_ok=True)
    if s.method == "season":
        episodes, summary = season_mode(s.inputs, out / PRINT_CACHE, s.season)
    else:
        episodes, summary = scored_episodes(s)
    if not episodes:
        say(summary.format())
        if s.inputs.shard and not summary.failed:  # another job's share holds every season
            say(f"{s.inputs.path}: shard {cfg.shard} holds none of its seasons")
            return 0
        log.warning("%s: no episode to predict", s.inputs.path)
        return 1
    find_previous(episodes, s.outputs.layout, output_root(s.inputs.path, episodes))
    if s.refine.enabled:
        refine(episodes, s.refine, s.inputs.progress)
    records = write_outputs(episodes, s.outputs, provenance(s), asdict(s.season), s.inputs.shard,
                            summary.failed, s.inputs.path)  # fmt: skip
    found = sum(r["intro"] is not None for r in records)
    modes = ", ".join(sorted({e.mode for e in episodes}))
    say(summary.format())
    say(f"predicted {len(records)} episodes ({modes} mode): {found} with an intro -> {out}")
    return 1 if summary.failed else 0


# the names of 0.1, taken with a warning
RENAMES = {
    "recurring.": "season.",
    "season=auto": "season_channels=auto",
    "season=off": "season_channels=off",
    "max_others": "clip_others",
    "method=recurrence": "method=clip",
}
# console script introdet-predict, and python predict.py
main = command("predict", RENAMES)(predict)

if __name__ == "__main__":
    main()
