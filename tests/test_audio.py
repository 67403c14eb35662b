"""Audio fingerprints of real encoded files: decoding, codes, silence, robustness.

The soundtracks are made here: ``theme_wave`` is a seeded synthetic song (notes with harmonics,
a bass line and noise hits), ``dialogue_wave`` a seeded stand-in for speech (band-limited noise
bursts and gliding tones); ``write_audio`` encodes them with PyAV. test_matching and
benchmarks/fingerprints.py build their episodes from the same pieces.
"""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import AudioError, ConfigError
from introdet.features.audio import (
    F_HI,
    F_LO,
    N_BANDS,
    RATE,
    AudioPrint,
    audio_fingerprint,
    band_energies,
    decode_audio,
    fingerprint,
)
from introdet.features.fingerprints import EpisodePrints
from introdet.features.picture import hamming

SR = 44100
MAKE_RATE = 48000  # the waves are made at this rate, then resampled: one signal at every rate


def _at_rate(wave: np.ndarray, rate: int) -> np.ndarray:
    """A wave [S] made at MAKE_RATE, linearly resampled to ``rate``: float32 [S']."""
    if rate == MAKE_RATE:
        return wave
    n = int(len(wave) * rate / MAKE_RATE)
    return np.interp(np.arange(n) * MAKE_RATE / rate, np.arange(len(wave)), wave).astype(np.float32)


def theme_wave(seconds: float, seed: int = 7, rate: int = SR) -> np.ndarray:
    """A seeded synthetic song: float32 [seconds * rate] in [-1, 1]."""
    return _at_rate(_theme(seconds, seed, MAKE_RATE), rate)


