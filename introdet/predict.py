"""Checkpoint + episodes -> per-second probabilities -> intro segments -> player files."""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from introdet.cli import command
from introdet.detection.postprocess import PostprocessConfig, Segment, as_config, to_segments
from introdet.detection.windows import stitch_windows, tile_starts
from introdet.features.coarse import CoarseConfig, CoarseFeatures
from introdet.features.shards import (
    MANIFEST,
    ShardMeta,
    check_consistent,
    encoder_name,
    load_features,
    read_manifest,
)
from introdet.outputs.export import episode_record, write_csv, write_episode
from introdet.training.annotations import series_key

log = logging.getLogger(__name__)


@dataclass
class Episode:
    meta: ShardMeta
    feats: np.ndarray  # [T, D] float16
    probs: np.ndarray | None = None  # [T]
    mode: str = "single"  # single | season | recurrence
    intro: Segment | None = None
    extra: dict = field(default_factory=dict)
    coarse: CoarseFeatures | None = None  # coarse-to-fine: keyframe rows, some made exact


def load_detector(
    ckpt: str | Path, device: str = "cpu", runtime: str = "torch", cache: Path | None = None
):
    """The temporal model: a Lightning checkpoint (runtime=torch), or ONNX (runtime=onnx: an
    exported .onnx file, or a checkpoint exported once into ``cache``)."""
    from introdet.training.module import load_detector as load_checkpoint

    path = Path(ckpt)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found (ckpt=)")
    if runtime == "onnx" or path.suffix == ".onnx":
        from introdet.detection.onnx_runtime import OnnxDetector, export_detector

        if path.suffix != ".onnx":
            onnx_path = (cache or path.parent) / f"{path.stem}.onnx"
            if not onnx_path.is_file() or onnx_path.stat().st_mtime < path.stat().st_mtime:
                export_detector(path, onnx_path)
            path = onnx_path
        return OnnxDetector(path)
    if runtime != "torch":
        raise ValueError(f"runtime must be 'torch' or 'onnx', got {runtime!r}")
    return load_checkpoint(path, device)


def group_by_series(episodes: Sequence[Episode]) -> dict[str, list[Episode]]:
    groups: dict[str, list[Episode]] = {}
    for ep in sorted(episodes, key=lambda e: e.meta.episode):  # broadcast order, roughly
        groups.setdefault(series_key(ep.meta.series), []).append(ep)
    return groups


def season_inputs(episodes: Sequence[Episode], max_others: int = 8, enabled: bool = True) -> None:
    """Append recurrence channels: from the other episodes of the series when there are any,
    else the 'no information' rows (single-episode mode)."""
    from introdet.detection.recurrence import add_season_channels

    for group in group_by_series(episodes).values():
        season = enabled and len(group) > 1
        feats = add_season_channels([e.feats for e in group], max_others, season)
        for e, f in zip(group, feats, strict=True):
            e.feats, e.mode = f, ("season" if season else "single")
        if season:
            log.info(
                "season mode: series %r, %d episodes compared with each other",
                group[0].meta.series,
                len(group),
            )


@torch.inference_mode()
def window_probabilities(
    model, episodes: Sequence[Episode], stride: int = 30, batch_size: int = 64
) -> None:
    """Tile every episode with overlapping windows, batch windows across episodes, average."""
    W = model.hparams.window
    device = next(model.parameters()).device
    index = [
        (i, s) for i, e in enumerate(episodes) for s in tile_starts(len(e.feats), W, min(stride, W))
    ]
    outs = {i: [] for i in range(len(episodes))}
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    b = 0
    while b < len(index):
        chunk = index[b : b + batch_size]
        F = episodes[0].feats.shape[1]
        x = np.zeros((len(chunk), W, F), np.float32)  # [B, W, F]
        mask = np.zeros((len(chunk), W), bool)  # True = a real second
        for j, (i, s) in enumerate(chunk):
            part = episodes[i].feats[s : s + W]
            x[j, : len(part)], mask[j, : len(part)] = part, True
        try:
            with autocast:
                logits = model(torch.from_numpy(x).to(device), torch.from_numpy(mask).to(device))
        except torch.OutOfMemoryError as e:
            if batch_size == 1:
                raise ValueError("out of GPU memory even at batch_size=1: use device=cpu") from e
            batch_size //= 2  # a shared GPU lost memory: smaller batches, same result
            torch.cuda.empty_cache()
            log.warning("out of GPU memory: window batch size halved to %d", batch_size)
            continue
        probs = torch.sigmoid(logits.float()).cpu().numpy()  # [B, W]
        for j, (i, s) in enumerate(chunk):
            outs[i].append((s, probs[j], mask[j]))
        b += len(chunk)
    for i, e in enumerate(episodes):
        starts = [s for s, _, _ in outs[i]]
        e.probs = stitch_windows(
            np.stack([p for _, p, _ in outs[i]]),
            starts,
            len(e.feats),
            np.stack([m for _, _, m in outs[i]]),
        )


