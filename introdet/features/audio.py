"""Audio fingerprints of an episode's soundtrack, of the Haitsma-Kalker / Chromaprint kind.

``decode_audio`` demuxes only the first audio stream (no video is decoded) and resamples it to
mono ``RATE`` Hz. ``fingerprint`` cuts the signal into Hann-windowed frames every ``hop``
seconds, sums the power spectrum into ``N_BANDS`` log-spaced bands between ``F_LO`` and ``F_HI``
and keeps, per frame pair, one sign bit per band: whether its log energy rose more from one
frame to the next than the frame's median band did::

    rise[n, m] = L[n, m] - L[n-1, m];   bit[n, m] = rise[n, m] > median_m(rise[n, :])

A fixed gain and a fixed equaliser cancel in each difference (what codecs, resampling and each
episode's loudness do), the median takes away a gain that changes from frame to frame (a fade,
a decaying chord), and so goes the colour that clipping or a low mix gives a theme: its
notes and beats still rise and fall in every band at the same moments. Haitsma-Kalker's bits
(adjacent bands' differences, minus the same a frame earlier, over 300-3000 Hz) lost a theme
whose energy sits low in the spectrum, or clipped, in pieces; bands from 50 Hz keep the bass
and the drums. Frames too quiet to carry a code are flagged ``silent``: silence must not match
silence.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

import av
import numpy as np

from introdet.errors import AudioError, ConfigError
from introdet.media.container import failure, open_input

log = logging.getLogger(__name__)

RATE = 11025  # Hz of the decoded mono signal
N_BANDS = 32  # -> 32 bits per code
F_LO, F_HI = 50.0, 4000.0  # Hz, the band edges
HOP = 0.05  # seconds between frames (see docs/fingerprints.md for 0.1)
WINDOW = 0.3  # seconds of signal per frame
FLOOR = 0.01  # band energy floor, relative to the frame's mean band energy
SILENCE_DB = -55.0  # a frame whose band power is below this (dB re full scale) is silent
# sample rates a track may have: a header outside them is damaged or hostile (resampling a
# track that says 1 Hz to RATE makes 11025 samples of each one: gigabytes for one packet)
MIN_SAMPLE_RATE, MAX_SAMPLE_RATE = 1000, 768000
# the most sound decoded from one file, whatever it claims: longer than any episode or film;
# its samples at RATE take 1.3 GB (twice that while they are joined)
MAX_AUDIO_SECONDS = 8 * 3600.0


@dataclass(frozen=True)
class AudioPrint:
    """One track's fingerprint: code i describes the signal around ``start + i * hop`` seconds."""

    codes: np.ndarray  # uint32 [N]
    silent: np.ndarray  # bool [N], frames too quiet to carry a code
    hop: float  # seconds between codes
    start: float  # seconds (file timeline) of code 0
    window: float = WINDOW  # seconds of signal per frame

    def __len__(self) -> int:
        return len(self.codes)

    def time(self, index: float) -> float:
        """Seconds on the file's timeline of code ``index``."""
        return self.start + index * self.hop

    def end_time(self, index: float) -> float:
        """Seconds where a stretch whose last matching code is ``index`` ends."""
        return self.time(index) + self.hop / 2 + self.window / 2


def decode_audio(
    path: str | os.PathLike, max_seconds: float | None = None, rate: int = RATE,
    start: float = 0.0,
) -> tuple[np.ndarray, float] | None:  # fmt: skip
    """Decode the first audio stream to mono float32 at ``rate`` Hz: (samples [S], start s).

    ``start`` > 0 seeks there first (decoding starts at or a little before it; the returned
    start says where the samples begin on the file's timeline).

    Returns None for a file without an audio stream. Only the audio stream is demuxed. A packet
    the decoder rejects is skipped (a damaged stretch costs its own samples only); a file that
    cannot be opened at all, or whose sample rate is implausible (outside MIN_SAMPLE_RATE ..
    MAX_SAMPLE_RATE), raises ``AudioError``. At most MAX_AUDIO_SECONDS are decoded (a warning
    says where that stops a track).
    """
    try:
        container = open_input(path)
    except (av.FFmpegError, OSError) as e:
        raise AudioError(path, f"cannot open ({failure(e)})") from e
    with container:
        if not container.streams.audio:
            return None
        stream = container.streams.audio[0]
        if stream.codec_context.sample_rate:  # 0: not in the header, the frames say
            _check_rate(path, stream.codec_context.sample_rate)
        stream.thread_type = "AUTO"
        cap = int(MAX_AUDIO_SECONDS * rate)
        limit = cap if max_seconds is None else min(cap, int(max_seconds * rate))
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        try:
            chunks, start = _decode_stream(container, stream, rate, limit, path)
        except av.FFmpegError as e:
            raise AudioError(path, f"cannot decode the audio stream ({failure(e)})") from e
    samples = np.concatenate(chunks)[:limit] if chunks else np.zeros(0, np.float32)  # [S]
    if limit == cap and len(samples) == cap:
        log.warning("%s: only the first %g s of its sound decoded (MAX_AUDIO_SECONDS); the "
                    "rest is not heard", path, MAX_AUDIO_SECONDS)  # fmt: skip
    return samples, start


def _check_rate(path: str | os.PathLike, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"implausible audio sample rate {sample_rate} Hz (a damaged "
                               "header?)")  # fmt: skip


