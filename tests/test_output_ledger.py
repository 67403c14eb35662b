"""Issue #27 items 11 and 16: an output tree that follows a library that changes.

Records and sidecars of a video deleted or renamed are removed, and those of a format or a
place no longer asked for; a user's own file where an output would go is never replaced (out=
the library, comskip's ``.edl`` beside a video); only files introdet wrote are ever removed
(its ledger, ``out/.introdet-written.jsonl``), and two jobs on one out= keep both their lines.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from introdet.outputs import ledger as ledger_module
from introdet.outputs.export import read_record, to_edl, to_vtt
from introdet.outputs.ledger import LEDGER, Entry, Ledger
from introdet.predict import predict
from tests import badfiles
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
ROOT = Path(__file__).resolve().parents[1]
ALL = "formats=[json,edl,ffmetadata,vtt]"
SUFFIXES = (".json", ".edl", ".ffmetadata", ".chapters.vtt")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    """Three short clips, made once and copied into each test's library."""
    folder = tmp_path_factory.mktemp("clips")
    return [badfiles.good(folder / f"c{k}.mp4", seed=k) for k in range(3)]


def _season(clips: list[Path], folder: Path, names=("E1", "E2", "E3")) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copy(c, folder / f"{n}.mp4")) for c, n in zip(clips, names, strict=False)]


def _predict(input: Path, out: Path, *more: str) -> int:
    cfg = compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false", *more])
    return predict(cfg)


def _files(stem: Path, suffixes=SUFFIXES) -> list[bool]:
    return [Path(f"{stem}{s}").exists() for s in suffixes]


# --- item 11: videos gone or renamed, formats and places no longer asked for ------------------


def test_a_deleted_video_takes_its_records_and_sidecars_with_it(clips, tmp_path, caplog):
    lib, out = tmp_path / "lib", tmp_path / "o"
    e1, _, e3 = _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, ALL) == 0
    assert _predict(lib, out / "side", ALL, "sidecars=true") == 0  # another out=, beside
    mirrored = out / "Show" / "Season 1"
    assert all(_files(mirrored / "E3")) and all(_files(e3.with_suffix(""), SUFFIXES[1:]))
    e3.unlink()
    caplog.set_level(logging.INFO)
    assert _predict(lib, out, ALL) == 0
    assert _predict(lib, out / "side", ALL, "sidecars=true") == 0
    assert not any(_files(mirrored / "E3"))  # json, edl, ffmetadata, chapters.vtt
    assert not any(_files(e3.with_suffix(""), SUFFIXES[1:]))  # beside the library
    assert not (out / "side" / "Show" / "Season 1" / "E3.json").exists()
    assert all(_files(mirrored / "E1")) and all(_files(e1.with_suffix(""), SUFFIXES[1:]))
    lines = [r.getMessage() for r in caplog.records if "E3.mp4: its video is gone" in r.message]
    assert len(lines) == 2  # one line per video and output folder, naming what went


def test_a_renamed_video_leaves_no_outputs_under_its_old_name(clips, tmp_path, caplog):
    lib, out = tmp_path / "lib", tmp_path / "o"
    videos = _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "formats=[json,edl]") == 0
    videos[2].rename(videos[2].with_name("E3 - The Return.mp4"))
    caplog.set_level(logging.INFO)
    assert _predict(lib, out, "formats=[json,edl]") == 0
    season = out / "Show" / "Season 1"
    assert sorted(p.name for p in season.iterdir()) == [
        "E1.edl", "E1.json", "E2.edl", "E2.json", "E3 - The Return.edl", "E3 - The Return.json"
    ]  # fmt: skip
    assert read_record(season / "E3 - The Return.json")["source"].endswith("The Return.mp4")
    assert "E3.mp4: its video is gone (deleted or renamed): removed" in caplog.text


