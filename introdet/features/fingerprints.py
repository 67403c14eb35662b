"""Fingerprints of episodes for season mode: their sound (and pictures where sound is missing).

Only the audio stream is demuxed and decoded (no picture), a small fraction of the cost of
decoding the video; episodes decode ``decoders`` at a time, in processes if asked.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from introdet.errors import AudioError
from introdet.features.audio import AudioPrint, audio_fingerprint
from introdet.features.picture import flat_frames, picture_hash, thumbnails
from introdet.media.held_frames import HELD
from introdet.media.probe import probe, sample_count
from introdet.media.sampling import frames_per_second
from introdet.media.workers import run_ahead

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EpisodePrints:
    duration: float  # seconds of video
    audio: AudioPrint | None  # the scan from 0:00 (the whole episode if short); None: no audio
    tail: AudioPrint | None = None  # the last seconds, where credits are, if not in ``audio``
    head: float | None = None  # seconds from 0:00 that ``audio`` covers; None: all of it
    fps: float | None = None  # the video's frame rate (a PAL copy of a film-rate season: 25)


def episode_prints(
    path: str | Path, scan: float | None = None, fraction: float = 0.0, tail: float = 0.0,
    speed: float = 1.0,
) -> EpisodePrints:  # fmt: skip
    """The sound of one video: its first ``scan`` seconds (or ``fraction`` of it, if longer)
    and its last ``tail`` seconds; one print of the whole track where they meet, or with
    ``scan=None``. ``speed``: heard as if played at 1/speed (see ``audio_fingerprint``)."""
    info = probe(path)
    duration = info.duration
    head = None if scan is None else max(scan, fraction * duration)
    try:
        if head is None or duration <= head + tail:
            return EpisodePrints(duration, audio_fingerprint(path, speed=speed), fps=info.fps)
        first = audio_fingerprint(path, max_seconds=head, speed=speed)
        last = None
        if tail > 0 and first:
            last = audio_fingerprint(path, start=duration - tail, speed=speed)
    except AudioError as e:  # a sound that cannot be heard is none: the pictures still serve
        log.warning("%s; its pictures alone are compared", e)
        return EpisodePrints(duration, None, fps=info.fps)
    return EpisodePrints(duration, first, last, head, info.fps)


def prints_ahead(
    paths: Sequence[Path],
    scan: float | None,
    fraction: float = 0.0,
    tail: float = 0.0,
    decoders: int = 1,
    processes: bool = False,
) -> Iterator[tuple[Path, EpisodePrints | Exception]]:
    """``(path, prints)`` in order (``episode_prints``' keys); an unreadable file yields its
    exception instead."""
    work = partial(episode_prints, scan=scan, fraction=fraction, tail=tail)
    yield from run_ahead(paths, work, decoders, processes)


@dataclass(frozen=True)
class PicturePrint:
    hashes: np.ndarray  # uint64 [N]: the 64-bit DCT hash of the picture at start + k / fps s
    flat: np.ndarray  # bool [N]: pictures too plain to tell apart (black, one colour)
    fps: float
    start: float = 0.0
    # float16 [N, 144] 16x9 thumbnails (``picture.thumbnails``), where kept: a smooth picture
    # (a gradient, a blurred pan) leaves most of the hash's coefficients near their median,
    # its bits to chance; the thumbnails' cosine still tells the same picture from another
    thumbs: np.ndarray | None = None

    @classmethod
    def of_frames(
        cls, frames: np.ndarray, fps: float, start: float = 0.0, thumbs: bool = False
    ) -> PicturePrint:
        """The print of frames [N, H, W, 3] uint8 sampled at ``start + k / fps`` s."""
        small = thumbnails(frames) if thumbs else None
        return cls(picture_hash(frames), flat_frames(frames), fps, start, small)


def held_picture_print(
    path: str | Path, fps: float, start: float, end: float, thumbs: bool = False
) -> PicturePrint:
    """``picture_print`` of [start, end) from every frame of that stretch, held for the next
    reader (``HELD``: refinement reads the same frames): sample k is the frame on screen at
    ``start + k / fps`` (the first frame, for a sample before it), while the video lasts."""
    decoded = HELD.between(path, start, end, size=64)
    if not decoded:
        return PicturePrint(np.zeros(0, np.uint64), np.zeros(0, bool), fps, start)
    times = np.array([t for t, _ in decoded])  # [N]
    grid = start + np.arange(sample_count(end, fps, start)) / fps  # [K]
    step = float(np.median(np.diff(times))) if len(times) > 1 else 1 / fps
    grid = grid[grid < times[-1] + step]  # none after the video's last frame
    shown = np.maximum(np.searchsorted(times, grid + 1e-6, "right") - 1, 0)  # [K]
    return PicturePrint.of_frames(np.stack([decoded[i][1] for i in shown]), fps, start, thumbs)


def picture_print(
    path: str | Path,
    fps: float = 2.0,
    max_seconds: float | None = None,
    chunk: int = 256,
    crop: bool = False,
    start: float = 0.0,
    thumbs: bool = False,
) -> PicturePrint:
    """Picture hashes of ``path`` at ``fps`` from ``start`` s; ``crop``: of the centre square,
    as the CLIP frames of a shard are sampled; ``thumbs``: keep the thumbnails too."""
    parts, frames = [], []
    sampled = frames_per_second(path, fps=fps, size=64, crop=crop, start=start,
                                max_seconds=max_seconds)  # fmt: skip
    for _, frame in sampled:
        frames.append(frame)
        if len(frames) == chunk:  # bounded memory on long episodes
            parts.append(PicturePrint.of_frames(np.stack(frames), fps, start, thumbs))
            frames = []
    if frames:
        parts.append(PicturePrint.of_frames(np.stack(frames), fps, start, thumbs))
    if not parts:
        return PicturePrint(np.zeros(0, np.uint64), np.zeros(0, bool), fps, start)
    small = np.concatenate([p.thumbs for p in parts]) if thumbs else None
    return PicturePrint(np.concatenate([p.hashes for p in parts]),
                        np.concatenate([p.flat for p in parts]), fps, start, small)  # fmt: skip
