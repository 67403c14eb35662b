"""Outputs where players and media servers find them: a two-show library with equal file names,
sidecars, a mirrored tree, readable modes, incremental re-runs, records that validate."""

from __future__ import annotations

import json
import os
import shutil
import stat
from pathlib import Path

import jsonschema
import pytest

import introdet
from introdet.atomic import atomic_write_text
from introdet.demo.make_library import make_library
from introdet.errors import ConfigError
from introdet.outputs.layout import record_files
from introdet.predict import predict
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SCHEMA = json.loads((Path(introdet.__file__).parent / "outputs" / "record.schema.json").read_text())


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("lib-out")
    return out, make_library(out, seed=0, size="tiny")


def _place(demo, root: Path, show: str, n: int, series: str, k: int) -> tuple[str, dict]:
    """Episode k of the demo's ``series`` as ``<show>/Season 1/Episode <n>.<ext>``."""
    lib, truth = demo
    e = truth["episodes"][f"{series}_s01e{k:02d}"]
    src = lib / e["path"]
    dest = root / show / "Season 1" / f"Episode {n}{src.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(src, dest)
    return f"{show}/Season 1/Episode {n}", e


def _two_shows(demo, root: Path) -> dict[str, dict]:
    """``Show A/Season 1/Episode N`` and ``Show B/Season 1/Episode N``: two of the demo's
    series, each episode renamed to a name the other show also uses."""
    return dict(
        _place(demo, root, show, n, series, n)
        for show, series in (("Show A", "harbor"), ("Show B", "northwind"))
        for n in (1, 2)
    )


def _predict(input: Path, out: Path, *more: str) -> int:
    cfg = compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false", *more])
    return predict(cfg)


def test_sidecars_beside_every_episode_and_a_mirrored_tree(demo, tmp_path, capsys):
    lib = tmp_path / "lib"
    placed = _two_shows(demo, lib)
    old = os.umask(0o022)
    try:
        code = _predict(lib, tmp_path / "o", "sidecars=true", "formats=[json,edl,ffmetadata]")
    finally:
        os.umask(old)
    assert code == 0
    for key, e in placed.items():
        video = lib / f"{key}{Path(e['path']).suffix}"
        edl = video.with_suffix(".edl")
        assert edl.is_file() and video.with_suffix(".ffmetadata").is_file()
        assert stat.S_IMODE(edl.stat().st_mode) == 0o644  # a media server's user reads it
        rec = json.loads((tmp_path / "o" / f"{key}.json").read_text())
        assert rec["key"] == key and rec["episode"] == key  # "Episode 1" twice: keyed by path
        assert rec["source"] == str(video)
        if e["intro"] and rec["intro"]:
            line = edl.read_text().splitlines()[0].split()
            assert [float(line[0]), float(line[1]), int(line[2])] == pytest.approx(
                [rec["intro"]["start"], rec["intro"]["end"], 3], abs=1e-3
            )
        jsonschema.validate(rec, SCHEMA)
        assert rec["provenance"]["method"] == "season"
        assert rec["provenance"]["introdet"] == introdet.__version__
    assert not list((tmp_path / "o").glob("*.edl"))  # the player files went beside the videos


def test_a_new_episode_is_the_only_one_decoded_and_its_season_is_decided_again(demo, tmp_path):
    lib, out = tmp_path / "lib", tmp_path / "o"
    _place(demo, lib, "Show A", 1, "northwind", 1)
    _place(demo, lib, "Show B", 1, "vandal", 1)
    _place(demo, lib, "Show B", 2, "vandal", 2)
    assert _predict(lib, out, "formats=[json,edl]") == 0
    prints = {p: p.stat().st_mtime_ns for p in (out / ".prints").rglob("*.npz")}
    records = {k: p.stat().st_mtime_ns for k, p in record_files(out)}
    assert len(prints) == 3 and len(records) == 3
    alone = json.loads((out / "Show A/Season 1/Episode 1.json").read_text())
    before_b2 = json.loads((out / "Show B/Season 1/Episode 2.json").read_text())
    assert before_b2["episode"] == "Episode 2"  # a name no other file has: its id
    assert alone["intro"] is None  # a lone episode: no season yet
    _place(demo, lib, "Show A", 2, "northwind", 2)  # a second episode joins Show A
    assert _predict(lib, out, "formats=[json,edl]") == 0
    after = {p: p.stat().st_mtime_ns for p in (out / ".prints").rglob("*.npz")}
    assert {p: after[p] for p in prints} == prints  # no old episode was decoded again
    assert len(after) == 4
    new = {k: p.stat().st_mtime_ns for k, p in record_files(out)}
    # Show B's season is unchanged: its record is untouched; "Episode 2" is now a name two
    # shows use, so that episode's id became its key, and only that changed in its record
    assert new["Show B/Season 1/Episode 1"] == records["Show B/Season 1/Episode 1"]
    b2 = json.loads((out / "Show B/Season 1/Episode 2.json").read_text())
    assert b2["episode"] == "Show B/Season 1/Episode 2" and b2["intro"] == before_b2["intro"]
    again = json.loads((out / "Show A/Season 1/Episode 1.json").read_text())
    assert again["intro"] is not None  # Show A decided again, now with a partner
    assert again["intro"]["start"] == pytest.approx(
        demo[1]["episodes"]["northwind_s01e01"]["intro"]["start"], abs=0.1
    )


