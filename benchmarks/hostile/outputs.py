"""Kind 10, outputs (issue #27, items 4, 6, 12, 15): episode names that a spreadsheet runs as
formulas (``=``, ``+``, ``-``, ``@``, a tab, their full-width forms) and names or folders
holding line breaks (``\\n``, ``\\r``, ``\\r\\n``, vertical tab, form feed, U+2028, NEL), in
intros.csv read with the csv module; ``out=`` an existing file, a path below a file,
``/dev/null``, a link to a file, a FIFO, a read-only folder (made three ways) or a read-only
mount; one read-only season folder with ``sidecars=true``.

Handled means: no cell of intros.csv starts with a formula character, and it has exactly one row
per episode (its episode cell the record's); out= that cannot be a folder, or cannot be written,
stops the run with one ``error:`` line naming it, exit 2, no traceback, nothing written in the
library; a read-only season folder is named in a ``FAILED`` line (exit 1) while the writable
seasons get their sidecars. Every written segment lies inside [0, duration] and is non-empty
(item 18).
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import AssetError, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import PY, ROOT, Check, Verdict, run, verdict
from benchmarks.hostile.round3 import (
    ALL,
    NOCAPS_PREFIX,
    SHOWS,
    check_writers,
    csv_table,
    need_permissions,
    no_formula,
    nocaps,
    place,
    predict,
    rw_tree,
    sane,
    says,
    tree_hashes,
)

OTHERS = {k: v for k, v in SHOWS.items() if k.startswith("Northwind")}


# --- items 4 and 15: what intros.csv holds ---------------------------------------------------


def csv_case(ctx: Ctx, names: tuple[str, str], folder: str = "Show/Season 1", ckpt: bool = False,
             single: bool = False, relative: bool = False, shard: bool = False
             ) -> Verdict:  # fmt: skip
    """Two episodes named ``names`` (in ``folder``) beside a normal show; intros.csv read with
    the csv module: one row per episode, no formula."""
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    layout: dict[str, str] = {f"{folder}/{names[0]}": "v1", f"{folder}/{names[1]}": "v2"}
    if not single:
        layout |= OTHERS
    placed = place(a, lib, layout)
    inp = placed[f"{folder}/{names[0]}"] if single else lib
    out = ctx.dir / "out"
    args = [f"input={inp}", f"out={out}", ALL, *(["shard=0/1"] if shard else [])]
    if relative:  # input= as typed in the library's parent: the source cells are relative
        first = folder.split("/")[0]
        lib2 = ctx.dir / "rel"
        lib2.mkdir()
        (lib / first).rename(lib2 / first)
        for k in list(placed):
            if k.startswith(first):
                placed[k] = lib2 / k
        args = [f"input={first}", "out=../out", ALL]
        cmd = [PY, str(ROOT / "predict.py"), "progress=false", *args]
        r = ck.add(run(cmd, timeout=150, cwd=lib2))
        layout = {k: v for k, v in layout.items() if k.startswith(first)}
    else:
        r = predict(ck, *args, ckpt=a.ckpt_a if ckpt else None)
    if not sane(ck, r, (0,)):
        return verdict(ck, r)
    recs = check_writers(ck, out)
    rows = csv_table(out, "intros-0-of-1.csv" if shard else "intros.csv")
    n = 1 if single else len(layout)
    if rows is None:
        ck.fail("no intros.csv")
        return verdict(ck, r)
    ck.ok(len(rows) == n, f"intros.csv: {len(rows)} rows (csv module) for {n} episodes")
    no_formula(ck, rows)
    got = [r_.get("episode", "") for r_ in rows]
    forms = {f for rec in recs.values() for f in _forms(rec["episode"])}
    odd = [g for g in got if g not in forms]
    ck.ok(not odd, f"intros.csv episode cells that are no record's episode: {odd[:3]}")
    ck.ok(len(recs) == n, f"{len(recs)} records for {n} episodes")
    return verdict(ck, r)


def _forms(episode: str) -> set[str]:
    """The ways a CSV cell may hold an episode id: as is, escaped, with a formula's quote."""
    from introdet.errors import printable

    esc = episode.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    plain = {episode, printable(episode), esc, ascii(episode)[1:-1]}
    return plain | {"'" + f for f in plain}


