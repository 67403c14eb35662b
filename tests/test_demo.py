"""Tests for the demo library generator: real files, labels, splits and identical intros."""

from __future__ import annotations

import hashlib
import json
import math
import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo.make_library import LibraryError, make_library
from introdet.demo.render import render_intro

# extension -> (PyAV codec name, demuxer name fragment, audio codec)
CODECS = {
    "mp4": ("h264", "mp4", "aac"),
    "mkv": ("hevc", "matroska", "aac"),
    "webm": ("vp9", "matroska", "opus"),
    "avi": ("mpeg4", "avi", "aac"),
}
SAME = 12.0  # mean |difference| of one render after encoding: codec noise only (seen: <= 7.3)
OTHER = 30.0  # a different picture is far above that (seen: >= 65)
HMS = re.compile(r"^(\d+):([0-5]\d):([0-5]\d)$")
NAME = re.compile(r"^(?P<series>.+?)[.,]? (?P<season>\d) сезон[.,]? (?P<number>\d+) серия$")
CODE = re.compile(r"_s(?P<season>\d\d)e(?P<number>\d\d)")  # in an id; a copy's adds " (1)"
SEASON_DIRS = ("Season 1", "Specials")
LATIN_TO_CYRILLIC = str.maketrans("aepc", "аерс")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("demo")
    return out, make_library(out, seed=0, size="tiny")


@pytest.fixture(scope="module")
def decoded(library):
    """Decode each episode once: (pts in seconds [N], RGB frames [N, H, W, 3])."""
    out, _ = library
    cache: dict[str, tuple[list[float], np.ndarray]] = {}

    def get(rel: str) -> tuple[list[float], np.ndarray]:
        if rel not in cache:
            with av.open(str(out / rel)) as c:
                s = c.streams.video[0]
                frames = list(c.decode(s))
                times = [float(f.pts * s.time_base) for f in frames]  # time_base dies with c
            cache[rel] = (times, np.stack([f.to_ndarray(format="rgb24") for f in frames]))
        return cache[rel]

    return get


def diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b.astype(np.int16)).mean())


def intro_episodes(truth: dict) -> dict[str, list[dict]]:
    by_series = defaultdict(list)
    for e in truth["episodes"].values():
        if e["intro"]:
            by_series[e["series"]].append(e)
    return by_series


def test_every_episode_is_a_real_file_with_video_and_audio(library, decoded):
    out, truth = library
    seen_ext = set()
    for ep_id, e in truth["episodes"].items():
        path = out / e["path"]
        assert path.is_file(), path
        show = path.parent.parent if path.parent.name in SEASON_DIRS else path.parent
        assert path.stem == ep_id and show.name == e["series"]
        assert show.parent == out / "videos"
        ext = path.suffix[1:]
        seen_ext.add(ext)
        vcodec, demuxer, acodec = CODECS[ext]
        with av.open(str(path)) as c:
            assert demuxer in c.format.name
            v = c.streams.video[0]
            assert v.codec_context.name == vcodec
            assert (v.codec_context.width, v.codec_context.height) == (160, 90)
            n_audio = 2 if "dub" in e["style"] else 1
            assert [a.codec_context.name for a in c.streams.audio] == [acodec] * n_audio
        if ext in ("mkv", "webm"):  # the EBML DocType tells the two apart
            head = path.read_bytes()[:64]
            assert (b"webm" if ext == "webm" else b"matroska") in head
        times, frames = decoded(e["path"])
        assert len(frames) == e["n_frames"]
        assert times == sorted(times) and times[0] == 0.0
        assert e["duration"] == pytest.approx(times[-1] + 1 / e["fps"], abs=1e-3)
    assert seen_ext == set(CODECS)


def test_same_seed_gives_the_same_library_from_the_cli(library, tmp_path, capsys, decoded):
    out, truth = library
    run = _make_library_cli([f"out={tmp_path}", "seed=0", "size=tiny"])
    assert run.returncode == 0, run.stderr
    printed = run.stdout
    for series in {e["series"] for e in truth["episodes"].values()}:
        assert f"{series}:" in printed
    assert str(tmp_path / "truth.json") in printed
    for name in ("truth.json", "train_labels.json", "test_labels.json"):
        assert (tmp_path / name).read_bytes() == (out / name).read_bytes()
    firsts = {}
    for e in truth["episodes"].values():
        firsts.setdefault(Path(e["path"]).suffix, e["path"])
    for suffix, rel in firsts.items():
        if suffix in (".mp4", ".avi"):
            assert (tmp_path / rel).read_bytes() == (out / rel).read_bytes()
        else:  # Matroska stamps a random segment UID: compare the pictures instead
            again = hashlib.sha256()
            with av.open(str(tmp_path / rel)) as c:
                for f in c.decode(video=0):
                    again.update(f.to_ndarray(format="rgb24").tobytes())
            assert again.digest() == hashlib.sha256(decoded(rel)[1].tobytes()).digest()


