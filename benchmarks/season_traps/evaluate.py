"""Score predictions against the trap library's truth, one row per trap style.

``python -m benchmarks.season_traps.evaluate truth=DIR/truth.json pred=PRED_DIR [--json FILE]``

PRED_DIR is what ``predict.py input=DIR/library out=PRED_DIR`` wrote: it mirrors the library
tree (``PRED_DIR/<Show>/Season 1/<stem>.json``). A record is found by that path, else by a
unique file stem, else by its ``episode`` field; a missing record counts as predicting nothing.
An episode is scored in the row of every style it carries (so rows overlap), and in ALL once.

Columns: ``intro<=1s`` / ``intro<=0.1s``: both boundaries within the tolerance, or correctly
none; ``useful``: the predicted intro covers at least half of the true one and reaches past it
by at most 2 s on each side (or correctly none); ``false``: an intro predicted where there is
none (of how many had none); ``credits<=1s``: both boundaries within 1 s, or correctly none.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

COLUMNS = ("n", "missing", "intro<=1s", "intro<=0.1s", "useful", "false", "credits<=1s")


def load_records(pred: Path) -> dict:
    """key (relative path, no suffix) -> record, for every JSON that looks like a record."""
    out = {}
    for path in sorted(pred.rglob("*.json")):
        rel = path.relative_to(pred)
        if any(part.startswith(".") for part in rel.parts):
            continue
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(rec, dict) and "intro" in rec:
            out[rel.with_suffix("").as_posix()] = rec
    return out


def find(records: dict, eid: str, truth: dict) -> dict | None:
    key = str(Path(truth["path"]).with_suffix("").as_posix())
    if key in records:
        return records[key]
    by_stem = [r for k, r in records.items() if k.rsplit("/", 1)[-1] == eid]
    if len(by_stem) == 1:
        return by_stem[0]
    by_id = [r for r in records.values() if r.get("episode") in (eid, key)]
    return by_id[0] if len(by_id) == 1 else None


def span(x) -> tuple[float, float] | None:
    """A truth or prediction span as (start, end): {"start","end"} dicts or [start, end]."""
    if x is None:
        return None
    if isinstance(x, dict):
        return float(x["start"]), float(x["end"])
    return float(x[0]), float(x[1])


def within(t, p, tol: float) -> bool:
    if t is None or p is None:
        return t is None and p is None
    return abs(t[0] - p[0]) <= tol and abs(t[1] - p[1]) <= tol


def useful(t, p) -> bool:
    if t is None or p is None:
        return t is None and p is None
    overlap = max(0.0, min(t[1], p[1]) - max(t[0], p[0]))
    return overlap >= 0.5 * (t[1] - t[0]) and p[0] >= t[0] - 2 and p[1] <= t[1] + 2


def score(truth: dict, records: dict) -> tuple[dict, list]:
    rows: dict[str, dict] = {}
    episodes = []
    for eid, tr in sorted(truth.items()):
        rec = find(records, eid, tr)
        ti, tc = span(tr.get("intro")), span(tr.get("credits"))
        pi = span(rec.get("intro")) if rec else None
        pc = span(rec.get("credits")) if rec else None
        e = {
            "episode": eid,
            "style": tr["style"],
            "missing": rec is None,
            "truth_intro": ti,
            "pred_intro": pi,
            "truth_credits": tc,
            "pred_credits": pc,
            "intro<=1s": within(ti, pi, 1.0),
            "intro<=0.1s": within(ti, pi, 0.1),
            "useful": useful(ti, pi),
            "false": ti is None and pi is not None,
            "no_intro": ti is None,
            "credits<=1s": within(tc, pc, 1.0),
        }
        episodes.append(e)
        for style in list(dict.fromkeys(tr["style"])) + ["ALL"]:
            r = rows.setdefault(style, {c: 0 for c in COLUMNS} | {"no_intro": 0})
            r["n"] += 1
            for c in COLUMNS[1:] + ("no_intro",):
                r[c] += int(e[c])
    return rows, episodes


def fmt_span(s) -> str:
    return "none" if s is None else f"{s[0]:7.2f}-{s[1]:7.2f}"


def table(rows: dict) -> str:
    names = sorted(r for r in rows if r != "ALL") + ["ALL"]
    width = max(len(n) for n in names)
    head = f"{'style':<{width}}  " + "  ".join(f"{c:>11}" for c in COLUMNS)
    lines = [head, "-" * len(head)]
    for name in names:
        r = rows[name]
        cells = []
        for c in COLUMNS:
            if c in ("n", "missing"):
                cells.append(f"{r[c]:>11}")
            else:
                of = r["no_intro"] if c == "false" else r["n"]
                cells.append(f"{str(r[c]) + '/' + str(of):>11}")
        lines.append(f"{name:<{width}}  " + "  ".join(cells))
    return "\n".join(lines)


def wrong(episodes: list) -> str:
    out = []
    for e in episodes:
        bad = [c for c in ("intro<=1s", "credits<=1s") if not e[c]]
        if e["missing"] or bad:
            out.append(
                f"{e['episode']:<32} {','.join(e['style']):<40} "
                f"intro truth {fmt_span(e['truth_intro'])}"
                f" pred {fmt_span(e['pred_intro'])} | credits truth {fmt_span(e['truth_credits'])}"
                f" pred {fmt_span(e['pred_credits'])}{'  (no record)' if e['missing'] else ''}"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("args", nargs="*", help="truth=DIR/truth.json pred=PRED_DIR")
    p.add_argument("--json", type=Path, help="also write rows and per-episode results here")
    ns = p.parse_args(sys.argv[1:] if argv is None else argv)
    kv = dict(a.split("=", 1) for a in ns.args if "=" in a)
    if set(kv) != {"truth", "pred"}:
        p.error("need truth=FILE and pred=DIR")
    truth = json.loads(Path(kv["truth"]).read_text())["episodes"]
    rows, episodes = score(truth, load_records(Path(kv["pred"])))
    print(table(rows))
    print("\nwrong episodes (intro or credits off by more than 1 s), truth vs predicted:")
    print(wrong(episodes) or "(none)")
    if ns.json:
        ns.json.write_text(json.dumps({"rows": rows, "episodes": episodes}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
