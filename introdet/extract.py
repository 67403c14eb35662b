"""Video files -> CLIP feature shards, resumable: ``python -m introdet.extract input=.. out=..``."""

from __future__ import annotations

import logging
import re
import sys
import threading
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from hydra.utils import instantiate
from omegaconf import DictConfig
from tqdm import tqdm

from introdet.cli import command
from introdet.errors import ShardWriteError
from introdet.features.shards import (
    MANIFEST,
    ShardMeta,
    content_hash,
    encoder_name,
    is_complete,
    read_meta,
    remove_orphans,
    write_manifest,
    write_shard,
)
from introdet.media.video import VideoError, frames_per_second, probe
from introdet.media.workers import run_ahead

log = logging.getLogger(__name__)

VIDEO_SUFFIXES = {
    ".mp4",
    ".m4v",
    ".mkv",
    ".webm",
    ".avi",
    ".mov",
    ".ts",
    ".m2ts",
    ".mts",
    ".wmv",
    ".flv",
    ".mpg",
    ".mpeg",
    ".ogv",
    ".3gp",
    # raw elementary streams (demuxed rips): no container, timestamps counted from the frames
    ".h264",
    ".264",
    ".h265",
    ".265",
    ".hevc",
}
_SEASON_DIR = re.compile(r"^(season|сезон|staffel|saison|s)\s*\d+$|^\d+\s*(season|сезон)$", re.I)


def find_videos(root: str | Path) -> list[Path]:
    """Video files under root, sorted; symlinked folders are not followed (no loops).

    Broken links named like videos are listed too, so that the run reports them as failed
    rather than leaving an episode out without a word (an unmounted share, a moved file).
    """
    root = Path(root)
    if root.is_file():
        return [root]
    if not root.is_dir():
        raise FileNotFoundError(f"{root}: no such file or folder (input)")
    found = [
        p
        for p in root.rglob("*")
        if p.suffix.lower() in VIDEO_SUFFIXES and (p.is_file() or _broken_link(p))
    ]
    return sorted(found)


def _broken_link(path: Path) -> bool:
    """A symlink whose target is missing or loops back (exists() follows it and fails)."""
    return path.is_symlink() and not path.exists()


def series_of(path: Path, root: Path) -> str:
    """Library layouts are Series/Season 1/episode.mkv or Series/episode.mkv."""
    parent = path.parent
    if _SEASON_DIR.match(parent.name.strip()) and parent != root:
        parent = parent.parent
    return parent.name or path.stem


def take_shard(paths: list[Path], shard: str | None) -> list[Path]:
    """Files of shard "i/n": by a hash of the file name, so adding files moves no others."""
    if not shard:
        return paths
    try:
        i, n = (int(x) for x in str(shard).split("/"))
        assert 0 <= i < n
    except (ValueError, AssertionError):
        raise ValueError(f"shard must be 'i/n' with 0 <= i < n, got {shard!r}") from None
    return [p for p in paths if zlib.crc32(p.name.encode()) % n == i]


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warned: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0  # seconds of video sampled

    def fail(self, path: str | Path, error: Exception) -> None:
        """Record and log a file that failed, with the reason ``error`` gives."""
        reason = str(error).removeprefix(f"{path}: ").removeprefix(str(path)).strip(": ")
        reason = reason or type(error).__name__
        self.failed.append((str(path), reason))
        log.error("%s: %s", path, reason)

    def format(self) -> str:
        lines = [
            f"extracted {len(self.done)}, skipped {len(self.skipped)} (already done), "
            f"failed {len(self.failed)}, with warnings {len(self.warned)}"
        ]
        lines += [f"  FAILED  {p}: {why}" for p, why in self.failed]
        lines += [f"  WARNING {p}: {why}" for p, why in self.warned]
        return "\n".join(lines)


class _Warnings(logging.Handler):
    """Collects the sampler's warnings (damaged packets) for the episode being decoded."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.setdefault(threading.get_ident(), []).append(record.getMessage())

    def take(self) -> list[str]:
        return self.messages.pop(threading.get_ident(), [])


@dataclass
class VideoJob:
    path: Path
    episode: str
    series: str
    source_hash: str


@dataclass
class _Decoder:
    """One job's frames: (info, frames [T, size, size, 3] uint8, warnings). It pickles, so it
    also runs in decoder processes; there it collects the sampler's warnings itself."""

    size: int
    sampler: dict
    catcher: _Warnings | None = None  # threads share the parent's handler; None: a process

    def __call__(self, job: VideoJob):
        catcher, local = self.catcher, self.catcher is None
        vlog = logging.getLogger("introdet.media.video")
        if local:
            catcher = _Warnings()
            vlog.addHandler(catcher)
            vlog.propagate = False  # the parent prints them, once, beside its own log lines
        try:
            info = probe(job.path)
            sampled = frames_per_second(job.path, size=self.size, crop=True, **self.sampler)
            frames = [f for _, f in sampled]
            if not frames:
                raise VideoError(job.path, "no decodable frame")
            return info, np.stack(frames), catcher.take()
        except Exception as e:
            catcher.take()
            if local and not isinstance(e, VideoError):  # FFmpeg's errors may not pickle
                raise VideoError(job.path, str(e).removeprefix(f"{job.path}: ")) from None
            raise
        finally:
            if local:
                vlog.removeHandler(catcher)
                vlog.propagate = True


