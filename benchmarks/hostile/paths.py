r"""Kind 11, odd and long paths (issue #27, items 7 and 8): a folder whose name holds what
Hydra's grammar or OmegaConf's interpolation reads (``${x}``, ``${oc.env:HOME}``, ``\${x}``,
``=``, ``,`` in brackets, braces, a quote at the start, ``#``, ``~``, a backslash at the end)
given as ``input=`` or ``out=`` of ``predict`` (and ``input=`` of ``extract``); and an
``out=`` so deep that one episode's files would pass PATH_MAX (4096 bytes) while the input is
shallow, the depth made of long names, many short ones or multibyte ones.

Handled means: the path works as typed (exit 0, the records under exactly that folder, the
sources those videos), or one line says how to quote it (exit 2); never Hydra's grammar error
over several lines, nor a traceback, nor a folder made at an interpolated or expanded path.
Past PATH_MAX: that episode fails alone (a ``FAILED`` line naming it, exit 1), the others get
their records, no temp file is left. Every written segment lies inside [0, duration] and is
non-empty (item 18).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import (
    EXTRACT,
    Check,
    Verdict,
    run,
    shard_features,
    temp_files,
    verdict,
)
from benchmarks.hostile.round3 import (
    ALL,
    HYDRA_NOISE,
    SHOWS,
    check_writers,
    failed_naming,
    place,
    predict,
    sane,
    stderr_lines,
)

NORTHWIND = {k.split("/", 1)[1]: v for k, v in SHOWS.items() if k.startswith("Northwind")}
ODD = {
    "dollar_brace": "lib ${x}",
    "dollar_env": "${oc.env:HOME}",
    "escaped_dollar": "\\${x}",
    "equals": "a=b",
    "brackets_comma": "[a,b]",
    "braces": "{k: v}",
    "single_quote_first": "'x",
    "double_quote_first": '"x y',
    "hash": "#1 take",
    "tilde_first": "~x",
    "backslash_last": "x\\",
}


def _refused_well(ck: Check, r, what: str) -> None:
    """Exit 2 with one line that says how to quote the path, or to give another."""
    lines = stderr_lines(r)
    ck.one_error(r, (), what)
    ck.ok(len(lines) == 1, f"{what}: {len(lines)} lines on stderr for one refusal: "
          f"{[ln[:70] for ln in lines[:3]]}")  # fmt: skip
    said = (r.errors() or [""])[0].lower()
    # a path no quoting can carry (Hydra reads "${" again in its log folder) is told to go
    ck.ok("quot" in said or "escape" in said or "another folder" in said,
          f"{what}: the refusal does not say how to quote the path: {said[:160]!r}")  # fmt: skip


def odd_path(ctx: Ctx, name: str, where: str, command: str = "predict") -> Verdict:
    a = ctx.assets
    ck = Check()
    odd = ctx.dir / "odd" / name
    lib = odd if where == "input" else ctx.dir / "lib"
    out = odd / "out" if where == "out" else ctx.dir / "out"
    placed = place(a, lib, NORTHWIND)
    before = set(os.listdir(ctx.dir))
    if command == "extract":
        out = ctx.dir / "shards"
        r = ck.add(run([*EXTRACT, f"input={lib}", f"out={out}"], timeout=120))
    else:
        r = predict(ck, f"input={lib}", f"out={out}", ALL, timeout=120)
    if not sane(ck, r, (0, 2)):
        return verdict(ck, r)
    noise = HYDRA_NOISE.search(r.err)
    ck.ok(noise is None, f"Hydra's grammar error reached the user: {noise and noise.group()!r}")
    if r.rc == 2:
        _refused_well(ck, r, command)
        return verdict(ck, r)
    new = sorted(set(os.listdir(ctx.dir)) - before - {"odd", "out", "shards"})
    new += sorted(set(os.listdir(ctx.dir / "odd")) - {name.split("/")[0]})
    ck.ok(not new, f"made at another path than the one typed: {new[:3]}")
    if command == "extract":
        found = shard_features(out)
        srcs = {os.path.realpath(m.get("source", "")) for m, _ in found.values()}
    else:
        recs = check_writers(ck, out)
        srcs = {os.path.realpath(rec.get("source", "")) for rec in recs.values()}
        ck.ok((out / "intros.csv").is_file(), "no intros.csv in the out= folder as typed")
    missing = [p.name for p in placed.values() if os.path.realpath(p) not in srcs]
    ck.ok(not missing, f"videos of the folder as typed without output: {missing[:3]}")
    return verdict(ck, r)


# --- item 8: past PATH_MAX under out= -------------------------------------------------------

PATH_MAX = 4096


def _deep(style: str, total: int) -> str:
    """A relative folder path of about ``total`` bytes."""
    if style == "long_names":
        part = "d" * 200
    elif style == "many_short":
        part = "d"
    else:  # two bytes a character
        part = "э" * 100
    size = len(os.fsencode(part)) + 1
    return "/".join([part] * max(1, total // size))


def past_path_max(ctx: Ctx, style: str, extra: tuple[str, ...] = (), ckpt: bool = False
                  ) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    inp = ctx.dir / "in"
    deep_rel = _deep(style, 1200)
    layout = {"Show/Season 1/Show - S01E01.mkv": "v1", "Show/Season 1/Show - S01E02.mkv": "v2",
              f"{deep_rel}/Deep - E3.webm": "n1"}  # fmt: skip
    placed = place(a, inp, layout)
    base = ctx.dir / "o"
    part = "o" * 200 if style != "multibyte" else "ю" * 100
    out = base
    tail = len(os.fsencode(f"/{deep_rel}/Deep - E3.json"))
    while len(os.fsencode(str(out))) + 4 + tail <= PATH_MAX + 100:  # its record: past MAX
        out = out / part
    out = out / "out"
    out.parent.mkdir(parents=True)
    short = len(os.fsencode(f"{out}/.prints/Show/Season 1/.Show - S01E01.chapters.vtt.123.x.tmp"))
    assert short < PATH_MAX - 50, short  # the shallow episodes' files fit, temp names too
    r = predict(ck, f"input={inp}", f"out={out}", ALL, *extra, ckpt=a.ckpt_a if ckpt else None)
    if not sane(ck, r, (1,)):
        return verdict(ck, r)
    said = [ln[-80:] for ln in r.failed_lines()]
    ck.ok(bool(failed_naming(r, "Deep - E3.webm") or failed_naming(r, "Deep - E3")),
          f"no FAILED line names the episode past PATH_MAX: {said}")  # fmt: skip
    ck.ok(len(r.failed_lines()) == 1, f"{len(r.failed_lines())} FAILED lines, want 1")
    for rel in ("Show/Season 1/Show - S01E01", "Show/Season 1/Show - S01E02"):
        ck.ok((out / f"{rel}.json").is_file(), f"no record for {Path(rel).name}")
    check_writers(ck, out, [inp] if "sidecars=true" in extra else [])
    ck.ok(not temp_files(out), "temp files left")
    ck.ok(placed, "")
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 6) -> None:
        out.append(Case("paths", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for key, name in ODD.items():
        add(f"input_{key}", partial(odd_path, name=name, where="input"))
        add(f"out_{key}", partial(odd_path, name=name, where="out"))
    for key in ("dollar_brace", "single_quote_first"):
        add(f"extract_input_{key}", partial(odd_path, name=ODD[key], where="input",
                                            command="extract"), cost=5)  # fmt: skip
    for style in ("long_names", "many_short", "multibyte"):
        add(f"path_max_{style}", partial(past_path_max, style=style), cost=8)
    add("path_max_sidecars", partial(past_path_max, style="long_names",
                                     extra=("sidecars=true",)), cost=8)  # fmt: skip
    add("path_max_model_mode", partial(past_path_max, style="long_names", ckpt=True), cost=9)
    return out
