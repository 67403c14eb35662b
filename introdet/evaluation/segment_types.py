"""Every segment type against a truth file that times them (the demo's): intro, credits, and
the recap, preview and commercial (a recurring ident) its ``distractors`` list names; or
against a labels file whose rows time them (``labelled_truth``), each type scored only on the
episodes whose row labels it.

Per type, over the truth segments of that type: ``within 1 s`` (a predicted segment of the
type with both edges within 1 s), ``useful`` (one covering at least half of it and reaching
past it by at most 2 s on each side, as the trap library's ``evaluate`` counts it), and
``false``: predicted segments of the type that overlap no truth segment of it, and of how
many episodes without one. Each per series style too, where one was missed or found
falsely, so a trap's cost shows on its row. A truth file that says where each opening is
first heard (``first_appearance``) adds a row for the intros marked so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from introdet.evaluation.report import align_rows
from introdet.evaluation.results import prediction_files, read_prediction
from introdet.media.labels import Intro
from introdet.outputs import timeline
from introdet.outputs.timeline import TYPE_OF, TYPES

WITHIN = 1.0  # seconds: a boundary this close is right
REACH = 2.0  # seconds a useful segment may reach past the true one on each side
# the intros a player may choose not to skip: where an opening is first heard in its season
# (a truth row's ``first_appearance``, a record intro's), counted as a type of its own
FIRST = "first heard"

Span = tuple[float, float]


def truth_segments(e: dict) -> dict[str, list[Span]]:
    """Each type's true segments in one truth row."""
    out: dict[str, list[Span]] = {t: [] for t in TYPES}
    for kind in ("intro", "credits"):
        if e.get(kind):
            out[kind].append((float(e[kind]["start"]), float(e[kind]["end"])))
    for d in e.get("distractors", []):
        if d.get("kind") in out and d["kind"] not in ("intro", "credits"):
            out[d["kind"]].append((float(d["start"]), float(d["end"])))
    return out


def labelled_truth(intros: Mapping[str, Intro]) -> dict[str, dict]:
    """Truth rows from a labels file: the intro, and each type a row labels (``labelled``)."""
    out = {}
    for ep, i in intros.items():
        spans = {k: [{"start": a, "end": b} for a, b in v] for k, v in i.segments.items()}
        out[ep] = {
            "intro": None if i.start is None else {"start": i.start, "end": i.end},
            "credits": (spans.get("credits") or [None])[0],
            "distractors": [{"kind": k, **s} for k, v in spans.items() if k != "credits"
                            for s in v],  # fmt: skip
            "labelled": ["intro", *i.segments],
        }
    return out


def found_segments(rec: dict) -> dict[str, list[Span]]:
    """Each type's segments in one record, as every writer reads them (``timeline``)."""
    out: dict[str, list[Span]] = {t: [] for t in TYPES}
    for title, start, end in timeline.found_segments(rec):
        out[TYPE_OF[title]].append((float(start), float(end)))
    return out


def _overlap(a: Span, b: Span) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))


def _within(t: Span, p: Span) -> bool:
    return abs(t[0] - p[0]) <= WITHIN and abs(t[1] - p[1]) <= WITHIN


def _useful(t: Span, p: Span) -> bool:
    return _overlap(t, p) >= 0.5 * (t[1] - t[0]) and p[0] >= t[0] - REACH and p[1] <= t[1] + REACH


def _blank() -> dict[str, int]:
    return {"n": 0, "within_1s": 0, "useful": 0, "false": 0, "episodes_without": 0}


def _count(row: dict[str, int], want: list[Span], got: list[Span]) -> None:
    row["n"] += len(want)
    row["within_1s"] += sum(any(_within(t, p) for p in got) for t in want)
    row["useful"] += sum(any(_useful(t, p) for p in got) for t in want)
    row["false"] += sum(not any(_overlap(t, p) > 0 for t in want) for p in got)
    row["episodes_without"] += not want


def type_report(pred_dir: str | Path, truth: Mapping[str, dict]) -> dict:
    """``{type: {style: counts}}`` (style ``all``: every episode) for one prediction folder,
    over the episodes it has records for."""
    report: dict[str, dict[str, dict[str, int]]] = {t: {} for t in TYPES}
    files = prediction_files(pred_dir, truth)
    knows_first = any("first_appearance" in e for e in truth.values())
    for ep, e in sorted(truth.items()):
        if ep not in files:
            continue
        record = read_prediction(files[ep])
        want, got = truth_segments(e), found_segments(record)
        for t in e.get("labelled", TYPES):
            for style in ("all", *e.get("style", [])):
                _count(report[t].setdefault(style, _blank()), want[t], got[t])
        if knows_first:
            told = any(s.get("type") == "intro" and s.get("first_appearance")
                       for s in record.get("segments") or ())  # fmt: skip
            for style in ("all", *e.get("style", [])):
                row = report.setdefault(FIRST, {}).setdefault(style, _blank())
                _first(row, bool(e.get("first_appearance")), told)
    return report


def _first(row: dict[str, int], true: bool, told: bool) -> None:
    """An opening's first appearance counted as a segment is: the true ones told, and the
    ones told where the episode's opening was heard before (or it has none)."""
    row["n"] += true
    row["within_1s"] += true and told
    row["useful"] += true and told
    row["false"] += told and not true
    row["episodes_without"] += not true


def format_types(reports: Mapping[str, Mapping[str, Mapping[str, dict]]]) -> str:
    """Plain-text table, a column per prediction folder: a row per type (all episodes), then
    one per style where a segment of that type was missed or found falsely; each cell
    ``w/u of n, f false (of e)``: within 1 s and useful of the n true segments, false ones and
    the episodes without the type."""
    names = list(reports)
    rows = [["type, by style", *names]]
    for t in (*TYPES, FIRST):
        styles = sorted({s for r in reports.values() for s in r.get(t, {})},
                        key=lambda s: (s != "all", s))  # fmt: skip
        for style in styles:
            cells = [reports[n].get(t, {}).get(style) for n in names]
            if style != "all" and not any(c and (c["within_1s"] < c["n"] or c["false"])
                                          for c in cells):  # fmt: skip
                continue
            rows.append([t if style == "all" else f"  {style}", *(_cell(c) for c in cells)])
    return align_rows(rows)


def _cell(c: dict | None) -> str:
    if c is None:
        return "-"
    return (f"{c['within_1s']}/{c['useful']} of {c['n']}, "
            f"{c['false']} false (of {c['episodes_without']})")  # fmt: skip