def recurrence_probabilities(episodes: Sequence[Episode], max_others: int = 8) -> None:
    """The training-free baseline: the longest consistent recurring run of a series."""
    from introdet.detection.recurrence import recurrence_scores

    for group in group_by_series(episodes).values():
        scores = recurrence_scores([e.feats for e in group], max_others=max_others)
        for e, s in zip(group, scores, strict=True):
            e.probs, e.mode = np.asarray(s, dtype=np.float64), "recurrence"


def segments(episodes: Sequence[Episode], cfg: PostprocessConfig | Mapping | None) -> None:
    cfg = as_config(cfg)
    for e in episodes:
        e.intro = None  # scored again (coarse to fine): nothing of the last pass stays
        e.extra.pop("other_intros", None)
        segs = to_segments(e.probs, cfg)
        if segs:
            s = segs[0]  # best run, or the first of several with keep="all"
            offset = e.meta.start  # row 0 was sampled this many seconds into the video
            e.intro = Segment(s.start + offset, min(s.end + offset, e.meta.duration), s.score)
            if len(segs) > 1:
                e.extra["other_intros"] = [
                    [x.start + offset, x.end + offset, x.score] for x in segs[1:]
                ]


def write_outputs(
    episodes: Sequence[Episode], out: Path, formats: Sequence[str], encoder: str
) -> list[dict]:
    records = []
    for e in episodes:
        rec = episode_record(
            e.meta.episode,
            e.meta.source,
            e.meta.duration,
            e.meta.fps,
            encoder,
            e.intro,
            e.probs.tolist(),
            intro_extra=(e.extra.pop("intro_extra", None) if e.intro else None),
            mode=e.mode,
            series=e.meta.series,
            **e.extra,
        )
        write_episode(rec, out, formats)
        records.append(rec)
    write_csv(records, out / "intros.csv")
    return records


def _features(cfg, identity: dict | None, out: Path):
    """Shards for the input: read them when input is a shard folder, else extract (cached)."""
    from introdet.extract import Summary, extract

    src = Path(cfg.input)
    only = _only(cfg.get("only"))
    if (src / MANIFEST).is_file():
        metas = read_manifest(src)
        if only is not None:
            metas = {k: v for k, v in metas.items() if k in only}
        if identity is not None:
            check_consistent(metas.values(), encoder=identity, where=str(src))
        return src, metas, Summary()
    from omegaconf import OmegaConf

    shard_dir = _shard_dir(cfg, out)
    encoder = _encoder(cfg, identity, shard_dir)
    sampler = OmegaConf.to_container(cfg.sampler, resolve=True)
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
    )
    metas = read_manifest(shard_dir) if (shard_dir / MANIFEST).is_file() else {}
    # only the episodes of this input: the cache may hold others
    wanted = set(summary.done) | set(summary.skipped)
    return shard_dir, {k: v for k, v in metas.items() if k in wanted}, summary


def _encoder(cfg, identity: dict | None, shard_dir: Path):
    """The image encoder: the checkpoint's, else the feature cache's, else ``encoder.*``."""
    from omegaconf import OmegaConf

    from introdet.features.encoder import ClipEncoder, encoder_from_identity

    enc_cfg = {
        k: v for k, v in OmegaConf.to_container(cfg.encoder, resolve=True).items() if v is not None
    }
    if identity is None and (shard_dir / MANIFEST).is_file():
        # the recurrence baseline needs features, not a model: reuse the cache's encoder
        identity = check_consistent(read_manifest(shard_dir).values(), where=str(shard_dir))
    if identity is not None:
        enc_cfg.pop("model_name", None)  # the recorded encoder decides
        return encoder_from_identity(identity, **enc_cfg)
    if "model_name" in enc_cfg:
        return ClipEncoder(**enc_cfg)
    raise ValueError("method=recurrence on videos needs encoder.model_name (e.g. ViT-B-32)")


