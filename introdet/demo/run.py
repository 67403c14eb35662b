"""The whole pipeline on a generated library, one normal introdet command after another.

``python -m introdet.demo.run [out=demo] [size=full|ci] [seed=0] [epochs=N] [encoder=tiny]
[encoder_args={pretrained:FILE}]`` prints each command before running it, so the output
doubles as the tutorial.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
import time
from pathlib import Path

from omegaconf import DictConfig

from introdet.cli import command

RANDOM_NOTE = (
    "NOTE: the demo's features come from a tiny open_clip model with RANDOM weights "
    "(encoder=tiny): they show that the pipeline works, not how well real CLIP features "
    "find real intros. Run `python -m introdet.demo.run encoder=vit_b32 "
    "encoder_args={pretrained:/path/to/open_clip_pytorch_model.bin}` for real CLIP."
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


def _quoted(value: object) -> str:
    """A value for Hydra's override grammar: as it is when plain, else quoted (paths may hold
    any character)."""
    text = str(value)
    if re.fullmatch(r"[A-Za-z0-9_./-]+", text):
        return text
    # Hydra reads a backslash literally unless a quote (or the closing quote) follows it
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, text)
    return "'" + text.replace("'", "\\'") + "'"


def encoder_overrides(cfg: DictConfig) -> list[str]:
    """``encoder=NAME`` and one ``encoder.KEY=VALUE`` per entry of ``encoder_args``."""
    args = cfg.encoder_args or {}
    values = {k: _quoted(v) if isinstance(v, str) else v for k, v in args.items()}
    return [f"encoder={cfg.encoder}", *(f"encoder.{k}={v}" for k, v in values.items())]


def _predict_all(py: str, out: Path, lib: Path, shards: Path, steps: list) -> dict[str, Path]:
    test = [f"shards={shards}", f"only={lib / 'test_labels.json'}"]  # the test episodes
    preds = {}
    for name, extra in (
        ("single", [f"ckpt={out}/runs/demo/checkpoints/last.ckpt", *test]),
        # the season model hears each whole season (no labels read); evaluate scores the test
        # episodes only
        ("season", [f"ckpt={out}/runs/demo_season/checkpoints/last.ckpt", f"shards={shards}"]),
        # coarse to fine: keyframes first, exact 1 fps only around the intro found
        (
            "single_coarse",
            [f"ckpt={out}/runs/demo/checkpoints/last.ckpt", "coarse.enabled=true", *test],
        ),  # fmt: skip
        ("clip", ["method=clip", *test]),  # the CLIP features that recur: no training
    ):
        preds[name] = out / "predictions" / name
        where = [f"input={lib / 'videos'}", f"out={preds[name]}"]
        cmd = [py, "-m", "introdet.predict", *extra, *where]
        _run([*cmd, "formats=[json,edl,ffmetadata,vtt]"], steps)
    return preds


# epochs of both models when epochs= is not given: the small size is a first run of minutes
QUICK_EPOCHS = {"ci": 4}


def demo(cfg: DictConfig) -> None:
    out, py = Path(cfg.out), sys.executable
    encoder = encoder_overrides(cfg)
    lib, shards = out / "library", out / "shards"
    steps: list[tuple[str, float]] = []
    t0 = time.perf_counter()
    if cfg.encoder == "tiny":
        print(RANDOM_NOTE)

    make = [py, "-m", "introdet.demo.make_library", f"out={lib}", f"size={cfg.size}"]
    _run([*make, f"seed={cfg.seed}"], steps)
    # the main job first: no training, no image features, what recurs across each season
    season_free = out / "predictions" / "season_free"
    where = [f"input={lib / 'videos'}", f"out={season_free}", "formats=[json,edl,ffmetadata,vtt]"]
    _run([py, "-m", "introdet.predict", "method=season", *where], steps)
    # exit code 1 = some file failed; the demo library has none, so any failure is a bug
    _run(
        [py, "-m", "introdet.extract", f"input={lib / 'videos'}", f"out={shards}", *encoder], steps
    )
    labels = [f"labels={lib / 'train_labels.json'}", f"shards={shards}"]
    _run([py, "-m", "introdet.validate", *labels], steps, check=False)  # reports fixed slips
    epochs = cfg.epochs if cfg.epochs is not None else QUICK_EPOCHS.get(cfg.size)
    more = [f"trainer.max_epochs={epochs}"] if epochs else []
    for exp in ("demo", "demo_season"):
        run_dir = f"hydra.run.dir={out}/runs/{exp}"
        train = [py, "-m", "introdet.train", f"experiment={exp}", f"paths.data_dir={out}"]
        _run([*train, run_dir, *more], steps)
    preds = _predict_all(py, out, lib, shards, steps) | {"season_free": season_free}
    columns = ",".join(f"{k}:{_quoted(v)}" for k, v in preds.items())
    _run(
        [
            py,
            "-m",
            "introdet.evaluate",
            f"predictions={{{columns}}}",
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
    if cfg.encoder == "tiny":
        print(RANDOM_NOTE)


@command("demo")
def main(cfg: DictConfig) -> None:
    demo(cfg)


if __name__ == "__main__":
    main()
