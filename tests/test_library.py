"""Tests for introdet.media.library: series grouping (folders, then episode codes in names)
and a file's content hash."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from introdet.features.shards import ShardMeta
from introdet.features.sources import regroup
from introdet.media.library import content_hash, series_of


@pytest.mark.parametrize(
    ("path", "root", "series"),
    [
        ("/tv/Show/Season 1/e1.mkv", "/tv", "Show"),
        ("/tv/Show/Сезон 2/e1.mkv", "/tv", "Show"),
        ("/tv/Harbor/harbor_s01e01.mp4", "/tv", "Harbor"),  # a show folder wins over the code
        ("/dl/Show.Name.S01E02.1080p.mkv", "/dl", "Show Name"),
        ("/dl/Show Name - 1x02 - Pilot.mkv", "/dl", "Show Name"),
        ("/dl/other_show_s02e10.mkv", "/dl", "other show"),
        ("/dl/S01E01.mkv", "/dl", "dl"),  # no name before the code: the folder
        ("/dl/home movie 2019.mkv", "/dl", "dl"),  # no code: the folder
    ],
)
def test_series_from_folders_then_episode_codes(path, root, series):
    assert series_of(Path(path), Path(root)) == series


def _meta(ep: str, source: str, series: str) -> ShardMeta:
    return ShardMeta(ep, series, source, "h", 60.0, 60, 1.0, 0.0, {"embed_dim": 4})


def test_the_cache_never_pins_the_grouping(tmp_path):
    flat = tmp_path / "downloads"
    flat.mkdir()
    names = ["Alpha.S01E01.mkv", "Alpha.S01E02.mkv", "Beta.Show.S01E01.mkv"]
    for n in names:
        (flat / n).write_bytes(b"")
    # made by an extraction that grouped the flat folder as one series
    metas = {Path(n).stem: _meta(Path(n).stem, str(flat / n), "downloads") for n in names}
    got = regroup(metas, flat, None)
    assert [m.series for m in got.values()] == ["Alpha", "Alpha", "Beta Show"]
    assert [m.series for m in regroup(metas, None, None).values()] == [
        "Alpha",
        "Alpha",
        "Beta Show",
    ]
    assert {m.series for m in regroup(metas, flat, "Mine").values()} == {"Mine"}


def test_hidden_files_and_folders_are_passed_over(tmp_path):
    """macOS leaves a ``._name.mkv`` resource fork beside every video it copies to a share:
    named like a video, it failed as one; media servers pass dot-names over, and so do we."""
    from introdet.media.library import find_videos

    for rel in ("Show/e1.mkv", "Show/._e1.mkv", ".Trash/e9.mkv", "Show/.thumbs/e1.mp4"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"\0\5\26\7")
    assert find_videos(tmp_path) == [tmp_path / "Show" / "e1.mkv"]
    hidden_root = tmp_path / ".library"  # the folder given may itself be hidden
    (hidden_root / "e2.mkv").parent.mkdir()
    (hidden_root / "e2.mkv").write_bytes(b"\0")
    assert find_videos(hidden_root) == [hidden_root / "e2.mkv"]


def test_content_hash_sees_changes(tmp_path):
    p = tmp_path / "v.bin"
    p.write_bytes(bytes(3_000_000))
    h = content_hash(p)
    assert content_hash(p) == h
    data = bytearray(3_000_000)
    data[1_500_000] = 1  # inside the middle chunk
    p.write_bytes(bytes(data))
    assert content_hash(p) != h
    p.write_bytes(bytes(2_999_999))
    assert content_hash(p) != h


def test_files_that_are_not_videos_are_named(tmp_path):
    """An ``.mp3`` or a ``.txt`` in the input is passed over, and said to be; a video's own
    companions (subtitles, introdet's sidecars) and hidden files are passed over silently."""
    from introdet.media.library import find_videos, passed_over_note, video_jobs

    rels = ("Show/e1.mkv", "Show/e1.srt", "Show/e1.chapters.vtt", "Show/theme.mp3",
            "notes.txt", "Show/.DS_Store", "README")  # fmt: skip
    for rel in rels:
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"\0")
    skipped: list[Path] = []
    assert find_videos(tmp_path, skipped) == [tmp_path / "Show" / "e1.mkv"]
    assert skipped == [tmp_path / "README", tmp_path / "Show/theme.mp3", tmp_path / "notes.txt"]
    again: list[Path] = []
    jobs, failed = video_jobs(tmp_path, passed_over=again)
    assert [j.episode for j in jobs] == ["e1"] and not failed and again == skipped
    assert passed_over_note(skipped, tmp_path) == (
        "passed over 3 files, not video by their suffix: README, Show/theme.mp3, notes.txt"
    )
    many = [tmp_path / f"a{i}.mp3" for i in range(8)]
    assert passed_over_note(many, tmp_path) == (
        "passed over 8 files, not video by their suffix: a0.mp3, a1.mp3, a2.mp3, a3.mp3, "
        "a4.mp3 and 3 more"
    )
    assert passed_over_note(many[:1], tmp_path) == (
        "passed over 1 file, not video by its suffix: a0.mp3"
    )
    assert passed_over_note([], tmp_path) is None


