"""The demo library's soundtracks: each planned scene's audio, a function of its seeds alone.

A scene's sound is ``(kind, seed, at)``: the kind of sound, the seed it is drawn from, and the
frame of that sound where the scene starts. Every sample is a function of absolute time within
the sound, so whatever repeats in the plan repeats in the waveform: the series' theme under its
intro (cut short or not), the studio jingle, the end theme under the credits, and the lines of
dialogue a "previously on" recap quotes from the previous episode. Kinds:

- ``theme`` / ``end_theme``: a seeded melody (harmonic notes on a pentatonic scale, a bass line
  and hi-hat noise on the off-beats);
- ``dialogue``: speech-like syllables (a voiced buzz shaped by two moving formants, some
  fricative noise) separated by pauses, one voice per seed;
- ``jingle``: three bell notes;
- ``silence``: digital silence (black gaps).

A theme re-recorded for later episodes keeps its melody but not its recording: a sound's
``arrangement`` seed (empty: the original) draws other instrument colours, other hi-hat noise
and a tempo about 3 % off, so its waveform no longer matches the original's.

``room_tone`` adds a faint per-episode noise floor, and each episode has its own loudness.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np

KINDS = ("theme", "end_theme", "dialogue", "jingle", "silence")
_SCALE = np.array([0, 2, 4, 7, 9, 12, 14, 16])  # major pentatonic, in semitones


@dataclass(frozen=True)
class Sound:
    kind: str = "silence"
    seed: tuple[int, ...] = ()
    at: int = 0  # frames into the sound where the scene starts
    arrangement: tuple[int, ...] = ()  # music only: another recording of the same melody


def render(sound: Sound, start: int, n: int, fps: Fraction, rate: int) -> np.ndarray:
    """Samples of ``sound`` for ``n`` frames from frame ``start`` of the sound. float32 [S]

    Sample boundaries are those of the whole file (frame k starts at sample round(k/fps*rate)
    of the episode), so consecutive scenes join without gaps or overlaps."""
    if sound.kind not in KINDS:
        raise ValueError(f"unknown sound kind {sound.kind!r}; known: {KINDS}")
    a = round((sound.at + start) / fps * rate)
    b = round((sound.at + start + n) / fps * rate)
    t = np.arange(a, b, dtype=np.float64) / rate  # [S] seconds into the sound
    if sound.kind == "silence" or len(t) == 0:
        return np.zeros(len(t), np.float32)
    if sound.kind in ("theme", "end_theme"):
        return _music(sound.seed, t, sound.arrangement).astype(np.float32)
    make = {"dialogue": _speech, "jingle": _jingle}
    return make[sound.kind](sound.seed, t).astype(np.float32)


def room_tone(seed: tuple[int, ...], n: int, level: float = 0.003) -> np.ndarray:
    """A faint noise floor of ``n`` samples, different in every episode."""
    return (level * np.random.default_rng(list(seed)).standard_normal(n)).astype(np.float32)


def _notes(rng: np.random.Generator, beat: float, n: int, low: int, high: int):
    """A repeating phrase of ``n`` notes: (onset s, length s, midi pitch) arrays."""
    lengths = beat * rng.choice([0.5, 1.0, 1.0, 1.5, 2.0], n)
    onsets = np.concatenate([[0.0], np.cumsum(lengths)[:-1]])
    pitches = low + _SCALE[rng.integers(0, len(_SCALE), n)]
    return onsets, lengths, np.minimum(pitches, high), float(lengths.sum())


def _tone(t: np.ndarray, freq: float, length: float, harmonics: tuple[float, ...]) -> np.ndarray:
    """A plucked note at ``t`` seconds after its onset (zero outside [0, length + release))."""
    env = np.where(t < 0.01, t / 0.01, np.exp(-3.0 * np.maximum(t - 0.01, 0) / length))
    env = np.where((t >= 0) & (t < length * 1.3), env, 0.0)
    wave = sum(h * np.sin(2 * np.pi * freq * (k + 1) * t) for k, h in enumerate(harmonics))
    return env * wave


def _music(seed: tuple[int, ...], t: np.ndarray, arrangement: tuple[int, ...] = ()) -> np.ndarray:
    """The melody and bass come from ``seed``; an ``arrangement`` changes only how they are
    played (tempo, instrument colours, hi-hat), as a re-recorded theme does."""
    rng = np.random.default_rng([*seed, 1])
    beat = 60.0 / rng.uniform(96, 150)
    lead, bass = (1.0, 0.5, 0.25, 0.12), (1.0, 0.3)
    if arrangement:
        arr = np.random.default_rng([*arrangement, 6])
        beat /= 1.0 + arr.choice([-1, 1]) * arr.uniform(0.025, 0.035)  # about 3 % other tempo
        lead = (1.0, *arr.uniform(0.05, 0.8, 3).round(3))
        bass = (1.0, *arr.uniform(0.1, 0.7, 2).round(3))
    on, ln, pitch, phrase = _notes(rng, beat, int(rng.integers(8, 14)), 64, 88)
    b_on, b_ln, b_pitch, b_phrase = _notes(rng, 2 * beat, 4, 40, 52)
    out = np.zeros_like(t)
    for onsets, lengths, pitches, period, harm, gain in (
        (on, ln, pitch, phrase, lead, 0.16),
        (b_on, b_ln, b_pitch, b_phrase, bass, 0.14),
    ):
        local = np.mod(t, period)  # the phrase repeats
        for o, n_len, p in zip(onsets, lengths, pitches, strict=True):
            near = np.abs(local - o - n_len / 2) < n_len  # only samples this note can reach
            if near.any():
                freq = 440.0 * 2 ** ((p - 69) / 12)
                out[near] += gain * _tone(local[near] - o, freq, n_len, harm)
    return out + _hihat((*seed, *arrangement), t, beat)


def _hihat(seed: tuple[int, ...], t: np.ndarray, beat: float) -> np.ndarray:
    """A short noise burst on every off-beat; each burst's noise is seeded by its index."""
    idx = np.floor(t / beat - 0.5).astype(np.int64)  # the off-beat each sample follows
    since = t - (idx + 0.5) * beat
    out = np.zeros_like(t)
    live = (since >= 0) & (since < 0.05)
    for k in np.unique(idx[live]):
        m = live & (idx == k)
        noise = np.random.default_rng([*seed, 2, int(k)]).standard_normal(int(0.05 * 48000))
        pos = np.minimum((since[m] * 48000).astype(np.int64), len(noise) - 1)
        out[m] = 0.05 * noise[pos] * np.exp(-since[m] / 0.012)
    return out