def _theme(seconds: float, seed: int, rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = np.zeros(n, np.float32)
    t0 = 0.0
    while t0 < seconds:  # melody: notes of 0.15-0.4 s with three harmonics
        dur = float(rng.uniform(0.15, 0.4))
        f = 220.0 * 2 ** (int(rng.integers(0, 24)) / 12)
        i0, i1 = int(t0 * rate), min(n, int((t0 + dur) * rate))
        t = np.arange(i1 - i0) / rate
        env = np.exp(-3 * t / dur)
        for k, amp in ((1, 0.3), (2, 0.15), (3, 0.08)):
            out[i0:i1] += (amp * env * np.sin(2 * np.pi * f * k * t)).astype(np.float32)
        t0 += dur
    t = np.arange(n) / rate  # bass: one note per 0.5 s
    bass = 55.0 * 2 ** (rng.integers(0, 12, size=int(seconds * 2) + 1) / 12)
    out += (0.15 * np.sin(2 * np.pi * bass[(t * 2).astype(int)] * t)).astype(np.float32)
    for hit in np.arange(0, seconds, 0.5):  # noise hits
        i0 = int(hit * rate)
        m = min(n - i0, int(0.08 * rate))
        out[i0 : i0 + m] += (0.2 * rng.standard_normal(m) * np.exp(-np.arange(m) / 400)).astype(
            np.float32
        )
    return out / np.abs(out).max() * 0.8


def dialogue_wave(seconds: float, seed: int, rate: int = SR) -> np.ndarray:
    """Seeded speech-like sound: band-limited noise bursts and gliding tones, float32 [S]."""
    return _at_rate(_dialogue(seconds, seed, MAKE_RATE), rate)


def _room_tone(n: int, rng: np.random.Generator) -> np.ndarray:
    """Quiet low-passed noise (about -40 dB), the ambience under every scene: float32 [n]."""
    spec = np.fft.rfft(rng.standard_normal(n))
    spec /= 1 + np.fft.rfftfreq(n, 1 / MAKE_RATE) / 500
    bed = np.fft.irfft(spec, n)
    return (0.01 * bed / (bed.std() + 1e-9)).astype(np.float32)


def _dialogue(seconds: float, seed: int, rate: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    n = int(seconds * rate)
    out = _room_tone(n, rng)
    t0 = 0.0
    while t0 < seconds:
        dur = float(rng.uniform(0.1, 0.5))
        i0, i1 = int(t0 * rate), min(n, int((t0 + dur) * rate))
        m = i1 - i0
        spec = np.fft.rfft(rng.standard_normal(m))
        freqs = np.fft.rfftfreq(m, 1 / rate)
        centre, width = rng.uniform(300, 3000), rng.uniform(100, 800)
        spec *= np.exp(-(((freqs - centre) / width) ** 2))
        burst = np.fft.irfft(spec, m)
        f = rng.uniform(100, 250) * (1 + np.linspace(0, rng.uniform(-0.3, 0.3), m))
        burst = burst / (np.abs(burst).max() + 1e-9) + 0.5 * np.sin(2 * np.pi * np.cumsum(f) / rate)
        out[i0:i1] += (burst * np.hanning(m) * rng.uniform(0.2, 0.6)).astype(np.float32)
        t0 += dur + float(rng.uniform(0.0, 0.3))
    return out


def episode_wave(theme: np.ndarray, before: float, after: float, seed: int, rate: int = SR):
    """Dialogue, the theme, dialogue: float32 [S]; the theme starts at ``before`` seconds."""
    return np.concatenate(
        [dialogue_wave(before, seed, rate), theme, dialogue_wave(after, seed + 1000, rate)]
    )


def write_audio(
    path: Path, wave: np.ndarray, rate: int = SR, codec: str = "aac", layout: str = "mono",
    gain_db: float = 0.0,
) -> Path:  # fmt: skip
    """Encode a mono float wave [S] at ``rate`` into ``path`` (container from its suffix)."""
    wave = (wave * 10 ** (gain_db / 20)).astype(np.float32)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate, layout=layout)
        stream.codec_context.open()
        step = stream.codec_context.frame_size or 1024
        convert = av.AudioResampler(format=stream.codec_context.format.name, layout=layout)
        channels = 2 if layout == "stereo" else 1
        pts = 0
        for i in range(0, len(wave), step):
            chunk = np.repeat(wave[None, i : i + step], channels, axis=0)  # [C, n]
            frame = av.AudioFrame.from_ndarray(
                np.ascontiguousarray(chunk), format="fltp", layout=layout
            )
            frame.sample_rate, frame.pts = rate, pts
            pts += chunk.shape[1]
            for converted in convert.resample(frame):
                for packet in stream.encode(converted):
                    container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def resampled_print(path: Path, duration: float) -> EpisodePrints:
    """The whole track's print as prints version 2 heard it, the reference of the decimated
    ones: libswresample to mono RATE Hz, then the same codes."""
    chunks, start = [], None
    with av.open(str(path)) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        for frame in container.decode(container.streams.audio[0]):
            start = float(frame.time) if start is None else start
            chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
        chunks += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return EpisodePrints(duration, fingerprint(np.concatenate(chunks), RATE, start=start))


def _aligned_error(a: AudioPrint, b: AudioPrint) -> float:
    """Mean bit error rate of two prints of one signal at their best lag of up to 2 codes."""
    n = min(len(a), len(b)) - 10
    return min(
        float((hamming(a.codes[5 : 5 + n], b.codes[5 + lag : 5 + lag + n]) / 32).mean())
        for lag in range(-2, 3)
    )


def test_decode_mixes_to_mono_and_decimates_to_the_print_rate(tmp_path):
    wave = dialogue_wave(3.0, seed=1, rate=48000)
    path = write_audio(tmp_path / "a.webm", wave, 48000, "libopus", "stereo")
    sound = decode_audio(path)
    assert sound.samples.dtype == np.float32 and sound.samples.ndim == 1
    assert sound.rate == 12000.0  # 48 kHz / 4: the largest whole factor that stays >= RATE
    assert abs(len(sound.samples) / sound.rate - 3.0) < 0.1
    assert abs(sound.start) < 0.1
    assert len(decode_audio(path, max_seconds=1.0).samples) == 12000
    at_44k = decode_audio(write_audio(tmp_path / "b.mp4", dialogue_wave(2.0, seed=1), SR))
    assert at_44k.rate == RATE


@pytest.mark.parametrize("codec,suffix", [("pcm_s16le", "wav"), ("aac", "mp4")])
def test_decimation_keeps_the_bands_and_drops_what_would_fold_into_them(tmp_path, codec, suffix):
    t = np.arange(2 * 48000) / 48000
    low = 0.3 * np.sin(2 * np.pi * 1000.0 * t)
    high = 0.3 * np.sin(2 * np.pi * 11500.0 * t)  # at 12 kHz it would sound at 500 Hz
    near = 0.3 * np.sin(2 * np.pi * 8300.0 * t)  # and this at 3700 Hz, in the top band
    sound = decode_audio(write_audio(tmp_path / f"t.{suffix}",
                                     (low + high + near).astype(np.float32) / 2, 48000, codec,
                                     "stereo"))  # fmt: skip
    spec = np.abs(np.fft.rfft(sound.samples[2400:-2400]))
    freqs = np.fft.rfftfreq(len(sound.samples) - 4800, 1 / sound.rate)
    at = lambda f: spec[np.abs(freqs - f) < 20].max()  # noqa: E731
    assert at(1000.0) > 100 * at(500.0)  # the folded tones 40 dB under the kept one
    assert at(1000.0) > 100 * at(3700.0)
    level = np.sqrt(np.mean(sound.samples[2400:-2400] ** 2))  # stereo mixed, not summed
    assert abs(level - 0.15 / np.sqrt(2)) < 0.015  # the 1-kHz tone alone, at half scale


def test_file_without_audio_gives_none(tmp_path):
    frames = [np.full((64, 64, 3), 40 * i, np.uint8) for i in range(5)]
    path = write_video(tmp_path / "v.mp4", frames, fps=5.0)
    assert audio_fingerprint(path) is None


def test_unreadable_file_raises_audio_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a media file at all" * 10)
    with pytest.raises(AudioError, match="bad.mp4"):
        audio_fingerprint(bad)


def test_print_shape_and_timing():
    wave = dialogue_wave(5.0, seed=2, rate=RATE)
    p = fingerprint(wave, RATE, hop=0.1, window=0.4)
    assert isinstance(p, AudioPrint)
    assert p.codes.dtype == np.uint32 and p.silent.shape == p.codes.shape
    assert abs(len(p) * p.hop - (5.0 - 0.4)) <= 0.1  # one code per hop after the first window
    assert abs(p.hop - 0.1) < 1e-3
    assert abs(p.time(0) - (0.05 + 0.1)) < 1e-3  # hop / 2 + window / 4


def test_codes_survive_codec_rate_layout_and_gain(tmp_path):
    wave = theme_wave(10.0, seed=3)
    a = audio_fingerprint(write_audio(tmp_path / "a.mp4", wave, SR, "aac", "stereo"))
    wave48 = theme_wave(10.0, seed=3, rate=48000)
    b = audio_fingerprint(
        write_audio(tmp_path / "b.webm", wave48, 48000, "libopus", "mono", gain_db=-6)
    )
    assert abs(a.start - b.start) < 0.03
    assert _aligned_error(a, b) < 0.15
    reversed_a = AudioPrint(a.codes[::-1].copy(), a.silent[::-1].copy(), a.hop, a.start)
    assert 0.4 < _aligned_error(a, reversed_a) < 0.6


def _surround(path: Path, channels: dict[str, np.ndarray], rate: int = 48000) -> Path:
    """A 5.1 AAC track with these waves in these channels (FL, FR, FC, LFE, BL, BR), the
    others silent."""
    names = ["FL", "FR", "FC", "LFE", "BL", "BR"]
    n = max(len(w) for w in channels.values())
    planes = np.zeros((6, n), np.float32)
    for name, w in channels.items():
        planes[names.index(name), : len(w)] = w
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=rate, layout="5.1")
        for i in range(0, n, 1024):
            frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(planes[:, i : i + 1024]),
                                               format="fltp", layout="5.1")  # fmt: skip
            frame.sample_rate, frame.pts = rate, i
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_surround_sound_is_folded_down_as_stereo_is(tmp_path):
    """The mono mix of 5.1 weighs its channels as a stereo fold-down does: the LFE left out,
    the centre and surrounds at -3 dB; an episode in 5.1 prints as its stereo copy."""
    theme = theme_wave(10.0, seed=3, rate=48000)
    rumble = 0.8 * np.sin(2 * np.pi * 40.0 * np.arange(len(theme)) / 48000).astype(np.float32)
    room = 0.05 * dialogue_wave(10.0, seed=9, rate=48000)
    five = _surround(tmp_path / "a.mp4", {"FL": theme, "FR": theme, "LFE": rumble, "BL": room})
    sound = decode_audio(five)
    spec = np.abs(np.fft.rfft(sound.samples))
    freqs = np.fft.rfftfreq(len(sound.samples), 1 / sound.rate)
    assert spec[np.abs(freqs - 40.0) < 1].max() < 0.1 * spec.max()  # no LFE in the mix
    stereo = audio_fingerprint(write_audio(tmp_path / "b.mp4", theme, 48000, "aac", "stereo"))
    assert _aligned_error(audio_fingerprint(five), stereo) < 0.15