FORMULAS = {
    "at_sum": ("@SUM(1).mkv", "@SUM(1+1)*cmd.mkv"),
    "equals": ("=1+2.mkv", '=HYPERLINK("http---x","y").mkv'),
    "minus": ("-2.mkv", "-1+1.mkv"),
    "tab_first": ("\t=1+2.mkv", "\t@x.mkv"),
    "fullwidth": ("\uff1d1+2.mkv", "\uff20SUM(1).mkv"),
    "dde_payload": ("=cmd|' -C calc'!A0.mkv", "@cmd.mkv"),
}
BREAKS = {
    "newline_middle": ("E1\nrow.mkv", "E2\nrow.mkv"),
    "cr_middle": ("E1\rrow.mkv", "E2\rrow.mkv"),
    "crlf_before_suffix": ("E1\r\n.mkv", "E2\r\n.mkv"),
    "vtab_formfeed": ("E1\x0brow.mkv", "E2\x0crow.mkv"),
    "unicode_separators": ("E1\u2028row.mkv", "E2\u2029row\x85.mkv"),
    "quotes_comma_newline": ('E1 "a,b"\nc.mkv', 'E2,"\n".mkv'),
}


# --- item 6: out= that cannot be a folder or cannot be written -------------------------------


@contextlib.contextmanager
def ro_mount(folder: Path):
    folder.mkdir(parents=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=1m", "tmpfs", str(folder)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        raise AssetError(f"cannot mount a read-only tmpfs: {r.stderr.strip()}")
    try:
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def bad_out(ctx: Ctx, how: str, sidecars: bool = False) -> Verdict:
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    place(a, lib, OTHERS)
    before = tree_hashes(lib)
    f = ctx.dir / "notes.txt"
    f.write_text("a file, not a folder\n")
    names: list[str] = []
    preexec, prefix, mount = None, "", None
    if how == "file":
        out = f
    elif how == "below_file":
        out, names = f / "sub" / "out", [str(f)]
    elif how == "dev_null":
        out = Path("/dev/null")
    elif how == "link_to_file":
        out = ctx.dir / "out_link"
        out.symlink_to(f)
    elif how == "fifo":
        out = ctx.dir / "pipe"
        os.mkfifo(out)
    else:  # read-only: by permission bits (for a root without its capabilities) or a mount
        if how.startswith("ro_mount"):
            mount = ctx.dir / "ro"
            out = mount / "out"
        else:
            need_permissions(ctx.dir)
            preexec, prefix = nocaps, NOCAPS_PREFIX
            ro = ctx.dir / "ro"
            ro.mkdir()
            out = {"ro_parent": ro / "out", "ro_itself": ro, "ro_nested": ro / "a" / "b"}[how]
            names = [str(ro)]
    kept = f.read_bytes()
    args = [f"input={lib}", f"out={out}", ALL, *(["sidecars=true"] if sidecars else [])]
    try:
        if mount is not None:
            with ro_mount(mount):
                r = predict(ck, *args)
        else:
            if prefix:
                (ctx.dir / "ro").chmod(0o555)
            r = predict(ck, *args, preexec=preexec, prefix=prefix)
    finally:
        rw_tree(ctx.dir)
    if not sane(ck, r, (2,)):
        return verdict(ck, r)
    ck.one_error(r, [str(out), *names], "predict")
    lines = [ln for ln in r.err.splitlines() if ln.strip() and not ln.startswith("warning:")]
    ck.ok(len(lines) == 1, f"{len(lines)} lines on stderr, want the one error line: "
          f"{[ln[:80] for ln in lines[:3]]}")  # fmt: skip
    ck.ok(f.read_bytes() == kept, "the file named by out= changed")
    after = tree_hashes(lib)
    if after != before:
        ck.unsafe.append(f"the library changed: {sorted(set(after) ^ set(before))[:3]}")
    return verdict(ck, r)


# --- item 12: one read-only season folder beside sidecars=true ------------------------------


def ro_season(ctx: Ctx, locked: tuple[str, ...], formats: str = ALL, expect: int = 1,
              ckpt: bool = False, again: bool = False) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    need_permissions(ctx.dir)
    lib = ctx.dir / "L"
    layout = dict(SHOWS)
    layout["Harbor/Season 1/Disc 2/Harbor - S01E03.mp4"] = "h1"
    placed = place(a, lib, layout)
    folders = [lib / f for f in locked]
    out = ctx.dir / "out"
    args = [f"input={lib}", f"out={out}", formats, "sidecars=true"]
    for d in folders:
        d.chmod(0o555)
    try:
        r = predict(ck, *args, preexec=nocaps, prefix=NOCAPS_PREFIX,
                    ckpt=a.ckpt_a if ckpt else None)  # fmt: skip
    finally:
        rw_tree(ctx.dir)
    if not sane(ck, r, (expect,)):
        return verdict(ck, r)
    ro_videos = {p for p in placed.values() if p.parent in folders}
    if expect == 1:
        for d in folders:
            ck.ok(any(says(ln, str(d)) for ln in r.failed_lines()),
                  f"no FAILED line names the read-only {d.relative_to(lib)}: "
                  f"{r.failed_lines()[:2]}")  # fmt: skip
    fmts = formats.split("=", 1)[1].strip("[]").split(",")
    suffix = {"edl": ".edl", "ffmetadata": ".ffmetadata", "vtt": ".chapters.vtt"}
    missing = [
        f"{v.stem}{suffix[f]}"
        for v in placed.values()
        if v not in ro_videos
        for f in fmts
        if f in suffix and not (v.parent / f"{v.stem}{suffix[f]}").is_file()
    ]
    ck.ok(not missing, f"writable seasons without their sidecars: {missing[:3]}")
    check_writers(ck, out, [lib])
    if again:  # writable again: the same command completes
        r2 = predict(ck, *args, ckpt=a.ckpt_a if ckpt else None)
        if sane(ck, r2, (0,), "writable again"):
            left = [v.name for v in ro_videos for f in fmts if f in suffix
                    and not (v.parent / f"{v.stem}{suffix[f]}").is_file()]  # fmt: skip
            ck.ok(not left, f"writable again: still without sidecars: {left[:3]}")
            check_writers(ck, out, [lib], what="writable again")
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 8) -> None:
        out.append(Case("outputs", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for name, names in FORMULAS.items():
        add(f"formula_{name}", partial(csv_case, names=names))
    add("formula_model_mode", partial(csv_case, names=FORMULAS["at_sum"], ckpt=True))
    add("formula_one_file_input", partial(csv_case, names=FORMULAS["equals"], single=True))
    add(
        "formula_folders_relative_input",
        partial(csv_case, names=("@E1.mkv", "E2.mkv"), folder="=Show/-Season 1", relative=True),
    )
    add("formula_shard_csv", partial(csv_case, names=FORMULAS["minus"], shard=True))
    for name, names in BREAKS.items():
        add(f"linebreak_{name}", partial(csv_case, names=names))
    add("linebreak_in_folder", partial(csv_case, names=("E1.mkv", "E2.mkv"),
                                       folder="Show\nX/Season\r1"))  # fmt: skip
    for how in ("file", "below_file", "dev_null", "fifo", "ro_parent", "ro_itself", "ro_mount"):
        add(f"out_{how}", partial(bad_out, how=how), cost=5)
    nw = ("Northwind/Season 1",)
    add("ro_season_sidecars_all_formats", partial(ro_season, locked=nw), cost=9)
    add("ro_season_sidecars_edl", partial(ro_season, locked=("Vandal/Season 1",),
                                          formats="formats=[json,edl]"), cost=9)  # fmt: skip
    add("ro_show_folder_season_writable", partial(ro_season, locked=("Northwind",), expect=0))
    add("ro_nested_disc_folder", partial(ro_season, locked=("Harbor/Season 1/Disc 2",)), cost=9)
    add("ro_season_model_mode", partial(ro_season, locked=nw, ckpt=True), cost=10)
    add("ro_season_then_writable", partial(ro_season, locked=nw, again=True), cost=16)
    return out