def _speech(seed: tuple[int, ...], t: np.ndarray) -> np.ndarray:
    """Syllables with pauses; the schedule repeats every 60 s of the sound."""
    rng = np.random.default_rng([*seed, 3])
    f0 = rng.uniform(95, 230)  # one voice per seed
    n = 400
    lengths = rng.uniform(0.08, 0.28, n)
    gaps = np.where(rng.random(n) < 0.25, rng.uniform(0.25, 0.7, n), rng.uniform(0.02, 0.08, n))
    onsets = np.concatenate([[0.0], np.cumsum(lengths + gaps)[:-1]])
    period = float(onsets[-1] + lengths[-1] + gaps[-1])
    f1, f2 = rng.uniform(300, 850, n), rng.uniform(900, 2400, n)
    loud = rng.uniform(0.05, 0.14, n)
    fric = rng.random(n) < 0.2
    local = np.mod(t, period)
    k = np.clip(np.searchsorted(onsets, local, side="right") - 1, 0, n - 1)  # syllable of each
    inside = local - onsets[k]
    on = inside < lengths[k]
    env = np.sin(np.pi * np.clip(inside / lengths[k], 0, 1)) * on
    # phase of a 5-Hz vibrato of +-4 %, integrated in closed form: a function of t alone
    phase = 2 * np.pi * f0 * (t - 0.04 / (2 * np.pi * 5) * np.cos(2 * np.pi * 5 * t))
    voiced = np.zeros_like(t)
    for h in range(1, 16):  # harmonics weighted by the syllable's two formants
        w = np.exp(-(((h * f0 - f1[k]) / 180) ** 2))
        w = w + 0.6 * np.exp(-(((h * f0 - f2[k]) / 300) ** 2))
        voiced += w * np.sin(h * phase)
    sig = np.where(fric[k], 0.3 * _noise(seed, t), voiced)
    return loud[k] * env * sig


def _noise(seed: tuple[int, ...], t: np.ndarray, table: int = 65521) -> np.ndarray:
    """White noise as a function of time: a seeded table read at the sample's index."""
    values = np.random.default_rng([*seed, 4]).standard_normal(table)
    return values[np.round(t * 48000).astype(np.int64) % table]


def _jingle(seed: tuple[int, ...], t: np.ndarray) -> np.ndarray:
    rng = np.random.default_rng([*seed, 5])
    out = np.zeros_like(t)
    for i, p in enumerate(72 + _SCALE[rng.integers(2, len(_SCALE), 3)]):
        freq = 440.0 * 2 ** ((p - 69) / 12)
        out += 0.2 * _tone(t - 0.35 * i, freq, 1.2, (1.0, 0.0, 0.4, 0.0, 0.2))
    return out
