"""Kind 2, SIGKILL: ``extract`` (decoder threads, and ``decoders=2 processes=true``),
``predict`` (from shards, from videos, season mode) and ``train`` killed at seeded random
moments (some a random time after start, some a random delay after a first output appears),
then the same command run again.

Handled means (docs/reliability.md, "Interrupted jobs"): the killed process leaves no process
of its group running a second later; every output file present after the kill is whole; the
re-run exits 0; after it the outputs equal an uninterrupted run's (features ``np.array_equal``,
records' intervals and probabilities equal, training's final ``global_step`` equal and its
epoch as documented), with no half shard and no temp file left.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import ALL_FORMATS, FORMATS, TINY_MODEL, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import (
    EXTRACT,
    PREDICT,
    TRAIN,
    Check,
    Started,
    Verdict,
    check_records,
    check_shards,
    compare_features,
    compare_records,
    csv_rows,
    group_members,
    kill_group,
    run,
    shard_features,
    temp_files,
    verdict,
)

ORPHAN_WAIT = 1.5  # seconds after the kill before the process group is looked at


def kill_when(job: Started, ready: Callable[[], bool] | None, delay: float) -> float | None:
    """SIGKILL the job's own process ``delay`` s after ``ready()`` first holds (None: after
    start); the moment of the kill in seconds after start, or None when it ended first."""
    deadline = time.monotonic() + 180
    while ready is not None and not ready():
        if not job.alive() or time.monotonic() > deadline:
            return None
        time.sleep(0.01)
    end = time.monotonic() + delay
    while time.monotonic() < end:
        if not job.alive():
            return None
        time.sleep(0.005)
    if not job.alive():
        return None
    job.kill_parent()
    job.proc.wait()
    return time.monotonic() - job.t0


def after_kill(ck: Check, job: Started, at: float | None) -> None:
    """The killed command's run record, and its process group a moment later."""
    r = job.finish()
    r.timed_out = False  # it was killed on purpose
    r.out = r.out  # kept for the report
    if at is None:
        ck.note(f"the job ended (exit {r.rc}) before the kill came")
        if r.traceback():
            ck.runs.append(r)
        return
    ck.note(f"killed {at:.2f} s after start")
    time.sleep(ORPHAN_WAIT)
    left = group_members(job.pid)
    if left:
        ck.hang.append(f"{len(left)} processes of the killed job still running "
                       f"{ORPHAN_WAIT} s after it: {[c for _, c in left][:2]}")  # fmt: skip
        kill_group(job.pid)


# --- extract -------------------------------------------------------------------------------


def extract_case(ctx: Ctx, extra: tuple[str, ...], trigger: str, lo: float, hi: float) -> Verdict:
    a = ctx.assets
    ck = Check()
    videos = a.lib / "videos"
    ref_out = a.root / "refs" / f"extract{'_'.join(x.split('=')[0] for x in extra)}"
    ref = a.reference(f"extract{extra}", [*EXTRACT, f"input={videos}", f"out={ref_out}", *extra],
                      ref_out, "shards")  # fmt: skip
    out = ctx.dir / "shards"
    cmd = [*EXTRACT, f"input={videos}", f"out={out}", *extra]
    delay = float(ctx.rng.uniform(lo, hi))
    job = Started(cmd, ctx.dir / "killed.log")
    ready = (lambda: any(out.glob("*.json"))) if trigger == "first_shard" else None
    at = kill_when(job, ready, delay)
    after_kill(ck, job, at)
    # after the kill: every shard marked complete is whole (orphan arrays are allowed here)
    for ep, (_, arr) in shard_features(out).items():
        ck.ok(arr is not None, f"after the kill: shard {ep!r} marked complete but not whole")
    again = ck.add(run(cmd, timeout=180))
    if again.timed_out or again.traceback():
        return verdict(ck, again)
    ck.exit(again, 0, "re-run")
    got = check_shards(ck, out, "after the re-run")
    compare_features(ck, got, ref, "after the re-run")
    return verdict(ck, again)


# --- predict -------------------------------------------------------------------------------


