"""Lower a signal's rate by a whole factor: low-pass filters, then every factor-th sample.

The sound's prints need only 50-4000 Hz: a 48-kHz track is heard at 12 kHz, a 44.1-kHz one at
11025 Hz. Each factor of 2 is a half-band stage (a Kaiser-windowed sinc cut at a quarter of its
input rate: every other tap is zero, so a stage costs half its length), the last one long
enough to keep what would fold onto the bands below 4.4 kHz 60 dB down; an odd factor left over
is one windowed-sinc stage. The prints match those of libswresample's filter, which costs more
than the decoder itself, within a code on the demo library (docs/fingerprints.md).
"""

from __future__ import annotations

import numpy as np

BETA = 6.0  # Kaiser window: about 60 dB down outside the pass band
HALF_BAND = {False: 11, True: 27}  # taps of a half-band stage: an early one, the last one


def _sinc(length: int, cut: float) -> np.ndarray:
    """A low-pass FIR of ``length`` taps (odd) cut at ``cut`` cycles a sample, gain 1: [L]."""
    n = np.arange(length) - (length - 1) / 2
    h = 2 * cut * np.sinc(2 * cut * n) * np.kaiser(length, BETA)
    return (h / h.sum()).astype(np.float32)


class _Stage:
    """One filter and decimation by ``factor``, fed in pieces."""

    def __init__(self, taps: np.ndarray, factor: int) -> None:
        self.factor = factor
        self.used = [(j, t) for j, t in enumerate(taps) if abs(t) > 1e-9]  # half-band zeros
        self.length = len(taps)
        self.held = np.zeros(len(taps) // 2, np.float32)  # centred: output k is input k*factor

    def feed(self, x: np.ndarray) -> np.ndarray:
        x = np.concatenate([self.held, x])
        n = max(0, (len(x) - self.length) // self.factor + 1)
        out = np.zeros(n, np.float32)
        for j, tap in self.used:
            out += tap * x[j : j + n * self.factor : self.factor]
        self.held = x[n * self.factor :]
        return out


class Decimator:
    """Keep every ``factor``-th sample of a stream fed in pieces, after low-pass filtering."""

    def __init__(self, source_rate: int, factor: int) -> None:
        self.source_rate, self.factor = source_rate, factor
        self.rate = source_rate / factor
        halves, odd = 0, factor
        while odd % 2 == 0:
            halves, odd = halves + 1, odd // 2
        self.stages = [_Stage(_sinc(16 * odd + 1, 0.45 / odd), odd)] if odd > 1 else []
        self.stages += [_Stage(_sinc(HALF_BAND[k == halves - 1], 0.25), 2) for k in range(halves)]

    def feed(self, x: np.ndarray) -> np.ndarray:
        """The output samples that ``x`` [n] (the next input samples) completes: float32 [m]."""
        for stage in self.stages:
            x = stage.feed(x)
        return x

    def flush(self) -> np.ndarray:
        """The last samples, each filter reaching past the end over zeros."""
        out = np.zeros(0, np.float32)
        for k, stage in enumerate(self.stages):
            x = stage.feed(np.zeros(stage.length // 2, np.float32))
            for later in self.stages[k + 1 :]:
                x = later.feed(x)
            out = np.concatenate([out, x])
        return out
