"""Season mode heard and seen: pictures where the sound does not repeat, pictures at other
rates, a PAL copy, a theme heard in pieces, edges the pictures correct, identical files.

Sound comes from real encoded files (``tests/test_audio.py``'s waves) or from the
fingerprinter over made signals; picture prints are made here as hash sequences whose shared
stretches are known.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from introdet.detection.edges import edge_link
from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.items import items_from_links
from introdet.detection.links import (
    Link,
    on_grid,
    partners,
    picture_links,
    sound_links,
    speed_search,
)
from introdet.detection.season import SeasonConfig, decide
from introdet.features.audio import AudioPrint, audio_fingerprint, fingerprint
from introdet.features.fingerprints import EpisodePrints, PicturePrint
from introdet.media.library import series_of
from tests.test_audio import MAKE_RATE, dialogue_wave, episode_wave, theme_wave, write_audio

CFG = SeasonConfig()


def _random_sound(seconds: float, seed: int) -> AudioPrint:
    """A print of sound that recurs nowhere: random codes every 0.05 s."""
    codes = np.random.default_rng(seed).integers(0, 2**32, int(seconds / 0.05), dtype=np.uint64)
    return AudioPrint(codes.astype(np.uint32), np.zeros(len(codes), bool), 0.05, 0.025)


def _pictures(seconds: float, fps: float, seed: int, shared: dict[float, np.ndarray]):
    """Hashes at ``fps`` of pictures of their own, except each ``shared`` sequence (one hash a
    second of the shared pictures) placed from its start time on: PicturePrint."""
    n = int(seconds * fps)
    hashes = np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.uint64)
    t = np.arange(n) / fps
    for at, seq in shared.items():
        inside = (t >= at) & (t < at + len(seq))
        hashes[inside] = seq[np.floor(t[inside] - at).astype(int)]
    return PicturePrint(hashes, np.zeros(n, bool), fps)


TITLE = np.random.default_rng(99).integers(0, 2**63, 12, dtype=np.uint64)  # a 12-s title


def test_a_title_card_over_sound_that_does_not_repeat_is_found_in_the_pictures():
    starts = [31.0, 47.0, 12.0, 66.0]
    prints = [EpisodePrints(600.0, _random_sound(300, k)) for k in range(4)]
    pics = [_pictures(300, 2.0, 10 + k, {s: TITLE}) for k, s in enumerate(starts)]
    found = season_findings(SeasonSources(prints, lambda k: pics[k]), CFG)
    for r, s in zip(found.results, starts, strict=True):
        assert r.intro is not None
        assert r.intro.start == pytest.approx(s, abs=0.3) and r.intro.end == pytest.approx(
            s + 12, abs=0.3
        )
        assert r.evidence["intro"]["seen"] == 3 and r.evidence["intro"]["heard"] == 0
    deaf = SeasonConfig(pictures="never")
    never = season_findings(SeasonSources(prints, lambda k: pics[k]), deaf)
    assert all(r.intro is None for r in never.results)


def test_pictures_sampled_at_other_rates_are_aligned_by_time():
    a = _pictures(200, 2.0, 1, {40.0: TITLE})
    b = _pictures(200, 1.0, 2, {75.0: TITLE})  # a shard's rows: one a second
    links = picture_links(0, 1, a, b, min_seconds=1.5)
    assert len(links) == 1
    k = links[0]
    assert (k.a_start, k.b_start) == (pytest.approx(40.0, abs=1.0), pytest.approx(75.0, abs=1.0))
    assert k.a_end - k.a_start == pytest.approx(12.0, abs=1.0)


def test_on_grid_takes_the_nearest_picture_by_time_at_a_speed():
    p = PicturePrint(np.arange(100, dtype=np.uint64), np.zeros(100, bool), 25.0)
    fast = on_grid(p, 2.0, speed=25 / 24)  # a copy that plays 25/24 fast
    assert fast.fps == pytest.approx(2.0 * 25 / 24)
    assert fast.hashes[:4].tolist() == [0, 12, 24, 36]  # 0.48 s of its file per step


def _episode_file(tmp_path: Path, name: str, before: float, speed: float = 1.0) -> Path:
    wave = episode_wave(theme_wave(20.0, rate=MAKE_RATE), before, 30.0, seed=len(name) * 7,
                        rate=MAKE_RATE)  # fmt: skip
    if speed != 1.0:  # played faster: every sample sooner, every pitch higher
        n = int(len(wave) / speed)
        wave = np.interp(np.arange(n) * speed, np.arange(len(wave)), wave).astype(np.float32)
    return write_audio(tmp_path / f"{name}.m4a", wave, rate=MAKE_RATE)


def episode_prints(path: Path, speed: float = 1.0) -> EpisodePrints:
    """The whole track's print (an audio-only file: no video to probe)."""
    return EpisodePrints(70.0, audio_fingerprint(path, speed=speed))