def test_a_show_folder_named_shards_keeps_its_records_apart_from_the_cache(
    demo, tmp_path, model_ckpt
):
    """out/ mirrors the library and the feature cache was out/shards: a folder named
    ``shards`` had its episodes' records written over the cached features' metadata."""
    from introdet.features.shards import load_features, read_manifest

    lib, truth = demo
    root, out = tmp_path / "lib", tmp_path / "o"
    for k in (1, 2):
        src = lib / truth["episodes"][f"harbor_s01e0{k}"]["path"]
        (root / "shards").mkdir(parents=True, exist_ok=True)
        shutil.copy(src, root / "shards" / f"harbor_s01e0{k}{src.suffix}")
    for _ in range(2):  # the second run reads the cache back
        assert _predict(root, out, f"ckpt={model_ckpt}", "formats=[json,edl]") == 0
        records = dict(record_files(out))
        assert sorted(records) == ["shards/harbor_s01e01", "shards/harbor_s01e02"]
        for path in records.values():
            assert "schema_version" in json.loads(path.read_text())
        cache = read_manifest(out / ".shards")
        assert sorted(cache) == ["harbor_s01e01", "harbor_s01e02"]
        assert all(len(load_features(out / ".shards", ep)) > 0 for ep in cache)


def test_the_run_summary_names_what_was_new(demo, tmp_path, capsys):
    lib = tmp_path / "lib"
    _two_shows(demo, lib)
    assert _predict(lib, tmp_path / "o") == 0
    capsys.readouterr()
    assert _predict(lib, tmp_path / "o") == 0
    said = capsys.readouterr().out
    assert "fingerprinted 0, skipped 4" in said
    assert "with new or changed episodes: 0" in said


def test_bad_formats_and_edl_actions_stop_before_any_decoding(tmp_path):
    for bad, msg in (("formats=[json,srt]", "formats: unknown"), ("edl_action=5", "edl_action"),
                     ("edl_action={outro:0}", "unknown segment type"),
                     ("segments=[intro,outro]", "segments: unknown")):  # fmt: skip
        with pytest.raises(ConfigError, match=msg):
            _predict(tmp_path / "nowhere", tmp_path / "o", bad)


def test_the_chosen_types_and_their_actions_reach_the_player_files(demo, tmp_path):
    lib = tmp_path / "lib"
    placed = _two_shows(demo, lib)
    out = tmp_path / "o"
    assert _predict(lib, out, "formats=[json,edl,vtt]", "segments=[credits]",
                    "edl_action={credits:mplayer}") == 0  # fmt: skip
    credited = intros = 0
    for key in placed:
        rec = json.loads((out / f"{key}.json").read_text())
        credits = [s for s in rec["segments"] if s["type"] == "credits"]
        edl = (out / f"{key}.edl").read_text().split()
        vtt = (out / f"{key}.chapters.vtt").read_text()
        assert edl == [x for s in credits for x in (f"{s['start']:.3f}", f"{s['end']:.3f}", "0")]
        assert "Intro" not in vtt and ("Credits" in vtt) == bool(credits), key
        credited += bool(credits)
        intros += rec["intro"] is not None  # the record keeps what was found
    assert credited >= len(placed) // 2 and intros >= 1


def test_an_empty_folder_is_a_warning_and_exit_code_1(tmp_path, caplog):
    (tmp_path / "empty").mkdir()
    assert _predict(tmp_path / "empty", tmp_path / "o") == 1
    assert "no episode to predict" in caplog.text


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o077, 0o600)])
def test_atomic_writes_take_the_mode_the_umask_gives(tmp_path, mask, mode):
    old = os.umask(mask)
    try:
        path = atomic_write_text(tmp_path / "x.json", "{}")
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == mode


def test_chapters_apply_writes_a_copy_with_intro_and_credits_chapters(demo, tmp_path, caplog):
    import av

    lib = tmp_path / "lib"
    placed = _two_shows(demo, lib)
    avi = [_place(demo, lib, "Show C", n, "quarry", n)[0] for n in (1, 2)]  # AVI: no chapters
    out = tmp_path / "o"
    assert _predict(lib, out, "chapters=apply") == 0
    for key in avi:
        assert (out / f"{key}.json").is_file() and not (out / f"{key}.avi").exists()
        assert f"{key}.avi: cannot write chapters" in caplog.text
    for key, e in placed.items():
        video = lib / f"{key}{Path(e['path']).suffix}"
        copy = out / f"{key}{video.suffix}"
        rec = json.loads((out / f"{key}.json").read_text())
        with av.open(str(copy)) as c:
            titles = [ch["metadata"].get("title") for ch in c.chapters()]
        assert ("Intro" in titles) == (rec["intro"] is not None), key
        assert ("Credits" in titles) == ("credits" in rec), key
        assert video.stat().st_size > 0 and video.is_file()  # the original is left alone