def test_a_video_replaced_by_one_of_the_same_name_keeps_the_files_they_share(clips, tmp_path):
    """``E2.mp4`` remuxed to ``E2.mkv``: the same sidecar and record paths, now the new one's."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    videos = _season(clips, lib / "Show" / "Season 1")
    for _ in range(2):  # the second run finds the files as the first left them
        assert _predict(lib, out, ALL, "sidecars=true") == 0
    videos[1].rename(videos[1].with_suffix(".mkv"))
    for _ in range(2):
        assert _predict(lib, out, ALL, "sidecars=true") == 0
        assert _files(videos[1].with_suffix("")) == [False, True, True, True]
        assert (out / "Show" / "Season 1" / "E2.json").is_file()


def test_a_format_no_longer_asked_for_is_removed(clips, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "formats=[json,edl]") == 0
    edl = out / "Show" / "Season 1" / "E1.edl"
    assert edl.is_file()
    assert _predict(lib, out, "formats=[json]") == 0
    assert not edl.exists() and not list(out.rglob("*.edl"))
    assert (out / "Show" / "Season 1" / "E1.json").is_file()


def test_sidecars_switched_off_go_back_from_beside_the_library(clips, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    e1 = _season(clips, lib / "Show" / "Season 1")[0]
    assert _predict(lib, out, "formats=[json,edl]", "sidecars=true") == 0
    assert e1.with_suffix(".edl").is_file()
    assert _predict(lib, out, "formats=[json,edl]") == 0
    assert not list(lib.rglob("*.edl"))  # the library holds only its videos again
    assert (out / "Show" / "Season 1" / "E1.edl").is_file()


def test_only_a_run_over_a_video_s_folder_removes_its_outputs(clips, tmp_path):
    """A run on Season 2 says nothing about Season 1: a video of Season 1 deleted meanwhile
    keeps its outputs until a run covers Season 1 again."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    s1 = _season(clips, lib / "Show" / "Season 1")
    _season(clips, lib / "Show" / "Season 2")
    assert _predict(lib, out) == 0
    s1[2].unlink()
    gone = out / "Show" / "Season 1" / "E3.json"
    assert _predict(lib / "Show" / "Season 2", out) == 0
    assert gone.is_file()
    assert _predict(lib, out, "shard=0/2") == 0 and _predict(lib, out, "shard=1/2") == 0
    assert not gone.exists()  # by the job whose share holds the show: gone from the disk


def test_a_chapters_copy_no_longer_asked_for_is_removed(clips, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "chapters=apply") == 0
    copy = out / "Show" / "Season 1" / "E1.mp4"
    assert copy.is_file()
    assert _predict(lib, out) == 0
    assert not copy.exists() and (out / "Show" / "Season 1" / "E1.json").is_file()


def test_a_users_file_where_the_chapters_copy_would_go_is_left_as_it_is(clips, tmp_path, caplog):
    """The copy's owner is judged by the record from before this run: the one this run has
    just written names the same video and would make any file at the copy's path look ours."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    mine = out / "Show" / "Season 1" / "E1.mp4"
    mine.parent.mkdir(parents=True)
    mine.write_bytes(b"my own cut of E1\n")
    assert _predict(lib, out, "chapters=apply") == 0
    assert mine.read_bytes() == b"my own cut of E1\n"
    assert "the copy with chapters not written" in caplog.text
    assert (out / "Show" / "Season 1" / "E2.mp4").is_file()  # the others still get theirs
    caplog.clear()
    assert _predict(lib, out, "chapters=apply") == 0  # and on a re-run, with a record there
    assert mine.read_bytes() == b"my own cut of E1\n"


def test_files_introdet_did_not_write_are_never_removed(clips, tmp_path, caplog):
    lib, out = tmp_path / "lib", tmp_path / "o"
    videos = _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "formats=[json,edl]") == 0
    season = out / "Show" / "Season 1"
    (season / "notes.txt").write_text("mine\n")
    (season / "E3.nfo").write_text("<episodedetails/>\n")
    (out / "E9.json").write_text("{}\n")
    (season / "E3.edl").write_text("1.0 2.0 3\n")  # ours, edited by hand since
    videos[2].unlink()
    assert _predict(lib, out, "formats=[json,edl]") == 0
    assert (season / "notes.txt").is_file() and (season / "E3.nfo").is_file()
    assert (out / "E9.json").read_text() == "{}\n"
    assert (season / "E3.edl").read_text() == "1.0 2.0 3\n"
    assert "E3.edl: changed since introdet wrote it: left as it is" in caplog.text
    assert not (season / "E3.json").exists()
    caplog.clear()
    assert _predict(lib, out, "formats=[json,edl]") == 0
    assert "E3.edl" not in caplog.text  # let go: said once


def test_the_mirrored_folders_a_removal_empties_are_removed(clips, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    _season(clips, lib / "Old Show" / "Season 1")
    assert _predict(lib, out) == 0
    shutil.rmtree(lib / "Old Show")
    assert _predict(lib, out) == 0
    assert not (out / "Old Show").exists() and (out / "Show" / "Season 1").is_dir()


def test_a_share_not_mounted_is_not_a_deleted_library(clips, tmp_path, caplog):
    """A video missing where its folder is now on another device than when its outputs were
    written (the mount point of a share that is down): its outputs are kept."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    videos = _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out) == 0
    lines = (out / LEDGER).read_text().splitlines()
    moved = [json.loads(x) for x in lines]
    for d in moved:
        if d.get("source", "") and d["source"].endswith("E3.mp4"):
            d["dev"] += 1  # as if written while another file system was mounted there
    (out / LEDGER).write_text("".join(json.dumps(d) + "\n" for d in moved))
    videos[2].unlink()
    assert _predict(lib, out) == 0
    assert (out / "Show" / "Season 1" / "E3.json").is_file()
    assert "not mounted?" in caplog.text