def _seconds(hms: str) -> int:
    h, m, s = HMS.match(hms).groups()
    return int(h) * 3600 + int(m) * 60 + int(s)


def test_label_files_match_truth_to_the_second_except_the_slips(library):
    out, truth = library
    train = json.loads((out / "train_labels.json").read_text(encoding="utf-8"))
    test = json.loads((out / "test_labels.json").read_text(encoding="utf-8"))
    assert not set(train) & set(test)
    assert set(train) | set(test) == set(truth["episodes"])
    n_slipped = 0
    for split, rows in (("train", train), ("test", test)):
        for ep_id, row in rows.items():
            e = truth["episodes"][ep_id]
            assert e["split"] == split
            assert set(row) == {"name", "url", "start", "end"} and row["url"] == ""
            if e["intro"] is None:
                assert row["start"] is None and row["end"] is None
                continue
            assert HMS.match(row["start"]) and HMS.match(row["end"])
            start, end = _seconds(row["start"]), _seconds(row["end"])
            assert end == math.floor(e["intro"]["end"] + 0.5)
            nearest = math.floor(e["intro"]["start"] + 0.5)
            if e["slipped"]:
                n_slipped += 1
                assert split == "train"
                assert start == nearest + 60 and 1 <= start - end <= 59
            else:
                assert start == nearest and start < end
    assert 1 <= n_slipped <= 4
    assert any(e["intro"] is None for e in truth["episodes"].values())


def test_names_vary_but_fold_back_to_their_series(library):
    out, truth = library
    rows = json.loads((out / "train_labels.json").read_text(encoding="utf-8"))
    rows |= json.loads((out / "test_labels.json").read_text(encoding="utf-8"))
    mixed_script = 0
    for ep_id, row in rows.items():
        e = truth["episodes"][ep_id]
        m = NAME.match(row["name"])
        assert m, row["name"]
        code = CODE.search(ep_id)
        assert (int(m["season"]), int(m["number"])) == (int(code["season"]), int(code["number"]))
        series = m["series"]
        if re.search("[а-я]", e["series"]):
            has_latin = bool(re.search("[a-z]", series))
            mixed_script += has_latin
            series = series.translate(LATIN_TO_CYRILLIC)
        assert series == e["series"]
    assert mixed_script >= 1
    assert len({re.sub(r"[^.,]", "", row["name"]) for row in rows.values()}) >= 2


def test_test_split_has_an_unseen_series_and_unseen_episodes(library):
    _, truth = library
    by_series = defaultdict(list)
    for e in truth["episodes"].values():
        by_series[e["series"]].append(e)
    unseen = [s for s, eps in by_series.items() if all(not e["seen"] for e in eps)]
    assert unseen
    for series, eps in by_series.items():
        splits = {e["split"] for e in eps}
        if series in unseen:
            assert splits == {"test"}
        else:
            assert splits == {"train", "test"} and all(e["seen"] for e in eps)