@pytest.mark.parametrize("codec,suffix", [("libmp3lame", "mp3"), ("ac3", "mkv")])
def test_other_codecs_decode(tmp_path, codec, suffix):
    wave = theme_wave(4.0, seed=4)
    reference = audio_fingerprint(write_audio(tmp_path / "ref.wav", wave, SR, "pcm_s16le"))
    p = audio_fingerprint(write_audio(tmp_path / f"a.{suffix}", wave, SR, codec, "stereo"))
    assert abs(p.start - reference.start) < 0.03  # an encoder delay at most
    assert _aligned_error(reference, p) < 0.15


def test_silence_is_flagged(tmp_path):
    wave = np.concatenate([np.zeros(3 * SR, np.float32), theme_wave(3.0, seed=5)])
    p = audio_fingerprint(write_audio(tmp_path / "s.mp4", wave))
    t = p.start + np.arange(len(p)) * p.hop
    assert p.silent[t < 2.5].all()
    assert not p.silent[t > 3.5].any()


def test_band_energies_put_a_tone_in_its_band():
    t = np.arange(2 * RATE) / RATE
    tone = np.sin(2 * np.pi * 1000.0 * t).astype(np.float32)
    energies = band_energies(tone)  # [F, 33]
    edges = np.geomspace(F_LO, F_HI, N_BANDS + 1)
    band = int(np.searchsorted(edges, 1000.0)) - 1
    assert (energies.argmax(axis=1) == band).all()
    assert energies[:, band].mean() > 20 * np.delete(energies, band, axis=1).max()
    with pytest.raises(ConfigError):
        band_energies(tone, window=0.01)  # bands narrower than one FFT bin
