"""``evaluate``'s table of every segment type against a truth file that times them."""

from __future__ import annotations

from introdet.detection.postprocess import Segment
from introdet.evaluation.segment_types import format_types, type_report
from introdet.outputs.export import episode_record, write_episode

TRUTH = {
    "a_e1": {"intro": {"start": 10.0, "end": 40.0}, "credits": {"start": 80.0, "end": 90.0},
             "style": ["preview"], "distractors": [{"kind": "preview", "start": 90.0, "end": 100.0},
                                                   {"kind": "black", "start": 50.0, "end": 52.0}]},
    "a_e2": {"intro": None, "credits": {"start": 85.0, "end": 100.0}, "style": ["recap"],
             "distractors": [{"kind": "recap", "start": 0.0, "end": 12.0}]},
}  # fmt: skip


def _record(ep: str, intro, spans) -> dict:
    segments = [{"type": k, "start": a, "end": b, "confidence": 1.0, "evidence": "test"}
                for k, a, b in spans]  # fmt: skip
    return episode_record(ep, None, 100.0, 1.0, "vit", intro, [], segments=segments)


def test_each_type_is_scored_within_1s_useful_and_false(tmp_path):
    write_episode(_record("a_e1", Segment(10.2, 40.5, 0.9), [
        ("intro", 10.2, 40.5), ("credits", 80.0, 88.0), ("preview", 90.4, 100.0),
        ("commercial", 50.0, 52.0)]), tmp_path)  # fmt: skip
    write_episode(_record("a_e2", None, [("credits", 85.5, 99.5), ("recap", 2.5, 12.0)]),
                  tmp_path)  # fmt: skip
    report = type_report(tmp_path, TRUTH)
    assert report["intro"]["all"] == {"n": 1, "within_1s": 1, "useful": 1, "false": 0,
                                      "episodes_without": 1}  # fmt: skip
    # credits of a_e1 end 2 s early: useful, not within 1 s
    assert report["credits"]["all"] == {"n": 2, "within_1s": 1, "useful": 2, "false": 0,
                                       "episodes_without": 0}  # fmt: skip
    assert report["preview"]["preview"]["within_1s"] == 1
    # the recap starts 2.5 s late: useful (most of it, nothing past it), not within 1 s
    assert report["recap"]["all"]["within_1s"] == 0 and report["recap"]["all"]["useful"] == 1
    # a commercial where the truth has none (a black stretch is no segment)
    assert report["commercial"]["all"]["false"] == 1
    rows = [" ".join(r.split()) for r in format_types({"season": report}).splitlines()]
    assert "commercial 0/0 of 0, 1 false (of 2)" in rows
    assert "recap 0/1 of 1, 0 false (of 1)" in rows
    assert "preview 0/0 of 0, 1 false (of 1)" in rows  # the false commercial, on its style's row
    assert "preview 1/1 of 1, 0 false (of 1)" in rows  # the type's row


def test_where_each_opening_is_first_heard_is_a_row_of_its_own(tmp_path):
    """A truth that says where each opening is first heard (``first_appearance``) adds the
    row: told right, missed, and told where the opening was heard before."""
    truth = {f"s_e{k}": {"intro": {"start": 5.0, "end": 20.0}, "credits": None,
                         "style": ["two_openings"], "first_appearance": k in (1, 2),
                         "distractors": []} for k in (1, 2, 3)}  # fmt: skip
    for k, told in ((1, True), (2, False), (3, True)):
        rec = _record(f"s_e{k}", Segment(5.0, 20.0, 1.0), [("intro", 5.0, 20.0)])
        rec["segments"][0]["first_appearance"] = told
        write_episode(rec, tmp_path)
    report = type_report(tmp_path, truth)
    assert report["first heard"]["all"] == {"n": 2, "within_1s": 1, "useful": 1, "false": 1,
                                            "episodes_without": 1}  # fmt: skip
    rows = [" ".join(r.split()) for r in format_types({"season": report}).splitlines()]
    assert "first heard 1/1 of 2, 1 false (of 1)" in rows
    # a truth that does not say (an older demo, another library): no such row
    plain = {k: {x: y for x, y in e.items() if x != "first_appearance"} for k, e in truth.items()}
    assert "first heard" not in type_report(tmp_path, plain)
