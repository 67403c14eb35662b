"""Kind 3, two (or three) jobs at once on one folder: extracts with the same arguments, the
documented ``shard=i/n`` split, decoder threads beside decoder processes, predicts into one
output folder (sharing its feature cache), extract beside predict on one shard folder, two
ONNX exports, and two trainings of the same run name; the second job starts 0-4 s after the
first.

Handled means: every job exits 0 (or, for two trainings of one run, the second refuses with one
``error:`` line, exit 2); afterwards the outputs are complete and equal an uninterrupted single
run's (features ``np.array_equal``, records' intervals and probabilities), the manifest and
intros.csv list every episode, no half shard or temp file is left, every checkpoint loads.
"""

from __future__ import annotations

import time
from functools import partial

from benchmarks.hostile.assets import ALL_FORMATS, FORMATS, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.kills import check_last_step, ckpt_state, train_args, train_reference
from benchmarks.hostile.outcome import (
    EXPORT,
    EXTRACT,
    PREDICT,
    TRAIN,
    Check,
    Run,
    Started,
    Verdict,
    check_records,
    check_shards,
    compare_features,
    compare_records,
    csv_rows,
    temp_files,
    verdict,
)
from introdet.media.library import find_videos


def together(ctx: Ctx, cmds: list[list[str]], offsets: list[float], timeout: float = 240
             ) -> list[Run]:  # fmt: skip
    """Start each command ``offsets[i]`` s after the first; wait for all."""
    t0 = time.monotonic()
    jobs = []
    for i, (cmd, off) in enumerate(zip(cmds, offsets, strict=True)):
        wait = t0 + off - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        jobs.append(Started(cmd, ctx.dir / f"job{i}.log"))
    return [j.finish(timeout) for j in jobs]


def _record(ck: Check, runs: list[Run]) -> Run | None:
    for r in runs:
        ck.add(r)
    bad = [r for r in runs if r.timed_out or r.traceback()]
    return bad[0] if bad else None


def _exits(ck: Check, runs: list[Run], codes=(0,)) -> None:
    for i, r in enumerate(runs):
        if r.rc not in codes:
            lines = [ln for ln in r.text.splitlines() if ln.strip()]
            warned = [ln.split("] - ", 1)[-1] for ln in lines if "WARNING" in ln or "ERROR" in ln]
            said = (r.errors() or r.failed_lines() or warned[-1:] or lines[-1:] or [""])[0]
            ck.fail(
                f"job {i + 1} ({' '.join(a for a in r.cmd if a.startswith('shard='))}) "
                f"exit {r.rc}: {said[:220]}"
            )


def extract_ref(a: Assets) -> dict:
    return a.reference("extract()", [*EXTRACT, f"input={a.lib / 'videos'}",
                                     f"out={a.root / 'refs' / 'extract'}"],
                       a.root / "refs" / "extract", "shards")  # fmt: skip


def extracts(ctx: Ctx, variants: list[tuple[str, ...]], offsets: list[float]) -> Verdict:
    a = ctx.assets
    ck = Check()
    ref = extract_ref(a)
    out = ctx.dir / "shards"
    base = [*EXTRACT, f"input={a.lib / 'videos'}", f"out={out}"]
    runs = together(ctx, [[*base, *v] for v in variants], offsets)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    _exits(ck, runs)
    got = check_shards(ck, out, "afterwards")
    compare_features(ck, got, ref, "afterwards")
    return verdict(ck, runs[-1])


def predict_ref(a: Assets, key: str, args: list[str]) -> dict:
    out = a.root / "refs" / f"predict_{key}"
    return a.reference(f"predict_{key}", [*PREDICT, *args, f"out={out}"], out)