def predict_case(ctx: Ctx, source: str, trigger: str, lo: float, hi: float) -> Verdict:
    a = ctx.assets
    ck = Check()
    if source == "shards":
        shards, _ = a.feature_set("many", n_series=10, n_episodes=8, seconds=60)
        args = [f"ckpt={a.ckpt_a}", f"input={shards}", ALL_FORMATS]
    elif source == "videos":
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib / 'videos'}", ALL_FORMATS]
    else:  # season mode: no checkpoint, the sound of each season
        args = [f"input={a.lib / 'videos'}", ALL_FORMATS]
    ref_out = a.root / "refs" / f"predict_{source}"
    ref = a.reference(f"predict_{source}", [*PREDICT, *args, f"out={ref_out}"], ref_out)
    out = ctx.dir / "pred"
    cmd = [*PREDICT, *args, f"out={out}"]
    delay = float(ctx.rng.uniform(lo, hi))
    job = Started(cmd, ctx.dir / "killed.log")
    ready = None
    if trigger == "first_record":
        ready = lambda: any(out.rglob("*.edl"))  # noqa: E731
    elif trigger == "first_shard":
        ready = lambda: any((out / ".shards").rglob("*.json"))  # noqa: E731
    at = kill_when(job, ready, delay)
    after_kill(ck, job, at)
    check_records(ck, out, FORMATS, "after the kill", whole_only=True)  # what is there is whole
    again = ck.add(run(cmd, timeout=180))
    if again.timed_out or again.traceback():
        return verdict(ck, again)
    ck.exit(again, 0, "re-run")
    got = check_records(ck, out, FORMATS, "after the re-run")
    compare_records(ck, got, ref, "after the re-run")
    rows = csv_rows(out)
    ck.ok(rows is not None and len(rows) == len(ref),
          f"after the re-run: intros.csv has {None if rows is None else len(rows)} rows, "
          f"want {len(ref)}")  # fmt: skip
    if source != "shards":
        check_shards(ck, out / ".shards", "the feature cache")
    return verdict(ck, again)


# --- train ---------------------------------------------------------------------------------

EPOCHS = 4
EVERY = 8


def train_args(a: Assets, out: Path) -> list[str]:
    shards, labels = a.feature_set("train", n_series=4, n_episodes=3, seconds=150)
    return [
        *TINY_MODEL, f"data.shard_dir={shards}", f"data.train_labels={labels}",
        "data.split_by=episode", "data.val_fraction=0.25", "data.test_fraction=0",
        f"trainer.max_epochs={EPOCHS}", f"callbacks.checkpoint_steps.every_n_train_steps={EVERY}",
        f"paths.output_dir={out}", f"hydra.run.dir={out}",
    ]  # fmt: skip


def ckpt_state(path: Path) -> dict | None:
    import torch

    try:
        c = torch.load(path, map_location="cpu", weights_only=True)
        return {"global_step": int(c["global_step"]), "epoch": int(c["epoch"])}
    except Exception:
        return None


def check_last_step(ck: Check, last: Path, ref: dict, where: str) -> dict | None:
    """``last`` loads and ends at the uninterrupted run's global step; its state (None: it
    does not load)."""
    state = ckpt_state(last)
    if state is None:
        ck.fail(f"{where}: last.ckpt missing or does not load")
    else:
        ck.ok(state["global_step"] == ref["global_step"],
              f"{where}: last.ckpt at global_step {state['global_step']}, the uninterrupted "
              f"run at {ref['global_step']}")  # fmt: skip
    return state


def train_reference(a: Assets) -> dict:
    def build() -> dict:
        import shutil

        out = a.root / "refs" / "train"
        shutil.rmtree(out, ignore_errors=True)
        r = a._checked(run([*TRAIN, *train_args(a, out)], timeout=300), "reference train")
        state = ckpt_state(out / "checkpoints" / "last.ckpt")
        if state is None:
            raise RuntimeError("reference train: last.ckpt does not load")
        best = sorted(p.name for p in (out / "checkpoints").glob("epoch*.ckpt"))
        return {**state, "best": best, "seconds": r.seconds}

    return a.get("ref:train", build)


