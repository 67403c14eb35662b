"""Sound synthesis from numpy alone: FM tones, plucked strings, drums, speech-like babble.

Built independently of ``introdet.demo`` on purpose: a second library made another way catches
detector behaviour tuned to one generator's sounds. Every function returns mono float32 at the
requested sample rate and depends only on its arguments (an ``rng`` or a seed), so a series'
theme is sample-identical in every episode that asks for it with the same seed and rate.
"""

from __future__ import annotations

import numpy as np

A4 = 440.0
MAJOR = [0, 2, 4, 5, 7, 9, 11]
MINOR = [0, 2, 3, 5, 7, 8, 10]


def hz(semitones_from_a4: float) -> float:
    return A4 * 2.0 ** (semitones_from_a4 / 12.0)


def envelope(n: int, sr: int, attack=0.01, release=0.05, decay: float | None = None) -> np.ndarray:
    """Linear attack and release, optional exponential decay (time constant in s)."""
    t = np.arange(n) / sr
    env = np.ones(n, np.float32)
    a, r = min(n, max(1, int(attack * sr))), max(1, int(release * sr))
    env[:a] = np.linspace(0, 1, a, dtype=np.float32)
    if decay:
        env *= np.exp(-t / decay).astype(np.float32)
    if n > r:
        env[-r:] *= np.linspace(1, 0, r, dtype=np.float32)
    return env


def fm_tone(f: float, dur: float, sr: int, ratio=2.0, index=3.0, decay=0.4) -> np.ndarray:
    """Two-operator FM: the modulation index decays, so a note starts bright and mellows."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    idx = index * np.exp(-t / max(decay, 1e-3))
    x = np.sin(2 * np.pi * f * t + idx * np.sin(2 * np.pi * f * ratio * t))
    return (x * envelope(n, sr, 0.005, 0.04, decay * 2)).astype(np.float32)


def pluck(f: float, dur: float, sr: int, rng: np.random.Generator, damp=0.996) -> np.ndarray:
    """Karplus-Strong: a noise burst through a delay line that averages neighbours, one period
    (block) at a time so numpy does the inner loop."""
    n, p = int(dur * sr), max(2, int(round(sr / f)))
    out = np.zeros(n + p + 1, np.float32)
    out[: p + 1] = rng.uniform(-1, 1, p + 1)
    for start in range(p + 1, n + p + 1, p):
        stop = min(start + p, n + p + 1)
        prev = out[start - p - 1 : stop - p]
        out[start:stop] = damp * 0.5 * (prev[1:] + prev[:-1])[: stop - start]
    return (out[:n] * envelope(n, sr, 0.001, 0.03)).astype(np.float32)


def organ(f: float, dur: float, sr: int, harmonics=(1.0, 0.5, 0.25, 0.12)) -> np.ndarray:
    """Additive harmonics with a soft attack: a pad / chord voice."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    x = sum(a * np.sin(2 * np.pi * f * (i + 1) * t) for i, a in enumerate(harmonics))
    return (x / sum(harmonics) * envelope(n, sr, 0.06, 0.1)).astype(np.float32)


def kick(sr: int, dur=0.35, f0=110.0, f1=42.0) -> np.ndarray:
    """Sine whose pitch drops fast: nearly all energy below 150 Hz."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    freq = f1 + (f0 - f1) * np.exp(-t / 0.04)
    x = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.exp(-t / 0.12)
    return x.astype(np.float32)


def snare(sr: int, rng: np.random.Generator, dur=0.18) -> np.ndarray:
    n = int(dur * sr)
    t = np.arange(n) / sr
    x = 0.6 * rng.standard_normal(n) + 0.5 * np.sin(2 * np.pi * 190 * t)
    return (x * np.exp(-t / 0.05)).astype(np.float32)


def hat(sr: int, rng: np.random.Generator, dur=0.05) -> np.ndarray:
    n = int(dur * sr)
    x = np.diff(rng.standard_normal(n + 1))  # differencing: a crude high-pass
    return (0.3 * x * np.exp(-np.arange(n) / sr / 0.015)).astype(np.float32)


def band_filter(x: np.ndarray, sr: int, centers, widths, gains=None) -> np.ndarray:
    """Sum of Gaussian pass-bands applied in the frequency domain (formants, filtered noise)."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    gains = gains or [1.0] * len(centers)
    shape = sum(
        g * np.exp(-0.5 * ((f - c) / w) ** 2)
        for c, w, g in zip(centers, widths, gains, strict=True)
    )
    return np.fft.irfft(spec * shape, len(x)).astype(np.float32)


