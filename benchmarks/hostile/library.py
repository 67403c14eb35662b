"""Kind 8, library scans (issue #27, items 1, 13, 14): ``predict`` on a library of three shows
made from the demo episodes (Matroska, WebM, MP4; season mode unless a case names the model)
whose output folder is the library itself or lies inside it, with ``chapters=apply``; linked,
looping and unreadable season folders; byte-identical copies, hard links and links of one
episode in its season.

Handled means: the source videos keep their bytes (SHA-256) and no video is added beside them,
run after run (three runs): no episode is found under out/, the episodes' ids and keys stay the
same, and a copy with chapters is written wherever it is not the video itself; a linked season
folder is followed and its episodes predicted once, a link loop ends, an unreadable folder is
named in a ``FAILED`` line (exit 1) while the others are predicted; copies of one episode never
make the whole episode an intro (no intro longer than half the file) and are named in a warning.
Every written segment lies inside [0, duration] and is non-empty (item 18).
"""

from __future__ import annotations

import os
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import Check, Verdict, verdict
from benchmarks.hostile.round3 import (
    ALL,
    NOCAPS_PREFIX,
    SHOWS,
    VIDEO,
    check_writers,
    csv_table,
    failed_naming,
    keys_of,
    names_folder,
    need_permissions,
    nocaps,
    place,
    predict,
    rw_tree,
    sane,
    says,
    tree_hashes,
    unchanged,
    under,
)

CHAPTER_SUFFIXES = (".mkv", ".webm", ".mp4")  # the containers apply_chapters writes


# --- item 1: out= the library, or inside it, run after run ---------------------------------


def in_place(ctx: Ctx, inp: str, out: str, chapters: bool = True, runs: int = 3,
             out_link: bool = False, ckpt: bool = False) -> Verdict:  # fmt: skip
    """``input=L/<inp> out=L/<out>`` (``out_link``: out= a link to ``L/<out>`` made beside
    the library) ``runs`` times."""
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    placed = place(a, lib, SHOWS)
    given_in = f"{lib}/{inp}" if inp else f"{lib}/"
    out_dir = Path(os.path.normpath(lib / out)) if out else lib
    given_out = f"{lib}/{out}" if out else str(lib)
    if out_link:
        out_dir.mkdir(parents=True, exist_ok=True)
        link = ctx.dir / "out_link"
        link.symlink_to(out_dir)
        given_out = str(link)
    in_path = Path(os.path.normpath(lib / inp)) if inp else lib
    videos = {rel: p for rel, p in placed.items() if under(p, in_path) or p == in_path}
    base = in_path if in_path.is_dir() else in_path.parent
    want = {(Path(rel).stem, Path(os.path.relpath(p, base)).with_suffix("").as_posix())
            for rel, p in videos.items()}  # fmt: skip
    if len(want) == 1:  # one video: its id is its stem, its key too
        want = {(s, s) for s, _ in want}
    sources_in_out = any(under(p, out_dir) for p in placed.values())
    before = tree_hashes(lib, VIDEO)
    args = [f"input={given_in}", f"out={given_out}", ALL, *(["chapters=apply"] if chapters else [])]
    names_after: list[set[str]] = []
    for i in range(1, runs + 1):
        r = predict(ck, *args, ckpt=a.ckpt_a if ckpt else None)
        if not sane(ck, r, (0,), f"run {i}"):
            return verdict(ck, r)
        after = tree_hashes(lib, VIDEO)
        if not sources_in_out:  # the copies with chapters are videos too, in out/
            after = {k: v for k, v in after.items() if not under(lib / k, out_dir)}
        unchanged(ck, before, after, f"run {i}")
        recs = check_writers(ck, out_dir, what=f"run {i}")
        grown = [r_["source"] for r_ in recs.values()
                 if not sources_in_out and under(r_.get("source", ""), out_dir)]  # fmt: skip
        ck.ok(not grown, f"run {i}: episodes found under out/: {grown[:2]}")
        keys = keys_of(recs)
        # the same ids and keys every run (those of the library's videos, none added)
        ck.ok(keys == want, f"run {i}: ids/keys {sorted(keys)[:4]}, want {sorted(want)[:4]}")
        rows = csv_table(out_dir)
        ck.ok(rows is not None and len(rows) == len(want),
              f"run {i}: intros.csv has {None if rows is None else len(rows)} rows for "
              f"{len(want)} videos")  # fmt: skip
        if chapters:
            for rel, p in videos.items():
                if p.suffix not in CHAPTER_SUFFIXES:
                    continue
                key = dict(want).get(p.stem, p.stem)
                copy = out_dir / f"{key}{p.suffix}"
                if copy.resolve() != p.resolve():
                    ck.ok(copy.is_file(), f"run {i}: no copy with chapters of {rel} ({copy.name})")
        names_after.append(
            {
                str(p.relative_to(lib))
                for p in lib.rglob("*")
                if not any(s.startswith(".") for s in p.relative_to(lib).parts)
            }
        )
    if len(names_after) >= 3:
        grew = sorted(names_after[2] - names_after[1])
        ck.ok(not grew, f"files added by run 3 over run 2: {grew[:3]}")
    return verdict(ck, ck.runs[-1])