# --- item 16: a user's file where an output would go --------------------------------------------


def test_out_equal_to_input_never_replaces_a_users_json(clips, tmp_path, capsys):
    lib = tmp_path / "lib"
    season = lib / "Show" / "Season 1"
    _season(clips, season)
    mine = season / "E1.json"
    mine.write_text('{"my": "notes on episode 1"}\n')
    (lib / "intros.csv").write_text("title,rating\nPilot,5\n")
    assert _predict(lib, lib) == 1  # that episode failed: its record is not where asked
    assert mine.read_text() == '{"my": "notes on episode 1"}\n'
    assert (lib / "intros.csv").read_text() == "title,rating\nPilot,5\n"
    said = capsys.readouterr().out
    assert f"FAILED  {mine}: a file introdet did not write is there" in said
    assert "give another out=" in said
    assert read_record(season / "E2.json")["source"] == str(season / "E2.mp4")
    assert _predict(lib, tmp_path / "o") == 0  # another out=: every episode


def test_comskips_edl_beside_a_video_is_left_alone(clips, tmp_path, capsys):
    lib, out = tmp_path / "lib", tmp_path / "o"
    e1, e2, _ = _season(clips, lib / "Show" / "Season 1")
    comskip = e1.with_suffix(".edl")
    comskip.write_text("0.00\t31.20\t0\n")
    assert _predict(lib, out, "formats=[json,edl]", "sidecars=true") == 1
    assert comskip.read_text() == "0.00\t31.20\t0\n"
    assert f"FAILED  {comskip}: a file introdet did not write" in capsys.readouterr().out
    assert not (out / "Show" / "Season 1" / "E1.json").exists()  # all of its files, or none
    assert e2.with_suffix(".edl").is_file() and (out / "Show" / "Season 1" / "E2.json").is_file()


def test_a_damaged_record_of_ours_is_written_anew(clips, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "formats=[json,edl]") == 0
    record = out / "Show" / "Season 1" / "E1.json"
    good = record.read_text()
    record.write_text("garbage, not JSON")  # the ledger knows it as ours
    assert _predict(lib, out, "formats=[json,edl]") == 0
    assert record.read_text() == good
    (out / LEDGER).unlink()  # an output folder of a version before the ledger
    record.write_text(good[:40])  # a record cut short
    assert _predict(lib, out, "formats=[json,edl]") == 0
    assert record.read_text() == good


