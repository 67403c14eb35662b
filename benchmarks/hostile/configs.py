"""Kind 7, config values: every numeric key of extract, predict (``postprocess.*``,
``sampler.*``, ``refine.*``, ``coarse.*``, ``season.*``), train (``data.*``, ``model.*``,
``trainer.*``) and export_onnx set to zero, negative, huge, NaN, infinity, a string, or an unknown
enum value (format, method, runtime, device, recurrence); ``device=cuda`` where there is no CUDA.

Handled means (docs/reliability.md, "Round two", and the commands' --help): exit 2 with one
``error:`` line naming the key, before any long work (nothing written to the output folder),
within the timeout, no traceback. A value of the wrong type for a typed key is refused by Hydra
itself before the command runs: exit 1 with Hydra's message naming the key (the project's tests
expect exit 1 for a mistyped key); such cases are counted handled and say so. A value marked
``either`` may also be accepted, when the run then completes as documented.
"""

from __future__ import annotations

import shutil
from functools import partial

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import (
    EXPORT,
    EXTRACT,
    PREDICT,
    TRAIN,
    Check,
    Run,
    Verdict,
    records,
    run,
    shard_features,
    verdict,
)

BAD, EITHER = "bad", "either"
PERFILE = "per-file"  # past every file's end: each file failing, named (exit 1), will do
TIMEOUT = 120
SLOW = 30.0  # seconds: a refusal later than this came after long work

# (command, override(s), expectation, the key the message must name (default: the override's))
EXTRACT_CASES = [
    ("decoders=0", EITHER), ("decoders=-1", BAD), ("decoders=abc", BAD), ("decoders=1e9", EITHER),
    ("shard=abc", BAD), ("shard=2/2", BAD),
    ("processes=flase", BAD), ("prints=flase", BAD),
    ("sampler.fps=0", BAD), ("sampler.fps=nan", BAD),
    ("sampler.fps=inf", BAD), ("sampler.fps=abc", BAD), ("sampler.fps=1e-9", EITHER),
    ("sampler.start=-1", BAD), ("sampler.start=1e9", PERFILE),
    ("sampler.max_seconds=0", BAD),
    ("sampler.fraction=1.5", BAD), ("sampler.min_fraction=2", BAD), ("sampler.threads=-1", BAD),
    ("sampler.threads=100000", EITHER), ("sampler.decode=bogus", BAD),
    ("encoder.device=cuda", BAD), ("encoder.batch_size=0", BAD),
    ("encoder.precision=bogus", BAD),
    ("season.scan=0", BAD), ("season.tail=-1", BAD),
]  # fmt: skip
PREDICT_CASES = [
    ("stride=0", BAD), ("stride=abc", BAD), ("batch_size=0", BAD),
    ("batch_size=abc", BAD), ("batch_size=1e12", EITHER), ("batch_size=nan", BAD),
    ("clip_others=0", BAD), ("method=bogus", BAD), ("runtime=bogus", BAD), ("device=cuda", BAD),
    ("formats=[bogus]", BAD), ("formats=json", BAD),
    ("edl_action=7", BAD), ("chapters=bogus", BAD), ("decoders=-1", BAD),
    ("sidecars=flase", BAD),
    ("postprocess.threshold=2", BAD), ("postprocess.threshold=nan", BAD),
    ("postprocess.threshold=0.99", EITHER), ("postprocess.smooth=2", BAD),
    ("postprocess.max_gap=-1", BAD),
    ("postprocess.max_seconds=0", BAD), ("postprocess.keep=bogus", BAD),
    ("postprocess.max_gap=nan", BAD),
    ("sampler.fps=0", BAD), ("sampler.max_seconds=-1", BAD),
    ("refine.span=0", BAD), ("refine.edge_discount=1.5", BAD),
    ("refine.min_jump=nan", BAD), ("refine.black_level=-1", BAD),
    (("coarse.enabled=true", "coarse.step=-1"), BAD, "coarse.step"),
    (("coarse.enabled=true", "coarse.max_gap=nan"), BAD, "coarse.max_gap"),
    (("method=season", "season.min_seconds=0"), BAD, "min_seconds"),
    (("method=season", "season.max_intro=0"), BAD, "max_intro"),
    (("method=season", "season.logo_max=nan"), BAD, "logo_max"),
]  # fmt: skip
TRAIN_CASES = [
    ("data.window=0", BAD), ("data.window=abc", BAD), ("data.window=nan", BAD),
    ("data.stride=-1", BAD), ("data.batch_size=0", BAD),
    ("data.max_seconds=0", BAD), ("data.max_seconds=-5", BAD), ("data.max_seconds=inf", BAD),
    ("data.max_seconds=nan", BAD), ("data.val_fraction=1.5", BAD),
    (("data.val_fraction=0.5", "data.test_fraction=0.5"), BAD, "fraction"),
    ("data.fps=0", BAD), ("data.fps=inf", BAD), ("data.recurrence=sound", BAD),
    ("data.split_by=bogus", BAD), ("data.num_workers=-1", BAD),
    ("data.feature_dim=0", BAD), ("data.random_offset=flase", BAD),
    ("model.depth=0", BAD), ("model.heads=3", BAD), ("model.lr=-1", BAD),
    ("model.lr=abc", BAD), ("model.dropout=1", BAD), ("model.d_model=0", BAD),
    ("model.head=bogus", BAD), ("model.optimizer=bogus", BAD),
    ("model.threshold=1", BAD),
    ("trainer.max_epochs=-2", BAD), ("trainer.max_epochs=abc", BAD),
    ("trainer.precision=bogus", BAD), ("trainer.accelerator=cuda", BAD),
    ("trainer.gradient_clip_val=-1", BAD), ("trainer.log_every_n_steps=0", BAD),
    ("seed=abc", BAD), ("objective=val/bogus", BAD),
    ("callbacks.checkpoint_steps.every_n_train_steps=-1", BAD),
    ("data.train_labels=/nonexistent/labels.json", BAD, "/nonexistent/labels.json"),
    ("data.shard_dir=/nonexistent/shards", BAD, "/nonexistent/shards"),
]  # fmt: skip
EXPORT_CASES = [("opset=0", BAD), ("opset=abc", BAD), ("opset=999", BAD), ("opset=6", BAD)]