# --- item 13: linked, looping and unreadable folders ---------------------------------------


def linked(ctx: Ctx, how: str) -> Verdict:
    """A season or show folder reached through a link (followed, each folder once), or a
    link loop (the scan ends, each video once)."""
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    placed = place(a, lib, {k: v for k, v in SHOWS.items() if not k.startswith("Northwind")})
    elsewhere = ctx.dir / "elsewhere"
    extra = place(a, elsewhere, {"S2/Vandal - S02E01.mkv": "v1", "S2/Vandal - S02E02.mkv": "v2",
                                 "Northwind/Season 1/Northwind - S01E01.webm": "n1",
                                 "Northwind/Season 1/Northwind - S01E02.webm": "n2"})  # fmt: skip
    want = set(placed.values())
    if how == "season_abs":
        (lib / "Vandal" / "Season 2").symlink_to(elsewhere / "S2")
        want |= {p for r, p in extra.items() if r.startswith("S2")}
    elif how == "season_rel":
        (lib / "Vandal" / "Season 2").symlink_to("../../elsewhere/S2")
        want |= {p for r, p in extra.items() if r.startswith("S2")}
    elif how == "show_rel":
        (lib / "Northwind").symlink_to("../elsewhere/Northwind")
        want |= {p for r, p in extra.items() if r.startswith("Northwind")}
    elif how == "second_path_inside":
        (lib / "Again").symlink_to("Vandal")
        (lib / "Harbor" / "Season 1" / "Same").symlink_to(lib / "Harbor" / "Season 1")
    elif how == "loop_parent":
        (lib / "Vandal" / "Season 1" / "up").symlink_to("..")
    elif how == "loop_root":
        (lib / "Harbor" / "Season 1" / "top").symlink_to("../..")
    elif how == "loop_self":
        (lib / "self").symlink_to(".")
    elif how == "loop_pair":
        (lib / "a").mkdir()
        (lib / "c").mkdir()
        (lib / "a" / "to_c").symlink_to("../c")
        (lib / "c" / "to_a").symlink_to("../a")
        (lib / "c" / "loop_back").symlink_to(lib)
    elif how == "loop_deep_abs":
        deep = lib / "x" / "y" / "z"
        deep.mkdir(parents=True)
        (deep / "back").symlink_to(lib / "x")
    r = predict(ck, f"input={lib}", f"out={ctx.dir / 'out'}", ALL, timeout=120)
    if not sane(ck, r, (0,)):
        return verdict(ck, r)
    recs = check_writers(ck, ctx.dir / "out")
    real = [os.path.realpath(rec.get("source", "")) for rec in recs.values()]
    dup = sorted({p for p in real if real.count(p) > 1})
    ck.ok(not dup, f"videos predicted more than once (through links): {dup[:2]}")
    missing = sorted(str(p.relative_to(ctx.dir)) for p in want if os.path.realpath(p) not in real)
    ck.ok(not missing, f"{len(missing)} videos without a record: {missing[:3]}")
    return verdict(ck, r)


