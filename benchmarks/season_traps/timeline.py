"""An episode as a plan: picture shots on a frame grid, sound cues in seconds, and the truth.

Shots are laid end to end in whole frames of the plan's frame rate, so every boundary the
truth names is a frame boundary: frame ``k`` starts at ``k / out_fps`` on the file's timeline.
(The PAL copy plans at 23.976 fps and writes the same frames at 25 fps: ``out_fps`` differs
from ``fps`` and every time scales by ``fps / out_fps``.) Sound cues are functions of the
sample rate so one plan can be mixed at 44.1 or 48 kHz; they are placed at the sample nearest
their start time, so the sound is aligned with the pictures to within half a sample.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction

import numpy as np

from benchmarks.season_traps import sound as snd
from benchmarks.season_traps.pictures import Picture

Maker = Callable[[int], np.ndarray]  # sample rate -> mono float32


@dataclass
class Shot:
    first: int  # frame index, inclusive
    stop: int  # exclusive
    picture: Picture  # shot-local seconds -> frame


@dataclass
class Cue:
    start: float  # seconds on the plan timeline (may be < 0: cut at 0)
    make: Maker
    gain: float = 1.0
    streams: tuple | None = None  # audio streams it is heard in; None: all


@dataclass
class Plan:
    series: str
    episode: str  # file stem = episode id
    folder: str  # relative to the library root
    container: str  # mp4 | mkv | webm | avi
    fps: Fraction  # the frame grid the plan was laid out on
    out_fps: Fraction  # the rate the frames are written at (differs for the PAL copy)
    sr: int
    channels: int
    styles: list[str]
    n_streams: int = 1
    default_stream: int = 0
    gain: float = 1.0  # peak level of the final mix (per-episode loudness)
    clip: bool = False  # hard-clip at 0.3 of peak, then renormalise
    noise: bool = False  # add noise at 0 dB SNR
    shots: list[Shot] = field(default_factory=list)
    cues: list[Cue] = field(default_factory=list)
    intro: tuple[int, int] | None = None  # frames [first, stop)
    credits: tuple[int, int] | None = None
    preview: int | None = None  # the frame a "next time on" starts at; it runs to the end
    noise_seed: int = 0
    content: list = field(default_factory=list)  # per-episode content frames (preview clips)

    @property
    def frames(self) -> int:
        return self.shots[-1].stop if self.shots else 0

    @property
    def speed(self) -> Fraction:
        return self.out_fps / self.fps

    def seconds(self, frame: int) -> float:
        """A frame boundary's time in the written file."""
        return float(Fraction(frame) / self.out_fps)

    @property
    def path(self) -> str:
        return f"{self.folder}/{self.episode}.{self.container}"

    def truth(self) -> dict:
        def span(s):
            return None if s is None else {"start": self.seconds(s[0]), "end": self.seconds(s[1])}

        return {
            "series": self.series,
            "intro": span(self.intro),
            "credits": span(self.credits),
            "style": list(self.styles),
            "distractors": [] if self.preview is None else [
                {"kind": "preview", **span((self.preview, self.frames))}],
            "path": self.path,
            "fps": float(self.out_fps),
            "duration": self.seconds(self.frames),
            "sample_rate": self.sr,
            "audio_streams": self.n_streams,
            "default_audio": self.default_stream,
        }

    def picture_at(self, t: float) -> np.ndarray:
        """The picture at plan time ``t`` (for the preview trap: clips of another episode)."""
        k = int(round(t * self.fps))
        shot = next(s for s in self.shots if s.first <= k < s.stop)
        return shot.picture(float((k - shot.first) / self.fps))


class Builder:
    """Lays shots end to end on the frame grid and collects cues."""

    def __init__(self, fps: Fraction):
        self.fps = fps
        self.frame = 0
        self.shots: list[Shot] = []
        self.cues: list[Cue] = []

    @property
    def now(self) -> float:
        return float(self.frame / self.fps)

    def show(self, seconds: float, picture: Picture) -> tuple[int, int]:
        n = max(1, int(round(seconds * self.fps)))
        shot = Shot(self.frame, self.frame + n, picture)
        self.shots.append(shot)
        self.frame += n
        return shot.first, shot.stop

    def hear(self, start: float, make: Maker, gain=1.0, streams=None) -> None:
        self.cues.append(Cue(start, make, gain, streams))

    def seconds_of(self, frames: int) -> float:
        return float(frames / self.fps)


def mix(plan: Plan, stream: int, sr: int | None = None) -> np.ndarray:
    """The raw mix of one audio stream on the plan timeline (before loudness and speed)."""
    sr = sr or plan.sr
    buf = np.zeros(int(round(plan.frames / plan.fps * sr)), np.float32)
    for cue in plan.cues:
        if cue.streams is None or stream in cue.streams:
            snd.place(buf, cue.make(sr), int(round(cue.start * sr)), cue.gain)
    return buf


def master(plan: Plan, stream: int) -> np.ndarray:
    """The stream as written: mix, noise at 0 dB SNR, clipping, loudness, PAL speed-up.

    The speed-up resamples by linear interpolation: the same samples played 25/23.976 times
    faster, so both tempo and pitch rise by 4.27 %, as a PAL transfer does.
    """
    x = mix(plan, stream)
    if plan.noise:
        noise = snd.hiss(plan.sr, len(x) / plan.sr, np.random.default_rng(plan.noise_seed))[
            : len(x)
        ]

        def rms(a):
            return float(np.sqrt(np.mean(a**2))) or 1.0

        x = x + noise * (rms(x) / rms(noise))
    if plan.clip:
        peak = float(np.max(np.abs(x))) or 1.0
        x = np.clip(x, -0.3 * peak, 0.3 * peak)
    x = snd.normalise(x, 0.95 * plan.gain)
    if plan.speed != 1:
        n_out = int(round(plan.frames / plan.out_fps * plan.sr))
        src = np.arange(n_out) * float(plan.speed)
        x = np.interp(src, np.arange(len(x)), x).astype(np.float32)
    return x