def predicts(ctx: Ctx, source: str, offsets: list[float]) -> Verdict:
    a = ctx.assets
    ck = Check()
    if source == "shards":
        shards, _ = a.feature_set("many", n_series=10, n_episodes=8, seconds=60)
        args = [f"ckpt={a.ckpt_a}", f"input={shards}", ALL_FORMATS]
    elif source == "videos":
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib / 'videos'}", ALL_FORMATS]
    elif source == "onnx":
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib_shards}", "runtime=onnx", ALL_FORMATS]
    else:
        args = [f"input={a.lib / 'videos'}", ALL_FORMATS]
    ref = predict_ref(a, source, args)
    out = ctx.dir / "pred"
    runs = together(ctx, [[*PREDICT, *args, f"out={out}"]] * len(offsets), offsets)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    _exits(ck, runs)
    got = check_records(ck, out, FORMATS, "afterwards")
    compare_records(ck, got, ref, "afterwards")
    rows = csv_rows(out)
    ck.ok(
        rows is not None and len(rows) == len(ref),
        f"intros.csv has {None if rows is None else len(rows)} rows, want {len(ref)}",
    )
    if source in ("videos", "season"):
        check_shards(ck, out / ".shards", "the shared feature cache")
    return verdict(ck, runs[-1])


def predicts_two_inputs(ctx: Ctx, offsets: list[float]) -> Verdict:
    """Two series predicted into one output folder at once: both series' records stay."""
    a = ctx.assets
    ck = Check()
    videos = a.lib / "videos"
    args = [f"ckpt={a.ckpt_a}", ALL_FORMATS, f"out={ctx.dir / 'pred'}"]
    cmds = [[*PREDICT, *args, f"input={videos / 'Harbor'}"],
            [*PREDICT, *args, f"input={videos / 'Northwind'}"]]  # fmt: skip
    runs = together(ctx, cmds, offsets)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    _exits(ck, runs)
    got = check_records(ck, ctx.dir / "pred", FORMATS, "afterwards")
    n = sum(len(find_videos(videos / series)) for series in ("Harbor", "Northwind"))
    ck.ok(len(got) == n, f"{len(got)} records of the two series' {n} episodes")
    rows = csv_rows(ctx.dir / "pred")
    ck.note(f"intros.csv lists {None if rows is None else len(rows)} of the {n} (one per run: "
            "the last run's episodes)")  # fmt: skip
    check_shards(ck, ctx.dir / "pred" / ".shards", "the shared feature cache")
    return verdict(ck, runs[-1])


def extract_and_predict(ctx: Ctx, offsets: list[float]) -> Verdict:
    a = ctx.assets
    ck = Check()
    videos = a.lib / "videos"
    shards = ctx.dir / "shards"
    args = [f"ckpt={a.ckpt_a}", f"input={videos}", ALL_FORMATS]
    ref = predict_ref(a, "videos", args)
    fref = extract_ref(a)
    cmds = [[*EXTRACT, f"input={videos}", f"out={shards}"],
            [*PREDICT, *args, f"out={ctx.dir / 'pred'}", f"shards={shards}"]]  # fmt: skip
    runs = together(ctx, cmds, offsets)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    _exits(ck, runs)
    got = check_records(ck, ctx.dir / "pred", FORMATS, "predict")
    compare_records(ck, got, ref, "predict")
    feats = check_shards(ck, shards, "the shard folder")
    compare_features(ck, feats, fref, "the shard folder")
    return verdict(ck, runs[-1])