def unreadable(ctx: Ctx, where: str, mode: int, ckpt: bool = False) -> Verdict:
    """A folder of the library the command cannot list or enter (root without the capability
    that passes over permission bits): named, the others predicted, exit 1."""
    a = ctx.assets
    ck = Check()
    need_permissions(ctx.dir)
    lib = ctx.dir / "L"
    layout = dict(SHOWS)
    layout["Harbor/Season 1/Extras/deeper/Harbor - Extra.mp4"] = "h1"
    placed = place(a, lib, layout)
    locked = lib / where
    hidden = {p for p in placed.values() if under(p, locked)}
    locked.chmod(mode)
    out = ctx.dir / "out"
    try:
        r = predict(ck, f"input={lib}", f"out={out}", ALL, preexec=nocaps, prefix=NOCAPS_PREFIX,
                    ckpt=a.ckpt_a if ckpt else None)  # fmt: skip
    finally:
        rw_tree(ctx.dir)
    if not sane(ck, r, (1,)):
        return verdict(ck, r)
    folder_named = any(names_folder(ln, locked) for ln in r.failed_lines())
    # a video counts as named by its own line or by one naming a folder it lies in, below
    # the locked one (a folder that can be listed but not entered: each entry is named)
    unnamed = [p.name for p in hidden if not failed_naming(r, str(p)) and not any(
        names_folder(ln, up) for ln in r.failed_lines()
        for up in p.parents if under(up, locked))]  # fmt: skip
    ck.ok(folder_named or not unnamed, f"no FAILED line names {where} itself, nor "
          f"{unnamed[:2]} in it: {r.failed_lines()[:2]}")  # fmt: skip
    recs = check_writers(ck, out)
    got = {os.path.realpath(rec.get("source", "")) for rec in recs.values()}
    missing = sorted(p.name for p in set(placed.values()) - hidden if str(p) not in got)
    ck.ok(not missing, f"readable videos without a record: {missing[:3]}")
    return verdict(ck, r)


# --- item 14: copies of one episode --------------------------------------------------------


def copies(ctx: Ctx, layout: dict[str, str], how: dict[str, str], warn: set[str]) -> Verdict:
    """A season holding copies of one episode (``how``: rel -> copy | hardlink | symlink |
    remux, of the episode at another rel): never the whole episode as intro, each of ``warn``
    named in a warning (or FAILED line)."""
    import subprocess

    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    placed = place(a, lib, layout)
    for rel, spec in how.items():
        kind, of = spec.split(":", 1)
        src, dst = placed[of], lib / rel
        if kind == "copy":
            dst.write_bytes(src.read_bytes())
        elif kind == "hardlink":
            os.link(src, dst)
        elif kind == "symlink":
            dst.symlink_to(src.name)
        else:  # the same packets in another container: other bytes, the same pictures
            subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy",
                            str(dst)], check=True, timeout=60)  # fmt: skip
    r = predict(ck, f"input={lib}", f"out={ctx.dir / 'out'}", ALL)
    if not sane(ck, r, (0, 1)):
        return verdict(ck, r)
    recs = check_writers(ck, ctx.dir / "out")
    whole = [f"{ep} ({rec['intro']['start']}-{rec['intro']['end']} of {rec['duration']} s)"
             for ep, rec in recs.items()
             if rec.get("intro") and rec["intro"]["end"] - rec["intro"]["start"]
             > rec["duration"] / 2]  # fmt: skip
    ck.ok(not whole, f"intros longer than half the episode: {whole[:2]}")
    lines = [ln for ln in r.text.splitlines() if "WARNING" in ln or "warning" in ln
             or ln.strip().startswith("FAILED")]  # fmt: skip
    for rel in warn:
        ck.ok(any(says(ln, Path(rel).name) for ln in lines),
              f"no warning names the copy {rel}")  # fmt: skip
    ck.ok(r.rc == 0 or r.failed_lines(), f"exit {r.rc} without a FAILED line")
    return verdict(ck, r)


