"""Pairwise alignment: a shared theme found at its place in two real encoded episodes, nothing
shared by unrelated tracks, silence never matching silence, and the cost of a 10-minute pair."""

from __future__ import annotations

import time

import numpy as np
import pytest

from introdet.detection.matching import (
    Match,
    audio_times,
    candidate_offsets,
    match_audio,
    match_pictures,
    shared_segments,
)
from introdet.errors import MatchingError
from introdet.features.audio import RATE, audio_fingerprint, fingerprint
from tests.test_audio import SR, dialogue_wave, episode_wave, theme_wave, write_audio

THEME = 20.0
BEFORE_A, BEFORE_B = 7.33, 12.06  # cold opens of different lengths, off the hop grid


@pytest.fixture(scope="module")
def episodes(tmp_path_factory):
    """Two episodes sharing the theme (AAC stereo 44.1 kHz; Opus mono 48 kHz at -6 dB) and an
    unrelated one with another theme: their paths."""
    tmp = tmp_path_factory.mktemp("episodes")
    wave_a = episode_wave(theme_wave(THEME, seed=11), BEFORE_A, 4.0, seed=1)
    wave_b = episode_wave(theme_wave(THEME, 11, 48000), BEFORE_B, 4.0, seed=2, rate=48000)
    wave_c = episode_wave(theme_wave(THEME, seed=12), 5.0, 4.0, seed=3)
    return (
        write_audio(tmp / "a.mp4", wave_a, SR, "aac", "stereo"),
        write_audio(tmp / "b.webm", wave_b, 48000, "libopus", gain_db=-6),
        write_audio(tmp / "c.mp4", wave_c, SR, "aac"),
    )


@pytest.fixture(scope="module")
def prints(episodes):
    return tuple(audio_fingerprint(path) for path in episodes)


def test_shared_theme_found_at_its_place_in_both(prints):
    a, b, _ = prints
    found = match_audio(a, b)
    assert len(found) == 1, found
    start_a, end_a, start_b, _ = audio_times(found[0], a, b)
    length = end_a - start_a
    assert abs(start_a - BEFORE_A) <= 0.1, start_a
    assert abs(start_b - BEFORE_B) <= 0.1, start_b
    assert abs(length - THEME) <= 0.2, length
    assert found[0].ber < 0.2


def test_unrelated_tracks_share_nothing(prints):
    a, b, c = prints
    assert match_audio(a, c) == []
    assert match_audio(c, b) == []


def test_silence_does_not_match_silence(tmp_path):
    wave_a = np.concatenate([dialogue_wave(5, 5), np.zeros(20 * SR, np.float32)])
    wave_b = np.concatenate([np.zeros(20 * SR, np.float32), dialogue_wave(5, 6)])
    a = audio_fingerprint(write_audio(tmp_path / "a.mp4", wave_a))
    b = audio_fingerprint(write_audio(tmp_path / "b.mp4", wave_b))
    assert a.silent.sum() > 150 and b.silent.sum() > 150
    assert match_audio(a, b) == []


def test_theme_twice_in_b_gives_two_matches():
    theme = theme_wave(12.0, seed=13, rate=RATE)
    a = fingerprint(np.concatenate([dialogue_wave(4, 7, RATE), theme, dialogue_wave(4, 8, RATE)]))
    wave_b = [dialogue_wave(3, 9, RATE), theme, dialogue_wave(10, 10, RATE), theme]
    b = fingerprint(np.concatenate(wave_b))
    found = match_audio(a, b)
    assert len(found) == 2, found
    assert sorted(abs(a.time(m.start_a) - 4.0) <= 0.1 for m in found) == [True, True]
    starts_b = sorted(b.time(m.start_b) for m in found)
    assert np.allclose(starts_b, [3.0, 25.0], atol=0.1), starts_b


def test_ten_minute_pair_is_fast():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 2**32, 6000, dtype=np.uint32)
    b = rng.integers(0, 2**32, 6000, dtype=np.uint32)
    flips = rng.random((300, 32)) < 0.1  # the shared stretch with 10 % of its bits flipped
    noise = (flips.astype(np.uint64) << np.arange(32, dtype=np.uint64)).sum(1).astype(np.uint32)
    b[4000:4300] = a[1000:1300] ^ noise
    t0 = time.perf_counter()
    found = shared_segments(a, b, bits=32)
    elapsed = time.perf_counter() - t0
    assert elapsed < 1.0, elapsed
    assert len(found) == 1
    m = found[0]
    assert abs(m.start_a - 1000) <= 1 and abs(m.start_b - 4000) <= 1 and abs(m.length - 300) <= 2


def test_candidate_offsets_rank_the_true_offset_first():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 2**32, 800, dtype=np.uint32)
    b = rng.integers(0, 2**32, 900, dtype=np.uint32)
    b[500:600] = a[100:200]
    use_a, use_b = np.ones(800, bool), np.ones(900, bool)
    assert candidate_offsets(a, b, 32, use_a, use_b)[0] == 400


def test_picture_hash_sequences_align():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 2**63, 120, dtype=np.uint64)
    b = rng.integers(0, 2**63, 150, dtype=np.uint64)
    b[70:100] = a[20:50] ^ np.uint64(0b101)  # two bits differ per second
    flat_b = np.zeros(150, bool)
    found = match_pictures(a, b, flat_b=flat_b)
    assert found == [Match(20, 70, 30, 2 / 64)]
    flat_b[70:100] = True
    assert match_pictures(a, b, flat_b=flat_b) == []


def test_bad_inputs_raise_matching_error():
    codes = np.zeros(10, np.uint32)
    with pytest.raises(MatchingError, match="64 bits"):
        shared_segments(codes, codes, bits=64)
    with pytest.raises(MatchingError, match="skip mask"):
        shared_segments(codes, codes, bits=32, skip_a=np.zeros(3, bool))
    with pytest.raises(MatchingError, match="unsigned"):
        shared_segments(codes.astype(np.float32), codes, bits=32)


def test_a_still_title_card_is_matched():
    rng = np.random.default_rng(4)
    a = rng.integers(0, 2**63, 100, dtype=np.uint64)
    b = rng.integers(0, 2**63, 100, dtype=np.uint64)
    card = rng.integers(0, 2**63, dtype=np.uint64)
    a[30:50] = card  # 20 s of one still picture, then 10 s of moving pictures
    a[50:60] = rng.integers(0, 2**63, 10, dtype=np.uint64)
    b[55:85] = a[30:60]
    assert match_pictures(a, b) == [Match(30, 55, 30, 0.0)]