def train_case(ctx: Ctx, trigger: str, lo: float, hi: float) -> Verdict:
    a = ctx.assets
    ck = Check()
    ref = train_reference(a)
    out = ctx.dir / "run"
    cmd = [*TRAIN, *train_args(a, out)]
    folder = out / "checkpoints"
    delay = float(ctx.rng.uniform(lo, hi))
    job = Started(cmd, ctx.dir / "killed.log")
    ready = None
    if trigger == "last_ckpt":
        ready = lambda: (folder / "last.ckpt").is_file()  # noqa: E731
    elif trigger == "validation":  # the best checkpoint appears when validation ends
        ready = lambda: any(folder.glob("epoch*.ckpt"))  # noqa: E731
    elif trigger == "metrics":
        ready = lambda: (out / "csv" / "metrics.csv").is_file()  # noqa: E731
    at = kill_when(job, ready, delay)
    after_kill(ck, job, at)
    last = folder / "last.ckpt"
    killed_state = ckpt_state(last) if last.is_file() else None
    if last.is_file() and killed_state is None:
        ck.fail("after the kill: last.ckpt does not load")
    if killed_state:
        ck.note(f"last.ckpt at step {killed_state['global_step']} after the kill")
    again = ck.add(run(cmd, timeout=240))
    if again.timed_out or again.traceback():
        return verdict(ck, again)
    ck.exit(again, 0, "re-run")
    state = check_last_step(ck, last, ref, "after the re-run")
    if state is not None:
        # docs/reliability.md: the recorded epoch is max_epochs - 1 or max_epochs
        ck.ok(
            state["epoch"] in (EPOCHS - 1, EPOCHS),
            f"resumed run's last.ckpt says epoch {state['epoch']}, want {EPOCHS - 1} or {EPOCHS}",
        )
        if state["epoch"] != ref["epoch"]:
            ck.note(
                f"epoch {state['epoch']} vs the uninterrupted run's {ref['epoch']} "
                "(both documented)"
            )
    best = sorted(p.name for p in folder.glob("epoch*.ckpt"))
    ck.ok(len(best) == 1, f"after the re-run: {len(best)} best checkpoints {best[:3]}, want 1")
    for p in folder.glob("*.ckpt"):
        if ckpt_state(p) is None:
            ck.fail(f"after the re-run: {p.name} does not load")
    if best and best != ref["best"]:
        ck.note(f"best checkpoint {best[0]}, the uninterrupted run's {ref['best'][:1]}")
    temps = temp_files(out) + [p for p in folder.glob("*") if p.suffix not in (".ckpt",)]
    ck.ok(
        not temps, f"after the re-run: stray files in the run folder {[p.name for p in temps[:3]]}"
    )
    metrics = out / "csv" / "metrics.csv"
    ck.ok(metrics.is_file(), "after the re-run: no metrics.csv")
    return verdict(ck, again)


_PROC = ("decoders=2", "processes=true")
# (name prefix, how many, case, its arguments, cost): each kill at a random, seeded delay in
# [lo, hi] after the trigger ("start": the command's start, start-up included; "first_shard",
# "first_record", "last_ckpt", "validation": once that file appears)
PLAN = [
    ("extract_threads_t", 8, extract_case, dict(extra=(), trigger="start", lo=2.0, hi=7.5), 16),
    ("extract_threads_s", 8, extract_case, dict(extra=(), trigger="first_shard", lo=0.0, hi=2.0),
     16),
    ("extract_processes_t", 5, extract_case, dict(extra=_PROC, trigger="start", lo=3.0, hi=8.0),
     18),
    ("extract_processes_s", 5, extract_case,
     dict(extra=_PROC, trigger="first_shard", lo=0.0, hi=2.0), 18),
    ("predict_shards_t", 5, predict_case, dict(source="shards", trigger="start", lo=3.0, hi=6.5),
     16),
    ("predict_shards_r", 5, predict_case,
     dict(source="shards", trigger="first_record", lo=0.0, hi=0.3), 16),
    ("predict_videos_t", 3, predict_case, dict(source="videos", trigger="start", lo=3.0, hi=8.0),
     18),
    ("predict_videos_s", 3, predict_case,
     dict(source="videos", trigger="first_shard", lo=0.0, hi=2.0), 18),
    ("predict_season_t", 3, predict_case, dict(source="season", trigger="start", lo=1.5, hi=3.6),
     14),
    ("predict_season_r", 3, predict_case,
     dict(source="season", trigger="first_record", lo=0.0, hi=0.1), 14),
    ("train_t", 4, train_case, dict(trigger="start", lo=5.0, hi=14.0), 20),
    ("train_last", 4, train_case, dict(trigger="last_ckpt", lo=0.0, hi=3.0), 20),
    ("train_val", 4, train_case, dict(trigger="validation", lo=0.0, hi=0.3), 20),
]  # fmt: skip


def cases(assets: Assets) -> list[Case]:
    return [
        Case("kills", f"{prefix}{i}", partial(case, **kw), cost=cost)
        for prefix, n, case, kw, cost in PLAN
        for i in range(n)
    ]
