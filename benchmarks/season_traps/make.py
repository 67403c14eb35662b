"""Make the trap library:
``python -m benchmarks.season_traps.make out=DIR [seed=0] [size=small|full]
[only=Show,Show]``.

Writes ``DIR/library/<Show>/Season 1/<Show> S01E0k.<ext>`` (and ``<Show>/Specials/``) and
``DIR/truth.json``: per episode id (the file stem) the series, the intro and credits spans in
seconds on the file's timeline (what the generator placed, on frame boundaries), the trap
styles and the path relative to ``DIR/library``. Runs in one process (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

from benchmarks.season_traps import series as ser
from benchmarks.season_traps.encode import write
from benchmarks.season_traps.pictures import Canvas


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "args", nargs="*", help="key=value: out=DIR seed=0 size=small|full only=Show,Show"
    )
    kv = dict(a.split("=", 1) for a in p.parse_args(argv).args if "=" in a)
    bad = set(kv) - {"out", "seed", "size", "only"}
    if bad or "out" not in kv or kv.get("size", "small") not in ser.SIZES:
        p.error(f"need out=DIR; known keys out, seed, size (small|full), only; got {sorted(kv)}")
    return argparse.Namespace(
        out=Path(kv["out"]),
        seed=int(kv.get("seed", 0)),
        size=kv.get("size", "small"),
        only=[x for x in kv.get("only", "").split(",") if x],
    )


def plans(size: ser.Size, cv: Canvas, seed: int, only: list[str]):
    for s in ser.SERIES:
        if only and s.name not in only:
            continue
        for k in range(size.episodes):
            yield s, ser.build(s, k, size, cv, seed)
        if "special" in s.extras:
            yield s, ser.build_special(s, size, cv, seed)


def copies(s: ser.Series, lib: Path, truth: dict, size: ser.Size) -> None:
    """The identical-files trap: a byte copy and a hard link of episode 2 under new names."""
    src_id = ser.episode_id(s, 1)
    src = lib / truth[src_id]["path"]
    for k, how in ((size.episodes, "byte_copy"), (size.episodes + 1, "hard_link")):
        eid = ser.episode_id(s, k)
        dst = src.with_name(f"{eid}{src.suffix}")
        dst.unlink(missing_ok=True)
        if how == "hard_link":
            try:
                os.link(src, dst)
            except OSError:
                shutil.copyfile(src, dst)
                how = "byte_copy"
        else:
            shutil.copyfile(src, dst)
        truth[eid] = dict(
            truth[src_id],
            path=str(dst.relative_to(lib)),
            style=truth[src_id]["style"] + [how],
            copy_of=src_id,
        )


def main(argv: list[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    size = ser.SIZES[args.size]
    cv = Canvas(size.width, size.height)
    lib = args.out / "library"
    lib.mkdir(parents=True, exist_ok=True)
    truth: dict = {}
    t_start = time.time()
    for _, plan in plans(size, cv, args.seed, args.only):
        t = time.time()
        write(plan, lib / plan.path, size.width, size.height)
        truth[plan.episode] = plan.truth()
        print(
            f"{plan.path}  {plan.seconds(plan.frames):6.1f} s  {time.time() - t:5.1f} s wall",
            flush=True,
        )
    for s in ser.SERIES:
        if "copy" in s.extras and ser.episode_id(s, 1) in truth:
            copies(s, lib, truth, size)
    doc = {
        "generator": "benchmarks.season_traps",
        "seed": args.seed,
        "size": args.size,
        "library": "library",
        "episodes": dict(sorted(truth.items())),
    }
    (args.out / "truth.json").write_text(json.dumps(doc, indent=1))
    print(f"{len(truth)} episodes in {time.time() - t_start:.0f} s -> {args.out}")


if __name__ == "__main__":
    main()
