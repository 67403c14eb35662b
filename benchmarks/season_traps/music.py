"""Series music: opening themes, bass-heavy themes and end-credit themes from a seed.

A theme is a step sequencer (eighth notes) over a melody, a chord progression and a drum
pattern, all drawn from the series seed. It is generated to fill exactly the length asked for
(the last 0.25 s fade out), so a re-arranged theme (other timbre, +3 % tempo) still covers the
same title pictures. The seed alone fixes every sample, including the plucked-string noise.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmarks.season_traps import sound as snd


@dataclass(frozen=True)
class Theme:
    seed: int
    root: int  # semitones from A4
    scale: tuple
    tempo: float  # beats per minute
    melody: tuple  # scale degrees per eighth, -1: rest
    chords: tuple  # scale degree of each bar's chord
    drums: tuple  # per eighth: "k", "s", "h", "ks", "" ...
    timbre: str  # fm | pluck | organ
    fm_ratio: float
    fm_index: float


def theme_for(seed: int, slow=False) -> Theme:
    rng = np.random.default_rng(seed)
    scale = tuple(snd.MAJOR if rng.random() < 0.5 else snd.MINOR)
    melody = tuple(int(d) if rng.random() < 0.8 else -1 for d in rng.integers(0, 10, 16))
    drums = tuple(rng.choice(["k", "h", "s", "kh", "", "h"]) for _ in range(8))
    drums = ("k",) + drums[1:4] + ("s",) + drums[5:]
    return Theme(
        seed=seed,
        root=int(rng.integers(-9, 3)),
        scale=scale,
        tempo=float(rng.uniform(70, 90) if slow else rng.uniform(100, 140)),
        melody=melody,
        chords=tuple(int(c) for c in rng.choice([0, 3, 4, 5], 4)),
        drums=drums if not slow else ("k", "", "h", "", "", "", "h", ""),
        timbre=str(rng.choice(["fm", "pluck", "organ"])),
        fm_ratio=float(rng.choice([1.0, 2.0, 3.0, 3.5])),
        fm_index=float(rng.uniform(1.5, 5.0)),
    )


def _pitch(th: Theme, degree: int, octave=0) -> float:
    octave += degree // len(th.scale)
    return snd.hz(th.root + th.scale[degree % len(th.scale)] + 12 * octave)


def _voice(th: Theme, timbre: str, f: float, dur: float, sr: int, rng) -> np.ndarray:
    if timbre == "pluck":
        return snd.pluck(f, dur, sr, rng)
    if timbre == "organ":
        return snd.organ(f, dur, sr, (1.0, 0.3, 0.4, 0.1, 0.2))
    return snd.fm_tone(f, dur, sr, th.fm_ratio, th.fm_index, decay=dur / 2)


def theme(sr: int, dur: float, th: Theme, timbre: str | None = None, tempo_scale=1.0) -> np.ndarray:
    """The theme, exactly ``dur`` seconds long (last 0.25 s faded out)."""
    rng = np.random.default_rng(th.seed + 7)
    timbre = timbre or th.timbre
    n = int(round(dur * sr))
    out = np.zeros(n, np.float32)
    step = 60.0 / (th.tempo * tempo_scale) / 2
    kick, snare = snd.kick(sr), snd.snare(sr, rng)
    hat = snd.hat(sr, rng)
    i = 0
    while i * step < dur:
        at = int(round(i * step * sr))
        deg = th.melody[i % len(th.melody)]
        if deg >= 0:
            snd.place(out, _voice(th, timbre, _pitch(th, deg, 0), step * 1.8, sr, rng), at, 0.35)
        if i % 8 == 0:  # one chord per bar, three organ voices, and a bass note
            c = th.chords[(i // 8) % len(th.chords)]
            for d in (c, c + 2, c + 4):
                snd.place(out, snd.organ(_pitch(th, d, -1), step * 8, sr), at, 0.12)
            snd.place(out, snd.organ(_pitch(th, c, -2), step * 8, sr, (1.0, 0.2)), at, 0.25)
        hits = th.drums[i % len(th.drums)]
        for ch, x, g in (("k", kick, 0.6), ("s", snare, 0.25), ("h", hat, 0.3)):
            if ch in hits:
                snd.place(out, x, at, g)
        i += 1
    return _fade_tail(out, sr)


def bass_theme(sr: int, dur: float, th: Theme) -> np.ndarray:
    """Bass-heavy theme: sub bass line, a kick on every beat, a low pad; little above 250 Hz."""
    n = int(round(dur * sr))
    out = np.zeros(n, np.float32)
    step = 60.0 / th.tempo / 2
    kick = snd.kick(sr, 0.4, 95, 38)
    i = 0
    while i * step < dur:
        at = int(round(i * step * sr))
        c = th.chords[(i // 8) % len(th.chords)]
        if i % 2 == 0:
            snd.place(out, kick, at, 0.9)
        deg = th.melody[i % len(th.melody)]
        f = _pitch(th, c if deg < 0 else deg % 5, -3)  # 27-90 Hz
        snd.place(out, snd.organ(f, step * 0.95, sr, (1.0, 0.35)), at, 0.6)
        if i % 8 == 0:
            for d in (c, c + 2):
                snd.place(out, snd.organ(_pitch(th, d, -2), step * 8, sr, (1.0, 0.1)), at, 0.25)
        i += 1
    out = snd.lowpass(out, sr, 220.0)
    top = np.zeros(n, np.float32)  # a thin top layer (hats, a quiet melody): real mixes have one
    rng = np.random.default_rng(th.seed + 11)
    hat = snd.hat(sr, rng)
    for j in range(i):
        at = int(round(j * step * sr))
        snd.place(top, hat, at, 0.8)
        deg = th.melody[j % len(th.melody)]
        if deg >= 0 and j % 2 == 0:
            snd.place(top, snd.fm_tone(_pitch(th, deg, 0), step * 1.5, sr, 1.0, 1.0, step), at, 0.3)
    return _fade_tail(out + top, sr)


def _fade_tail(x: np.ndarray, sr: int, tail=0.25) -> np.ndarray:
    m = min(len(x), int(tail * sr))
    if m:
        x[-m:] *= np.linspace(1, 0, m, dtype=np.float32)
    return x


def low_share(x: np.ndarray, sr: int, cutoff=250.0) -> float:
    """Fraction of the signal's energy below ``cutoff`` Hz (checks the bass-heavy trap)."""
    p = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return float(p[f < cutoff].sum() / max(p.sum(), 1e-12))