def test_player_files_of_a_version_before_the_ledger_are_known_by_their_record(clips, tmp_path):
    """An output folder an older introdet wrote, whose results change: its .edl is the one its
    record renders, so it is introdet's and is written anew (not taken for a user's)."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "formats=[json,edl,vtt]") == 0
    (out / LEDGER).unlink()
    record, edl = out / "Show" / "Season 1" / "E1.json", out / "Show" / "Season 1" / "E1.edl"
    old = json.loads(record.read_text()) | {"intro": {"start": 1.0, "end": 3.0, "score": 0.9}}
    old = {k: v for k, v in old.items() if k != "segments"} | {"schema_version": 2}  # older
    record.write_text(json.dumps(old))
    edl.write_text(to_edl(old))
    vtt = out / "Show" / "Season 1" / "E2.chapters.vtt"
    vtt.write_text("WEBVTT\n\nchapter-1\n00:00:00.000 --> 00:00:04.000\nEpisode\n")  # older
    assert _predict(lib, out, "formats=[json,edl,vtt]") == 0
    assert edl.read_text() != to_edl(old) and read_record(record)["intro"] != old["intro"]
    assert vtt.read_text() == to_vtt(read_record(vtt.with_name("E2.json")))


def test_a_chapters_copy_of_a_version_before_the_ledger_is_known_by_its_record(
    clips, tmp_path, caplog
):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _season(clips, lib / "Show" / "Season 1")
    assert _predict(lib, out, "chapters=apply") == 0
    (out / LEDGER).unlink()
    copy = out / "Show" / "Season 1" / "E1.mp4"
    copy.write_bytes(b"an older introdet's copy, cut short")
    assert _predict(lib, out, "chapters=apply") == 0
    assert "copy with chapters not written" not in caplog.text
    assert copy.stat().st_size > 1000  # made anew


# --- the ledger: jobs at once ---------------------------------------------------------------


def _append(out: str, job: int, n: int, started) -> None:
    ledger = Ledger(Path(out))
    assert started.wait(60)
    for i in range(n):
        ledger.add([Entry(Path(out) / f"job{job}" / f"e{i}.json", f"sha256:{i}", f"/v/{job}/{i}")])
        time.sleep(0.003)  # spread over the other job's rewrites


def _tidy(out: str, started, done, rewrites) -> None:
    """Adds and drops entries of its own until the others are done: its dead lines make the
    ledger be rewritten, over and over, while they append."""
    ledger_module.COMPACT_AFTER = 5
    ledger = Ledger(Path(out))
    i = 0
    while not done.is_set():
        ledger.add([Entry(Path(out) / "mine" / f"{i}.json", "sha256:x", "/v/mine")])
        before = os.stat(ledger.file).st_ino
        with ledger.hold() as held:
            held.dropped += [p for p in held.entries if p.parent.name == "mine"]
        rewrites.value += os.stat(ledger.file).st_ino != before
        if rewrites.value:
            started.set()  # the others append from now on
        i += 1


def test_jobs_appending_while_another_rewrites_lose_no_line(tmp_path):
    ctx = multiprocessing.get_context("fork")
    started, done, rewrites = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
    tidy = ctx.Process(target=_tidy, args=(str(tmp_path), started, done, rewrites))
    jobs = [ctx.Process(target=_append, args=(str(tmp_path), j, 100, started)) for j in range(4)]
    for p in [tidy, *jobs]:
        p.start()
    for p in jobs:
        p.join(120)
        assert p.exitcode == 0
    done.set()
    tidy.join(60)
    assert tidy.exitcode == 0
    assert rewrites.value >= 2  # rewritten while the others appended
    entries = Ledger(tmp_path).read()
    assert len(entries) == 4 * 100  # every job's lines, none of the dropped ones


def test_a_line_a_killed_job_left_torn_costs_no_other(tmp_path):
    ledger = Ledger(tmp_path)
    ledger.add([Entry(tmp_path / "a.json", "sha256:1", "/v/a")])
    with open(tmp_path / LEDGER, "a") as f:
        f.write('{"op": "wrote", "path": "b.js')  # killed mid-line
    ledger.add([Entry(tmp_path / "c.json", "sha256:3", "/v/c")])
    assert sorted(p.name for p in ledger.read()) == ["a.json", "c.json"]


@pytest.mark.slow
def test_two_shard_jobs_at_once_keep_both_jobs_files(clips, tmp_path):
    """``shard=0/2`` and ``shard=1/2`` on one out= at once: the ledger holds the files of
    both, so that a later run takes back those of either show's deleted video."""
    lib, out = tmp_path / "lib", tmp_path / "o"
    north = _season(clips, lib / "Northwind" / "Season 1")  # shares 1 and 0 of 2
    harbor = _season(clips, lib / "Harbor" / "Season 1")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    runs = [subprocess.Popen([sys.executable, str(ROOT / "predict.py"), f"input={lib}",
                              f"out={out}", "progress=false", f"shard={i}/2",
                              "formats=[json,edl]"], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for i in (0, 1)]  # fmt: skip
    for run in runs:
        said, _ = run.communicate(timeout=300)
        assert run.returncode == 0, said[-2000:]
    written = {p.relative_to(out).as_posix() for p in Ledger(out).read()}
    assert written == {f"{show}/Season 1/E{k}{s}" for show in ("Northwind", "Harbor")
                       for k in (1, 2, 3) for s in (".json", ".edl")} | {
        "intros-0-of-2.csv", "intros-1-of-2.csv"}  # fmt: skip
    north[0].unlink()
    harbor[0].unlink()
    assert _predict(lib, out, "formats=[json,edl]") == 0
    for show in ("Northwind", "Harbor"):
        assert not any(_files(out / show / "Season 1" / "E1", (".json", ".edl")))
