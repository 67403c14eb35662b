"""The hostile corpus of issue #17, run through the real commands: a table of outcomes.

``python -m benchmarks.hostile [--work /tmp/hostile] [--kinds inputs,kills,...] [--jobs 2]
[--seed 0]``, run from the checkout's root, generates every case into the work folder, runs the
commands (``extract``, ``predict``, ``train``, ``validate``, ``export_onnx``) as subprocesses
with timeouts, classifies each case as exactly one of handled / traceback / hang / lost, stale or
wrong / unsafe (``benchmarks/hostile/outcome.py``), prints the table in the issue's layout and
one line per case that was not handled, and writes every case's record to
``<work>/hostile.json``.

Kinds (one module each in ``benchmarks/hostile/``): inputs, kills, concurrent, diskfull,
labels, checkpoints, configs (issue #17); library, changes, outputs, paths, resources, review
(issue #27: library scans, a library that changes, output files and intros.csv, odd and long
paths, files that lie about their size, the review app; what they share is in ``round3.py``).
Disk-full cases mount small tmpfs folders (root); without that they are reported as not run.
Cases that need permission bits to stop a command run it as root without the capabilities that
pass over them (``setpriv --bounding-set=-dac_override,...``); where that cannot be done they
are reported as not run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")

from benchmarks.hostile import KINDS, TITLES
from benchmarks.hostile.assets import AssetError, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import OUTCOMES, ROOT, Verdict, shown

NOT_RUN = "not run"  # the harness could not run the case (an asset failed): never "handled"


def collect(kinds: list[str], assets: Assets) -> list[Case]:
    import importlib

    cases = []
    for kind in kinds:
        module = importlib.import_module(f"benchmarks.hostile.{kind}")
        cases += module.cases(assets)
    names = [(c.kind, c.name) for c in cases]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise SystemExit(f"duplicate case names: {sorted(dup)[:5]}")
    return cases


def run_case(case: Case, work: Path, assets: Assets, seed: int) -> dict:
    folder = work / "cases" / case.kind / case.name
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    ctx = Ctx(case.kind, case.name, folder, assets, seed)
    t0 = time.monotonic()
    try:
        v: Verdict = case.fn(ctx)
    except AssetError as e:
        v = Verdict(NOT_RUN, f"shared asset failed: {str(e).splitlines()[0]}", None)
    except Exception as e:
        tb = traceback.format_exc(limit=-3)
        v = Verdict(NOT_RUN, f"harness error {type(e).__name__}: {e} | {tb[-600:]}", None)
    seconds = time.monotonic() - t0
    r = v.run
    rec = {
        "kind": case.kind,
        "name": case.name,
        "command": r.line if r is not None else "",
        "exit": r.rc if r is not None else None,
        "seconds": round(seconds, 2),
        "command_seconds": round(r.seconds, 2) if r is not None else None,
        "outcome": v.outcome,
        "detail": v.detail,
        "folder": str(folder),
    }
    if v.outcome != "handled" and r is not None:
        rec["tail"] = r.tail(2500)
    return rec


def table(results: list[dict], kinds: list[str]) -> str:
    head = ["kind", "tried", "handled", "traceback", "hang", "lost, stale or wrong", "unsafe"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    total = dict.fromkeys(["tried", *OUTCOMES, NOT_RUN], 0)
    for kind in kinds:
        rows = [r for r in results if r["kind"] == kind]
        counts = {o: sum(r["outcome"] == o for r in rows) for o in [*OUTCOMES, NOT_RUN]}
        total["tried"] += len(rows)
        for o in counts:
            total[o] += counts[o]
        cells = [TITLES[kind], str(len(rows)), *(str(counts[o]) for o in OUTCOMES)]
        if counts[NOT_RUN]:
            cells[1] += f" ({counts[NOT_RUN]} not run)"
        lines.append("| " + " | ".join(cells) + " |")
    cells = ["**total**", str(total["tried"]), *(str(total[o]) for o in OUTCOMES)]
    if total[NOT_RUN]:
        cells[1] += f" ({total[NOT_RUN]} not run)"
    lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _tree() -> dict:
    """The checkout the corpus ran against: its commit and the files changed in it."""
    import subprocess

    snapshot = ROOT / ".snapshot.json"  # a copy of a commit, made with git archive
    if snapshot.is_file():
        return json.loads(snapshot.read_text())

    def git(*args: str) -> str:
        r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True)
        return r.stdout.strip()

    changed = git("status", "--porcelain").splitlines()
    return {"commit": git("rev-parse", "HEAD"), "changed": changed}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.hostile", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--work", type=Path, default=Path("/tmp/hostile"), help="work folder")
    ap.add_argument("--kinds", default=",".join(KINDS), help=f"subset of {','.join(KINDS)}")
    ap.add_argument("--jobs", type=int, default=2, help="cases run at once (default 2)")
    ap.add_argument("--seed", type=int, default=0, help="seed of kill moments, damage, offsets")
    ap.add_argument("--only", default="", help="run only cases whose name contains this")
    ap.add_argument(
        "--reuse-assets",
        action="store_true",
        help="reuse the shared assets an earlier run built in --work (development)",
    )
    args = ap.parse_args(argv)
    kinds = [k.strip() for k in args.kinds.split(",") if k.strip()]
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        ap.error(f"unknown kinds {unknown}; known: {','.join(KINDS)}")
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    assets = Assets(work, args.reuse_assets)
    cases = collect(kinds, assets)
    if args.only:
        cases = [c for c in cases if args.only in c.name]
    print(f"hostile corpus: {len(cases)} cases ({', '.join(kinds)}), {args.jobs} at once, "
          f"work {work}, seed {args.seed}", flush=True)  # fmt: skip
    t0 = time.monotonic()
    tree_start = _tree()
    results = []
    order = sorted(cases, key=lambda c: -c.cost)  # long cases first: the pool ends together

    def stop(signum, frame):  # also when started in the background (SIGINT ignored there)
        raise KeyboardInterrupt

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    pool = ThreadPoolExecutor(max(1, args.jobs))
    try:
        futures = {pool.submit(run_case, c, work, assets, args.seed): c for c in order}
        for i, fut in enumerate(as_completed(futures), 1):
            rec = fut.result()
            results.append(rec)
            partial = {"complete": False, "cases": results}
            (work / "hostile.json").write_text(json.dumps(partial, indent=1))
            mark = "" if rec["outcome"] == "handled" else f"  <-- {rec['outcome']}"
            print(f"[{i}/{len(cases)}] {rec['kind']}/{rec['name']}: {rec['outcome']} "
                  f"({rec['seconds']:.1f} s){mark}", flush=True)  # fmt: skip
    except KeyboardInterrupt:  # the cases running finish (mounts come off), no new one starts
        print("interrupted: waiting for the cases running now", flush=True)
        pool.shutdown(wait=True, cancel_futures=True)
        return 130
    pool.shutdown(wait=True)
    wall = time.monotonic() - t0
    results.sort(key=lambda r: (KINDS.index(r["kind"]), r["name"]))
    command = shown([sys.executable, "-m", "benchmarks.hostile", *(argv or sys.argv[1:])])
    report = {
        "command": command,
        "tree_start": tree_start,
        "tree_end": _tree(),
        "wall_seconds": round(wall, 1),
        "jobs": args.jobs,
        "seed": args.seed,
        "cwd": str(ROOT),
        "cases": results,
    }
    (work / "hostile.json").write_text(json.dumps(report, indent=1))
    print()
    print(table(results, kinds))
    print()
    print(f"{len(results)} cases in {wall / 60:.1f} min ({args.jobs} at once); every record: "
          f"{work / 'hostile.json'}")  # fmt: skip
    bad = [r for r in results if r["outcome"] != "handled"]
    if bad:
        print("\nnot handled:")
        for r in bad:
            print(f"- {r['kind']}/{r['name']}: {r['outcome']}: {r['detail']}\n    $ {r['command']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
