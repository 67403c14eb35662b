"""Tests for introdet.evaluation.traps: intros by series style, credits, traps taken for intros."""

from __future__ import annotations

import json

from introdet.detection.postprocess import Segment
from introdet.evaluation.traps import format_traps, trap_report
from introdet.outputs.export import episode_record


def _truth(intro, credits, style, distractors=()):
    return {
        "intro": intro and {"start": intro[0], "end": intro[1]},
        "credits": {"start": credits[0], "end": credits[1]},
        "style": list(style),
        "distractors": [{"kind": k, "start": a, "end": b} for k, a, b in distractors],
    }


def _record(tmp_path, ep, intro, credits=None):
    seg = intro and Segment(intro[0], intro[1], 1.0)
    extra = {"credits": list(credits)} if credits else {}
    rec = episode_record(ep, None, 100.0, 1.0, "none", seg, [0.0] * 100, **extra)
    (tmp_path / f"{ep}.json").write_text(json.dumps(rec))


def test_styles_credits_and_traps_taken_for_the_intro(tmp_path):
    truth = {
        "a": _truth((10.0, 20.0), (90.0, 100.0), ["cold_open"]),
        "b": _truth((12.0, 22.0), (90.0, 100.0), ["cold_open", "recap"], [("recap", 0, 8)]),
        "c": _truth(None, (90.0, 100.0), ["recap"]),
    }
    _record(tmp_path, "a", (10.4, 19.5), (90.2, 99.9))  # right, and its credits
    _record(tmp_path, "b", (0.0, 8.0), (80.0, 100.0))  # the recap taken for the intro
    _record(tmp_path, "c", (91.0, 99.0))  # credits taken for an intro that is not there
    report = trap_report(tmp_path, truth)
    assert report["styles"]["cold_open"] == {"n": 2, "right": 0.5}
    assert report["styles"]["recap"] == {"n": 2, "right": 0.0}
    assert report["styles"]["no_intro"] == {"n": 1, "right": 0.0}
    assert report["credits_within_1s"] == 1 / 3
    assert report["as_intro"] == {"credits": 1, "recap": 1, "studio_logo": 0}
    table = format_traps({"x": report})
    assert "cold_open" in table and "0.50 of 2" in table and "recap taken for intro" in table