def lowpass(x: np.ndarray, sr: int, cutoff: float) -> np.ndarray:
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    return np.fft.irfft(spec / (1 + (f / cutoff) ** 4), len(x)).astype(np.float32)


def place(buf: np.ndarray, x: np.ndarray, at: int, gain=1.0) -> None:
    """Add x into buf from sample ``at`` on, clipped to the buffer."""
    if at >= len(buf) or at + len(x) <= 0:
        return
    lo = max(0, -at)
    hi = min(len(x), len(buf) - at)
    buf[at + lo : at + hi] += gain * x[lo:hi]


def normalise(x: np.ndarray, peak=0.9) -> np.ndarray:
    m = float(np.max(np.abs(x))) or 1.0
    return (x * (peak / m)).astype(np.float32)


# --- speech-like sound ------------------------------------------------------------------

VOWELS = [
    (730, 1090, 2440),
    (270, 2290, 3010),
    (300, 870, 2240),
    (530, 1840, 2480),
    (640, 1190, 2390),
    (490, 1350, 1690),
    (660, 1720, 2410),
]


def syllable(sr: int, rng: np.random.Generator, f0: float, dur: float) -> np.ndarray:
    """A voiced syllable: a pulse train with a drifting pitch through three formants, with an
    optional noisy consonant onset (formant-filtered noise)."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    pitch = f0 * (
        1 + 0.08 * np.sin(2 * np.pi * rng.uniform(2, 6) * t) + rng.uniform(-0.1, 0.1) * t / dur
    )
    phase = np.cumsum(pitch / sr)
    pulses = np.diff(np.floor(phase), prepend=0.0).astype(np.float32)
    formants = VOWELS[rng.integers(len(VOWELS))]
    voiced = band_filter(pulses, sr, formants, (80, 120, 160), (1.0, 0.6, 0.3))
    x = normalise(voiced, 1.0) * envelope(n, sr, 0.02, 0.04)
    if rng.random() < 0.5:  # fricative / plosive onset
        m = min(n, int(rng.uniform(0.03, 0.08) * sr))
        burst = band_filter(
            rng.standard_normal(m).astype(np.float32), sr, [rng.uniform(2500, 6000)], [900]
        )
        x[:m] += 0.8 * normalise(burst, 1.0) * envelope(m, sr, 0.003, 0.01)
    return x.astype(np.float32)


def speech(
    sr: int, dur: float, rng: np.random.Generator, f0: float | None = None, density=0.75
) -> np.ndarray:
    """Babble of words (2-5 syllables) separated by pauses; ``density`` ~ fraction voiced."""
    n = int(dur * sr)
    out = np.zeros(n, np.float32)
    f0 = f0 or rng.uniform(95, 230)
    pos = int(rng.uniform(0, 0.2) * sr)
    while pos < n:
        for _ in range(rng.integers(2, 6)):
            d = rng.uniform(0.09, 0.28)
            syl = syllable(sr, rng, f0 * rng.uniform(0.9, 1.12), d)
            place(out, syl, pos, rng.uniform(0.5, 1.0))
            pos += len(syl)
        pos += int(rng.uniform(0.08, 0.5 / density) * sr)
    return out


def room_tone(sr: int, dur: float, rng: np.random.Generator) -> np.ndarray:
    """Per-episode background: low-passed noise with a slow swell and a faint mains hum."""
    n = int(dur * sr)
    t = np.arange(n) / sr
    noise = lowpass(rng.standard_normal(n).astype(np.float32), sr, rng.uniform(300, 1500))
    swell = 0.6 + 0.4 * np.sin(2 * np.pi * rng.uniform(0.03, 0.2) * t + rng.uniform(0, 6))
    hum = 0.1 * np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t)
    return (normalise(noise, 1.0) * swell + hum).astype(np.float32)


def hiss(sr: int, dur: float, rng: np.random.Generator) -> np.ndarray:
    """Loud broadband noise for the 0 dB SNR trap: white + low-passed rumble + crackles."""
    n = int(dur * sr)
    x = rng.standard_normal(n).astype(np.float32)
    x = 0.6 * x + 0.8 * normalise(lowpass(x, sr, 400), 1.0)
    clicks = rng.random(n) < 3.0 / sr
    x[clicks] += rng.uniform(-4, 4, int(clicks.sum()))
    return x.astype(np.float32)