def video_jobs(
    input: str | Path,
    summary: Summary,
    shard: str | None = None,
    only: set[str] | None = None,
    series: str | None = None,
) -> list[VideoJob]:
    """The videos under ``input`` to work on (``shard``: this process's share, ``only``: just
    these episode ids); a file that cannot be one (an episode id taken twice, a broken link,
    an unreadable file) goes to ``summary.failed`` with its reason."""
    root = Path(input)
    jobs, owner = [], {}
    for path in take_shard(find_videos(root), shard):
        ep = path.stem
        if only is not None and ep not in only:
            continue
        if ep in owner:
            summary.failed.append((str(path), f"episode id {ep!r} already used by {owner[ep]}"))
            continue
        owner[ep] = path
        if _broken_link(path):
            summary.failed.append((str(path), "broken symbolic link (target missing or a loop)"))
            continue
        try:
            h = content_hash(path)
        except OSError as e:
            summary.failed.append((str(path), f"cannot read ({e.strerror or e})"))
            continue
        ser = series or series_of(path, root if root.is_dir() else path.parent)
        jobs.append(VideoJob(path, ep, ser, h))
    return jobs


def extract(
    input: str | Path,
    out: str | Path,
    encoder,
    sampler: dict | None = None,
    shard: str | None = None,
    series: str | None = None,
    decoders: int = 1,
    progress: bool = True,
    only: set[str] | None = None,
    processes: bool = False,
) -> Summary:
    """Extract every video under ``input`` that has no up-to-date shard in ``out``
    (``only``: just these episode ids). ``decoders`` episodes decode ahead of the encoder, in
    threads, or in processes with ``processes`` (for machines with more cores than one
    episode's decoding keeps busy)."""
    sampler = dict(sampler or {})
    root, out = Path(input), Path(out)
    out.mkdir(parents=True, exist_ok=True)
    remove_orphans(out)  # .npy without metadata: a run killed between the two writes
    summary = Summary()
    name = encoder_name(encoder.identity)
    if encoder.identity.get("random_weights"):
        log.warning("encoder %s has RANDOM weights: features for tests and demos only", name)

    jobs = []
    for job in video_jobs(root, summary, shard, only, series):
        if is_complete(out, job.episode):
            old = read_meta(out / f"{job.episode}.json")
            if (
                old.source_hash == job.source_hash
                and encoder_name(old.encoder) == name
                and _same_frames(old.extra.get("sampler") or {}, sampler)
            ):
                summary.skipped.append(job.episode)
                continue
        jobs.append(job)

    catcher = _Warnings()
    vlog = logging.getLogger("introdet.media.video")
    vlog.addHandler(catcher)
    t0 = time.perf_counter()
    bar = tqdm(total=len(jobs), unit="ep", disable=not progress, desc="extract")
    try:
        decoder = _Decoder(encoder.image_size, sampler, None if processes else catcher)
        for job, res in run_ahead(jobs, decoder, decoders, processes):
            if isinstance(res, Exception):
                summary.fail(job.path, res)
                bar.update()
                continue
            info, frames, warnings = res
            if processes:  # a process's warnings come back with its result
                for message in warnings:
                    log.warning("%s", message)
            feats = encoder.embed(frames)  # [T, D] float16 unit vectors
            meta = ShardMeta(
                episode=job.episode,
                series=job.series,
                source=str(job.path),
                source_hash=job.source_hash,
                duration=float(info.duration),
                n_seconds=len(feats),
                fps=float(sampler.get("fps", 1.0)),
                start=float(sampler.get("start", 0.0)),
                encoder=dict(encoder.identity),
                extra={"sampler": sampler, "warnings": warnings[:20]},
            )
            try:
                write_shard(out, meta, feats)
            except OSError as e:
                raise ShardWriteError(
                    e.errno,
                    f"cannot write the features of {job.path} ({e.strerror or e})",
                    str(out / f"{job.episode}.npy"),
                ) from e
            summary.done.append(job.episode)
            summary.seconds += len(feats) / meta.fps
            if warnings:
                summary.warned.append((str(job.path), warnings[0]))
            bar.update()
            bar.set_postfix(video_s_per_s=f"{summary.seconds / (time.perf_counter() - t0):.1f}")
    finally:
        bar.close()
        vlog.removeHandler(catcher)
        # whatever finished, even when interrupted; an error here must not hide the one that
        # interrupted the run, which propagates past this point
        manifest_error = _rebuild_manifest(out)
    if manifest_error is not None:
        raise manifest_error
    return summary


def _same_frames(a: dict, b: dict) -> bool:
    """Whether two sampler settings give the same frames (a shard made with one serves both):
    thread counts and the exact decode modes change the speed only; decode=keyframes does not."""

    def frames_key(sampler: dict) -> dict:
        exact = sampler.get("decode", "needed") in ("needed", "all")
        return {
            k: v for k, v in sampler.items() if k != "threads" and not (k == "decode" and exact)
        }

    return frames_key(a) == frames_key(b)


def _rebuild_manifest(out: Path) -> ShardWriteError | None:
    try:
        write_manifest(out)
    except OSError as e:
        log.error("%s: cannot rebuild %s (%s)", out, MANIFEST, e.strerror or e)
        return ShardWriteError(
            e.errno, f"cannot rebuild the manifest ({e.strerror or e})", str(out / MANIFEST)
        )
    return None


@command("extract")
def main(cfg: DictConfig) -> int:
    from omegaconf import OmegaConf

    encoder = instantiate(cfg.encoder)
    sampler = OmegaConf.to_container(cfg.sampler, resolve=True)
    try:
        summary = extract(
            cfg.input,
            cfg.out,
            encoder,
            sampler,
            cfg.shard,
            cfg.series,
            cfg.decoders,
            cfg.progress,
            processes=cfg.processes,
        )
    except (OSError, ValueError) as e:
        # the run itself cannot go on (input missing, disk full, bad shard=): one line, exit 2
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    print(summary.format())
    print(f"shards: {cfg.out} (encoder {encoder.name})")
    return 1 if summary.failed else 0


if __name__ == "__main__":
    main()