def test_linked_season_folders_are_followed_once(tmp_path):
    """#27: a season folder behind a link vanished without a word (media servers follow such
    links); a link back up is a loop, cut."""
    from introdet.media.library import find_videos

    elsewhere = tmp_path / "disk2" / "Season 2"
    elsewhere.mkdir(parents=True)
    (elsewhere / "show_s02e01.mkv").write_bytes(b"x")
    lib = tmp_path / "lib" / "Show"
    (lib / "Season 1").mkdir(parents=True)
    (lib / "Season 1" / "show_s01e01.mkv").write_bytes(b"x")
    os.symlink(elsewhere, lib / "Season 2", target_is_directory=True)
    os.symlink(lib, lib / "Season 1" / "back up", target_is_directory=True)  # a loop
    found = [p.relative_to(tmp_path / "lib").as_posix() for p in find_videos(tmp_path / "lib")]
    assert found == ["Show/Season 1/show_s01e01.mkv", "Show/Season 2/show_s02e01.mkv"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root lists a chmod 000 folder: needs another user")
def test_a_folder_that_cannot_be_listed_is_named(tmp_path):
    from introdet.media.library import video_jobs

    lib = tmp_path / "lib" / "Show"
    (lib / "Season 1").mkdir(parents=True)
    (lib / "Season 1" / "show_s01e01.mkv").write_bytes(b"x")
    locked = lib / "Season 3"
    locked.mkdir()
    locked.chmod(0)
    try:
        _, failed = video_jobs(tmp_path / "lib")
    finally:
        locked.chmod(0o755)
    assert [(Path(p).name, "cannot be read" in why) for p, why in failed] == [("Season 3", True)]


def _without_root_powers() -> list[str]:
    """A prefix under which a command meets folder permissions as another user does: root's
    powers to pass them dropped (``setpriv``), nothing as a user."""
    if os.geteuid() != 0:
        return []
    import shutil

    if shutil.which("setpriv") is None:
        pytest.skip("root without setpriv: a chmod 000 folder is readable")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search,-fowner", "--"]


@pytest.mark.parametrize("mode", [0o000, 0o644])  # unreadable; listable but not enterable
def test_predict_names_a_season_folder_it_cannot_enter_and_does_the_rest(tmp_path, mode):
    import subprocess
    import sys

    from tests import badfiles

    lib = tmp_path / "lib" / "Show"
    for season in ("Season 1", "Season 2"):
        for k in (1, 2):
            badfiles.good(lib / season / f"show_{season[-1]}x0{k}.mp4", seed=k)
    locked = lib / "Season 2"
    locked.chmod(mode)
    root = Path(__file__).resolve().parents[1]
    cmd = [*_without_root_powers(), sys.executable, str(root / "predict.py"),
           f"input={tmp_path / 'lib'}", f"out={tmp_path / 'o'}", "progress=false"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=root, timeout=300)
    finally:
        locked.chmod(0o755)
    said = run.stdout + run.stderr
    assert run.returncode == 1 and "Traceback" not in said, said[-3000:]
    failed = [line.strip() for line in run.stdout.splitlines() if line.strip().startswith("FAILED")]
    assert failed and all("Season 2" in line for line in failed), said[-3000:]
    assert sorted(p.name for p in (tmp_path / "o" / "Show" / "Season 1").glob("*.json")) == [
        "show_1x01.json", "show_1x02.json"]  # fmt: skip
