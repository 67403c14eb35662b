"""Per-episode CLIP feature shards: ``<episode>.npy`` float16 [T, D] + a JSON line of metadata each.

Layout of a shard folder::

    <episode>.npy      float16 [T, D], one row per sampled second
    <episode>.json     the episode's manifest entry; written last, so its presence marks the
                       shard complete (an interrupted run leaves at most an orphan .npy)
    manifest.jsonl     every complete entry, one JSON object a line, rebuilt from the .json
                       files after each extraction run (several processes may extract into one
                       folder, each owning different episodes, and need no lock)
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from introdet.atomic import TEMP_SUFFIX, abandoned_temp_files, atomic_save_npy, atomic_write_text
from introdet.errors import ShardError, UnsafeIdError
from introdet.features.identity import encoder_name, same_encoder
from introdet.media.paths import id_path

if TYPE_CHECKING:
    from introdet.media.library import VideoJob
    from introdet.media.sampling import SamplerConfig

log = logging.getLogger(__name__)

MANIFEST = "manifest.jsonl"
ORPHAN_AGE = 60.0  # seconds: an array without metadata this old was left by a killed run


@dataclass
class ShardMeta:
    """One manifest line: where the features came from and how they were made."""

    episode: str  # the video's file stem
    series: str
    source: str  # path of the video
    source_hash: str  # media.library.content_hash(source)
    duration: float  # seconds of video in the file
    n_seconds: int  # rows of the feature array
    fps: float  # samples per second
    start: float  # second of the video where row 0 was sampled
    encoder: dict  # ClipEncoder.identity: model_name, pretrained, embed_dim, random_weights
    extra: dict = field(default_factory=dict)  # e.g. warnings raised while decoding

    @classmethod
    def of_video(
        cls,
        job: VideoJob,
        duration: float,
        n_rows: int,
        sampler: SamplerConfig,
        encoder: dict,
        **extra: object,
    ) -> ShardMeta:
        """The record of ``n_rows`` features sampled from ``job``'s video with ``sampler``."""
        return cls(
            episode=job.episode,
            series=job.series,
            source=str(job.path),
            source_hash=job.source_hash,
            duration=duration,
            n_seconds=n_rows,
            fps=float(sampler.fps),
            start=float(sampler.start),
            encoder=dict(encoder),
            extra={"sampler": asdict(sampler), **extra},
        )

    @property
    def embed_dim(self) -> int:
        return int(self.encoder["embed_dim"])

    @property
    def encoder_name(self) -> str:
        return encoder_name(self.encoder)


def shard_file(shard_dir: str | Path, episode: str, suffix: str) -> Path:
    """``<shard_dir>/<episode><suffix>``; an id with folders (``Show A/Season 1/Episode 1``,
    see ``media/library.py``) nests, and none may climb out of the folder."""
    try:
        return Path(shard_dir) / f"{id_path(episode)}{suffix}"
    except UnsafeIdError as e:
        raise ShardError(f"{shard_dir}: {e}") from e


def write_shard(shard_dir: str | Path, meta: ShardMeta, feats: np.ndarray) -> Path:
    """Write the features, then the metadata that marks them complete."""
    shard_dir = Path(shard_dir)
    feats = np.asarray(feats, dtype=np.float16)
    assert feats.ndim == 2 and feats.shape[1] == meta.embed_dim, (feats.shape, meta.embed_dim)
    meta.n_seconds = int(feats.shape[0])
    path = atomic_save_npy(shard_file(shard_dir, meta.episode, ".npy"), feats)
    write_meta(shard_dir, meta)
    return path


def write_meta(shard_dir: str | Path, meta: ShardMeta) -> Path:
    """The episode's metadata, which marks its shard complete."""
    text = json.dumps(asdict(meta), ensure_ascii=False)
    return atomic_write_text(shard_file(shard_dir, meta.episode, ".json"), text)


def read_meta(path: str | Path) -> ShardMeta:
    path = Path(path)
    try:
        return ShardMeta(**json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError) as e:
        raise ShardError(f"{path}: unreadable shard metadata ({e})") from e


def is_complete(shard_dir: str | Path, episode: str) -> bool:
    return (
        shard_file(shard_dir, episode, ".json").is_file()
        and shard_file(shard_dir, episode, ".npy").is_file()
    )


def _shard_files(d: Path, pattern: str) -> list[Path]:
    """Files matching ``pattern`` in the shard folder and its subfolders (ids with folders),
    hidden folders (logs) left out."""
    return sorted(
        p
        for p in d.rglob(pattern)
        if not any(x.startswith(".") for x in p.relative_to(d).parts[:-1])
    )