def test_a_pal_copy_matching_nowhere_is_heard_at_its_speed(tmp_path):
    speed = 25 / (24000 / 1001)
    paths = [_episode_file(tmp_path, "e1", 14.0), _episode_file(tmp_path, "e22", 25.0),
             _episode_file(tmp_path, "e333", 18.0, speed)]  # fmt: skip
    prints = [episode_prints(p) for p in paths]

    def resound(k: int, s: float) -> EpisodePrints:
        return episode_prints(paths[k], speed=s)

    found = season_findings(SeasonSources(prints, lambda k: None, resound), CFG)
    intros = [(r.intro.start, r.intro.end) if r.intro else None for r in found.results]
    assert intros[0] == (pytest.approx(14.0, abs=0.2), pytest.approx(34.0, abs=0.2))
    assert intros[2] == (pytest.approx(18.0 / speed, abs=0.2), pytest.approx(38.0 / speed, abs=0.2))
    # what decided it: the copy heard again at its speed, and only the copy
    pairs = partners(3, CFG.max_others)
    links = [x for i, j in pairs for x in sound_links(i, j, prints[i], prints[j],
                                                      CFG.min_seconds, CFG.join)]  # fmt: skip
    speeds, _ = speed_search(prints, pairs, links, resound, CFG.min_seconds, CFG.join)
    assert speeds == {2: pytest.approx(speed)}


def test_a_theme_heard_in_pieces_at_one_offset_is_one_stretch():
    rate = 11025
    theme = theme_wave(30.0, seed=3, rate=rate)
    talk = dialogue_wave(30.0, seed=5, rate=rate)
    noisy = theme.copy()
    for lo in (6, 14, 21):  # three loud lines of dialogue over the theme: noisy bits there
        sl = slice(lo * rate, (lo + 2) * rate)
        noisy[sl] = theme[sl] + 3.0 * talk[sl] / np.abs(talk[sl]).max()
    a = EpisodePrints(60.0, fingerprint(np.concatenate([dialogue_wave(10, 1, rate), theme]), rate))
    b = EpisodePrints(60.0, fingerprint(np.concatenate([dialogue_wave(4, 2, rate), noisy]), rate))
    pieces = sound_links(0, 1, a, b, min_seconds=1.5, join=0.0)
    assert max(k.a_end - k.a_start for k in pieces) < 10  # the dialogue breaks the stretch
    whole = max(sound_links(0, 1, a, b, min_seconds=1.5, join=12.0),
                key=lambda k: k.a_end - k.a_start)  # fmt: skip
    assert whole.a_start == pytest.approx(10.0, abs=0.2)
    assert whole.a_end == pytest.approx(40.0, abs=0.3)