def _said(r: Run, key: str) -> str:
    """The line of the output that tells what went wrong."""
    if r.errors():
        return r.errors()[0]
    if r.failed_lines():
        return r.failed_lines()[0]
    lines = [ln.strip() for ln in r.err.splitlines() if ln.strip() and "HYDRA_FULL_ERROR" not in ln]
    short = key.split(".")[-1]
    hits = [ln for ln in lines if short in ln and not ln.startswith("Error executing job")]
    job = "Hydra's 'Error executing job': " if "Error executing job" in r.err else ""
    return job + (hits[0] if hits else lines[-1] if lines else "(nothing on stderr)")


def _hydra_refused(r: Run, key: str) -> bool:
    """Hydra's own refusal of an override (a value of the wrong type for a typed key)."""
    if "Error executing job" in r.err:  # the command ran and failed: not an override error
        return False
    return (
        r.rc == 1
        and any(
            s in r.err
            for s in (
                f"full_key: {key}",
                f"override {key}",
                f"'{key}'",
                "Error merging override",
                "Could not override",
            )  # fmt: skip
        )
        and key.split(".")[-1] in r.err
    )


def config_case(ctx: Ctx, command: str, overrides: tuple[str, ...], expect: str, key: str
                ) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    folder = ctx.dir / "in"
    folder.mkdir()
    shutil.copy2(a.good, folder / "good.mp4")
    if command == "extract":
        out = ctx.dir / "shards"
        cmd = [*EXTRACT, f"input={folder}", f"out={out}", *overrides]
    elif command == "predict":
        out = ctx.dir / "pred"
        ckpt = [] if "method=season" in overrides else [f"ckpt={a.ckpt_a}"]
        cmd = [*PREDICT, *ckpt, f"input={folder}", f"out={out}", *overrides]
    elif command == "train":
        out = ctx.dir / "run"
        cmd = [*TRAIN, *a.lib_train_args(out), "trainer.max_epochs=1", *overrides]
    else:
        out = ctx.dir / "onnx"
        cmd = [*EXPORT, f"ckpt={a.ckpt_a}", f"out={out}", *overrides]
    r = ck.add(run(cmd, timeout=TIMEOUT))
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    ck.no_raw_control(r)
    names = [key, key.split(".")[-1]]
    wrote = _written(command, out)
    if r.rc == 2:
        ck.one_error(r, names, command)
        ck.ok(not wrote, f"refused only after writing {wrote}")
        if r.seconds > SLOW:
            ck.fail(f"refused after {r.seconds:.0f} s (after long work?)")
    elif _hydra_refused(r, key):
        ck.note("refused by Hydra before the command ran (exit 1, names the key)")
    elif expect == PERFILE and r.rc == 1 and r.failed_lines():
        ck.note(f"each file failed on its own: {r.failed_lines()[0][:120]}")
    elif expect in (EITHER, PERFILE) and r.rc == 0:
        ck.ok(bool(wrote), "accepted, but wrote no output")
        ck.note(f"accepted; the run completed in {r.seconds:.0f} s")
    elif r.rc == 0:
        ck.fail(f"accepted {' '.join(overrides)}: exit 0 after {r.seconds:.0f} s"
                + (f", wrote {wrote}" if wrote else ""))  # fmt: skip
    else:
        ck.fail(f"exit {r.rc} (documented 2 naming {key}): {_said(r, key)[:240]}")
    return verdict(ck, r)


def _written(command: str, out) -> str:
    if command == "extract":
        n = len(shard_features(out))
        return f"{n} shards" if n else ""
    if command == "predict":
        n = len(records(out))
        return f"{n} records" if n else ""
    if command == "train":
        ck = list((out / "checkpoints").glob("*.ckpt")) if (out / "checkpoints").is_dir() else []
        return f"{len(ck)} checkpoints" if ck else ""
    found = list(out.glob("*.onnx")) if out.is_dir() else []
    return f"{len(found)} ONNX files" if found else ""


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []
    for command, table in (("extract", EXTRACT_CASES), ("predict", PREDICT_CASES),
                           ("train", TRAIN_CASES), ("export_onnx", EXPORT_CASES)):  # fmt: skip
        for entry in table:
            overrides, expect = entry[0], entry[1]
            overrides = (overrides,) if isinstance(overrides, str) else overrides
            key = entry[2] if len(entry) > 2 else overrides[-1].split("=", 1)[0]
            name = f"{command}_{'_'.join(overrides)}"
            name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name.replace("=", "-"))
            fn = partial(config_case, command=command, overrides=overrides, expect=expect,
                         key=key)  # fmt: skip
            out.append(Case("configs", name, lambda ctx, fn=fn: fn(ctx), cost=6))
    return out
