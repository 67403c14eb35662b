"""Video files -> CLIP feature shards, resumable, and the ``Summary`` of a run: the pipeline
behind ``python -m introdet.extract`` and predict's feature cache."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from functools import partial
from pathlib import Path

import numpy as np
from tqdm import tqdm

from introdet.atomic import too_long
from introdet.errors import ShardWriteError, VideoError, printable
from introdet.features.fingerprints import EpisodePrints, PicturePrint, episode_prints
from introdet.features.print_store import SUFFIX as PRINTS_SUFFIX
from introdet.features.print_store import PrintScan, is_current, write_prints
from introdet.features.shards import (
    MANIFEST,
    ShardMeta,
    encoder_name,
    is_complete,
    read_meta,
    remove_orphans,
    shard_file,
    write_manifest,
    write_meta,
    write_shard,
)
from introdet.media.library import VideoJob, passed_over_note, video_jobs
from introdet.media.probe import probe, scan_end
from introdet.media.sampling import SamplerConfig, frames_per_second
from introdet.media.workers import run_ahead

log = logging.getLogger(__name__)

MEDIA_LOGGER = "introdet.media"  # the samplers' warnings (damaged packets) are caught here


@dataclass
class Summary:
    done: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, reason)
    warned: list[tuple[str, str]] = field(default_factory=list)
    topped_up: list[str] = field(default_factory=list)  # up to date; prints added
    notes: list[str] = field(default_factory=list)  # more lines for the report
    seconds: float = 0.0  # seconds of video sampled
    work: str = "extracted"  # what was done to each episode, for the report

    def fail(self, path: str | Path, error: Exception) -> None:
        """Record and log a file that failed, with the reason ``error`` gives."""
        reason = str(error).removeprefix(f"{path}: ").removeprefix(str(path)).strip(": ")
        reason = reason or type(error).__name__
        self.failed.append((str(path), reason))
        log.error("%s: %s", path, reason)

    def pass_over(self, files: list[Path], root: str | Path) -> None:
        """Note the files of the input that are not videos (``find_videos``), in one line."""
        note = passed_over_note(files, root)
        if note is not None:
            self.notes.append(note)

    def format(self) -> str:
        lines = [
            f"{self.work} {len(self.done)}, skipped {len(self.skipped)} (already done), "
            f"failed {len(self.failed)}, with warnings {len(self.warned)}"
        ]
        if self.topped_up:
            lines.append(f"  fingerprints added to {len(self.topped_up)} of the skipped (no CLIP)")
        lines += [f"  {note}" for note in self.notes]
        lines += [f"  FAILED  {p}: {why}" for p, why in self.failed]
        lines += [f"  WARNING {p}: {why}" for p, why in self.warned]
        return printable("\n".join(lines))


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
class _Decoder:
    """One job's frames and prints: (info, frames [T, size, size, 3] uint8, warnings, prints
    or None). It pickles, so it also runs in decoder processes; there it collects the
    sampler's warnings itself."""

    size: int
    sampler: SamplerConfig
    catcher: _Warnings | None = None  # threads share the parent's handler; None: a process
    scan: PrintScan | None = None  # fingerprint the sound too (season mode)
    tick: Callable[[], None] | None = None  # called per sampled frame (threads only)

    def __call__(self, job: VideoJob):
        catcher, local = self.catcher, self.catcher is None
        mlog = logging.getLogger(MEDIA_LOGGER)
        if local:
            catcher = _Warnings()
            mlog.addHandler(catcher)
            mlog.propagate = False  # the parent prints them, once, beside its own log lines
        try:
            info = probe(job.path)
            sampled = frames_per_second(job.path, size=self.size, crop=True, **self.sampler.keys())
            frames = []
            for _, f in sampled:
                frames.append(f)
                if self.tick is not None:
                    self.tick()
            if not frames:
                raise VideoError(job.path, "no decodable frame")
            frames = np.stack(frames)
            prints = None
            if self.scan is not None:
                picture = PicturePrint.of_frames(frames, self.sampler.fps, self.sampler.start)
                prints = (sound_prints(job.path, self.scan), picture)
            return info, frames, catcher.take(), prints
        except Exception as e:
            catcher.take()
            if local and not isinstance(e, VideoError):  # FFmpeg's errors may not pickle
                raise VideoError(job.path, str(e).removeprefix(f"{job.path}: ")) from None
            raise
        finally:
            if local:
                mlog.removeHandler(catcher)
                mlog.propagate = True