def test_where_sound_and_pictures_disagree_the_pictures_set_the_edge():
    heard = Link(0, 1, 10.0, 40.0, 20.0, 50.0)
    # dialogue over the theme's first 2.5 s: the edge pictures show the title from 7.5 s on
    seen = Link(0, 1, 7.5, 40.5, 17.5, 50.5, "picture", 0.5, exact=True)
    (item,) = items_from_links([heard, seen])
    assert item.spans[0] == (pytest.approx(7.25), pytest.approx(40.0))  # the sound's end agrees
    assert item.signals(0) == {"heard": 1, "seen": 1}
    # the scan's pictures, half a second apart, move no heard edge
    (item,) = items_from_links([heard, Link(0, 1, 7.5, 40.5, 17.5, 50.5, "picture", 0.5)])
    assert item.spans[0] == (10.0, 40.0)
    # the theme leads in over the cold open: the edge pictures, checked to show the cold open
    # before 11.5 s, set the start; the scan's pictures alone (text over the title?) do not
    late = Link(0, 1, 11.5, 40.5, 21.5, 50.5, "picture", 0.5, exact=True)
    (item,) = items_from_links([heard, late])
    assert item.spans[0][0] == pytest.approx(11.25)
    (item,) = items_from_links([heard, Link(0, 1, 11.5, 40.5, 21.5, 50.5, "picture", 0.5)])
    assert item.spans[0][0] == 10.0
    # pictures that stop a little early (a fade's darkest frames) leave the sound's end
    faded = Link(0, 1, 10.0, 39.5, 20.0, 49.5, "picture", 0.5, exact=True)
    (item,) = items_from_links([heard, faded])
    assert item.spans[0] == (10.0, 40.0)


def test_edge_pictures_show_where_the_title_sequence_begins():
    fps, d = 4.0, 10.0
    title = np.random.default_rng(5).integers(0, 2**63, 80, dtype=np.uint64)

    def window(t0: float, seed: int, title_at: float) -> PicturePrint:
        n = int(8 * fps)
        h = np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.uint64)
        t = t0 + np.arange(n) / fps
        on = t >= title_at
        h[on] = title[np.round((t[on] - title_at) * fps).astype(int)]
        return PicturePrint(h, np.zeros(n, bool), fps, t0)

    # the sound says 12.0; the pictures of both episodes show the title from 9.5 s (19.5 s)
    a, b = window(8.0, 1, 9.5), window(18.0, 2, 19.5)
    link = edge_link(0, 1, d, (12.0, 40.0), (a, None), (b, None))
    assert link is not None and link.signal == "picture"
    assert link.a_start == pytest.approx(9.5) and link.a_end == 40.0
    assert link.b_start == pytest.approx(19.5)
    other = window(18.0, 3, 99.0)  # the partner's pictures are not the title: no link
    assert edge_link(0, 1, d, (12.0, 40.0), (a, None), (other, None)) is None
    # the sound says 8.5 (the theme leads in); the title pictures begin at 9.5: checked to
    # show other pictures before, the start moves in
    link = edge_link(0, 1, d, (8.5, 40.0), (a, None), (b, None))
    assert link.a_start == pytest.approx(9.5) and link.exact
    # text over the title's first second in one episode: not other pictures, no move
    first_second = (np.arange(32) >= 6) & (np.arange(32) < 10)  # 19.5-20.5 s of b
    texted = PicturePrint(b.hashes ^ np.where(first_second, np.uint64(0xFFFF), np.uint64(0)),
                          b.flat, fps, b.start)  # fmt: skip  # 16 bits off: neither
    link = edge_link(0, 1, d, (9.5, 40.0), (a, None), (texted, None))
    assert link is None or link.a_start == pytest.approx(9.5)


def test_identical_files_are_one_episode_not_an_intro_as_long_as_the_episode(tmp_path):
    paths = [_episode_file(tmp_path, "e1", 14.0), _episode_file(tmp_path, "e22", 25.0)]
    prints = [episode_prints(p) for p in paths]
    prints.append(prints[1])  # a copy of e22 (or a hard link to it)
    found = season_findings(SeasonSources(prints, lambda k: None), CFG)
    assert found.identical == {2: 1}
    for r in found.results[1:]:
        assert (r.intro.start, r.intro.end) == (pytest.approx(25.0, abs=0.2),
                                                pytest.approx(45.0, abs=0.2))  # fmt: skip