def scan_metas(shard_dir: str | Path) -> list[ShardMeta]:
    """Every complete shard in the folder, from the per-episode .json files."""
    d = Path(shard_dir)
    metas = []
    for p in _shard_files(d, "*.json"):
        if p.with_suffix(".npy").is_file():
            metas.append(read_meta(p))
    return metas


def write_manifest(shard_dir: str | Path, metas: Iterable[ShardMeta] | None = None) -> Path:
    """Rebuild manifest.jsonl (atomically) from the complete shards in the folder."""
    metas = scan_metas(shard_dir) if metas is None else list(metas)
    lines = [
        json.dumps(asdict(m), ensure_ascii=False) for m in sorted(metas, key=lambda m: m.episode)
    ]
    return atomic_write_text(Path(shard_dir) / MANIFEST, "".join(line + "\n" for line in lines))


def read_manifest(shard_dir: str | Path) -> dict[str, ShardMeta]:
    """episode -> metadata, from manifest.jsonl (or the .json files when it is missing)."""
    d = Path(shard_dir)
    if not d.is_dir():
        raise ShardError(f"{d}: shard folder does not exist (run `python -m introdet.extract`)")
    path = d / MANIFEST
    if not path.is_file():
        metas = scan_metas(d)
    else:
        metas = []
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                metas.append(ShardMeta(**json.loads(line)))
            except (ValueError, TypeError) as e:
                raise ShardError(f"{path}:{i}: bad manifest line ({e})") from e
    safe = []
    for m in metas:
        try:
            id_path(m.episode)
        except UnsafeIdError as e:  # one bad line must not cost the good episodes
            log.error("%s: %s: shard skipped", path, e)
            continue
        safe.append(m)
    if not safe:
        raise ShardError(f"{d}: no complete feature shards found")
    return {m.episode: m for m in safe}


def check_consistent(
    metas: Iterable[ShardMeta],
    embed_dim: int | None = None,
    fps: float | None = None,
    encoder: dict | str | None = None,
    where: str = "",
) -> dict:
    """Stop with a clear message when shards disagree with each other or with the reader.

    Returns the one encoder identity all shards share.
    """
    metas = list(metas)
    found = {encoder_name(m.encoder) for m in metas}
    if len(found) > 1:
        raise ShardError(f"{where}: shards from different encoders mixed: {sorted(found)}")
    ident = metas[0].encoder
    if embed_dim is not None and ident["embed_dim"] != embed_dim:
        raise ShardError(
            f"{where}: shards have embed_dim {ident['embed_dim']}, config expects {embed_dim}"
        )
    fpss = {float(m.fps) for m in metas}
    if len(fpss) > 1 or (fps is not None and float(fps) not in fpss):
        raise ShardError(f"{where}: shards sampled at fps {sorted(fpss)}, config expects {fps}")
    if encoder is not None:
        want = encoder if isinstance(encoder, str) else encoder_name(encoder)
        if isinstance(encoder, str):
            mixable = encoder == encoder_name(ident)
        else:
            mixable = same_encoder(encoder, ident)
        if not mixable:
            raise ShardError(
                f"{where}: shards come from encoder {encoder_name(ident)}, expected {want}; "
                "re-extract the features or use the matching checkpoint"
            )
    return ident


def load_features(shard_dir: str | Path, episode: str, mmap: bool = True) -> np.ndarray:
    path = shard_file(shard_dir, episode, ".npy")
    try:
        arr = np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise ShardError(f"{path}: unreadable feature shard ({e})") from e
    if arr.ndim != 2:
        raise ShardError(f"{path}: expected a [T, D] array, got shape {arr.shape}")
    return arr


def remove_orphans(shard_dir: str | Path, min_age: float = ORPHAN_AGE) -> list[Path]:
    """Delete arrays with no metadata that are over ``min_age`` seconds old (a run killed
    between the two writes; another job's array is followed by its metadata within
    milliseconds), and temp files whose writer is gone."""
    d = Path(shard_dir)
    gone = []
    now = time.time()
    for p in [*_shard_files(d, "*.npy"), *_shard_files(d, "*.prints.npz")]:
        episode = p.name.removesuffix(".npy").removesuffix(".prints.npz")
        try:
            old = now - p.stat().st_mtime > min_age
        except FileNotFoundError:
            continue
        if old and not (p.parent / f"{episode}.json").is_file():
            p.unlink(missing_ok=True)
            gone.append(p)
    for p in abandoned_temp_files(_shard_files(d, f".*{TEMP_SUFFIX}")):
        p.unlink(missing_ok=True)
        gone.append(p)
    return gone
