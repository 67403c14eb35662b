"""The whole pipeline on a generated library, one normal introdet command after another.

``python -m introdet.demo.run [out=demo] [size=full|ci] [encoder=tiny] [extra encoder overrides]``
prints each command before running it, so the output doubles as the tutorial.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
import time
from pathlib import Path

RANDOM_NOTE = (
    "NOTE: the demo's features come from a tiny open_clip model with RANDOM weights "
    "(encoder=tiny): they show that the pipeline works, not how well real CLIP features "
    "find real intros. Run `python -m introdet.demo.run encoder=vit_b32 "
    "encoder.pretrained=/path/to/open_clip_pytorch_model.bin` for real CLIP."
)


def _run(cmd: list[str], log: list[tuple[str, float]], check: bool = True) -> int:
    line = " ".join(shlex.quote(c) for c in cmd)
    print(f"\n$ {line}", flush=True)
    t0 = time.perf_counter()
    code = subprocess.run(cmd).returncode
    log.append((line, time.perf_counter() - t0))
    if check and code != 0:
        raise SystemExit(f"demo step failed (exit {code}): {line}")
    return code


def main(argv: list[str] | None = None) -> None:
    args = dict(a.split("=", 1) for a in (sys.argv[1:] if argv is None else argv) if "=" in a)
    out = Path(args.pop("out", "demo"))
    size = args.pop("size", "full")
    epochs = args.pop("epochs", None)
    encoder = [f"{k}={v}" for k, v in args.items() if k.startswith("encoder")] or ["encoder=tiny"]
    py = sys.executable
    lib, shards = out / "library", out / "shards"
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    if "encoder=tiny" in encoder:
        print(RANDOM_NOTE)

    _run([py, "-m", "introdet.demo.make_library", f"out={lib}", f"size={size}"], steps)
    # exit code 1 = some file failed; the demo library has none, so any failure is a bug
    _run(
        [py, "-m", "introdet.extract", f"input={lib / 'videos'}", f"out={shards}", *encoder], steps
    )
    _run(
        [
            py,
            "-m",
            "introdet.training.annotations",
            "validate",
            str(lib / "train_labels.json"),
            f"shards={shards}",
        ],
        steps,
        check=False,
    )  # reports the one-minute slips it fixes
    more = [f"trainer.max_epochs={epochs}"] if epochs else []
    for exp in ("demo", "demo_season"):
        _run(
            [
                py,
                "train.py",
                f"experiment={exp}",
                f"paths.data_dir={out}",
                f"hydra.run.dir={out}/runs/{exp}",
                *more,
            ],
            steps,
        )
    preds = {}
    for name, extra in (
        ("single", [f"ckpt={out}/runs/demo/checkpoints/last.ckpt"]),
        ("season", [f"ckpt={out}/runs/demo_season/checkpoints/last.ckpt"]),
        # coarse to fine: keyframes first, exact 1 fps only around the intro found
        ("single_coarse", [f"ckpt={out}/runs/demo/checkpoints/last.ckpt", "coarse.enabled=true"]),
        ("recurrence", ["method=recurrence"]),
    ):
        preds[name] = out / "predictions" / name
        _run(
            [
                py,
                "predict.py",
                *extra,
                f"input={lib / 'videos'}",
                f"out={preds[name]}",
                f"shards={shards}",
                f"only={lib / 'test_labels.json'}",
                "formats=[json,edl,ffmetadata,vtt]",
            ],
            steps,
        )
    _run(
        [
            py,
            "-m",
            "introdet.evaluate",
            *[f"predictions.{k}={v}" for k, v in preds.items()],
            f"annotations={lib / 'test_labels.json'}",
            f"train_annotations={lib / 'train_labels.json'}",
            f"truth={lib / 'truth.json'}",  # frame-exact boundaries, not whole-second labels
            f"out={out / 'evaluation'}",
            "plots=true",
        ],
        steps,
    )

    print("\ndemo steps (wall seconds):")
    for line, secs in steps:
        print(f"  {secs:7.1f}  {line[:110]}")
    print(f"  {time.perf_counter() - t0:7.1f}  total")
    ev = out / "evaluation"
    print(f"evaluation: {ev / 'evaluation.json'}; plots: {ev / 'plots'}")
    if "encoder=tiny" in encoder:
        print(RANDOM_NOTE)


if __name__ == "__main__":
    main()