@pytest.mark.parametrize("codec, suffix, lead", [("aac", ".mkv", 0.03), ("libopus", ".mka", 0)])
def test_the_same_episode_in_another_file_is_one_episode(tmp_path, codec, suffix, lead):
    """A remux (another container, its sound ``lead`` s later: another encoder's priming) or
    a re-encode of e22: not byte-identical, still one episode seen twice."""
    paths = [_episode_file(tmp_path, "e1", 14.0), _episode_file(tmp_path, "e22", 25.0)]
    wave = episode_wave(theme_wave(20.0, rate=MAKE_RATE), 25.0, 30.0, seed=len("e22") * 7,
                        rate=MAKE_RATE)  # fmt: skip
    wave = np.concatenate([np.zeros(int(lead * MAKE_RATE), np.float32), wave])
    rate = 48000 if codec == "libopus" else MAKE_RATE
    if rate != MAKE_RATE:
        wave = np.interp(np.arange(int(len(wave) * rate / MAKE_RATE)) * MAKE_RATE / rate,
                         np.arange(len(wave)), wave).astype(np.float32)  # fmt: skip
    paths.append(write_audio(tmp_path / f"e22 copy{suffix}", wave, rate=rate, codec=codec))
    prints = [episode_prints(p) for p in paths]
    assert prints[2].audio.codes.tobytes() != prints[1].audio.codes.tobytes()
    found = season_findings(SeasonSources(prints, lambda k: None), CFG)
    assert found.identical == {2: 1}
    for r in found.results[1:]:
        assert (r.intro.start, r.intro.end) == (pytest.approx(25.0, abs=0.2),
                                                pytest.approx(45.0, abs=0.2))  # fmt: skip


def test_episodes_that_share_their_intro_are_not_one_episode(tmp_path):
    paths = [_episode_file(tmp_path, name, 14.0) for name in ("e1", "e22", "e333")]
    found = season_findings(SeasonSources([episode_prints(p) for p in paths], lambda k: None),
                            CFG)  # fmt: skip
    assert found.identical == {}
    assert all(r.intro is not None for r in found.results)


def test_a_preview_after_the_credits_is_not_part_of_them():
    durations = [1300.0, 1310.0, 1290.0]
    links = []
    for i in range(3):
        for j in range(i + 1, 3):
            links.append(Link(i, j, 60.0, 90.0, 60.0, 90.0))  # the intro
            ci, cj = durations[i] - 60.0, durations[j] - 60.0  # credits, then a preview
            links.append(Link(i, j, ci, ci + 40.0, cj, cj + 40.0))
    links += [Link(0, 1, 1280.0, 1295.0, 700.0, 715.0), Link(1, 2, 1290.0, 1305.0, 400.0, 415.0)]
    result = decide(links, durations, CFG)
    for r, d in zip(result, durations, strict=True):
        assert (r.credits.start, r.credits.end) == (d - 60.0, d - 20.0)
    kinds = {k for *_, k, _ in result[0].evidence["recurring"]}
    assert "preview" in kinds
    # the earlier episode's "next time on": from its credits' end to its own end; in the later
    # episode the same clips are story
    assert [(r.preview.start, r.preview.end) if r.preview else None for r in result] == [
        (1280.0, 1300.0), (1290.0, 1310.0), None
    ]  # fmt: skip
    assert result[0].evidence["preview"] == {"heard": 1, "seen": 0, "episodes": 2, "clips": 1}


def test_a_preview_found_apart_from_the_credits_starts_where_it_was_found():
    durations = [1300.0, 1310.0]
    links = [Link(0, 1, 60.0, 90.0, 60.0, 90.0), Link(0, 1, 1200.0, 1250.0, 1260.0, 1310.0),
             Link(0, 1, 1263.0, 1290.0, 500.0, 527.0)]  # fmt: skip
    result = decide(links, durations, CFG)
    assert (result[0].credits.start, result[0].credits.end) == (1200.0, 1250.0)
    assert (result[0].preview.start, result[0].preview.end) == (1263.0, 1300.0)
    assert result[1].preview is None


def test_a_specials_folder_belongs_to_its_show(tmp_path):
    root = tmp_path / "tv"
    assert series_of(root / "Harbor" / "Specials" / "Harbor S00E01.mkv", root) == "Harbor"
    assert series_of(root / "Harbor" / "Season 0" / "x.mkv", root) == "Harbor"