def _coarse_episodes(cfg, identity: dict | None, out: Path, ccfg: CoarseConfig, sampler: dict):
    """Episodes with keyframe features (coarse-to-fine), straight from the videos: no cache,
    since such features must never pass for exact ones. Returns (episodes, summary, encoder)."""
    from functools import partial

    from introdet.extract import Summary, video_jobs
    from introdet.features.coarse import embed_samples, keyframe_samples
    from introdet.media.workers import run_ahead

    src = Path(cfg.input)
    if (src / MANIFEST).is_file():
        raise ValueError(f"{src}: coarse.enabled=true needs videos as input, not a shard folder")
    encoder = _encoder(cfg, identity, _shard_dir(cfg, out))
    summary, episodes = Summary(), []
    jobs = video_jobs(src, summary, only=_only(cfg.get("only")), series=cfg.series)
    decode = partial(
        keyframe_samples, size=encoder.image_size, sampler=sampler, max_gap=ccfg.max_gap
    )
    decoded = run_ahead([job.path for job in jobs], decode, cfg.decoders, cfg.processes)
    for job, (_, res) in zip(jobs, decoded, strict=True):
        if isinstance(res, Exception):
            summary.fail(job.path, res)
            continue
        c = embed_samples(res, encoder.embed, ccfg.step)
        meta = ShardMeta(
            episode=job.episode,
            series=job.series,
            source=str(job.path),
            source_hash=job.source_hash,
            duration=c.info.duration,
            n_seconds=len(c.feats),
            fps=float(sampler.get("fps", 1.0)),
            start=float(sampler.get("start", 0.0)),
            encoder=dict(encoder.identity),
            extra={"sampler": sampler, "coarse": True},
        )
        episodes.append(Episode(meta, c.feats, coarse=c))
        summary.done.append(job.episode)
        summary.seconds += len(c.feats) / meta.fps
    return episodes, summary, encoder


def _shard_dir(cfg, out: Path) -> Path:
    """The feature cache: ``shards=``, else ``<out>/shards``."""
    return Path(cfg.shards) if cfg.shards else out / "shards"


def _fine_pass(episodes: Sequence[Episode], encoder, sampler: dict, ccfg: CoarseConfig) -> None:
    """Sample each coarse intro (and ``margin`` around it) exactly; report what was done."""
    from introdet.features.coarse import fine_rows, sample_exact

    for e in episodes:
        c = e.coarse
        info = {"keyframes": len(c.key_times), "coarse_intro": None, "exact_rows": None}
        if c.exact.all():  # keyframes too sparse: sampled exactly already, scored already
            info["exact_rows"] = [0, len(c.exact) - 1]
        elif e.intro is not None:
            info["coarse_intro"] = [round(e.intro.start, 3), round(e.intro.end, 3)]
            rows = fine_rows(c, e.intro.start, e.intro.end, sampler, ccfg.margin)
            try:
                sample_exact(e.meta.source, c, rows, encoder.embed, encoder.image_size, sampler)
            except ValueError as err:  # a file that seeks badly keeps its coarse result
                log.warning(
                    "%s: exact sampling failed (%s); coarse result kept", e.meta.source, err
                )
            info["exact_rows"] = (
                [int(x) for x in np.flatnonzero(c.exact)[[0, -1]]] if c.exact.any() else None
            )
        e.feats = c.feats  # without the season channels the first scoring appended
        e.extra["coarse_to_fine"] = info


def _score(episodes: Sequence[Episode], model, cfg) -> None:
    """Probabilities (model or recurrence baseline) and then intro segments, in place."""
    if model is None:
        recurrence_probabilities(episodes, cfg.max_others)
    else:
        if model.hparams.recurrence:
            season_inputs(episodes, cfg.max_others, enabled=cfg.season != "off")
        elif cfg.season == "auto" and any(len(g) > 1 for g in group_by_series(episodes).values()):
            log.info("the checkpoint was trained without season features: single-episode mode")
        window_probabilities(model, episodes, cfg.stride, cfg.batch_size)
    segments(episodes, _postprocess_config(cfg))


