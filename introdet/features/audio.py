"""Audio fingerprints of an episode's soundtrack, of the Haitsma-Kalker / Chromaprint kind.

``decode_audio`` demuxes only the first audio stream (no video is decoded), mixes it to mono and
decimates it to about ``RATE`` Hz. ``fingerprint`` cuts the signal into Hann-windowed frames
every ``hop`` seconds, sums the power spectrum into ``N_BANDS`` log-spaced bands between
``F_LO`` and ``F_HI`` and keeps, per frame pair, one sign bit per band: whether its log energy
rose more from one frame to the next than the frame's median band did::

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
from introdet.features.decimation import Decimator
from introdet.media.container import failure, open_input

log = logging.getLogger(__name__)

RATE = 11025  # Hz: the decoded mono signal keeps at least this rate (12 kHz from 48 kHz)
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
# its samples at 12 kHz take 1.4 GB (twice that while they are joined)
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


@dataclass(frozen=True)
class Sound:
    """A decoded track: mono float32 samples at ``rate`` Hz from ``start`` s (file timeline)."""

    samples: np.ndarray  # float32 [S]
    rate: float
    start: float = 0.0


def decode_audio(
    path: str | os.PathLike, max_seconds: float | None = None, start: float = 0.0,
    min_rate: float = RATE,
) -> Sound | None:  # fmt: skip
    """Decode the first audio stream to mono float32 at the track's rate divided by the largest
    whole factor that keeps it at least ``min_rate`` (48 kHz -> 12 kHz, 44.1 kHz -> 11025 Hz).

    A general resampler (and even libswresample's channel mixing) costs more than the decoder
    itself; a mean of the channels and a decimation filter in numpy cost a fraction of it.
    ``start`` > 0 seeks there first (decoding starts at or a little before it; the returned
    start says where the samples begin on the file's timeline).

    Returns None for a file without an audio stream. Only the audio stream is demuxed. A packet
    the decoder rejects is skipped (a damaged stretch costs its own samples only), as are frames
    whose rate differs from the first one's; a file that cannot be opened at all, or whose
    sample rate is implausible (outside MIN_SAMPLE_RATE .. MAX_SAMPLE_RATE), raises
    ``AudioError``. At most MAX_AUDIO_SECONDS are decoded (a warning says where that stops a
    track).
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
        seconds = MAX_AUDIO_SECONDS if max_seconds is None else min(MAX_AUDIO_SECONDS, max_seconds)
        if start > 0:
            container.seek(int(start / stream.time_base), stream=stream, backward=True)
        try:
            sound, capped = _decode_stream(container, stream, seconds, min_rate, path)
        except av.FFmpegError as e:
            raise AudioError(path, f"cannot decode the audio stream ({failure(e)})") from e
    if capped and seconds == MAX_AUDIO_SECONDS:
        log.warning("%s: only the first %g s of its sound decoded (MAX_AUDIO_SECONDS); the "
                    "rest is not heard", path, MAX_AUDIO_SECONDS)  # fmt: skip
    return sound


def _check_rate(path: str | os.PathLike, sample_rate: int) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(path, f"implausible audio sample rate {sample_rate} Hz (a damaged "
                               "header?)")  # fmt: skip


BLOCK = 1 << 16  # samples decimated at once: numpy's cost per call spread over many frames


def _decode_stream(container, stream, seconds: float, min_rate: float, path):
    """(``Sound`` of at most ``seconds``, whether it stopped there) from the stream's frames."""
    decimator: Decimator | None = None
    chunks: list[np.ndarray] = []
    block: list[np.ndarray] = []  # frames' samples as decoded, not yet mixed and decimated
    kind: tuple = ()  # (sample format, channel layout) of the frames in ``block``
    weights = np.ones(1, np.float32)  # of their channels in the mono mix
    start: float | None = None
    total = pending = limit = 0
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue
        for frame in frames:
            if decimator is None:
                _check_rate(path, frame.sample_rate)
                decimator = Decimator(frame.sample_rate, max(1, int(frame.sample_rate // min_rate)))
                limit = int(seconds * decimator.rate)
                start = float(frame.time) if frame.time is not None else 0.0
            elif frame.sample_rate != decimator.source_rate:
                continue  # a stretch at another rate: not this track's sound
            # a 5.1 layout switching to stereo (as broadcasts do between programmes) changes
            # the kind of samples a block holds
            this = (frame.format.name, frame.layout.name)
            if block and (this != kind or pending >= BLOCK):
                chunks.append(decimator.feed(_mono(block, kind[0], weights)))
                total += len(chunks[-1])
                block, pending = [], 0
            if not block:
                kind, weights = this, _weights(frame.layout)
            block.append(_samples(frame, kind[0], len(weights)))
            pending += frame.samples
        if total >= limit > 0:
            break
    else:
        if decimator is not None:
            if block:
                chunks.append(decimator.feed(_mono(block, kind[0], weights)))
            chunks.append(decimator.flush())
    if decimator is None:
        return Sound(np.zeros(0, np.float32), float(RATE), 0.0), False
    samples = np.concatenate(chunks)  # [S]
    return Sound(samples[:limit], decimator.rate, start), len(samples) >= limit


_DTYPES = {"u8": np.uint8, "s16": np.int16, "s32": np.int32, "s64": np.int64, "flt": np.float32,
           "dbl": np.float64}  # fmt: skip
_SCALE = {"s16": 1 / 32768, "s32": 1 / 2**31, "s64": 1 / 2**63, "u8": 1 / 128}


def _samples(frame: av.AudioFrame, sample_format: str, channels: int) -> list[np.ndarray]:
    """A frame's samples, not copied: one [n] a channel (planar) or one [n * C] (packed).
    Reading the planes' buffers costs a quarter of ``to_ndarray`` (which stacks them), the most
    of any step after the decoder's own; the buffers are padded, so the count is the frame's."""
    dtype = _DTYPES[sample_format.rstrip("p")]
    if sample_format.endswith("p"):
        return [np.frombuffer(p, dtype, frame.samples) for p in frame.planes]
    return [np.frombuffer(frame.planes[0], dtype, frame.samples * channels)]


# a channel's weight in the mono mix, as a stereo fold-down of surround sound weighs it (ITU-R
# BS.775: the centre and the surrounds at -3 dB, the LFE left out): an episode in 5.1 among
# stereo ones sounds as their mono does; channels not named here weigh 0.5
DOWNMIX = {"FL": 1.0, "FR": 1.0, "FC": 0.707, "LFE": 0.0, "BL": 0.707, "BR": 0.707,
           "SL": 0.707, "SR": 0.707, "BC": 0.707}  # fmt: skip
_WEIGHTS: dict[str, np.ndarray] = {}  # by layout name: the channels' names cost a frame's time


def _weights(layout: av.AudioLayout) -> np.ndarray:
    """The mono mix's weights of a layout's channels, in order, summing to 1: float32 [C]."""
    if layout.name not in _WEIGHTS:
        names = [c.name for c in layout.channels]
        w = np.array([DOWNMIX.get(n, 0.5) for n in names], np.float32)
        if len(w) == 1 or not w.any():
            w = np.ones(len(names), np.float32)
        _WEIGHTS[layout.name] = w / w.sum()
    return _WEIGHTS[layout.name]


def _mono(frames: list[list[np.ndarray]], sample_format: str, weights: np.ndarray) -> np.ndarray:
    """The mono mix (``weights`` [C], of ``_weights``) of frames' samples (``_samples`` of
    each): float32 [n], full scale 1 whatever the sample format."""
    if sample_format.endswith("p"):
        x = np.stack([np.concatenate([f[c] for f in frames]) for c in range(len(frames[0]))])
    else:  # packed: the channels interleaved
        x = np.concatenate([f[0] for f in frames]).reshape(-1, len(weights)).T  # [C, n]
    name = sample_format.rstrip("p")
    if name == "u8":
        x = x.astype(np.float32) - 128
    if name in _SCALE:
        x = x.astype(np.float32) * np.float32(_SCALE[name])
    if len(x) == 1:
        return x[0].astype(np.float32)
    return weights @ x.astype(np.float32, copy=False)


def band_energies(
    samples: np.ndarray, rate: float = RATE, hop: float = HOP, window: float = WINDOW,
    n_bands: int = N_BANDS,
) -> np.ndarray:  # fmt: skip
    """Power per log-spaced band of Hann-windowed frames every ``hop`` s: float64 [F, n_bands].

    Frame i begins at sample ``round(i * hop * rate)``: the frames keep time at any rate (a
    print of a 48-kHz track and one of a 44.1-kHz track have the same hop)."""
    n_win = int(round(window * rate))
    step = hop * rate
    if step < 1 or n_win <= 0:
        raise ConfigError(f"hop {hop} and window {window} must be positive at {rate} Hz")
    n_frames = 0 if len(samples) < n_win else 1 + int((len(samples) - n_win) / step)
    begins = np.round(np.arange(n_frames) * step).astype(np.int64)  # [F]
    begins = begins[begins + n_win <= len(samples)]
    n_fft = 1 << (n_win - 1).bit_length()
    freqs = np.fft.rfftfreq(n_fft, 1 / rate)  # [n_fft/2+1]
    first = np.searchsorted(freqs, np.geomspace(F_LO, F_HI, n_bands + 1))  # [B+1] bin edges
    if np.any(np.diff(first) == 0):
        raise ConfigError(f"window {window} s is too short for {n_bands} bands: one is empty")
    hann = np.hanning(n_win).astype(np.float32)
    samples = np.asarray(samples, np.float32)
    out = np.zeros((len(begins), n_bands))
    for lo in range(0, len(begins), 256):  # blocks of frames bound the memory of the spectra
        idx = begins[lo : lo + 256, None] + np.arange(n_win)  # [f, n_win]
        spec = np.fft.rfft(samples[idx] * hann, n=n_fft, axis=1)[:, first[0] : first[-1]]
        power = spec.real**2 + spec.imag**2  # [f, K] float32, the bins of the bands, in order
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
    samples: np.ndarray, rate: float = RATE, hop: float = HOP, window: float = WINDOW,
    start: float = 0.0,
) -> AudioPrint:  # fmt: skip
    """Fingerprint a mono signal [S] at ``rate`` Hz; code i spans frames i and i+1 (from
    ``i * hop`` s).

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
    at = start + hop / 2 + window / 4
    return AudioPrint(codes=codes, silent=silent, hop=hop, start=at, window=window)


def audio_fingerprint(
    path: str | os.PathLike, max_seconds: float | None = None, hop: float = HOP,
    window: float = WINDOW, start: float = 0.0, speed: float = 1.0,
) -> AudioPrint | None:  # fmt: skip
    """Decode ``path``'s first audio stream (at most ``max_seconds``) and fingerprint it.

    ``speed`` > 1 hears a copy that plays that much fast (a PAL copy of a film: 25/23.976,
    pitch and tempo) as the original sounds: its samples are heard as if taken at ``1/speed``
    of their rate, which lowers the pitch and stretches the time back; the print's times stay
    those of the file (its hop and window are ``speed`` times shorter there).

    Returns None for a file without audio; a track shorter than one window gives an empty print.
    """
    sound = decode_audio(path, max_seconds, start=start, min_rate=RATE * speed)
    if sound is None:
        return None
    p = fingerprint(sound.samples, sound.rate / speed, hop, window, sound.start)
    if speed == 1.0:
        return p
    at = sound.start + (p.start - sound.start) / speed
    return AudioPrint(p.codes, p.silent, p.hop / speed, at, p.window / speed)