def test_smooth_pictures_whose_hash_is_noise_match_on_their_thumbnails():
    fps, n = 8.0, 64
    rng = np.random.default_rng(8)
    thumbs = rng.standard_normal((n, 144)).astype(np.float32)
    thumbs /= np.linalg.norm(thumbs, axis=1, keepdims=True)
    before = np.arange(n) < 20  # each episode's own shots, then a smooth pan (the title)

    def window(t0: float, seed: int) -> PicturePrint:
        own = np.random.default_rng(seed).standard_normal((n, 144)).astype(np.float32)
        own /= np.linalg.norm(own, axis=1, keepdims=True)
        hashes = np.random.default_rng(seed).integers(0, 2**63, n, dtype=np.uint64)  # noise
        small = np.where(before[:, None], own, thumbs).astype(np.float16)
        return PicturePrint(hashes, np.zeros(n, bool), fps, t0, small)

    a, b = window(10.0, 1), window(40.0, 2)  # the pan from 12.5 s (A) and 42.5 s (B)
    link = edge_link(0, 1, 30.0, (14.0, 30.0), (a, None), (b, None))
    assert link is not None and link.a_start == pytest.approx(12.5)
    bare = [PicturePrint(w.hashes, w.flat, fps, w.start) for w in (a, b)]  # hashes only
    assert edge_link(0, 1, 30.0, (14.0, 30.0), (bare[0], None), (bare[1], None)) is None


def _theme_sound(seconds: float, seed: int, theme_at: float | None) -> AudioPrint:
    """Codes of sound that recurs nowhere, with the season's 20-s theme from ``theme_at``."""
    p = _random_sound(seconds, seed)
    if theme_at is not None:
        theme = np.random.default_rng(77).integers(0, 2**32, 400, dtype=np.uint64)
        k = int(round((theme_at - p.start) / p.hop))
        p.codes[k : k + 400] = theme.astype(np.uint32)
    return p


def test_a_set_every_episode_visits_seen_alone_is_no_intro():
    # two of five episodes share a heard intro; the others have none; every episode visits
    # one set (the same background) at its own time: pictures alone show it recurring
    themes = [30.0, 45.0, None, None, None]
    sets = [100.0, 150.0, 80.0, 120.0, 60.0]
    prints = [EpisodePrints(600.0, _theme_sound(300, k, t)) for k, t in enumerate(themes)]
    room = np.random.default_rng(5).integers(0, 2**63, 8, dtype=np.uint64)  # an 8-s set
    pics = [_pictures(300, 2.0, 20 + k, {s: room}) for k, s in enumerate(sets)]
    found = season_findings(SeasonSources(prints, lambda k: pics[k]), CFG)
    intros = [r.intro and (round(r.intro.start), round(r.intro.end)) for r in found.results]
    assert intros == [(30, 50), (45, 65), None, None, None]


def test_two_shots_that_look_alike_briefly_are_no_title_card():
    prints = [EpisodePrints(600.0, _random_sound(300, k)) for k in range(4)]
    brief = np.random.default_rng(6).integers(0, 2**63, 2, dtype=np.uint64)  # 2 s, 2 episodes
    shared = [{31.0: TITLE, 90.0: brief}, {47.0: TITLE, 20.0: brief}, {12.0: TITLE},
              {66.0: TITLE}]  # fmt: skip
    pics = [_pictures(300, 2.0, 30 + k, sh) for k, sh in enumerate(shared)]
    found = season_findings(SeasonSources(prints, lambda k: pics[k]), CFG)
    assert [round(r.intro.start) for r in found.results] == [31, 47, 12, 66]
    # alone, in two episodes that are not next to each other (no recap): no intro anywhere
    pics = [_pictures(300, 2.0, 30 + k, {90.0 - 35 * k: brief} if k in (0, 2) else {})
            for k in range(4)]  # fmt: skip
    found = season_findings(SeasonSources(prints, lambda k: pics[k]), CFG)
    assert all(r.intro is None for r in found.results)