def sound_prints(path: str | Path, scan: PrintScan) -> EpisodePrints:
    """The sound's prints over ``scan``; a track that cannot be decoded counts as none (the
    pictures still serve season mode)."""
    return episode_prints(path, scan.scan, scan.fraction, scan.tail)


def extract(
    input: str | Path,
    out: str | Path,
    encoder,
    sampler: SamplerConfig,
    shard: str | None = None,
    series: str | None = None,
    decoders: int = 1,
    progress: bool = True,
    only: set[str] | None = None,
    processes: bool = False,
    prints: PrintScan | None = None,
) -> Summary:
    """Extract every video under ``input`` that has no up-to-date shard in ``out``
    (``only``: just these episode ids). ``decoders`` episodes decode ahead of the encoder, in
    threads, or in processes with ``processes`` (for machines with more cores than one
    episode's decoding keeps busy). With ``prints``, the sound is fingerprinted too (season
    mode); up-to-date shards without such prints get them without running CLIP again."""
    out = Path(out)
    _prepare(out)
    summary = Summary()
    name = encoder_name(encoder.identity)
    if encoder.identity.get("random_weights"):
        log.warning("encoder %s has RANDOM weights: features for tests and demos only", name)
    others: list[Path] = []
    jobs, failed = video_jobs(input, shard, only, series, others)
    summary.failed += failed
    jobs = _fitting(jobs, out, summary)
    summary.pass_over(others, input)
    todo, topup = [], []
    for job in jobs:
        old = _up_to_date(out, job, name, asdict(sampler))
        if old is None:
            todo.append(job)
        elif prints is not None and not is_current(old.extra.get("prints"), prints):
            topup.append(old)
        else:
            summary.skipped.append(job.episode)

    catcher = _Warnings()
    mlog = logging.getLogger(MEDIA_LOGGER)
    mlog.addHandler(catcher)
    try:
        _top_up(topup, out, prints, summary, decoders)
        # None: a bar only on a terminal (a log file gets no progress lines)
        bar = tqdm(total=len(todo), unit="ep", disable=None if progress else True, desc="extract")
        tick = None if processes or not progress else _DecodeProgress(bar, sampler.fps)
        decoder = _Decoder(
            encoder.image_size, sampler, None if processes else catcher, prints, tick
        )
        decoded = run_ahead(todo, decoder, decoders, processes)
        _encode_all(decoded, bar, encoder, out, sampler, summary, processes, prints)
    finally:
        mlog.removeHandler(catcher)
        # whatever finished, even when interrupted; an error here must not hide the one that
        # interrupted the run, which propagates past this point
        manifest_error = _rebuild_manifest(out)
    if manifest_error is not None:
        raise manifest_error
    return summary


def _prepare(out: Path) -> None:
    """Create the shard folder; drop .npy files without metadata (a run killed between the
    two writes)."""
    try:
        out.mkdir(parents=True, exist_ok=True)
        remove_orphans(out)
    except OSError as e:
        raise ShardWriteError(
            e.errno, f"cannot use the shard folder ({e.strerror or e})", str(out)
        ) from e


def _fitting(jobs: list[VideoJob], out: Path, summary: Summary) -> list[VideoJob]:
    """The jobs whose shard files the system can write: a library whose paths fit may not
    under ``out`` (its ids nest), and such an episode fails alone."""
    kept = []
    for job in jobs:
        # the prints' suffix is the longest a shard file gets
        why = too_long(shard_file(out, job.episode, PRINTS_SUFFIX))
        if why is None:
            kept.append(job)
        else:
            summary.failed.append((str(job.path), f"file name too long: its features in {out} "
                                   f"would need {why}: give a shorter out="))  # fmt: skip
    return kept


def _up_to_date(out: Path, job: VideoJob, encoder: str, sampler: dict) -> ShardMeta | None:
    """The shard of ``out`` with this file's content, encoder and frames, if there is one."""
    if not is_complete(out, job.episode):
        return None
    old = read_meta(shard_file(out, job.episode, ".json"))
    same = (
        old.source_hash == job.source_hash
        and encoder_name(old.encoder) == encoder
        and _same_frames(old.extra.get("sampler") or {}, sampler, old.duration)
    )
    return old if same else None


