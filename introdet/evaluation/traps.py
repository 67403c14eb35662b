"""Intros and credits against a truth file that also names each series' traps (the demo's).

For each prediction folder: the share of episodes whose intro is right (both boundaries within
1 s, or none where there is none) per style, a row for each name found in the truth rows'
``style`` lists (cold open, studio logo, recap, intro at 0:00, cut-short intro, two openings,
text over the intro, long credits; an intro with no recurring sound, a re-recorded theme, a PAL
copy, mixed frame rates, a dub, an identical copy, a special, dialogue over the theme, a "next
time on" preview; and no intro), how often credits are found, and how often the credits, a
recap or a logo were reported as the intro.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from introdet.errors import EvaluationError
from introdet.evaluation.report import align_rows
from introdet.evaluation.results import prediction_files, read_prediction

WITHIN = 1.0  # seconds: a boundary this close is right


def _close(a: tuple[float, float], b: tuple[float, float]) -> bool:
    return abs(a[0] - b[0]) <= WITHIN and abs(a[1] - b[1]) <= WITHIN


def _overlaps(a: tuple[float, float], b: tuple[float, float], share: float = 0.5) -> bool:
    """Whether ``a`` lies mostly inside ``b``."""
    inter = min(a[1], b[1]) - max(a[0], b[0])
    return inter > share * max(a[1] - a[0], 1e-9)


def read_truth(path: str | Path) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))["episodes"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise EvaluationError(f"{path}: cannot read the truth file: {e}") from e


def trap_report(pred_dir: str | Path, truth: Mapping[str, dict]) -> dict:
    """The report of one prediction folder over the episodes it has records for."""
    styles: dict[str, list[bool]] = {}
    credits_ok, wrong = [], {"credits": 0, "recap": 0, "studio_logo": 0}
    files = prediction_files(pred_dir, truth)
    for ep, e in sorted(truth.items()):
        if ep not in files:
            continue
        rec = read_prediction(files[ep])
        got = rec["intro"] and (rec["intro"]["start"], rec["intro"]["end"])
        want = e["intro"] and (e["intro"]["start"], e["intro"]["end"])
        right = got is None if want is None else bool(got) and _close(got, want)
        for style in [*e.get("style", []), *([] if want else ["no_intro"])]:
            styles.setdefault(style, []).append(right)
        if e.get("credits"):
            c = rec.get("credits")
            credits_ok.append(bool(c) and _close(c, (e["credits"]["start"], e["credits"]["end"])))
            if got and _overlaps(got, (e["credits"]["start"], e["credits"]["end"])):
                wrong["credits"] += 1
        for d in e.get("distractors", []):
            if got and d["kind"] in wrong and _overlaps(got, (d["start"], d["end"])):
                wrong[d["kind"]] += 1
    return {
        "styles": {s: {"n": len(v), "right": sum(v) / len(v)} for s, v in sorted(styles.items())},
        "credits_within_1s": sum(credits_ok) / len(credits_ok) if credits_ok else None,
        "as_intro": wrong,
    }


def format_traps(reports: Mapping[str, dict]) -> str:
    """Plain-text table: a row per series style, then credits; a column per folder."""
    names = list(reports)
    styles = sorted({s for r in reports.values() for s in r["styles"]})
    rows = [["intro right, by style", *names]]
    for s in styles:
        cells = []
        for n in names:
            v = reports[n]["styles"].get(s)
            cells.append(f"{v['right']:.2f} of {v['n']}" if v else "-")
        rows.append([f"  {s}", *cells])
    cr = [reports[n]["credits_within_1s"] for n in names]
    rows.append(["credits within 1 s", *("-" if c is None else f"{c:.2f}" for c in cr)])
    for kind in ("credits", "recap", "studio_logo"):
        counts = (str(reports[n]["as_intro"][kind]) for n in names)
        rows.append([f"{kind} taken for intro", *counts])
    return align_rows(rows)
