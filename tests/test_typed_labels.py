"""Labels that time every segment type: a row's ``credits``, ``recap``, ``preview`` and
``commercial`` (null, a pair or a list of pairs), checked by the validator, kept beside the
intro that training reads, and scored by ``evaluate`` on the episodes whose row labels them."""

from __future__ import annotations

import json

import pytest

from introdet.detection.postprocess import Segment
from introdet.evaluate import main
from introdet.media.labels import parse_annotations
from introdet.outputs.export import episode_record, write_episode
from tests.commands import run_command


def _one(row: dict, duration: float | None = None):
    ann = parse_annotations([("e1", {"series": "S", **row})], "labels.json",
                            durations={"e1": duration} if duration else None)  # fmt: skip
    return ann.intros.get("e1"), [why for _, why in ann.rejected]


def test_each_type_is_null_a_pair_or_pairs_and_the_intro_stays_as_it_was():
    ads = [["20:04", "20:08"], ["10:00", "10:03"]]
    intro, why = _one({"start": "0:10", "end": "0:40", "credits": ["0:41:12", "0:43:05"],
                       "recap": None, "commercial": ads})  # fmt: skip
    assert why == [] and (intro.start, intro.end) == (10.0, 40.0)
    assert intro.segments == {"credits": ((2472.0, 2585.0),), "recap": (),
                              "commercial": ((600.0, 603.0), (1204.0, 1208.0))}  # fmt: skip
    none, _ = _one({"start": None, "end": None, "preview": [100, 110.5]})
    assert none.start is None and none.segments == {"preview": ((100.0, 110.5),)}
    plain, _ = _one({"start": 1, "end": 2})
    assert plain.segments == {}  # not labelled: unknown, not none


@pytest.mark.parametrize("field, says", [
    ({"credits": ["0:50", "0:40"]}, "credits: end '0:40' is not after start '0:50'"),
    ({"recap": "0:10"}, "recap: expected null, [start, end]"),
    ({"preview": [["1:00", "x"]]}, "preview: "),
    ({"commercial": [["1:00", "1:05", "1:10"]]}, "commercial: expected"),
    ({"credits": ["40:00", "45:00"]}, "credits ends at 2700 s, beyond the episode's 2000 s"),
])  # fmt: skip
def test_a_bad_typed_field_rejects_its_row_naming_the_type(field, says):
    intro, why = _one({"start": 1, "end": 2, **field}, duration=2000.0)
    assert intro is None and len(why) == 1 and says in why[0]


def _record(folder, ep: str, spans: list[tuple[str, float, float]]) -> None:
    segments = [{"type": k, "start": a, "end": b, "confidence": 1.0, "evidence": "test"}
                for k, a, b in spans]  # fmt: skip
    intro = next((Segment(a, b, 0.9) for k, a, b in spans if k == "intro"), None)
    write_episode(episode_record(ep, None, 100.0, 1.0, "vit", intro, [0.0] * 100,
                                 segments=segments), folder)  # fmt: skip


def test_evaluate_scores_the_types_a_row_labels_and_no_other(tmp_path, capsys):
    labels = {
        "e1": {"series": "S", "start": 10, "end": 40, "credits": [80, 95], "recap": None},
        "e2": {"series": "S", "start": 5, "end": 30},  # its credits and recap not labelled
    }
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    pred = tmp_path / "pred"
    pred.mkdir()
    _record(pred, "e1", [("intro", 10.2, 40.1), ("credits", 80.5, 95.0), ("recap", 0.0, 8.0)])
    _record(pred, "e2", [("intro", 5.0, 30.0), ("credits", 70.0, 99.0), ("recap", 0.0, 4.0)])
    out = tmp_path / "out"
    assert run_command(main, f"predictions={{season:'{pred}'}}",
                       f"annotations={tmp_path / 'labels.json'}", f"out={out}") == 0  # fmt: skip
    said = capsys.readouterr().out
    assert "every labelled segment type" in said
    types = json.loads((out / "evaluation.json").read_text())["types"]["season"]
    assert types["intro"]["all"] == {"n": 2, "within_1s": 2, "useful": 2, "false": 0,
                                     "episodes_without": 0}  # fmt: skip
    # e2's credits and recap are not labelled: neither right nor false
    assert types["credits"]["all"] == {"n": 1, "within_1s": 1, "useful": 1, "false": 0,
                                       "episodes_without": 0}  # fmt: skip
    assert types["recap"]["all"] == {"n": 0, "within_1s": 0, "useful": 0, "false": 1,
                                     "episodes_without": 1}  # fmt: skip
    assert types["preview"] == {} and types["commercial"] == {}
