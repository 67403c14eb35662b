"""Season decisions kept for re-runs (``detection/season_store.py``): an unchanged season is
not decided again and its records are the same; a changed video, setting or kept file decides
it anew."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from introdet.demo.make_library import make_library
from introdet.predict import predict
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("store-lib")
    make_library(out, seed=0, size="tiny")
    return out / "videos"


def _predict(input: Path, out: Path, capsys, *more: str) -> str:
    cfg = compose_cfg("predict", [f"input={input}", f"out={out}", "progress=false", *more])
    assert predict(cfg) == 0
    return capsys.readouterr().out


def _records(out: Path) -> dict[str, dict]:
    return {str(p.relative_to(out)): json.loads(p.read_text()) for p in out.rglob("*.json")
            if not any(part.startswith(".") for part in p.relative_to(out).parts)}  # fmt: skip


def test_an_unchanged_library_is_not_decided_again_and_gives_the_same_records(
    library, tmp_path, capsys
):
    lib = tmp_path / "lib"
    shutil.copytree(library, lib)
    out = tmp_path / "out"
    first = _predict(lib, out, capsys)
    assert "as the last run decided them" not in first
    records = _records(out)
    kept = sorted((out / ".prints" / ".seasons").glob("*.json"))
    assert len(kept) == 4  # one file per season
    again = _predict(lib, out, capsys)
    assert "with new or changed episodes: 0; as the last run decided them: 4" in again
    assert _records(out) == records
    # one video changed: its season is decided anew, the others are taken as they were
    quarry = sorted((lib / "Quarry").rglob("*.avi"))
    shutil.copy(quarry[1], quarry[0])
    third = _predict(lib, out, capsys)
    assert "with new or changed episodes: 1 (Quarry); as the last run decided them: 3" in third
    # another setting: every season anew
    fourth = _predict(lib, out, capsys, "season.join=10")
    assert "as the last run decided them" not in fourth


@pytest.mark.parametrize("damage", ["", "{", '{"key": 1}', '{"key": null, "results": 3}', "\0"])
def test_a_kept_decision_that_cannot_be_read_is_decided_anew(library, tmp_path, capsys, damage):
    out = tmp_path / "out"
    _predict(library, out, capsys)
    records = _records(out)
    for f in (out / ".prints" / ".seasons").glob("*.json"):
        f.write_text(damage)
    said = _predict(library, out, capsys)
    assert "as the last run decided them" not in said
    assert _records(out) == records
    for f in (out / ".prints" / ".seasons").glob("*.json"):
        assert json.loads(f.read_text())["results"]  # written whole again
    assert "as the last run decided them: 4" in _predict(library, out, capsys)


@pytest.mark.parametrize("change", ["one result less", "a span of words", "no evidence"])
def test_a_kept_decision_under_the_right_key_but_damaged_is_decided_anew(
    library, tmp_path, capsys, change
):
    out = tmp_path / "out"
    _predict(library, out, capsys)
    records = _records(out)
    for f in (out / ".prints" / ".seasons").glob("*.json"):
        doc = json.loads(f.read_text())
        if change == "one result less":
            doc["results"].pop()
        elif change == "a span of words":
            doc["results"][0]["credits"] = ["start", "end", "score"]
        else:
            del doc["results"][0]["evidence"]
        f.write_text(json.dumps(doc))
    assert "as the last run decided them" not in _predict(library, out, capsys)
    assert _records(out) == records
