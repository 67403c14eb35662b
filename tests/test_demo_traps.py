"""The demo library's traps of real seasons are really in its files (introdet.demo.traps).

The tiny library holds an intro with no recurring sound, a PAL copy, an identical copy, a
special and a dub; the full library's other traps (mixed frame rates, a re-recorded theme,
lines over the theme, a "next time on" preview) are checked on its plan, and one mixed-rate
episode is written in small.
"""

from __future__ import annotations

import json
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo import render, sound
from introdet.demo.library_plan import plan_library
from introdet.demo.make_library import encode_episode, frame_times, make_library
from introdet.demo.plan import VOICE_OVER
from introdet.detection.postprocess import Segment
from introdet.evaluation.traps import format_traps, trap_report
from introdet.outputs.export import episode_record
from tests.test_demo import OTHER, SAME, corr, diff

RATE = 8000
NTSC_FILM = Fraction(24000, 1001)
NEW_STYLES = {"no_recurring_sound", "pal_copy", "identical_copy", "special", "dub"}


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo-traps")
    return out, make_library(out, seed=0, size="tiny")


def frames(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def audio(path: Path, stream: int = 0) -> np.ndarray:
    """Audio stream ``stream`` decoded to mono float32 [S] at RATE Hz from time 0."""
    with av.open(str(path)) as c:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
        parts = [
            g.to_ndarray()[0]
            for f in c.decode(c.streams.audio[stream])
            for g in resampler.resample(f)
        ]
    return np.concatenate(parts)


def clip(wave: np.ndarray, start: float, seconds: float) -> np.ndarray:
    return wave[round(start * RATE) : round((start + seconds) * RATE)]


def with_style(truth: dict, style: str) -> list[tuple[str, dict]]:
    return sorted((k, e) for k, e in truth["episodes"].items() if style in e["style"])


def test_every_new_trap_is_in_the_tiny_library_and_its_styles_are_rows(library, tmp_path):
    _, truth = library
    styles = {s for e in truth["episodes"].values() for s in e["style"]}
    assert styles >= NEW_STYLES
    for ep, e in truth["episodes"].items():  # a perfect prediction: every row right
        seg = e["intro"] and Segment(e["intro"]["start"], e["intro"]["end"], 1.0)
        rec = episode_record(ep, None, e["duration"], 1.0, "none", seg, [0.0])
        (tmp_path / f"{ep}.json").write_text(json.dumps(rec))
    report = trap_report(tmp_path, truth["episodes"])
    assert set(report["styles"]) >= NEW_STYLES
    assert all(v["right"] == 1.0 for v in report["styles"].values())
    table = format_traps({"truth": report})
    assert all(f"  {s} " in table for s in NEW_STYLES)


def test_an_intro_without_recurring_sound_shows_the_same_pictures(library):
    out, truth = library
    (_, a), (_, b) = [(k, e) for k, e in with_style(truth, "no_recurring_sound") if e["intro"]][:2]
    ia, ib = a["intro"], b["intro"]
    n = min(ia["end_frame"] - ia["start_frame"], ib["end_frame"] - ib["start_frame"])
    fa = frames(out / a["path"])[ia["start_frame"] : ia["start_frame"] + n]
    fb = frames(out / b["path"])[ib["start_frame"] : ib["start_frame"] + n]
    assert max(diff(x, y) for x, y in zip(fa, fb, strict=True)) < SAME
    seconds = n / a["fps"]
    wa, wb = audio(out / a["path"]), audio(out / b["path"])
    under_a, under_b = clip(wa, ia["start"], seconds), clip(wb, ib["start"], seconds)
    assert abs(corr(under_a, under_b)) < 0.3  # each episode's own lines, no theme
    assert np.sqrt(np.mean(under_a**2)) > 0.005  # but not silence
    ca, cb = a["credits"], b["credits"]  # the end credits keep their theme
    n = min(ca["end"] - ca["start"], cb["end"] - cb["start"]) - 0.2
    assert corr(clip(wa, ca["start"], n), clip(wb, cb["start"], n)) > 0.95


def test_a_pal_copy_is_25_fps_with_every_frame_and_sound_425_percent_fast(library):
    out, truth = library
    [(pid, pal)] = with_style(truth, "pal_copy")
    [plan] = [ep for ep in plan_library(0, "tiny") if ep.id == pid]
    assert plan.series.fps == NTSC_FILM
    speed = 25 / NTSC_FILM
    with av.open(str(out / pal["path"])) as c:
        assert c.streams.video[0].average_rate == 25
    times = frame_times(out / pal["path"])
    assert pal["fps"] == 25 and len(times) == pal["n_frames"] == plan.n_frames
    # AVI counts frames (after the first, its muxer leaves a gap for the audio's priming)
    assert np.diff(times[1:]) == pytest.approx(np.full(len(times) - 2, 1 / 25), abs=1e-6)
    c = pal["credits"]
    assert c["start"] == pytest.approx(times[c["start_frame"]], abs=1e-9)
    assert pal["duration"] == pytest.approx(times[-1] + 1 / 25, abs=1e-6)
    # the end theme against another episode's, at 23.976 fps
    [(_, other)] = [(k, e) for k, e in with_style(truth, "intro_at_zero") if k != pid][:1]
    assert other["fps"] == pytest.approx(float(NTSC_FILM))
    sped, plain = audio(out / pal["path"]), audio(out / other["path"])
    n = 0.8 * min(c["end"] - c["start"], other["credits"]["end"] - other["credits"]["start"])
    theme = clip(plain, other["credits"]["start"], n)
    t = c["start"] + np.arange(len(theme)) / RATE

    def played(factor: float) -> np.ndarray:  # the PAL sound slowed down by ``factor``
        return np.interp(c["start"] + (t - c["start"]) / factor, np.arange(len(sped)) / RATE, sped)

    assert corr(played(float(speed)), theme) > 0.9  # 4.27 % fast: put back, it matches
    assert corr(played(1.0), theme) < 0.5
    assert corr(played(float(speed) * 1.01), theme) < 0.5
    assert len(sped) / RATE == pytest.approx(pal["duration"], abs=0.1)


def test_an_identical_copy_is_byte_for_byte_with_the_same_truth(library):
    out, truth = library
    copies = with_style(truth, "identical_copy")
    assert len(copies) == 2
    [(cid, copy)] = [(k, e) for k, e in copies if e.get("copy_of")]
    original = truth["episodes"][copy["copy_of"]]
    assert Path(copy["path"]).parent == Path(original["path"]).parent and cid != copy["copy_of"]
    assert (out / copy["path"]).read_bytes() == (out / original["path"]).read_bytes()
    same = {k: v for k, v in copy.items() if k not in ("path", "copy_of")}
    assert same == {k: v for k, v in original.items() if k != "path"}
    labels = json.loads((out / f"{copy['split']}_labels.json").read_text(encoding="utf-8"))
    assert labels[cid] == labels[copy["copy_of"]]


def test_a_special_in_specials_has_no_intro_but_the_series_credits(library):
    out, truth = library
    [(sid, special)] = with_style(truth, "special")
    path = out / special["path"]
    assert path.parent.name == "Specials" and path.is_file()
    series = [e for e in truth["episodes"].values() if e["series"] == special["series"]]
    seasons = {Path(e["path"]).parent.name for e in series if e is not special}
    assert seasons == {"Season 1"} and (path.parent.parent / "Season 1").is_dir()
    assert special["intro"] is None and special["credits"]
    assert special["credits"]["end"] == pytest.approx(special["duration"], abs=0.05)
    labels = json.loads((out / "test_labels.json").read_text(encoding="utf-8"))
    assert labels[sid]["start"] is None and " 0 сезон" in labels[sid]["name"]
    other = next(e for e in series if e is not special)  # its end credits: layout and theme
    a, b = special["credits"], other["credits"]
    fa = frames(path)[a["start_frame"] + 1]
    fb = frames(out / other["path"])[b["start_frame"] + 1]
    assert diff(fa, fb) < OTHER
    n = min(a["end"] - a["start"], b["end"] - b["start"]) - 0.2
    sa, sb = audio(path), audio(out / other["path"])
    assert corr(clip(sa, a["start"], n), clip(sb, b["start"], n)) > 0.95


def test_a_dub_and_the_original_share_the_music_not_the_voices(library):
    out, truth = library
    dubbed = with_style(truth, "dub")
    firsts = set()
    for _, e in dubbed:
        with av.open(str(out / e["path"])) as c:
            streams = c.streams.audio
            default = av.stream.Disposition.default
            got = [(s.metadata.get("language"), bool(s.disposition & default)) for s in streams]
        assert got == [(t["language"], t["default"]) for t in e["audio_streams"]]
        firsts.add(e["audio_streams"][0]["dub"])
        dub = [t["dub"] for t in e["audio_streams"]].index(True)
        assert e["audio_streams"][dub]["default"]  # the dub plays by default, wherever it is
        if not e["intro"]:
            continue
        dub_wave, orig = audio(out / e["path"], dub), audio(out / e["path"], 1 - dub)
        i = e["intro"]
        seconds = i["end"] - i["start"]
        theme = corr(clip(dub_wave, i["start"], seconds), clip(orig, i["start"], seconds))
        assert theme > 0.95
        lines = corr(clip(dub_wave, i["end"] + 0.5, 2.0), clip(orig, i["end"] + 0.5, 2.0))
        assert abs(lines) < 0.3
    assert firsts == {True, False}  # the dub first in some episodes, second in others


def test_the_full_library_plans_mixed_rates_a_new_theme_voices_and_previews():
    eps = plan_library(0, "full")
    lumen = [ep for ep in eps if ep.series.mixed_fps]
    assert {ep.fps for ep in lumen} == {Fraction(25), NTSC_FILM, Fraction(30000, 1001)}
    lengths = {ep.fps: sum(s.n for s, tag in ep.scenes if tag == "intro") / ep.fps for ep in lumen
               if any(tag == "intro" for _, tag in ep.scenes)}  # fmt: skip
    assert len(lengths) >= 2
    assert max(lengths.values()) - min(lengths.values()) < 0.1  # the same seconds
    salt = [ep for ep in eps if ep.series.rerecorded_theme]
    fps = salt[0].series.fps
    intro = {ep.number: [s for s, tag in ep.scenes if tag == "intro"] for ep in salt}
    new = [ep for ep in salt if "rerecorded_theme" in ep.traps]
    assert new and all(ep.number > 3 for ep in new)
    a, b = intro[1][0], intro[new[0].number][0]
    assert (a.bg_seed, a.n) == (b.bg_seed, b.n)  # the same pictures
    n = min(a.n, b.n)
    theme = [sound.render(s.sound, 0, n, fps, RATE) for s in (a, b)]
    assert abs(np.corrcoef(*theme)[0, 1]) < 0.3  # another recording
    assert sum(s.voice_n for s in intro[1]) == round(VOICE_OVER * fps)  # lines over its start
    assert a.voice.kind == "dialogue" and a.voice_n
    for ep, nxt in zip(salt, salt[1:], strict=False):  # "next time on" after the credits
        tags = [tag for _, tag in ep.scenes]
        assert tags[-1] == "preview" and tags.index("preview") > tags.index("credits")
        preview = [s for s, tag in ep.scenes if tag == "preview"]
        assert all(s.sound.seed in {c.sound.seed for c in nxt.content} for s in preview)
        assert 10 <= sum(s.n for s in preview) / fps <= 15


def test_a_mixed_rate_episode_is_written_at_its_own_rate(tmp_path):
    ep = next(ep for ep in plan_library(0, "full") if ep.fps == Fraction(30000, 1001))
    short = [(s, tag) for s, tag in ep.scenes if tag in ("intro", "credits")]
    small = replace(ep, frame=(160, 90), scenes=short)
    times = encode_episode(small, str(tmp_path))
    with av.open(str(tmp_path / small.path)) as c:
        assert c.streams.video[0].average_rate == Fraction(30000, 1001)
    assert len(times) == small.n_frames
    step = np.full(len(times) - 2, 1001 / 30000)  # AVI: a gap after the first frame, as above
    assert np.diff(times[1:]) == pytest.approx(step, abs=1e-6)
    wave = render.episode_audio(small, RATE)
    assert len(wave) == round(small.n_frames / small.fps * RATE)


def test_an_ident_plays_after_the_intro_of_every_episode_the_same():
    eps = [ep for ep in plan_library(0, "ci") if ep.series.ident and not ep.copy_of]
    assert len(eps) >= 3
    idents = []
    for ep in eps:
        tags = [tag for _, tag in ep.scenes]
        assert tags.count("commercial") == 1
        at = tags.index("commercial")
        assert tags[at - 1] is None and tags.index("credits") > at
        assert "intro" in tags[:at] or "intro" not in tags  # after it, where it plays
        idents.append(ep.scenes[at][0])
    assert len({(s.bg_seed, s.sound, s.n) for s in idents}) == 1  # the same card and sting
    assert 3 <= idents[0].n / eps[0].series.fps <= 5
    assert all(s not in ep.content for ep in eps for s in idents)  # no recap quotes it
    # the tiny library has no room for one
    assert not any(tag == "commercial" for ep in plan_library(0, "tiny") for _, tag in ep.scenes)


def test_a_pilot_and_a_film_stand_alone_in_their_folders():
    eps = {ep.id: ep for ep in plan_library(0, "ci")}
    pilot, film = eps["harbor_pilot"], eps["harbor_film"]
    assert pilot.path == "videos/Harbor Pilot/harbor_pilot.mp4"
    assert film.path == "videos/Films/Harbor Nights (2021)/harbor_film.mp4"
    for ep, intro in ((pilot, True), (film, False)):
        tags = [tag for _, tag in ep.scenes]
        assert ("intro" in tags) == intro and tags[-1] == "credits" and ep.split == "test"
        folder = ep.path.rsplit("/", 1)[0]
        others = [e for e in eps.values() if e is not ep and e.path.startswith(folder)]
        assert others == []  # alone: no season to compare it with
    season = [s for s, tag in eps["harbor_s01e01"].scenes if tag == "intro"]
    assert [s for s, tag in pilot.scenes if tag == "intro"] != season  # an intro of its own
    assert not any("pilot" in k or "film" in k for k in (e.id for e in plan_library(0, "tiny")))
