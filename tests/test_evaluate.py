"""Evaluation metrics on hand-computed cases, prediction records on disk, table and CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from introdet.errors import EvaluationError
from introdet.evaluate import main
from introdet.evaluation.metrics import (
    balanced_metrics,
    boundary_report,
    frame_metrics,
    labels_from_interval,
)
from introdet.evaluation.report import format_table
from introdet.evaluation.results import evaluate_dir
from tests.commands import help_text, run_command

# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("n", "interval", "expected"),
    [
        (8, None, [0, 0, 0, 0, 0, 0, 0, 0]),
        (8, (2.0, 5.0), [0, 0, 1, 1, 1, 0, 0, 0]),
        (8, (2.5, 5.4), [0, 0, 1, 1, 1, 0, 0, 0]),  # second 2 overlaps 0.5 s: in; 5 only 0.4
        (8, (2.6, 5.5), [0, 0, 0, 1, 1, 1, 0, 0]),  # second 2 overlaps 0.4 s: out; 5 0.5 s: in
        (8, (3.2, 3.6), [0, 0, 0, 0, 0, 0, 0, 0]),  # 0.4 s intro labels no second
        (8, (6.0, 20.0), [0, 0, 0, 0, 0, 0, 1, 1]),  # clipped at the end of the episode
        (0, (1.0, 2.0), []),
    ],
)
def test_labels_half_overlap_rule(n, interval, expected):
    labels = labels_from_interval(n, interval)
    assert labels.dtype.kind == "i"
    assert labels.tolist() == expected


def test_labels_reject_reversed_interval():
    with pytest.raises(ValueError, match="ends before"):
        labels_from_interval(10, (5.0, 4.0))


# ---------------------------------------------------------------- frame and balanced metrics


def test_frame_metrics_hand_case_across_two_episodes():
    # second:   0    1    2    3    4    5    6    7    8    9
    labels = [0, 0, 1, 1, 1, 1, 0, 0, 0, 0]
    probs = [0.1, 0.6, 0.9, 0.8, 0.2, 0.7, 0.4, 0.1, 0.9, 0.5]  # 0.5 is not above 0.5
    # predicted intro: 1 2 3 5 8 -> TP 2,3,5 = 3; FP 1,8 = 2; FN 4 = 1; TN 0,6,7,9 = 4
    m = frame_metrics([np.array(probs[:4]), np.array(probs[4:])], [labels[:4], labels[4:]])
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (3, 2, 1, 4)
    assert m["n_seconds"] == 10
    assert m["n_intro_seconds"] == 4
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 4)
    assert m["f1"] == pytest.approx(2 * 3 / (2 * 3 + 2 + 1))
    assert m["accuracy"] == pytest.approx(7 / 10)


def test_frame_metrics_threshold_moves_decisions():
    m = frame_metrics([np.array([0.3, 0.6, 0.9])], [np.array([1, 1, 0])], threshold=0.7)
    # only 0.9 is above 0.7, and it is wrong
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (0, 1, 2, 0)
    assert m["precision"] == 0.0
    assert m["recall"] == 0.0


def test_frame_metrics_length_mismatch_raises():
    with pytest.raises(ValueError, match="episode 0: 3 probabilities but 2 labels"):
        frame_metrics([np.zeros(3)], [np.zeros(2, int)])


def test_balanced_metrics_counts_only_intro_and_as_many_seconds_after():
    probs = np.ones(100)  # seconds outside 10..29 all predicted intro: they must not count
    probs[15:20] = 0.0  # intro seconds 15..19 missed -> FN 5 (10..14 TP 5)
    probs[25:30] = 0.0  # after-intro seconds 25..29 correct -> TN 5 (20..24 FP 5)
    no_intro = np.ones(50)  # an intro-less episode has no seconds to balance
    m = balanced_metrics([probs, no_intro], [(10.0, 20.0), None])
    assert m["n_seconds"] == 20
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (5, 5, 5, 5)
    assert m["precision"] == pytest.approx(0.5)
    assert m["recall"] == pytest.approx(0.5)
    assert m["accuracy"] == pytest.approx(0.5)


def test_balanced_metrics_clips_after_part_at_episode_end():
    probs = np.zeros(100)
    m = balanced_metrics([probs], [(92.0, 98.0)])  # 6 intro seconds, only 2 left after
    assert m["n_seconds"] == 8
    assert (m["fn"], m["tn"]) == (6, 2)


# ---------------------------------------------------------------- boundaries

TRUTH = {
    "a": (10.0, 40.0),
    "b": (20.0, 50.0),
    "c": (0.0, 30.0),
    "g": (5.0, 35.0),
    "h": (50.0, 80.0),
    "d": (100.0, 130.0),
    "e": None,
    "f": None,
}
PRED = {
    "a": (10.0, 40.0),  # exact
    "b": (21.0, 55.0),  # start +1, end +5: still useful
    "c": (2.0, 29.5),  # start +2, end -0.5
    "g": (5.0, 40.1),  # end +5.1: not useful
    "h": (35.0, 85.0),  # start -15, end +5: useful, just
    "d": None,  # missed
    "e": (3.0, 10.0),  # false intro
    "f": None,  # correctly nothing
    "x": (1.0, 2.0),  # no truth: ignored
}


def test_boundary_report_hand_case():
    r = boundary_report(PRED, TRUTH)
    assert r["n_episodes"] == 8
    assert (r["n_with_intro"], r["n_without_intro"], r["n_detected"]) == (6, 2, 5)
    assert (r["missed"], r["false_intros"]) == (1, 1)
    assert r["missed_share"] == pytest.approx(1 / 6)
    assert r["false_share"] == pytest.approx(1 / 2)
    # |start errors| a,b,c,g,h = 0,1,2,0,15 -> sorted 0,0,1,2,15
    assert r["start_error"]["mean"] == pytest.approx(18 / 5)
    assert r["start_error"]["median"] == pytest.approx(1.0)
    assert r["start_error"]["p90"] == pytest.approx(2 + 0.6 * 13)  # linear, rank 3.6
    # |end errors| = 0,5,0.5,5.1,5 -> sorted 0,0.5,5,5,5.1
    assert r["end_error"]["mean"] == pytest.approx(15.6 / 5)
    assert r["end_error"]["median"] == pytest.approx(5.0)
    assert r["end_error"]["p90"] == pytest.approx(5 + 0.6 * 0.1)
    # both boundaries within k s, over the 6 episodes with an intro (the miss fails every k)
    assert r["within"] == pytest.approx(
        {"0.1": 1 / 6, "0.5": 1 / 6, "1": 1 / 6, "2": 2 / 6, "5": 3 / 6}
    )
    assert r["useful"] == pytest.approx(4 / 6)  # a, b, c, h
    ious = [1.0, 29 / 35, 27.5 / 30, 30 / 35.1, 30 / 50, 0.0]
    assert r["iou"] == pytest.approx(sum(ious) / 6)
    assert r["per_episode"]["h"]["start_error"] == pytest.approx(-15.0)  # signed
    assert r["per_episode"]["b"]["iou"] == pytest.approx(29 / 35)
    assert r["per_episode"]["d"]["iou"] == 0.0
    assert "x" not in r["per_episode"]


@pytest.mark.parametrize(
    ("pred_end", "useful"),
    [(25.0, True), (25.1, False), (15.0, True), (14.9, False)],
)
def test_useful_rule_end_within_5_s(pred_end, useful):
    r = boundary_report({"e": (10.0, pred_end)}, {"e": (10.0, 20.0)})
    assert r["useful"] == (1.0 if useful else 0.0)


@pytest.mark.parametrize(("pred_start", "useful"), [(25.0, True), (25.1, False), (-5.0, True)])
def test_useful_rule_start_within_15_s(pred_start, useful):
    r = boundary_report({"e": (pred_start, 40.0)}, {"e": (10.0, 40.0)})
    assert r["useful"] == (1.0 if useful else 0.0)


def test_within_tenth_survives_float_rounding():
    # 40.1 - 40 is 0.10000000000000142 in binary floating point
    r = boundary_report({"e": (10.1, 40.1)}, {"e": (10.0, 40.0)})
    assert r["within"]["0.1"] == 1.0
    r = boundary_report({"e": (10.2, 40.0)}, {"e": (10.0, 40.0)})
    assert r["within"]["0.1"] == 0.0
    assert r["within"]["0.5"] == 1.0


def test_boundary_errors_in_frames():
    truth = {"p": (10.0, 20.0), "n": (10.0, 20.0)}
    pred = {"p": (12.0, 20.0), "n": (11.0, 20.0)}
    r = boundary_report(pred, truth, fps={"p": 25.0, "n": 30000 / 1001})
    ntsc = 30000 / 1001  # 1 s at 29.97 fps
    assert r["start_error_frames"]["mean"] == pytest.approx((50.0 + ntsc) / 2)
    assert r["start_error_frames"]["p90"] == pytest.approx(ntsc + 0.9 * (50.0 - ntsc))
    assert r["start_error"]["mean"] == pytest.approx(1.5)  # seconds are unaffected
    assert boundary_report(pred, truth, fps=25.0)["start_error_frames"]["mean"] == 37.5
    with pytest.raises(EvaluationError, match="'n'"):
        boundary_report(pred, truth, fps={"p": 25.0})


def test_boundary_report_without_detections_has_no_error_stats():
    r = boundary_report({"a": None, "b": None}, {"a": (0.0, 10.0), "b": None})
    assert r["start_error"] == {"mean": None, "median": None, "p90": None}
    assert r["iou"] == 0.0
    assert r["within"]["5"] == 0.0
    assert (r["missed"], r["false_intros"]) == (1, 0)


# ---------------------------------------------------------------- records on disk

N = 30


def _write_record(folder: Path, episode: str, probs: np.ndarray, intro: dict | None) -> None:
    record = {
        "schema_version": 1,
        "episode": episode,
        "source": f"/videos/{episode}.mkv",
        "duration": float(len(probs)),
        "fps": 1,
        "encoder": "ViT-B-32/test",
        "intro": intro,
        "probabilities": [float(p) for p in probs],
    }
    (folder / f"{episode}.json").write_text(json.dumps(record))


def _run(value: float, start: int, end: int) -> np.ndarray:
    p = np.zeros(N)
    p[start:end] = value
    return p


@pytest.fixture
def pred_dir(tmp_path: Path) -> Path:
    d = tmp_path / "pred"
    d.mkdir()
    # s1e1: perfect seconds 10..19; refined from a coarse [9, 21)
    intro = {"start": 10.0, "end": 20.0, "score": 0.9, "coarse_start": 9.0, "coarse_end": 21.0}
    _write_record(d, "s1e1", _run(1.0, 10, 20), intro | {"refined": True})
    # s1e2: intro 5..14, only 5..9 found (TP 5, FN 5); unrefined record, no coarse pair
    _write_record(d, "s1e2", _run(0.9, 5, 10), {"start": 5.0, "end": 10.0, "score": 0.9})
    # s2e1: no intro, 0..2 predicted (FP 3) and reported as a (false) intro
    _write_record(d, "s2e1", _run(0.8, 0, 3), {"start": 0.0, "end": 3.0, "score": 0.8})
    # a record without truth and a non-record JSON file: neither may be read
    _write_record(d, "s9e9", _run(1.0, 0, 30), None)
    (d / "notes.json").write_text("not json at all")
    return d


DIR_TRUTH = {"s1e1": (10.0, 20.0), "s1e2": (5.0, 15.0), "s2e1": None, "s2e2": (0.0, 10.0)}
GROUPS = {"s1e1": "seen", "s1e2": "seen", "s2e1": "unseen", "s2e2": "unseen"}


def test_evaluate_dir_all_and_groups(pred_dir):
    rep = evaluate_dir(pred_dir, DIR_TRUTH, groups=GROUPS)
    assert set(rep) == {"all", "seen", "unseen"}
    a = rep["all"]
    assert a["n_episodes"] == 3
    assert a["missing_records"] == ["s2e2"]
    f = a["frame"]
    assert (f["tp"], f["fp"], f["fn"], f["tn"]) == (15, 3, 5, 3 * N - 23)
    assert f["precision"] == pytest.approx(15 / 18)
    assert f["recall"] == pytest.approx(15 / 20)
    # balanced: s1e1 10..29 (TP 10, TN 10), s1e2 5..24 (TP 5, FN 5, TN 10), s2e1 none
    b = a["balanced"]
    assert b["n_seconds"] == 40
    assert (b["tp"], b["fp"], b["fn"], b["tn"]) == (15, 0, 5, 20)
    bd = a["boundary"]
    assert (bd["missed"], bd["false_intros"], bd["n_with_intro"]) == (0, 1, 2)
    assert bd["end_error"]["mean"] == pytest.approx(2.5)  # |0| and |-5|
    assert bd["iou"] == pytest.approx((1.0 + 5 / 10) / 2)

    seen, unseen = rep["seen"], rep["unseen"]
    assert seen["n_episodes"] == 2
    assert seen["frame"]["precision"] == 1.0
    assert seen["frame"]["recall"] == pytest.approx(0.75)
    assert seen["missing_records"] == []
    assert unseen["n_episodes"] == 1
    assert (unseen["frame"]["fp"], unseen["frame"]["n_intro_seconds"]) == (3, 0)
    assert unseen["boundary"]["false_intros"] == 1
    assert unseen["missing_records"] == ["s2e2"]


def test_evaluate_dir_threshold(pred_dir):
    rep = evaluate_dir(pred_dir, DIR_TRUTH, threshold=0.85)
    f = rep["all"]["frame"]
    assert (f["tp"], f["fp"]) == (15, 0)  # s2e1's 0.8 falls below


def test_evaluate_dir_coarse(pred_dir):
    fine = evaluate_dir(pred_dir, DIR_TRUTH, use="intro")["all"]["boundary"]["per_episode"]
    coarse = evaluate_dir(pred_dir, DIR_TRUTH, use="coarse")["all"]["boundary"]["per_episode"]
    assert (fine["s1e1"]["start_error"], fine["s1e1"]["end_error"]) == (0.0, 0.0)
    assert (coarse["s1e1"]["start_error"], coarse["s1e1"]["end_error"]) == (-1.0, 1.0)
    assert coarse["s1e1"]["iou"] == pytest.approx(10 / 12)
    # an unrefined record's own boundaries are its coarse ones
    assert coarse["s1e2"]["end_error"] == fine["s1e2"]["end_error"] == -5.0
    with pytest.raises(ValueError, match="use"):
        evaluate_dir(pred_dir, DIR_TRUTH, use="fine")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"schema_version": 99}, "schema_version 99"),
        ({"probabilities": [0.1, 1.5]}, "in \\[0, 1\\]"),
        ({"probabilities": "0.1"}, "not a list"),
        ({"intro": {"start": 1.0}}, "'start' and 'end'"),
        ({"episode": "other"}, "'other'"),
        ({"fps": 2}, "fps 2"),
    ],
)
def test_bad_record_names_file_and_reason(pred_dir, change, message):
    path = pred_dir / "s1e1.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | change))
    with pytest.raises(EvaluationError, match=message) as info:
        evaluate_dir(pred_dir, DIR_TRUTH)
    assert "s1e1.json" in str(info.value)


def test_no_records_for_truth_raises(pred_dir):
    with pytest.raises(EvaluationError, match="no prediction record"):
        evaluate_dir(pred_dir, {"zzz": None})


# ---------------------------------------------------------------- table and CLI


def test_format_table_has_columns_rows_and_numbers(pred_dir):
    rep = evaluate_dir(pred_dir, DIR_TRUTH, groups=GROUPS)
    table = format_table({"single/seen": rep["seen"], "season/unseen": rep["unseen"]})
    lines = table.splitlines()
    assert "single/seen" in lines[0]
    assert "season/unseen" in lines[0]
    rows = {line.split("  ")[0].strip(): line.split()[-2:] for line in lines[1:]}
    for label in ("frame F1", "balanced F1", "start err median (s)", "within 0.1 s", "IoU"):
        assert label in rows
    assert rows["frame F1"] == [f"{2 * 0.75 / 1.75:.3f}", "0.000"]
    assert rows["frame recall"] == ["0.750", "0.000"]
    assert rows["end err median (s)"] == ["2.500", "-"]  # unseen has no detected true intro
    assert rows["missed"] == ["0/2", "0/0"]
    assert rows["false"] == ["0/0", "1/1"]


def test_cli_writes_json_table_and_plots(pred_dir, tmp_path, capsys):
    labels = {
        "s1e1": {"series": "One", "start": 10, "end": 20},
        "s1e2": {"series": "One", "start": 5, "end": 15},
        "s2e1": {"series": "Two", "start": None, "end": None},
    }
    train = {"s1e7": {"series": "One", "start": 1, "end": 2}}
    (tmp_path / "labels.json").write_text(json.dumps(labels))
    (tmp_path / "train.json").write_text(json.dumps(train))
    out = tmp_path / "out"
    rc = run_command(
        main,
        f"predictions={{single:'{pred_dir}'}}",
        f"annotations={tmp_path / 'labels.json'}",
        f"train_annotations={tmp_path / 'train.json'}",
        f"out={out}",
        "plots=true",
    )
    assert rc == 0
    doc = json.loads((out / "evaluation.json").read_text())
    res = doc["results"]["single"]
    assert set(res) >= {"all", "seen", "unseen"}
    assert res["seen"]["n_episodes"] == 2
    assert res["unseen"]["boundary"]["false_intros"] == 1
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["single", "single/seen", "single/unseen"]
    plots = out / "plots"
    assert (plots / "single_pr.png").stat().st_size > 0
    assert (plots / "single_boundary_errors.png").stat().st_size > 0
    assert sorted(p.name for p in (plots / "single").iterdir()) == [
        "s1e1.png",
        "s1e2.png",
        "s2e1.png",
    ]


def test_cli_rejects_unknown_option(tmp_path, capsys):
    assert run_command(main, "predictions=x", "annotations=y", f"out={tmp_path}", "colour=red") == 2
    assert "error: unknown key 'colour' (--help lists the keys)" in capsys.readouterr().err


def test_cli_reports_bad_input_in_one_line(tmp_path, capsys):
    args = ("predictions=x", f"annotations={tmp_path / 'none.json'}", f"out={tmp_path}")
    assert run_command(main, *args) == 2
    assert capsys.readouterr().err.startswith(f"error: {tmp_path / 'none.json'}")
    assert run_command(main, *args, "use=fine") == 2
    assert "use must be 'intro' or 'coarse'" in capsys.readouterr().err


def test_cli_exact_truth_and_refinement_columns(tmp_path, capsys):
    probs = [0.0] * 30
    for ep, (start, end, cs, ce) in {
        "a": (10.48, 20.04, 10.0, 20.0),
        "b": (5.2, 9.96, 5.0, 10.0),
    }.items():
        record = {
            "schema_version": 1,
            "episode": ep,
            "fps": 1,
            "probabilities": probs,
            "intro": {
                "start": start,
                "end": end,
                "score": 0.9,
                "coarse_start": cs,
                "coarse_end": ce,
                "refined": True,
            },
        }
        (tmp_path / "p").mkdir(exist_ok=True)
        (tmp_path / "p" / f"{ep}.json").write_text(json.dumps(record))
    labels = {"a": {"start": 10, "end": 20}, "b": {"start": 5, "end": 10}}  # whole seconds
    exact = {
        "episodes": {
            "a": {"intro": {"start": 10.48, "end": 20.0}},
            "b": {"intro": {"start": 5.24, "end": 9.96}},
        }
    }
    (tmp_path / "l.json").write_text(json.dumps(labels))
    (tmp_path / "t.json").write_text(json.dumps(exact))
    rc = run_command(
        main,
        f"predictions={{x:'{tmp_path / 'p'}'}}",
        f"annotations={tmp_path / 'l.json'}",
        f"truth={tmp_path / 't.json'}",
        f"out={tmp_path / 'o'}",
    )
    assert rc == 0
    res = json.loads((tmp_path / "o" / "evaluation.json").read_text())["results"]["x"]
    # refined: a is off by (0, 0.04), b by (0.04, 0): both within 0.1 s; at 1 fps neither is
    assert res["all"]["boundary"]["within"]["0.1"] == 1.0
    assert res["before_refinement"]["all"]["boundary"]["within"]["0.1"] == 0.0
    assert "before frame-accurate refinement" in capsys.readouterr().out


def test_cli_help_lists_the_keys(capsys):
    text = help_text(main, capsys)
    for key in ("predictions", "annotations", "train_annotations", "truth", "out", "plots"):
        assert f"\n  {key} " in text
    assert "encoder" not in text
