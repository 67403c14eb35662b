"""Season mode end to end: ``predict.py`` with no checkpoint over a generated library.

The tiny demo library has every trap in small: a studio jingle before the intro, text over
the intro, end credits longer than the intro, a cold open, a cut-short intro, a recap that
quotes the last episode, an intro at 0:00, two openings, episodes without an intro.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo.make_library import add_soundtrack, make_library
from introdet.demo.videofile import write_video
from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.season import SeasonConfig
from introdet.features.audio import audio_fingerprint
from introdet.features.fingerprints import EpisodePrints
from introdet.outputs.export import read_record
from introdet.predict import predict
from tests.commands import output
from tests.conftest import compose_cfg
from tests.test_audio import dialogue_wave, episode_wave, resampled_print, theme_wave

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("season-lib")
    return out, make_library(out, seed=0, size="tiny")


def _predict(input: Path, out: Path, *more: str) -> int:
    cfg = compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false", *more])
    return predict(cfg)


def _shared(truth: dict, e: dict) -> bool:
    """Whether another episode of the series shows the same opening: recurrence can see it."""
    return any(
        o is not e and o["series"] == e["series"] and o["intro"] and o["opening"] == e["opening"]
        for o in truth["episodes"].values()
    )


def test_season_mode_needs_no_training_and_avoids_every_trap(library, tmp_path):
    lib, truth = library
    assert _predict(lib / "videos", tmp_path / "o") == 0
    checked = 0
    for eid, e in truth["episodes"].items():
        rec = read_record(output(tmp_path / "o", eid))
        assert rec["mode"] == "season"
        credits = e["credits"]
        assert rec["credits"] == pytest.approx([credits["start"], credits["end"]], abs=0.5)
        if e["intro"] is None or not _shared(truth, e):
            assert rec["intro"] is None, eid  # no logo, recap or credits taken for an intro
            continue
        intro = e["intro"]
        assert rec["intro"]["start"] == pytest.approx(intro["start"], abs=0.1), eid
        if "cut_short" not in e["style"]:  # a full intro whose partner is cut short: its part
            assert rec["intro"]["end"] == pytest.approx(intro["end"], abs=0.1), eid
        checked += 1
    assert checked >= 3
    assert (tmp_path / "o" / "intros.csv").is_file()


def test_the_decimated_sound_decides_every_season_as_the_resampled_one_did(library):
    """The fast path (the track's rate divided by a whole factor, no resampler) finds the same
    intros and credits, within 0.05 s, in every season of the demo library."""
    lib, truth = library
    series: dict[str, list[dict]] = {}
    for e in truth["episodes"].values():
        series.setdefault(e["series"], []).append(e)
    compared = 0
    for members in series.values():
        paths = [lib / e["path"] for e in members]
        fast = [EpisodePrints(e["duration"], audio_fingerprint(p)) for e, p in
                zip(members, paths, strict=True)]  # fmt: skip
        assert {p.audio.hop for p in fast} == {0.05}  # 48-kHz Opus and 22.05-kHz AAC alike
        slow = [resampled_print(p, e["duration"]) for e, p in zip(members, paths, strict=True)]
        found = [season_findings(SeasonSources(prints, lambda k: None), SeasonConfig()).results
                 for prints in (fast, slow)]  # fmt: skip
        for a, b in zip(*found, strict=True):
            for kind in ("intro", "credits"):
                x, y = getattr(a, kind), getattr(b, kind)
                assert (x is None) == (y is None)
                if x is not None:
                    assert (x.start, x.end) == (pytest.approx(y.start, abs=0.05),
                                                pytest.approx(y.end, abs=0.05))  # fmt: skip
                    compared += 1
    assert compared >= 10


def test_an_episode_without_sound_is_matched_on_its_pictures(library, tmp_path):
    lib, truth = library
    a, b = (truth["episodes"][f"northwind_s01e0{k}"] for k in (1, 2))
    season = tmp_path / "in" / "Northwind"
    season.mkdir(parents=True)
    shutil.copy(lib / a["path"], season / Path(a["path"]).name)
    _video_only(lib / b["path"], season / Path(b["path"]).name)
    assert _predict(tmp_path / "in", tmp_path / "o") == 0
    rec = json.loads((output(tmp_path / "o", "northwind_s01e02")).read_text())
    assert rec["intro"]["start"] == pytest.approx(b["intro"]["start"], abs=0.5)
    assert rec["intro"]["end"] == pytest.approx(b["intro"]["end"], abs=1.0)
    # said as it is: its pictures decided, not "no evidence"
    assert rec["encoder"] == "none (season mode: sound and pictures)"
    assert rec["season"]["intro"]["seen"] >= 1


def test_a_lone_episode_is_no_season(library, tmp_path, caplog):
    lib, truth = library
    e = truth["episodes"]["northwind_s01e01"]
    alone = tmp_path / "in" / "Northwind"
    alone.mkdir(parents=True)
    shutil.copy(lib / e["path"], alone)
    assert _predict(tmp_path / "in", tmp_path / "o") == 0
    assert "its intro needs its season" in caplog.text
    rec = read_record(output(tmp_path / "o", "northwind_s01e01"))
    assert rec["intro"] is None
    # its credits from its last pictures, and the record says so
    assert rec["credits"] == pytest.approx([e["credits"]["start"], e["credits"]["end"]], abs=0.5)
    assert rec["season"]["end_pictures"].startswith("dark frames with text from 0:19")


def _video_only(src: Path, dst: Path) -> None:
    """``src`` without its audio track (packets copied, nothing re-encoded)."""
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        for packet in inp.demux(vin):
            if packet.size:
                packet.stream = vout
                out.mux(packet)


def test_only_the_scan_and_the_tail_are_heard(library, tmp_path):
    lib, truth = library
    # tiny episodes last ~20 s: 10 s from 0:00 and the last 6 s are two prints of each
    more = ["season.scan=10", "season.scan_fraction=0.1", "season.tail=6"]
    assert _predict(lib / "videos", tmp_path / "o", *more) == 0
    for eid, e in truth["episodes"].items():
        rec = read_record(output(tmp_path / "o", eid))
        credits = e["credits"]
        if credits["start"] >= e["duration"] - 6:  # wholly inside the tail
            assert rec["credits"] == pytest.approx([credits["start"], credits["end"]], abs=0.5)
        if rec["intro"] is not None:
            assert rec["intro"]["start"] < 10
    first = read_record(output(tmp_path / "o", "northwind_s01e01"))["intro"]
    want = truth["episodes"]["northwind_s01e01"]["intro"]
    assert first["start"] == pytest.approx(want["start"], abs=0.1)


def _season_of_late_openers(folder: Path, befores: Sequence[float], length: float) -> None:
    """Episodes of ``length`` s, each a theme of 15 s after a cold open of ``befores[k]`` s and
    one end sound over its last 15 s; pictures of noise that recur nowhere."""
    theme, end = theme_wave(15.0, 3, 22050), dialogue_wave(15.0, 77, 22050)
    (folder / "Late").mkdir(parents=True)
    for k, before in enumerate(befores):
        rng = np.random.default_rng(k)
        frames = [rng.integers(0, 255, (48, 64, 3), np.uint8) for _ in range(int(length * 5))]
        bare = write_video(folder / "bare.mp4", frames, fps=5.0)
        wave = np.concatenate([episode_wave(theme, before, length - before - 30.0, 10 + k, 22050),
                               end])  # fmt: skip
        add_soundtrack(bare, folder / "Late" / f"late_s01e0{k + 1}.mp4", "aac", wave, 22050)
        bare.unlink()


def test_only_the_episodes_their_first_scan_leaves_unexplained_are_heard_again(tmp_path):
    _season_of_late_openers(tmp_path / "in", [10.0, 15.0, 70.0], 120.0)
    first = ["season.first_scan=40", "season.first_tail=30"]
    assert _predict(tmp_path / "in", tmp_path / "first", *first) == 0
    whole = ["season.first_scan=null", "season.first_tail=null"]
    assert _predict(tmp_path / "in", tmp_path / "whole", *whole) == 0
    for k, before in enumerate([10.0, 15.0, 70.0]):
        a, b = (read_record(output(tmp_path / n, f"late_s01e0{k + 1}")) for n in ("first", "whole"))
        assert (a["intro"]["start"], a["intro"]["end"]) == (
            pytest.approx(before, abs=0.3), pytest.approx(before + 15.0, abs=0.3))  # fmt: skip
        assert (a["intro"]["start"], a["intro"]["end"]) == (
            pytest.approx(b["intro"]["start"], abs=0.05),
            pytest.approx(b["intro"]["end"], abs=0.05))  # fmt: skip
        assert a["credits"] == pytest.approx([105.0, 120.0], abs=0.3)
    # the first 40 s hold two intros and the last 30 s every end theme: one episode heard again
    again = (tmp_path / "first" / ".prints" / ".wider").rglob("*.json")
    assert [p.name for p in again] == ["late_s01e03.json"]
    lone = tmp_path / "lone" / "Late"
    lone.mkdir(parents=True)
    shutil.copy(tmp_path / "in" / "Late" / "late_s01e03.mp4", lone)
    assert _predict(lone.parent, tmp_path / "alone", *first) == 0
    assert not (tmp_path / "alone" / ".prints" / ".wider").exists()  # no partner to hear it with


def _records(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in out.rglob("*.json")
            if not any(part.startswith(".") for part in p.relative_to(out).parts)}  # fmt: skip


def test_shards_of_a_library_give_the_records_of_one_run(library, tmp_path, capsys):
    """``-m shard=0/2,1/2``: each job decides whole seasons (a season split across jobs would
    be compared in halves), together every season once, and no two jobs write one file."""
    from introdet.predict import main as predict_main
    from tests.commands import run_command

    lib, _ = library
    two = tmp_path / "two shows"
    for show in ("Northwind", "Harbor"):
        shutil.copytree(lib / "videos" / show, two / show)
    assert run_command(predict_main, f"input={two}", f"out={tmp_path / 'one'}",
                       "progress=false") == 0  # fmt: skip
    once = capsys.readouterr().out
    assert run_command(predict_main, "-m", f"input={two}", f"out={tmp_path / 'split'}",
                       "progress=false", "shard=0/2,1/2") == 0  # fmt: skip
    jobs = capsys.readouterr().out
    assert _records(tmp_path / "split") == _records(tmp_path / "one")
    decided = [int(line.split("seasons decided: ")[1].split(",")[0])
               for line in jobs.splitlines() if "seasons decided: " in line]  # fmt: skip
    assert decided == [1, 1] and "seasons decided: 2" in once  # Harbor, then Northwind
    assert sorted(p.name for p in (tmp_path / "split").glob("*.csv")) == [
        "intros-0-of-2.csv", "intros-1-of-2.csv"]  # fmt: skip
    # a share with no season (Northwind and Harbor fall in shares 1 and 0 of 3): done, said so
    assert run_command(predict_main, f"input={two}", f"out={tmp_path / 'none'}",
                       "progress=false", "shard=2/3") == 0  # fmt: skip
    assert "shard 2/3 holds none of its seasons" in capsys.readouterr().out


def test_the_names_of_the_last_version_still_work_with_a_warning(library, tmp_path, capsys):
    from introdet.command_line import renamed
    from introdet.predict import RENAMES
    from introdet.predict import main as predict_main
    from tests.commands import run_command

    args = ["recurring.scan=10", "+max_others=3", "season=off", "season.tail=6",
            "method=recurrence", "method=season"]  # fmt: skip
    assert [renamed(a, RENAMES) for a in args] == [
        "season.scan=10", "+clip_others=3", "season_channels=off", "season.tail=6",
        "method=clip", "method=season"]  # fmt: skip
    lib, _ = library
    out = tmp_path / "o"
    assert run_command(predict_main, f"input={lib / 'videos' / 'Northwind'}", f"out={out}",
                       "progress=false", "recurring.scan=12") == 0  # fmt: skip
    assert "warning: recurring.scan=12 is now season.scan=12" in capsys.readouterr().err
    rec = read_record(output(out, "northwind_s01e02"))
    assert rec["provenance"]["season"]["scan"] == 12


def test_a_folder_without_videos_names_what_it_passed_over(tmp_path, capsys):
    """An mp3-only folder: no episode to predict (exit code 1, as before), and the summary
    says which files were passed over and why."""
    lib = tmp_path / "music"
    lib.mkdir()
    (lib / "a.mp3").write_bytes(b"ID3")
    (lib / "notes.txt").write_text("no videos here")
    assert _predict(lib, tmp_path / "o") == 1
    printed = capsys.readouterr().out
    assert printed.count("passed over 2 files, not video by their suffix: a.mp3, notes.txt") == 1


def test_outputs_never_replace_the_library_nor_grow_inside_it(library, tmp_path):
    """#27: out= the library with chapters=apply overwrote every video with its copy, and out=
    inside input= took its own copies for episodes, more each run."""
    import hashlib

    lib, _ = library
    season = tmp_path / "lib" / "Northwind"
    season.mkdir(parents=True)
    for name in ("northwind_s01e01.webm", "northwind_s01e02.webm"):
        shutil.copy(lib / "videos" / "Northwind" / name, season / name)

    def digests() -> dict:
        return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in season.glob("*.webm")}

    before = digests()
    assert _predict(tmp_path / "lib", tmp_path / "lib", "chapters=apply") == 0
    assert digests() == before  # the copy would have been the video itself: not written
    for _ in range(2):  # out= inside the library: its copies are never episodes
        assert _predict(tmp_path / "lib", tmp_path / "lib" / "intros", "chapters=apply") == 0
        rows = (tmp_path / "lib" / "intros" / "intros.csv").read_text().strip().splitlines()
        assert len(rows) == 3  # the header and the two episodes
    assert digests() == before


def test_a_folder_that_cannot_take_sidecars_does_not_stop_the_others(library, tmp_path, capsys):
    """#27: one season folder that could not be written stopped the run at its first sidecar
    (exit 2) and the seasons after it got none."""
    lib, _ = library
    for show in ("Northwind", "Harbor"):
        shutil.copytree(lib / "videos" / show, tmp_path / "lib" / show)
    (tmp_path / "lib" / "Harbor" / "Season 1" / "harbor_s01e01.edl").mkdir()  # not writable
    assert _predict(tmp_path / "lib", tmp_path / "o", "sidecars=true", "formats=[json,edl]") == 1
    out = capsys.readouterr().out
    assert "FAILED" in out and "harbor_s01e01.edl" in out
    assert (tmp_path / "lib" / "Northwind" / "northwind_s01e02.edl").is_file()
    assert (tmp_path / "lib" / "Harbor" / "Season 1" / "harbor_s01e02.edl").is_file()
