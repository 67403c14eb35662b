"""Issue #27 item 8: a library whose paths fit can overflow PATH_MAX once mirrored under a
deep out= (or once a sidecar's name is put beside a video): that episode fails alone, with one
line naming it and why, and the others get their records (was: a traceback, or the whole run
stopped on the first path the system refused)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from introdet.atomic import PATH_MAX, TEMP_EXTRA, too_long
from introdet.predict import predict
from tests import badfiles
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("clips")
    return [badfiles.good(folder / f"c{k}.mp4", seed=k) for k in range(2)]


def _deep(root: Path, length: int) -> Path:
    """A folder under ``root`` whose path is ``length`` bytes, through 200-byte names."""
    folder = root
    while len(os.fsencode(str(folder))) + 201 < length:
        folder = folder / ("d" * 200)
    rest = length - len(os.fsencode(str(folder))) - 1
    return folder / ("s" * rest)


def _library(clips: list[Path], lib: Path, deep_video_bytes: int) -> list[Path]:
    """``Show/Season 1/E1, E2`` and the same pair in a folder so deep that each video's path
    is ``deep_video_bytes`` long: every path fits the system's limit."""
    deep = _deep(lib, deep_video_bytes - len("/E1.mp4"))
    videos = []
    for folder in (lib / "Show" / "Season 1", deep):
        folder.mkdir(parents=True, exist_ok=True)
        videos += [Path(shutil.copy(c, folder / f"E{k}.mp4")) for k, c in enumerate(clips, 1)]
    assert all(len(os.fsencode(str(v))) < PATH_MAX for v in videos)
    return videos


def _predict(input: Path, out: Path, *more: str) -> int:
    cfg = compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false", *more])
    return predict(cfg)


def _failed(said: str) -> dict[str, str]:
    lines = [x.strip() for x in said.splitlines()]
    return dict(x.removeprefix("FAILED").strip().split(": ", 1) for x in lines
                if x.startswith("FAILED "))  # fmt: skip


def test_a_path_too_long_under_out_fails_that_episode_alone(clips, tmp_path, capsys):
    lib, out = tmp_path / "lib", tmp_path / ("o" * 200) / "out"
    shallow1, shallow2, deep1, deep2 = _library(clips, lib, PATH_MAX - 60)
    for _ in range(2):  # the second run finds the prints of the first, and no others
        assert _predict(lib, out, "formats=[json,edl,vtt]") == 1
        said = capsys.readouterr().out
        failed = _failed(said)
        assert sorted(failed) == [str(deep1), str(deep2)]
        assert all(why.startswith("file name too long: ") for why in failed.values())
        assert "give a shorter out=" in failed[str(deep1)]
        assert "Traceback" not in said and "predicted 2 episodes" in said
        for video in (shallow1, shallow2):
            for suffix in (".json", ".edl", ".chapters.vtt"):
                assert (out / "Show" / "Season 1" / f"{video.stem}{suffix}").is_file()


def test_a_sidecar_too_long_beside_its_video_fails_that_episode_alone(clips, tmp_path, capsys):
    lib, out = tmp_path / ("l" * 150), tmp_path / "o"
    *_, deep1, deep2 = _library(clips, lib, PATH_MAX - 15)
    sidecar = deep1.with_suffix(".chapters.vtt")
    assert too_long(sidecar)  # 9 bytes more than its video, and its write's temporary name
    assert _predict(lib, out, "formats=[json,edl,vtt]", "sidecars=true") == 1
    failed = _failed(capsys.readouterr().out)
    assert sorted(failed) == [str(deep1), str(deep2)]
    assert "beside it would need a path of" in failed[str(deep1)]
    assert failed[str(deep1)].endswith("sidecars=false, or a shorter path for the video")
    assert (lib / "Show" / "Season 1" / "E1.chapters.vtt").is_file()


def test_the_measure_counts_the_temporary_name_of_an_atomic_write(tmp_path):
    fits = tmp_path / ("x" * (255 - TEMP_EXTRA))
    assert too_long(fits) is None
    assert "a name of 256 bytes" in too_long(tmp_path / ("x" * (256 - TEMP_EXTRA)))
    deep = Path("/" + "d/" * (PATH_MAX // 2))
    assert "a path of" in too_long(deep / "E1.json")


def test_features_of_a_path_too_long_under_out_fail_that_episode_alone(clips, tmp_path, capsys):
    """Two ``E1`` stems make the ids the videos' keys, which nest under the shard folder."""
    from introdet.extract import main
    from tests.commands import run_command

    lib, out = tmp_path / "lib", tmp_path / ("o" * 200) / "shards"
    shallow1, shallow2, deep1, deep2 = _library(clips, lib, PATH_MAX - 60)
    args = ["encoder=tiny", "progress=false", f"input={lib}", f"out={out}"]
    assert run_command(main, *args) == 1
    said = capsys.readouterr().out
    failed = _failed(said)
    assert sorted(failed) == [str(deep1), str(deep2)]
    assert all(why.startswith("file name too long: its features in ") for why in failed.values())
    assert "Traceback" not in said
    for video in (shallow1, shallow2):
        assert (out / "Show" / "Season 1" / f"{video.stem}.npy").is_file()