def trains(ctx: Ctx, offsets: list[float]) -> Verdict:
    """Two trainings of one run folder: documented as what happens; nothing may corrupt."""
    a = ctx.assets
    ck = Check()
    ref = train_reference(a)
    out = ctx.dir / "run"
    runs = together(ctx, [[*TRAIN, *train_args(a, out)]] * 2, offsets, timeout=300)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    for i, r in enumerate(runs):
        if r.rc == 2:
            ck.one_error(r, [str(out), "run"], f"job {i + 1}")
            ck.note(f"job {i + 1} refused: {r.errors()[:1]}")
        elif r.rc != 0:
            ck.fail(f"job {i + 1} exit {r.rc}")
    folder = out / "checkpoints"
    for p in folder.glob("*.ckpt"):
        if ckpt_state(p) is None:
            ck.fail(f"{p.name} does not load")
    check_last_step(ck, folder / "last.ckpt", ref, "afterwards")
    best = sorted(p.name for p in folder.glob("epoch*.ckpt"))
    if len(best) != 1:
        ck.fail(f"{len(best)} best checkpoints: {best[:4]}")
    temps = temp_files(out)
    ck.ok(not temps, f"temp files left: {[p.name for p in temps[:3]]}")
    steps = [r.out.count("resuming from") + r.err.count("resuming from") for r in runs]
    ck.note(f"exits {[r.rc for r in runs]}; resumed: {steps}")
    return verdict(ck, runs[-1])


def exports(ctx: Ctx, offsets: list[float]) -> Verdict:
    a = ctx.assets
    ck = Check()
    out = ctx.dir / "onnx"
    runs = together(ctx, [[*EXPORT, f"ckpt={a.ckpt_a}", f"out={out}"]] * 2, offsets)
    bad = _record(ck, runs)
    if bad:
        return verdict(ck, bad)
    _exits(ck, runs)
    for name in ("detector.onnx",):  # the encoder is not exported (since 4133ae3)
        p = out / name
        if not p.is_file():
            ck.fail(f"no {name}")
            continue
        try:
            import onnx

            onnx.checker.check_model(onnx.load(str(p)))
        except Exception as e:
            ck.fail(f"{name} does not load: {type(e).__name__}: {str(e)[:120]}")
    ck.ok(not temp_files(out), "temp files left")
    return verdict(ck, runs[-1])


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 20) -> None:
        out.append(Case("concurrent", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for off in (0.0, 0.5, 1.0, 2.0, 3.0):
        add(f"extract_same_args_{off:g}s", partial(extracts, variants=[(), ()], offsets=[0, off]))
    for off in (0.0, 0.3, 1.0, 2.0, 3.0):
        add(
            f"extract_shard_0of2_1of2_{off:g}s",
            partial(extracts, variants=[("shard=0/2",), ("shard=1/2",)], offsets=[0, off]),
        )
    for off in (0.0, 0.5):
        add(f"extract_shard_thirds_{off:g}s",
            partial(extracts, variants=[("shard=0/3",), ("shard=1/3",), ("shard=2/3",)],
                    offsets=[0, off, 2 * off]))  # fmt: skip
    add(
        "extract_threads_and_processes",
        partial(extracts, variants=[(), ("decoders=2", "processes=true")], offsets=[0, 0.5]),
    )
    for off in (0.0, 1.0, 2.5):
        add(f"predict_videos_same_out_{off:g}s", partial(predicts, source="videos",
                                                         offsets=[0, off]))  # fmt: skip
    for off in (0.0, 0.5):
        add(f"predict_shards_same_out_{off:g}s", partial(predicts, source="shards",
                                                         offsets=[0, off]))  # fmt: skip
    for off in (0.0, 1.0):
        add(f"predict_season_same_out_{off:g}s", partial(predicts, source="season",
                                                         offsets=[0, off]))  # fmt: skip
    add("predict_onnx_same_cache", partial(predicts, source="onnx", offsets=[0, 0.2]))
    add("predict_two_series_one_out", partial(predicts_two_inputs, offsets=[0, 0.3]))
    for off in (0.0, 1.0, 2.0):
        add(
            f"extract_and_predict_one_shard_folder_{off:g}s",
            partial(extract_and_predict, offsets=[0, off]),
        )
    for off in (0.0, 1.5, 4.0):
        add(f"train_same_run_name_{off:g}s", partial(trains, offsets=[0, off]), 30)
    add("export_onnx_same_out", partial(exports, offsets=[0, 0.3]))
    return out