S = "Vandal/Season 1/"
E1, E2, E3 = f"{S}Vandal - S01E01.mkv", f"{S}Vandal - S01E02.mkv", f"{S}Vandal - S01E03.mkv"
COPIES = {
    "only_two_byte_copies": ({E1: "v1"}, {f"{S}Vandal - S01E01 (copy).mkv": f"copy:{E1}"},
                             {"Vandal - S01E01 (copy).mkv"}),
    "copy_beside_two": ({E1: "v1", E2: "v2"}, {E3: f"copy:{E1}"}, {"Vandal - S01E03.mkv"}),
    "hard_link_beside_two": ({E1: "v1", E2: "v2"}, {E3: f"hardlink:{E2}"},
                             {"Vandal - S01E03.mkv"}),
    "symlink_in_season": ({E1: "v1"}, {E2: f"symlink:{E1}"}, {"Vandal - S01E02.mkv"}),
    "remux_mkv_to_mp4": ({E1: "v1"}, {f"{S}Vandal - S01E02.mp4": f"remux:{E1}"}, set()),
    "mp4_copies_other_folder_names": (
        {"H/Season 2/H 2x01.mp4": "h1"},
        {"H/Season 2/H 2x02.mp4": "copy:H/Season 2/H 2x01.mp4",
         "H/Season 2/H 2x03.mp4": "hardlink:H/Season 2/H 2x01.mp4"},
        {"H 2x02.mp4", "H 2x03.mp4"}),
}  # fmt: skip


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 14) -> None:
        out.append(Case("library", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    season1 = "Vandal/Season 1"
    for name, kw in {
        "out_is_input_apply": dict(inp="", out=""),
        "out_is_input_dot_slash": dict(inp="./", out="./"),
        "out_is_input_through_link": dict(inp="", out="", out_link=True),
        "out_is_input_model": dict(inp="", out="", ckpt=True),
        "one_mkv_out_is_its_folder": dict(inp=f"{season1}/Vandal - S01E01.mkv", out=season1),
        "one_mp4_out_dotdot": dict(inp="Harbor/Season 1/Harbor - S01E01.mp4",
                                   out="Harbor/Season 1/../Season 1"),
        "out_inside_depth1_apply": dict(inp="", out="intros"),
        "out_inside_depth1_no_chapters": dict(inp="", out="intros", chapters=False),
        "out_inside_depth4_apply": dict(inp="", out="a/b/c/intros"),
        "out_inside_season_apply": dict(inp="", out="Harbor/Season 1/intros"),
        "out_inside_depth3_model": dict(inp="", out="x/y/intros", ckpt=True),
        "out_inside_through_link": dict(inp="", out="deep/intros", out_link=True),
    }.items():  # fmt: skip
        add(name, partial(in_place, **kw), cost=22)
    for how in ("season_abs", "season_rel", "show_rel", "second_path_inside", "loop_root",
                "loop_pair", "loop_deep_abs"):  # fmt: skip
        add(f"link_{how}", partial(linked, how=how), cost=9)
    for name, where, mode in (
        ("unreadable_season_000", "Vandal/Season 1", 0o000),
        ("unreadable_season_no_read_bit", "Northwind/Season 1", 0o311),
        ("unreadable_season_no_exec_bit", "Harbor/Season 1", 0o644),
        ("unreadable_deep_000", "Harbor/Season 1/Extras/deeper", 0o000),
    ):  # fmt: skip
        add(name, partial(unreadable, where=where, mode=mode), cost=9)
    add("unreadable_season_000_model", partial(unreadable, where="Vandal/Season 1", mode=0,
                                               ckpt=True), cost=10)  # fmt: skip
    for name, (layout, how, warn) in COPIES.items():
        add(f"copies_{name}", partial(copies, layout=layout, how=how, warn=warn), cost=7)
    return out
