"""Fingerprints of episodes for season mode: their sound (and pictures where sound is missing).

Only the audio stream is demuxed and decoded (no picture), a small fraction of the cost of
decoding the video; episodes decode ``decoders`` at a time, in processes if asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from introdet.features.audio import AudioPrint, audio_fingerprint
from introdet.features.picture import flat_frames, picture_hash
from introdet.media.probe import probe
from introdet.media.sampling import frames_per_second
from introdet.media.workers import run_ahead


@dataclass(frozen=True)
class EpisodePrints:
    duration: float  # seconds of video
    audio: AudioPrint | None  # the scan from 0:00 (the whole episode if short); None: no audio
    tail: AudioPrint | None = None  # the last seconds, where credits are, if not in ``audio``
    head: float | None = None  # seconds from 0:00 that ``audio`` covers; None: all of it


def episode_prints(
    path: str | Path, scan: float | None = None, fraction: float = 0.0, tail: float = 0.0,
    speed: float = 1.0,
) -> EpisodePrints:  # fmt: skip
    """The sound of one video: its first ``scan`` seconds (or ``fraction`` of it, if longer)
    and its last ``tail`` seconds; one print of the whole track where they meet, or with
    ``scan=None``. ``speed``: heard as if played at 1/speed (see ``audio_fingerprint``)."""
    duration = probe(path).duration
    head = None if scan is None else max(scan, fraction * duration)
    if head is None or duration <= head + tail:
        return EpisodePrints(duration, audio_fingerprint(path, speed=speed))
    first = audio_fingerprint(path, max_seconds=head, speed=speed)
    last = None
    if tail > 0 and first:
        last = audio_fingerprint(path, start=duration - tail, speed=speed)
    return EpisodePrints(duration, first, last, head)


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

    @classmethod
    def of_frames(cls, frames: np.ndarray, fps: float, start: float = 0.0) -> PicturePrint:
        """The print of frames [N, H, W, 3] uint8 sampled at ``start + k / fps`` s."""
        return cls(picture_hash(frames), flat_frames(frames), fps, start)


def picture_print(
    path: str | Path,
    fps: float = 2.0,
    max_seconds: float | None = None,
    chunk: int = 256,
    crop: bool = False,
    start: float = 0.0,
) -> PicturePrint:
    """Picture hashes of ``path`` at ``fps`` from ``start`` s; ``crop``: of the centre square,
    as the CLIP frames of a shard are sampled."""
    hashes, flat, frames = [], [], []
    sampled = frames_per_second(path, fps=fps, size=64, crop=crop, start=start,
                                max_seconds=max_seconds)  # fmt: skip
    for _, frame in sampled:
        frames.append(frame)
        if len(frames) == chunk:  # bounded memory on long episodes
            hashes.append(picture_hash(np.stack(frames)))
            flat.append(flat_frames(np.stack(frames)))
            frames = []
    if frames:
        hashes.append(picture_hash(np.stack(frames)))
        flat.append(flat_frames(np.stack(frames)))
    if not hashes:
        return PicturePrint(np.zeros(0, np.uint64), np.zeros(0, bool), fps, start)
    return PicturePrint(np.concatenate(hashes), np.concatenate(flat), fps, start)