def _decode_stream(container, stream, rate: int, limit: int, path: str | os.PathLike):
    resampler = av.AudioResampler(format="flt", layout="mono", rate=rate)
    chunks: list[np.ndarray] = []
    start: float | None = None
    total = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        for frame in frames:
            _check_rate(path, frame.sample_rate)  # before the resampler multiplies it
            if start is None and frame.time is not None:
                start = float(frame.time)
            for out in resampler.resample(frame):
                chunks.append(out.to_ndarray().reshape(-1))  # [n]
                total += len(chunks[-1])
        if total >= limit:
            return chunks, start or 0.0
    for out in resampler.resample(None):  # flush the resampler's delay line
        chunks.append(out.to_ndarray().reshape(-1))
    return chunks, start or 0.0


def band_energies(
    samples: np.ndarray, rate: int = RATE, hop: float = HOP, window: float = WINDOW,
    n_bands: int = N_BANDS,
) -> np.ndarray:  # fmt: skip
    """Power per log-spaced band of Hann-windowed frames every ``hop`` s: float64 [F, n_bands]."""
    n_win = int(round(window * rate))
    step = int(round(hop * rate))
    if step <= 0 or n_win <= 0:
        raise ConfigError(f"hop {hop} and window {window} must be positive at {rate} Hz")
    n_frames = 0 if len(samples) < n_win else 1 + (len(samples) - n_win) // step
    n_fft = 1 << (n_win - 1).bit_length()
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)  # [n_fft/2+1]
    first = np.searchsorted(freqs, np.geomspace(F_LO, F_HI, n_bands + 1))  # [B+1] bin edges
    if np.any(np.diff(first) == 0):
        raise ConfigError(f"window {window} s is too short for {n_bands} bands: one is empty")
    hann = np.hanning(n_win).astype(np.float32)
    out = np.zeros((n_frames, n_bands))
    for lo in range(0, n_frames, 512):  # blocks of frames bound the memory of the spectra
        idx = np.arange(lo, min(lo + 512, n_frames))[:, None] * step + np.arange(n_win)
        spec = np.fft.rfft(samples[idx] * hann, n=n_fft, axis=1)[:, first[0] : first[-1]]
        power = spec.real**2 + spec.imag**2  # [f, K], the bins of the bands, in order
        out[lo : lo + len(idx)] = np.add.reduceat(power, first[:-1] - first[0], axis=1)
    return out


def codes_from_energies(energies: np.ndarray) -> np.ndarray:
    """Sign bits of the change of log band energies [F, B] from frame to frame -> uint32 codes
    [F-1] (B <= 32 bits).

    A floor 20 dB under the frame's mean band energy makes an empty band follow the frame's
    loudness instead of coding the codec's noise in it.
    """
    floor = FLOOR * energies.mean(axis=1, keepdims=True)  # [F, 1]
    logs = np.log(energies + floor + 1e-20)  # [F, B]
    rise = logs[1:] - logs[:-1]  # [F-1, B]
    bits = rise > np.median(rise, axis=1, keepdims=True)  # [F-1, B]
    weights = np.left_shift(np.uint64(1), np.arange(bits.shape[1], dtype=np.uint64))  # [B]
    return (bits.astype(np.uint64) @ weights).astype(np.uint32)  # [F-1]


def fingerprint(
    samples: np.ndarray, rate: int = RATE, hop: float = HOP, window: float = WINDOW,
    start: float = 0.0,
) -> AudioPrint:  # fmt: skip
    """Fingerprint a mono signal [S]; code i spans frames i and i+1 (from ``i * hop`` s).

    Code i is timed ``hop / 2 + window / 4`` after its first frame begins: a shared stretch
    turns a code's bits when its frames are about three quarters inside it (measured in
    docs/fingerprints.md), so this puts the first matching code where the stretch begins;
    ``AudioPrint.end_time`` does the same for the last one.
    """
    energies = band_energies(samples, rate, hop, window)  # [F, B]
    codes = codes_from_energies(energies) if len(energies) > 1 else np.zeros(0, np.uint32)
    n_win = int(round(window * rate))
    # the band power of a full-scale sine under the Hann window sums to about (n_win / 4)^2
    level = 10 * np.log10(energies.sum(axis=1) / (n_win / 4) ** 2 + 1e-20)  # [F] dB
    quiet = level < SILENCE_DB
    silent = quiet[1:] | quiet[:-1] if len(codes) else np.zeros(0, bool)  # [F-1]
    step = int(round(hop * rate)) / rate
    at = start + step / 2 + window / 4
    return AudioPrint(codes=codes, silent=silent, hop=step, start=at, window=window)


def audio_fingerprint(
    path: str | os.PathLike, max_seconds: float | None = None, hop: float = HOP,
    window: float = WINDOW, start: float = 0.0, speed: float = 1.0,
) -> AudioPrint | None:  # fmt: skip
    """Decode ``path``'s first audio stream (at most ``max_seconds``) and fingerprint it.

    ``speed`` > 1 hears a copy that plays that much fast (a PAL copy of a film: 25/23.976,
    pitch and tempo) as the original sounds: its samples are taken ``speed`` times as densely
    and heard at ``RATE``, which lowers the pitch and stretches the time back; the print's
    times stay those of the file (its hop and window are ``speed`` times shorter there).

    Returns None for a file without audio; a track shorter than one window gives an empty print.
    """
    decoded = decode_audio(path, max_seconds, rate=round(RATE * speed), start=start)
    if decoded is None:
        return None
    samples, start = decoded
    p = fingerprint(samples, RATE, hop, window, start)
    if speed == 1.0:
        return p
    return AudioPrint(p.codes, p.silent, p.hop / speed, start + (p.start - start) / speed,
                      p.window / speed)  # fmt: skip
