"""Issue #28: a file's own chapters are the answer where they name a segment plausibly:
season mode takes their intro and credits as they are (not moved to a cut), says so in the
record, leaves a mislabelled chapter out with its reason, and decides a lone episode whose
chapters name its segments instead of asking for its season."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from introdet.demo.make_library import make_library
from introdet.demo.videofile import add_chapters
from introdet.outputs.export import read_record
from introdet.predict import predict
from tests.commands import output
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SHOW = "northwind"


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("chapters-lib")
    return out, make_library(out, seed=0, size="tiny")


def _season(lib: Path, truth: dict, dest: Path) -> dict[str, dict]:
    """The show's first season copied to ``dest``: its episodes' truth by id."""
    eps = {k: e for k, e in truth["episodes"].items() if k.startswith(f"{SHOW}_s01")}
    dest.mkdir(parents=True)
    for e in eps.values():
        shutil.copy(lib / e["path"], dest / Path(e["path"]).name)
    return eps


def _predict(input: Path, out: Path) -> int:
    return predict(compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false"]))


def test_chapters_name_the_intro_and_credits_and_a_mislabelled_one_is_left_out(library, tmp_path):
    lib, truth = library
    season = tmp_path / "in" / "Northwind"
    eps = _season(lib, truth, season)
    ids = sorted(k for k, e in eps.items() if e["intro"])
    told, fooled = ids[0], ids[1]
    # the chapters put the intro 0.4 s off the season's answer: theirs is taken as it is
    t = eps[told]
    a, b, dur = t["intro"]["start"] + 0.4, t["intro"]["end"] - 0.4, t["duration"]
    src = season / Path(t["path"]).name
    add_chapters(src, src.with_suffix(".mkv"), [(0, a, "Cold Open"), (a, b, "Opening"),
                                               (b, dur - 3, "Episode"),
                                               (dur - 3, dur, "End Credits")])  # fmt: skip
    src.unlink()
    f = eps[fooled]
    src = season / Path(f["path"]).name
    add_chapters(src, src.with_suffix(".mkv"), [(0, f["duration"], "Opening")])
    src.unlink()

    assert _predict(tmp_path / "in", tmp_path / "o") == 0
    rec = read_record(output(tmp_path / "o", told))
    assert (rec["intro"]["start"], rec["intro"]["end"]) == (pytest.approx(a), pytest.approx(b))
    assert "coarse_start" not in rec["intro"]  # not moved to a cut: the author's edges
    assert rec["credits"] == [pytest.approx(dur - 3), pytest.approx(dur)]
    assert rec["season"]["chapters"]["intro"]["chapter"] == "Opening"
    assert "intro" not in {k for k in rec["season"] if k != "chapters"}
    other = read_record(output(tmp_path / "o", fooled))
    assert other["intro"]["start"] == pytest.approx(f["intro"]["start"], abs=0.1)
    assert "not taken as the intro" in other["season"]["chapters"]["not_taken"][0]
    assert "intro" not in {k for k in other["season"]["chapters"] if k != "not_taken"}


def test_a_lone_episode_with_chapters_is_decided_by_them(library, tmp_path, caplog):
    lib, truth = library
    e = next(e for k, e in sorted(truth["episodes"].items()) if k.startswith(SHOW) and e["intro"])
    folder = tmp_path / "in" / "Northwind"
    folder.mkdir(parents=True)
    a, b = e["intro"]["start"], e["intro"]["end"]
    add_chapters(lib / e["path"], folder / "pilot.mkv", [(0, a, "Prologue"), (a, b, "Intro"),
                                                        (b, e["duration"], "Episode")])  # fmt: skip
    assert _predict(tmp_path / "in", tmp_path / "o") == 0
    rec = read_record(output(tmp_path / "o", "pilot"))
    assert (rec["intro"]["start"], rec["intro"]["end"]) == (pytest.approx(a), pytest.approx(b))
    assert "its intro needs its season" not in caplog.text


def test_a_season_whose_chapters_answer_for_every_episode_is_not_decoded(library, tmp_path):
    """Every episode names its intro and credits: nothing is fingerprinted (no prints kept),
    each record is its chapters'. One episode without them: the whole season is heard."""
    lib, truth = library
    season = tmp_path / "in" / "Northwind"
    eps = _season(lib, truth, season)
    marks = {}
    for k, e in eps.items():
        src = season / Path(e["path"]).name
        dur = e["duration"]
        marks[k] = (3.5, 8.0, dur - 4.0)
        add_chapters(src, src.with_suffix(".mkv"), [(0, 3.5, "Recap"), (3.5, 8.0, "OP"),
                                                   (8.0, dur - 4.0, "Episode"),
                                                   (dur - 4.0, dur, "ED")])  # fmt: skip
        src.unlink()
    out = tmp_path / "o"
    assert _predict(tmp_path / "in", out) == 0
    assert not list(out.glob(".prints/**/*.prints.npz"))  # nothing decoded
    for k, (a, b, c) in marks.items():
        rec = read_record(output(out, k))
        assert rec["encoder"] == "none (the video's own chapters)"
        assert (rec["intro"]["start"], rec["intro"]["end"]) == (a, b)
        assert rec["credits"][0] == pytest.approx(c)
        assert [s["type"] for s in rec["segments"]] == ["recap", "intro", "credits"]
        assert rec["segments"][1]["evidence"] == "chapter 'OP'"
        # a player may let the opening play the first time: on the first episode only
        assert rec["segments"][1]["first_appearance"] == (k == min(marks))
    # one episode more, without chapters: the season's sound is heard again, all of it
    extra = next(e for k, e in sorted(truth["episodes"].items()) if k.startswith("harbor_s01"))
    shutil.copy(lib / extra["path"], season / "zz_plain.mp4")
    assert _predict(tmp_path / "in", tmp_path / "o2") == 0
    assert len(list((tmp_path / "o2").glob(".prints/**/*.prints.npz"))) == len(eps) + 1


def test_chapters_named_by_the_story_are_left_out_where_the_season_says_otherwise(library,
                                                                                    tmp_path):
    """Plausible names, wrong places: "Intro" over the story after the opening, "Ending"
    over the last scenes before the credits. The season's intro and credits stay, and the
    record says why the chapters were not taken."""
    lib, truth = library
    season = tmp_path / "in" / "Northwind"
    eps = _season(lib, truth, season)
    k = sorted(k for k, e in eps.items() if e["intro"])[0]
    e = eps[k]
    b, c, dur = e["intro"]["end"], e["credits"]["start"], e["duration"]
    src = season / Path(e["path"]).name
    marks = [(0, b, "Part 1"), (b, b + 3.5, "Intro"), (b + 3.5, c - 3.5, "Part 3"),
             (c - 3.5, c, "Ending"), (c, dur, "Part 5")]  # fmt: skip
    add_chapters(src, src.with_suffix(".mkv"), marks)
    src.unlink()
    assert _predict(tmp_path / "in", tmp_path / "o") == 0
    rec = read_record(output(tmp_path / "o", k))
    assert rec["intro"]["start"] == pytest.approx(e["intro"]["start"], abs=0.1)
    assert rec["intro"]["end"] == pytest.approx(b, abs=0.1)
    assert rec["credits"][0] == pytest.approx(c, abs=0.5)
    told = rec["season"]["chapters"]
    assert set(told) == {"not_taken"}
    assert [n.split(" not taken as the ")[1].split(":")[0] for n in told["not_taken"]] == [
        "intro", "credits"]  # fmt: skip
    assert all("the season's is at" in n for n in told["not_taken"])