def _only(spec) -> set[str] | None:
    """``only=``: a labels file (its episode ids) or a list of ids; None = every episode."""
    if spec is None:
        return None
    if isinstance(spec, str):
        from introdet.training.annotations import load_annotations

        ann = load_annotations(spec)
        return set(ann.intros) | {e for e, _ in ann.rejected}
    return {str(x) for x in spec}


def _postprocess_config(cfg) -> PostprocessConfig:
    """The run's tuned parameters (postprocess.json beside checkpoints/) when asked for."""
    import json

    from omegaconf import OmegaConf

    base = as_config(OmegaConf.to_container(cfg.postprocess, resolve=True))
    if cfg.get("tuned_postprocess") and cfg.ckpt and cfg.method == "model":
        path = Path(cfg.ckpt).resolve().parent.parent / "postprocess.json"
        if path.is_file():
            log.info("post-processing tuned on validation episodes: %s", path)
            return as_config(json.loads(path.read_text()))
    return base


def predict(cfg) -> int:
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    for tmp in out.glob(".*.tmp"):  # unfinished atomic writes of a killed run: never read
        tmp.unlink(missing_ok=True)
    model = None
    identity = None
    if cfg.method == "model":
        if not cfg.ckpt:
            raise ValueError(
                "ckpt= is required (or method=recurrence for the training-free baseline)"
            )
        model = load_detector(cfg.ckpt, cfg.device, cfg.get("runtime", "torch"), out / "onnx")
        identity = model.hparams.encoder
    elif cfg.method != "recurrence":
        raise ValueError(f"method must be 'model' or 'recurrence', got {cfg.method!r}")
    ccfg = CoarseConfig(**(cfg.get("coarse") or {}))
    if ccfg.enabled:
        from omegaconf import OmegaConf

        sampler = OmegaConf.to_container(cfg.sampler, resolve=True)
        episodes, summary, encoder = _coarse_episodes(cfg, identity, out, ccfg, sampler)
        metas = {e.meta.episode: e.meta for e in episodes}
    else:
        shard_dir, metas, summary = _features(cfg, identity, out)
    if not metas:
        print(summary.format())
        print("no episode to predict")
        return 1
    ident = check_consistent(metas.values(), where=str(cfg.input if ccfg.enabled else shard_dir))
    if ident.get("random_weights"):
        log.warning(
            "features from %s: RANDOM encoder weights (demo/test only)", encoder_name(ident)
        )
    if not ccfg.enabled:
        episodes = [
            Episode(m, load_features(shard_dir, e, mmap=False)) for e, m in sorted(metas.items())
        ]
    _score(episodes, model, cfg)
    if ccfg.enabled:
        _fine_pass(episodes, encoder, sampler, ccfg)
        _score(episodes, model, cfg)
    if cfg.refine.enabled:
        refine(episodes, {k: v for k, v in cfg.refine.items() if k != "enabled"})
    modes = {e.mode for e in episodes}
    records = write_outputs(episodes, out, list(cfg.formats), encoder_name(ident))
    found = sum(r["intro"] is not None for r in records)
    print(summary.format())
    print(
        f"predicted {len(records)} episodes ({', '.join(sorted(modes))} mode): "
        f"{found} with an intro -> {out}"
    )
    return 1 if summary.failed else 0


def refine(episodes: Sequence[Episode], cfg: Mapping | None = None) -> None:
    """Frame-exact boundaries from a few seconds of full-rate video around each 1-fps one."""
    from introdet.detection.refine import RefineConfig, refine_episode

    rcfg = RefineConfig(**dict(cfg or {}))
    for e in episodes:
        if e.intro is not None:
            e.intro, extra = refine_episode(e.meta.source, e.intro, rcfg)
            e.extra["intro_extra"] = extra
            if extra.get("video_fps"):
                e.extra["video_fps"] = extra["video_fps"]  # boundary errors in frames


main = command("predict")(predict)  # console script introdet-predict, and python predict.py


if __name__ == "__main__":
    main()