def test_intro_pixels_recur_across_episodes_and_differ_from_content(library, decoded):
    _, truth = library
    pairs = [
        eps[:2]
        for eps in intro_episodes(truth).values()
        if len(eps) >= 2 and eps[0]["opening"] == eps[1]["opening"]
    ]
    assert len(pairs) >= 2
    for a, b in pairs:
        fa, fb = decoded(a["path"])[1], decoded(b["path"])[1]
        ia, ib = a["intro"], b["intro"]
        # a cut-short intro is the first part of the full one
        n = min(ia["end_frame"] - ia["start_frame"], ib["end_frame"] - ib["start_frame"])
        assert n == ia["end_frame"] - ia["start_frame"] or "cut_short" in a["style"]
        intro_a = fa[ia["start_frame"] : ia["start_frame"] + n]
        intro_b = fb[ib["start_frame"] : ib["start_frame"] + n]
        assert max(diff(x, y) for x, y in zip(intro_a, intro_b, strict=True)) < SAME
        middle = intro_a[n // 2]
        if ib["start_frame"]:
            assert diff(middle, fb[ib["start_frame"] - 1]) > OTHER  # content just before
        assert diff(middle, fb[ib["end_frame"] + 5]) > OTHER  # and after


def test_truth_times_are_the_pts_of_the_first_intro_frame_and_the_frame_after(library, decoded):
    _, truth = library
    for eid, e in truth["episodes"].items():
        if not e["intro"]:
            continue
        render = render_intro(0, "tiny", eid)  # [N, H, W, 3]
        times, frames = decoded(e["path"])
        i = e["intro"]
        s, t = i["start_frame"], i["end_frame"]
        assert len(render) == t - s
        assert times[s] == pytest.approx(i["start"], abs=1e-9)
        assert times[t] == pytest.approx(i["end"], abs=1e-9)
        if "intro_at_zero" in e["style"]:
            assert s == 0 and i["start"] == 0
        else:  # frame boundaries, not whole seconds
            assert i["start"] % 1 and i["end"] % 1
            assert diff(frames[s - 1], render[0]) > OTHER
        assert diff(frames[s], render[0]) < SAME
        assert diff(frames[t - 1], render[-1]) < SAME < OTHER < diff(frames[t], render[-1])
        if i["start_transition"] == "fade_in":  # first fade frame lit 1/12
            lit = frames[s + 12].mean()
            assert 0 < frames[s].mean() < lit / 6
        if i["end_transition"] == "fade_black":  # the black frame is the intro's last
            assert frames[t - 1].mean() < 3 < 20 < frames[t].mean()
            assert frames[t - 2].mean() > frames[t - 1].mean()


def _frames_between(decoded, e: dict, start: float, end: float) -> np.ndarray:
    times, frames = decoded(e["path"])
    keep = [k for k, t in enumerate(times) if start - 1e-9 <= t < end - 1e-9]
    return frames[keep]


def test_distractors_recur_or_are_black_and_stay_outside_the_intro(library, decoded):
    _, truth = library
    kinds = defaultdict(list)
    for e in truth["episodes"].values():
        for d in e["distractors"]:
            kinds[d["kind"]].append((e, d))
            if e["intro"]:
                assert d["end"] <= e["intro"]["start"] or d["start"] >= e["intro"]["end"]
    expected = {"studio_logo", "recap", "recurring_set"}
    assert expected <= set(kinds) <= expected | {"black"}
    for e, d in kinds["black"]:
        assert _frames_between(decoded, e, d["start"], d["end"]).max() < 12
    (e1, d1), (e2, d2) = kinds["studio_logo"][:2]
    logo1 = _frames_between(decoded, e1, d1["start"], d1["end"])
    logo2 = _frames_between(decoded, e2, d2["start"], d2["end"])
    assert diff(logo1[len(logo1) // 2], logo2[len(logo1) // 2]) < SAME
    # a recap shot is a picture from the previous episode of the series
    e, d = kinds["recap"][0]
    shot = _frames_between(decoded, e, d["start"], d["end"])[5]
    n = int(Path(e["path"]).stem[-2:])
    _, prev = decoded(e["path"].replace(f"e{n:02d}.", f"e{n - 1:02d}."))
    assert min(diff(shot, f) for f in prev) < SAME
    # the recurring set: same background, other objects -> most pixels agree
    (e1, d1), (e2, d2) = kinds["recurring_set"][:2]
    set1 = _frames_between(decoded, e1, d1["start"], d1["end"])[0]
    set2 = _frames_between(decoded, e2, d2["start"], d2["end"])[0]
    close = np.abs(set1.astype(np.int16) - set2.astype(np.int16)).max(axis=-1) < 12
    assert close.mean() > 0.5
    assert diff(set1, set2) > 1.0  # but not the same picture


def test_bad_arguments_are_refused(tmp_path):
    with pytest.raises(LibraryError, match="huge"):
        make_library(tmp_path / "lib", size="huge")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(LibraryError, match=str(blocker)):
        make_library(blocker, size="tiny")
    for args, says in (
        (["size=tiny"], "out"),  # no out=
        ([f"out={tmp_path}", "colour=red"], "colour"),
        ([f"out={tmp_path}", "seed=abc"], "seed"),
    ):
        run = _make_library_cli(args)
        assert run.returncode != 0 and says in run.stderr, run.stderr
        assert "Traceback" not in run.stderr
    assert not (tmp_path / "lib").exists() and not (tmp_path / "truth.json").exists()


def _make_library_cli(args: list[str]) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "introdet.demo.make_library", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


RATE = 8000  # soundtracks are compared at this rate, mono


@pytest.fixture(scope="module")
def heard(library):
    """Decode each episode's soundtrack once: mono float32 [S] at RATE Hz from time 0."""
    out, _ = library
    cache: dict[str, np.ndarray] = {}

    def get(rel: str) -> np.ndarray:
        if rel not in cache:
            with av.open(str(out / rel)) as c:
                resampler = av.AudioResampler(format="flt", layout="mono", rate=RATE)
                parts = [
                    g.to_ndarray()[0]
                    for f in c.decode(c.streams.audio[0])
                    for g in resampler.resample(f)
                ]
            cache[rel] = np.concatenate(parts)
        return cache[rel]

    return get


def _clip(heard, e: dict, start: float, end: float) -> np.ndarray:
    return heard(e["path"])[round(start * RATE) : round(end * RATE)]


def corr(a: np.ndarray, b: np.ndarray, lag: int = 16) -> float:
    """Correlation at the best shift within +-``lag`` samples (2 ms): Matroska stamps packets
    to the millisecond, so the same audio can land a fraction of a millisecond apart."""
    n = min(len(a), len(b)) - 2 * lag
    return max(
        float(np.corrcoef(a[lag : lag + n], b[lag + k : lag + k + n])[0, 1])
        for k in range(-lag, lag + 1)
    )


def _best_match(part: np.ndarray, whole: np.ndarray) -> float:
    """Highest normalised correlation of ``part`` with any stretch of ``whole``."""
    part = part - part.mean()
    dots = np.correlate(whole, part, mode="valid")  # [len(whole) - len(part) + 1]
    c1, c2 = np.cumsum(np.r_[0, whole]), np.cumsum(np.r_[0, whole**2])
    n = len(part)
    mean = (c1[n:] - c1[:-n]) / n
    energy = np.maximum(c2[n:] - c2[:-n] - n * mean**2, 1e-12)
    return float((dots / np.sqrt(energy * (part**2).sum())).max())


# traps whose intro or credits do not sound the same as their partner's (test_demo_traps.py)
OTHER_SOUND = {"no_recurring_sound", "rerecorded_theme", "pal_copy"}


def theme_pairs(truth: dict) -> list[list[dict]]:
    """Two episodes of a series whose intros play the same theme at the same speed."""
    pairs = []
    for eps in intro_episodes(truth).values():
        eps = [e for e in eps if not OTHER_SOUND & set(e["style"])]
        if len(eps) > 1 and eps[0]["opening"] == eps[1]["opening"]:
            pairs.append(eps[:2])
    return pairs


def test_the_soundtrack_repeats_where_the_plan_repeats(library, heard):
    _, truth = library
    eps = truth["episodes"]
    pairs = theme_pairs(truth)
    assert pairs
    for a, b in pairs:  # the theme under the intro: the same waveform, wherever it starts
        ia, ib = a["intro"], b["intro"]
        n = min(ia["end"] - ia["start"], ib["end"] - ib["start"])
        theme_a = _clip(heard, a, ia["start"], ia["start"] + n)
        theme_b = _clip(heard, b, ib["start"], ib["start"] + n)
        assert corr(theme_a, theme_b) > 0.95
        # the dialogue just after the intro is each episode's own
        after_a = _clip(heard, a, ia["end"] + 0.5, ia["end"] + 2.5)
        after_b = _clip(heard, b, ib["end"] + 0.5, ib["end"] + 2.5)
        assert abs(corr(after_a, after_b)) < 0.3
    by_series = defaultdict(list)
    for e in eps.values():
        if "pal_copy" not in e["style"]:  # its end theme is sped up
            by_series[e["series"]].append(e)
    for group in by_series.values():  # the end theme under the credits recurs too
        if len(group) < 2:
            continue
        c1, c2 = group[0]["credits"], group[1]["credits"]
        assert c1["end"] == pytest.approx(group[0]["duration"], abs=0.05)
        n = min(c1["end"] - c1["start"], c2["end"] - c2["start"]) - 0.2
        assert (
            corr(
                _clip(heard, group[0], c1["start"], c1["start"] + n),
                _clip(heard, group[1], c2["start"], c2["start"] + n),
            )
            > 0.95
        )


def test_recap_repeats_lines_and_the_jingle_recurs(library, heard):
    _, truth = library
    eps = truth["episodes"]
    for e in eps.values():
        for d in e["distractors"]:
            if d["kind"] == "recap":  # each recap shot is heard in the previous episode
                n = int(Path(e["path"]).stem[-2:])
                prev = eps[Path(e["path"]).stem[:-2] + f"{n - 1:02d}"]
                shot = _clip(heard, e, d["start"] + 0.1, d["start"] + 0.6)
                whole = heard(prev["path"])
                assert _best_match(shot, whole) > 0.9
    logos = [(e, d) for e in eps.values() for d in e["distractors"] if d["kind"] == "studio_logo"]
    (e1, d1), (e2, d2) = logos[:2]
    assert (
        corr(
            _clip(heard, e1, d1["start"], d1["end"] - 0.1), _clip(heard, e2, d2["start"], d2["end"])
        )
        > 0.95
    )


def test_each_episode_has_its_own_loudness(library, heard):
    _, truth = library
    pairs = theme_pairs(truth)
    assert pairs
    for a, b in pairs:
        ia, ib = a["intro"], b["intro"]
        n = min(ia["end"] - ia["start"], ib["end"] - ib["start"])
        rms = [
            float(
                np.sqrt(np.mean(_clip(heard, e, e["intro"]["start"], e["intro"]["start"] + n) ** 2))
            )
            for e in (a, b)
        ]
        assert 20 * math.log10(rms[0] / rms[1]) == pytest.approx(
            a["gain_db"] - b["gain_db"], abs=0.5
        )


def test_series_styles_set_their_traps(library, decoded, heard):
    _, truth = library
    eps = truth["episodes"]
    styles = {s for e in eps.values() for s in e["style"]}
    assert {
        "cut_short",
        "two_openings",
        "text_over_intro",
        "long_credits",
        "intro_at_zero",
    } <= styles
    for e in eps.values():
        assert e["credits"] and e["credits"]["start"] > (e["intro"] or {"end": 0})["end"]
        if "long_credits" in e["style"] and e["intro"]:
            assert (
                e["credits"]["end"] - e["credits"]["start"]
                > e["intro"]["end"] - e["intro"]["start"]
            )
        if "text_over_intro" in e["style"] and e["intro"]:  # white text in the lower third
            frames = decoded(e["path"])[1][e["intro"]["start_frame"] : e["intro"]["end_frame"]]
            h = frames.shape[1]
            assert (frames[:, int(0.7 * h) :] > 225).all(axis=-1).any(axis=(1, 2)).mean() > 0.5
    quarry = sorted((k, e) for k, e in eps.items() if "two_openings" in e["style"])
    (_, a), (_, b) = quarry[:2]
    assert {a["opening"], b["opening"]} == {0, 1}
    ia, ib = a["intro"], b["intro"]
    fa, fb = decoded(a["path"])[1], decoded(b["path"])[1]
    assert diff(fa[ia["start_frame"] + 2], fb[ib["start_frame"] + 2]) > OTHER
    n = min(ia["end"] - ia["start"], ib["end"] - ib["start"])
    assert abs(corr(_clip(heard, a, ia["start"], ia["start"] + n),
                     _clip(heard, b, ib["start"], ib["start"] + n))) < 0.3  # fmt: skip
    vandal = sorted((k, e) for k, e in eps.items() if "cut_short" in e["style"] and e["intro"])
    (_, full), (_, short) = vandal[:2]
    assert short["intro"]["end"] - short["intro"]["start"] < 0.8 * (
        full["intro"]["end"] - full["intro"]["start"]
    )


def test_demo_cli_help_and_encoder_overrides(capsys):
    from omegaconf import OmegaConf

    from introdet.demo import run
    from tests.commands import help_text

    text = help_text(run.main, capsys)
    for key in ("out", "size", "epochs", "encoder", "encoder_args"):
        assert f"\n  {key} " in text
    cfg = OmegaConf.create({"encoder": "vit_b32", "encoder_args": {"pretrained": "/a b/x.bin"}})
    assert run.encoder_overrides(cfg) == ["encoder=vit_b32", "encoder.pretrained='/a b/x.bin'"]
    cfg.encoder_args = None
    assert run.encoder_overrides(cfg) == ["encoder=vit_b32"]
