"""A "previously on" recap: the clips of the episode before that open an episode, found in its
sound (``detection/recaps.py``), and what is not one: a jingle both episodes open with, two
clips, the intro quoted."""

from __future__ import annotations

import numpy as np
import pytest

from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.postprocess import Segment
from introdet.detection.recaps import find_recaps
from introdet.detection.season import SeasonConfig, SeasonEpisode
from introdet.features.audio import AudioPrint
from introdet.features.fingerprints import EpisodePrints

HOP = 0.05
CFG = SeasonConfig()


def _codes(seconds: float, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2**32, int(seconds / HOP), dtype=np.uint64)


def _prints(codes: np.ndarray) -> EpisodePrints:
    audio = AudioPrint(codes.astype(np.uint32), np.zeros(len(codes), bool), HOP, HOP / 2)
    return EpisodePrints(len(codes) * HOP, audio)


def _quoting(before: np.ndarray, own: np.ndarray, quotes: list[tuple[float, float, float]]):
    """``own`` with [at, at + seconds) replaced by ``before`` from ``source`` on."""
    out = own.copy()
    for at, source, seconds in quotes:
        a, s, n = int(at / HOP), int(source / HOP), int(seconds / HOP)
        out[a : a + n] = before[s : s + n]
    return out


def _episodes(quotes, intro_at: float = 12.0):
    before, own = _codes(300, 1), _codes(300, 2)
    results = [SeasonEpisode(intro=Segment(40.0, 60.0, 1.0), credits=Segment(270.0, 300.0, 1.0)),
               SeasonEpisode(intro=Segment(intro_at, intro_at + 20, 1.0))]  # fmt: skip
    return [_prints(before), _prints(_quoting(before, own, quotes))], results


def test_clips_of_the_episode_before_that_open_an_episode_are_its_recap():
    prints, results = _episodes([(0.0, 150.0, 2.5), (2.5, 90.0, 2.0), (4.5, 200.0, 3.0),
                                 (7.5, 120.0, 1.5)])  # fmt: skip
    find_recaps(prints, results, CFG)
    assert results[0].recap is None  # the first episode has none before it
    got = results[1].recap
    assert got.start == 0.0 and got.end == pytest.approx(9.0, abs=0.3)
    assert results[1].evidence["recap"] == {"heard": 1, "clips": 4}


@pytest.mark.parametrize("quotes, why", [
    ([(0.0, 150.0, 2.5), (2.5, 90.0, 2.0)], "two clips can be chance"),
    ([(0.0, 0.0, 3.0)], "a jingle both open with, at its own place"),
    ([(0.0, 42.0, 2.5), (2.5, 47.0, 2.0), (4.5, 52.0, 3.0)], "the intro of the one before"),
    ([(14.0, 150.0, 2.5), (16.5, 90.0, 2.0), (18.5, 200.0, 3.0)], "after the intro's start"),
])  # fmt: skip
def test_what_is_no_recap(quotes, why):
    prints, results = _episodes(quotes)
    find_recaps(prints, results, CFG)
    assert results[1].recap is None, why


def test_one_music_cue_the_episode_before_plays_three_times_is_no_recap():
    before, own = _codes(300, 1), _codes(300, 2)
    cue = before[int(100 / HOP) : int(103 / HOP)].copy()
    for at in (150.0, 200.0):  # the score plays it again later
        before[int(at / HOP) : int(at / HOP) + len(cue)] = cue
    own[int(2 / HOP) : int(2 / HOP) + len(cue)] = cue
    results = [SeasonEpisode(intro=Segment(40.0, 60.0, 1.0)),
               SeasonEpisode(intro=Segment(12.0, 32.0, 1.0))]  # fmt: skip
    find_recaps([_prints(before), _prints(own)], results, CFG)
    assert results[1].recap is None


def test_a_season_decides_its_recaps_with_its_intros():
    theme = _codes(20, 9)
    eps = []
    for k in range(4):
        own = _codes(300, 10 + k)
        own[int(30 / HOP) : int(50 / HOP)] = theme  # the intro at 30 s
        eps.append(own)
    eps[2] = _quoting(eps[1], eps[2], [(1.0, 100.0, 2.0), (3.0, 160.0, 2.5), (5.5, 220.0, 2.0)])
    found = season_findings(SeasonSources([_prints(c) for c in eps], lambda k: None), CFG)
    assert [r.intro.start for r in found.results] == pytest.approx([30.0] * 4, abs=0.2)
    assert [r.recap is not None for r in found.results] == [False, False, True, False]
    assert (found.results[2].recap.start, found.results[2].recap.end) == pytest.approx(
        (1.0, 7.5), abs=0.3
    )