def _top_up(
    metas: list[ShardMeta], out: Path, scan: PrintScan, summary: Summary, decoders: int
) -> None:
    """Add sound prints to shards whose features are up to date (no picture prints: those
    come from the frames, which are not decoded again)."""
    sources = [m.source for m in metas]
    work = partial(sound_prints, scan=scan)
    for meta, (_, res) in zip(metas, run_ahead(sources, work, decoders), strict=True):
        if isinstance(res, Exception):
            summary.fail(meta.source, res)
            continue
        try:
            meta.extra["prints"] = write_prints(out, meta.episode, res, None, scan)
            write_meta(out, meta)
        except OSError as e:
            why = f"cannot write the prints of {meta.source} ({e.strerror or e})"
            raise ShardWriteError(e.errno, why, str(out / meta.episode)) from e
        summary.skipped.append(meta.episode)
        summary.topped_up.append(meta.episode)


class _DecodeProgress:
    """Seconds of video decoded so far, on the episodes bar: a long episode moves it too."""

    def __init__(self, bar: tqdm, fps: float) -> None:
        self.bar, self.fps, self.frames = bar, fps, 0
        self.lock = threading.Lock()  # decoder threads call it

    def __call__(self) -> None:
        with self.lock:
            self.frames += 1
            if self.frames % 10 == 0:
                self.bar.set_postfix_str(f"{self.frames / self.fps:.0f} s decoded")


def _encode_all(
    decoded: Iterator[tuple[VideoJob, tuple | Exception]],
    bar: tqdm,
    encoder,
    out: Path,
    sampler: SamplerConfig,
    summary: Summary,
    processes: bool,
    scan: PrintScan | None,
) -> None:
    """Encode and write each decoded episode as it comes; record each failed one."""
    t0 = time.perf_counter()
    try:
        for job, res in decoded:
            if isinstance(res, Exception):
                summary.fail(job.path, res)
                bar.update()
                continue
            _store(job, res, encoder, out, sampler, summary, processes, scan)
            bar.update()
            rate = summary.seconds / (time.perf_counter() - t0)
            bar.set_postfix_str(f"{summary.seconds:.0f} s of video, {rate:.1f} s/s")
    finally:
        bar.close()


def _store(
    job: VideoJob,
    decoded: tuple,
    encoder,
    out: Path,
    sampler: SamplerConfig,
    summary: Summary,
    processes: bool,
    scan: PrintScan | None,
) -> None:
    """Encode one episode's frames and write its shard (prints first: the metadata, written
    last, marks all of it complete)."""
    info, frames, warnings, prints = decoded
    if processes:  # a process's warnings come back with its result
        for message in warnings:
            log.warning("%s", message)
    feats = encoder.embed(frames)  # [T, D] float16 unit vectors
    meta = ShardMeta.of_video(
        job, float(info.duration), len(feats), sampler, encoder.identity, warnings=warnings[:20]
    )
    try:
        if prints is not None:
            meta.extra["prints"] = write_prints(out, job.episode, *prints, scan)
        write_shard(out, meta, feats)
    except OSError as e:
        # all or none: the arrays of a shard whose metadata was not written go (a full disk)
        if not shard_file(out, job.episode, ".json").is_file():
            for suffix in (".npy", ".prints.npz"):
                shard_file(out, job.episode, suffix).unlink(missing_ok=True)
        failed = e.filename or shard_file(out, job.episode, ".npy")
        raise ShardWriteError(
            e.errno, f"cannot write the features of {job.path} ({e.strerror or e})", str(failed)
        ) from e
    summary.done.append(job.episode)
    summary.seconds += len(feats) / meta.fps
    if warnings:
        summary.warned.append((str(job.path), warnings[0]))


def _same_frames(a: dict, b: dict, duration: float) -> bool:
    """Whether two sampler records give the same frames of a video of ``duration`` s (a shard
    made with one serves both): thread counts and the exact decode modes change the speed
    only, decode=keyframes does not; the scan settings count by where they end the scan (a
    longer default scan leaves the shards of short episodes as they are)."""
    scan_keys = ("max_seconds", "fraction", "min_fraction")

    def frames_key(sampler: dict) -> dict:
        exact = sampler.get("decode", "needed") in ("needed", "all")
        key = {
            k: v
            for k, v in sampler.items()
            if k != "threads" and k not in scan_keys and not (k == "decode" and exact)
        }
        scan = {k: sampler.get(k) for k in scan_keys}
        key["scan_end"] = round(scan_end(duration, sampler.get("start", 0.0), **scan), 6)
        return key

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