def test_an_episode_with_a_re_recorded_theme_joins_the_intro_by_its_pictures():
    # episodes 0-2 play the theme; episode 3 another recording of it (no code in common),
    # under the same title pictures
    starts = [30.0, 45.0, 20.0, 60.0]
    prints = [EpisodePrints(600.0, _theme_sound(300, k, t)) for k, t in enumerate(starts[:3])]
    prints.append(EpisodePrints(600.0, _random_sound(300, 3)))
    title = np.random.default_rng(9).integers(0, 2**63, 20, dtype=np.uint64)  # 20 s of title
    pics = [_pictures(300, 2.0, 50 + k, {s: title}) for k, s in enumerate(starts)]
    pictures = pics.__getitem__
    found = season_findings(SeasonSources(prints, pictures), CFG)
    intros = [r.intro and (round(r.intro.start), round(r.intro.end)) for r in found.results]
    assert intros == [(30, 50), (45, 65), (20, 40), (60, 80)]
    assert found.results[3].evidence["intro"] == {"heard": 0, "seen": 3, "episodes": 4,
                                                  "partners": 3}  # fmt: skip
    deaf = season_findings(SeasonSources(prints, pictures), SeasonConfig(pictures="never"))
    assert deaf.results[3].intro is None


def test_an_ident_after_the_intro_is_a_commercial_even_where_the_intro_is_missing():
    durations = [1300.0, 1310.0, 1290.0, 1305.0]
    links = []
    for i in range(4):
        for j in range(i + 1, 4):
            if 3 not in (i, j):  # the last episode has no intro
                links.append(Link(i, j, 60.0, 90.0, 60.0, 90.0))
            links.append(Link(i, j, 400.0 + i, 404.0 + i, 400.0 + j, 404.0 + j))  # the ident
    result = decide(links, durations, CFG)
    assert [r.intro and r.intro.start for r in result] == [60.0, 60.0, 60.0, None]
    assert [[(c.start, c.end) for c in r.commercials] for r in result] == [
        [(400.0 + k, 404.0 + k)] for k in range(4)
    ]
    assert result[0].evidence["commercials"] == [{"heard": 3, "seen": 0, "episodes": 4}]


def test_a_short_stretch_two_episodes_share_after_the_intro_is_no_commercial():
    links = [Link(i, j, 60.0, 90.0, 60.0, 90.0) for i in range(3) for j in range(i + 1, 3)]
    links.append(Link(0, 1, 400.0, 404.0, 500.0, 504.0))
    result = decide(links, [1300.0, 1310.0, 1290.0], CFG)
    assert all(r.commercials == [] for r in result)


def _ident_season(same_card: bool):
    """Four episodes: the theme at 60 s, then a 4-s sting at 400 + k s heard in every one;
    its pictures one card everywhere (an ident) or each episode's own scene (a music cue)."""
    theme, sting = _random_sound(30, 500).codes, _random_sound(4, 501).codes
    prints = []
    for k in range(4):
        codes = _random_sound(900, 600 + k).codes.copy()
        codes[1200:1800] = theme
        at = int((400 + k) / 0.05)
        codes[at : at + len(sting)] = sting
        prints.append(EpisodePrints(900.0, AudioPrint(codes, np.zeros(len(codes), bool), 0.05,
                                                      0.025)))  # fmt: skip
    card = np.random.default_rng(7).integers(0, 2**63, 64, dtype=np.uint64)

    def window(k: int, t0: float, t1: float) -> PicturePrint:
        n = int((t1 - t0) * 8)
        own = np.random.default_rng([k, int(t0 * 8)]).integers(0, 2**63, n, dtype=np.uint64)
        at_sting = t0 >= 399 and same_card  # elsewhere (the theme's edges) nothing to see
        return PicturePrint(card[:n] if at_sting else own, np.zeros(n, bool), 8.0, t0)

    return SeasonSources(prints, lambda k: None, window=window)


@pytest.mark.parametrize("same_card", [True, False])
def test_an_ident_shows_one_card_and_a_music_cue_over_other_scenes_is_no_commercial(same_card):
    found = season_findings(_ident_season(same_card), CFG)
    assert all(r.intro is not None and r.intro.start == pytest.approx(60.0, abs=0.2)
               for r in found.results)  # fmt: skip
    ads = [[(round(c.start), round(c.end)) for c in r.commercials] for r in found.results]
    assert ads == ([[(400 + k, 404 + k)] for k in range(4)] if same_card else [[]] * 4)
