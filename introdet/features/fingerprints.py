"""Fingerprints of a list of episodes for season mode: duration and sound, decoded ahead.

Only the audio stream is demuxed and decoded (no picture), a small fraction of the cost of
decoding the video; episodes decode ``decoders`` at a time, in processes if asked.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from introdet.features.audio import AudioPrint, audio_fingerprint
from introdet.media.probe import probe
from introdet.media.workers import run_ahead


@dataclass(frozen=True)
class EpisodePrints:
    duration: float  # seconds of video
    audio: AudioPrint | None  # None: the file has no audio track


def episode_prints(path: str | Path, max_seconds: float | None = None) -> EpisodePrints:
    """The fingerprints of one video (``max_seconds``: of its first seconds only)."""
    info = probe(path)
    return EpisodePrints(info.duration, audio_fingerprint(path, max_seconds))


def prints_ahead(
    paths: Sequence[Path], max_seconds: float | None, decoders: int = 1, processes: bool = False
) -> Iterator[tuple[Path, EpisodePrints | Exception]]:
    """``(path, prints)`` in order; an unreadable file yields its exception instead."""
    yield from run_ahead(
        paths, partial(episode_prints, max_seconds=max_seconds), decoders, processes
    )
