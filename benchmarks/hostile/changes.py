"""Kind 9, a library that changes (issue #27, items 11 and 16): ``predict`` on a library of
three shows, then a video deleted, renamed, moved or given another suffix, a season folder
renamed, a show removed, or a format dropped from ``formats=``, and ``predict`` again; and
files of the user's own (a comskip ``.edl``, an ``E1.json`` of notes, subtitles, a poster)
beside the videos, in the output folder, or where introdet would write its own.

Handled means: after the second run no file introdet wrote for a video that is gone, or in a
format no longer asked for, is left (the JSON record and its ``.edl`` / ``.ffmetadata`` /
``.chapters.vtt`` in out/, and with ``sidecars=true`` beside the library), every video there is
has its record and one row in intros.csv; a file introdet did not write is never removed nor
changed (unsafe otherwise), also when ``out=`` is the library and a user's file has the name
introdet's would have (then the run says so: a warning or a ``FAILED`` line naming it). Every
written segment lies inside [0, duration] and is non-empty (item 18).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import Check, Verdict, verdict
from benchmarks.hostile.round3 import (
    ALL,
    SHOWS,
    check_writers,
    csv_table,
    place,
    predict,
    sane,
    says,
    sha,
)

SUFFIX = {"json": ".json", "edl": ".edl", "ffmetadata": ".ffmetadata", "vtt": ".chapters.vtt"}
JSON_ONLY = "formats=[json]"
V2 = "Vandal/Season 1/Vandal - S01E02.mkv"
N2 = "Northwind/Season 1/Northwind - S01E02.webm"


def _formats(arg: str) -> list[str]:
    return arg.split("=", 1)[1].strip("[]").split(",")


def _visible_files(root: Path, skip: Path | None = None) -> set[Path]:
    found = set()
    for dp, dns, fns in os.walk(root):
        dns[:] = [d for d in dns if not d.startswith(".")]
        for n in fns:
            p = Path(dp) / n
            if not n.startswith(".") and (skip is None or p != skip):
                found.add(p)
    return found


def _videos(lib: Path) -> list[Path]:
    return sorted(p for p in _visible_files(lib) if p.suffix in (".mkv", ".webm", ".mp4"))


def _expected(lib: Path, out: Path, formats: list[str], sidecars: bool) -> set[Path]:
    """The files the second run must leave for the videos there are now."""
    want = set()
    for v in _videos(lib):
        key = v.relative_to(lib).with_suffix("")
        for f in formats:
            if sidecars and f != "json":
                want.add(v.parent / f"{v.stem}{SUFFIX[f]}")
            else:
                want.add(out / f"{key}{SUFFIX[f]}")
    return want


def change(lib: Path, what: str) -> None:
    if what == "delete":
        (lib / V2).unlink()
    elif what == "rename":
        (lib / N2).rename((lib / N2).with_name("Northwind - S01E02 (Director's Cut).webm"))
    elif what == "rename_season":
        (lib / "Harbor" / "Season 1").rename(lib / "Harbor" / "Season 01")
    elif what == "move":
        (lib / "Vandal" / "Season 2").mkdir()
        (lib / V2).rename(lib / "Vandal" / "Season 2" / "Vandal - S02E01.mkv")
    elif what == "delete_show":
        shutil.rmtree(lib / "Northwind")
    elif what == "delete_and_rename":
        change(lib, "delete")
        change(lib, "rename")
    elif what == "new_suffix":  # the same stem, another container: the same key
        src = lib / V2
        subprocess.run(["ffmpeg", "-v", "error", "-i", str(src), "-map", "0", "-c", "copy",
                        str(src.with_suffix(".mp4"))], check=True, timeout=60)  # fmt: skip
        src.unlink()


def _plant(files: dict[Path, bytes]) -> dict[Path, str]:
    for p, data in files.items():
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(data)
    return {p: sha(p) for p in files}


def _kept(ck: Check, user: dict[Path, str], what: str) -> None:
    gone = [p.name for p in user if not p.is_file()]
    changed = [p.name for p in user if p.is_file() and sha(p) != user[p]]
    if gone or changed:
        ck.unsafe.append(f"{what}: the user's files removed {gone[:3]} or changed {changed[:3]}")


COMSKIP = b"0.00\t31.50\t0\n612.20\t640.00\t0\n"


def later(ctx: Ctx, what: str, first: str = ALL, second: str = ALL, sidecars: bool = False,
          out_at: str = "apart", ckpt: bool = False, user_before: str = "", user_after: bool = False
          ) -> Verdict:  # fmt: skip
    """Run 1, ``change(what)``, run 2; judge what run 2 left of run 1's files."""
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    place(a, lib, SHOWS)
    out = {"apart": ctx.dir / "out", "lib": lib, "inside": lib / "intros"}[out_at]
    side = ["sidecars=true"] if sidecars else []
    user: dict[Path, str] = {}
    v2 = lib / V2
    if user_before == "comskip_beside":  # introdet writes no .edl: never its file
        user |= _plant({v2.with_suffix(".edl"): COMSKIP})
    elif user_before == "edl_in_out":
        user |= _plant({out / Path(V2).with_suffix(".edl"): COMSKIP})
    before = _visible_files(lib) | _visible_files(out) if out.is_dir() else _visible_files(lib)
    args = [f"input={lib}", f"out={out}", *side]
    ckpt_ = a.ckpt_a if ckpt else None
    r1 = predict(ck, *args, first, ckpt=ckpt_)
    if not sane(ck, r1, (0,), "run 1"):
        return verdict(ck, r1)
    mark = out / ".introdet-outputs"
    wrote = (_visible_files(lib) | _visible_files(out, mark)) - before
    wrote = {p for p in wrote if p.name != "intros.csv" and p.suffix not in (".mkv", ".webm",
                                                                              ".mp4")}  # fmt: skip
    if user_after:
        user |= _plant({
            out / "notes.txt": b"my notes\n", out / "mine.json": b'{"mine": true}\n',
            out / "Vandal" / "poster.jpg": b"\xff\xd8\xff\xe0 not really a jpeg",
            v2.with_suffix(".srt"): b"1\n00:00:01,000 --> 00:00:02,000\nhi\n",
            v2.with_suffix(".nfo"): b"<episodedetails/>\n",
            out / Path(V2).with_suffix(".txt"): b"the user's own note on E02\n",
        })  # fmt: skip
    change(lib, what)
    r2 = predict(ck, *args, second, ckpt=ckpt_)
    if not sane(ck, r2, (0,), "run 2"):
        return verdict(ck, r2)
    recs = check_writers(ck, out, [lib] if sidecars else [], user, "run 2")
    videos = _videos(lib)
    if out_at == "inside":
        videos = [v for v in videos if out not in v.parents]
    srcs = {os.path.realpath(r.get("source", "")) for r in recs.values()}
    missing = [v.name for v in videos if os.path.realpath(v) not in srcs]
    ck.ok(not missing, f"run 2: videos without a record: {missing[:3]}")
    extra = sorted(s for s in srcs if not os.path.exists(s))
    ck.ok(not extra, f"run 2: records of videos that are gone: {[Path(s).name for s in extra][:3]}")
    rows = csv_table(out)
    ck.ok(rows is not None and len(rows) == len(videos),
          f"run 2: intros.csv has {None if rows is None else len(rows)} rows for {len(videos)} "
          "videos")  # fmt: skip
    want = _expected(lib, out, _formats(second), sidecars)
    stale = sorted(str(p.relative_to(ctx.dir)) for p in wrote if p.exists() and p not in want)
    ck.ok(not stale, f"run 2 left {len(stale)} files run 1 wrote for what is gone or no longer "
          f"asked: {stale[:3]}")  # fmt: skip
    lost = sorted(str(p.relative_to(ctx.dir)) for p in want if not p.exists())
    ck.ok(not lost, f"run 2: files missing: {lost[:3]}")
    _kept(ck, user, "run 2")
    return verdict(ck, r2)


# --- item 16: the user's own file where introdet would write ---------------------------------

E1 = "Vandal/Season 1/Vandal - S01E01"


def own_file(ctx: Ctx, files: dict[str, bytes], out_at: str = "lib", formats: str = ALL,
             sidecars: bool = False, how: str = "file", one: bool = False, ckpt: bool = False,
             in_out: bool = False, chapters: bool = False) -> Verdict:  # fmt: skip
    """A user's file named as introdet's would be (``E1.json`` beside ``E1.mkv`` with out= the
    library, ``E1.edl`` with sidecars; ``in_out``: in out=, as ``E1.mkv`` where
    ``chapters=apply`` would put its copy): two runs, its bytes unchanged, a line naming it."""
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    place(a, lib, SHOWS)
    mine = ctx.dir / "mine"
    user: dict[Path, str] = {}
    links = []
    season = lib / "Vandal" / "Season 1"
    inp = season / "Vandal - S01E01.mkv" if one else lib
    out = {"lib": season if one else lib, "apart": ctx.dir / "out"}[out_at]
    for suffix, data in files.items():
        p = (out if in_out else lib) / f"{E1}{suffix}"
        if how == "file":
            user |= _plant({p: data})
        elif how == "readonly":
            user |= _plant({p: data})
            p.chmod(0o444)
        else:  # a link, or a hard link, to the user's file kept elsewhere
            target = mine / f"E1{suffix}"
            user |= _plant({target: data})
            p.parent.mkdir(parents=True, exist_ok=True)
            if how == "symlink":
                p.symlink_to(os.path.relpath(target, p.parent))
                links.append(p)
            else:
                os.link(target, p)
            user[p] = user[target]
    args = [f"input={inp}", f"out={out}", formats, *(["sidecars=true"] if sidecars else []),
            *(["chapters=apply"] if chapters else [])]  # fmt: skip
    for i in (1, 2):
        r = predict(ck, *args, ckpt=a.ckpt_a if ckpt else None)
        if not sane(ck, r, (0, 1), f"run {i}"):
            return verdict(ck, r)
        _kept(ck, user, f"run {i}")
        for p in links:
            ck.ok(p.is_symlink(), f"run {i}: the user's link {p.name} is no longer a link")
        recs = check_writers(ck, out, [lib] if sidecars else [], user, f"run {i}")
        others = [v for v in _videos(lib) if v.stem != "Vandal - S01E01" and (not one)]
        srcs = {os.path.realpath(r_.get("source", "")) for r_ in recs.values()}
        missing = [v.name for v in others if os.path.realpath(v) not in srcs]
        ck.ok(not missing, f"run {i}: other videos without a record: {missing[:3]}")
        lines = [ln for ln in r.text.splitlines() if "WARNING" in ln or "warning" in ln
                 or ln.strip().startswith("FAILED")]  # fmt: skip
        names = [f"{Path(E1).name}{s}" for s in files]
        if i == 1:
            ck.ok(any(says(ln, n) for ln in lines for n in names),
                  f"run {i}: nothing says the user's {names[0]} kept introdet from writing "
                  f"there (exit {r.rc})")  # fmt: skip
        ck.ok(r.rc == 0 or bool(r.failed_lines()), f"run {i}: exit {r.rc} without a FAILED line")
    return verdict(ck, ck.runs[-1])


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 14) -> None:
        out.append(Case("changes", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    no_edl = "formats=[json,ffmetadata,vtt]"
    for name, kw in {
        "deleted_all_formats": dict(what="delete"),
        "deleted_sidecars": dict(what="delete", sidecars=True),
        "deleted_model_mode": dict(what="delete", ckpt=True),
        "deleted_out_inside_library": dict(what="delete", out_at="inside"),
        "deleted_out_is_library": dict(what="delete", out_at="lib"),
        "renamed_sidecars": dict(what="rename", sidecars=True),
        "renamed_season_folder_sidecars": dict(what="rename_season", sidecars=True),
        "moved_to_other_season_sidecars": dict(what="move", sidecars=True),
        "same_stem_new_container_sidecars": dict(what="new_suffix", sidecars=True),
        "dropped_edl": dict(what="none", second=no_edl),
        "dropped_player_formats_sidecars": dict(what="none", second=JSON_ONLY, sidecars=True),
        "dropped_edl_and_deleted_out_is_library": dict(what="delete", second=no_edl,
                                                       out_at="lib"),
        "user_files_kept_sidecars": dict(what="delete_and_rename", sidecars=True,
                                         user_after=True),
        "user_comskip_edl_of_deleted_video": dict(what="delete", first="formats=[json,vtt]",
                                                  second="formats=[json,vtt]", sidecars=True,
                                                  user_before="comskip_beside"),
        "user_edl_in_out_of_deleted_video": dict(what="delete", first=JSON_ONLY,
                                                 second=JSON_ONLY, user_before="edl_in_out"),
    }.items():  # fmt: skip
        add(name, partial(later, **kw), cost=15)
    note = b"my notes about episode 1\n"
    for name, kw in {
        "own_json_out_is_library": dict(files={".json": b'{"mine": true}\n'}),
        "own_json_read_only": dict(files={".json": note}, how="readonly"),
        "own_json_symlink": dict(files={".json": b'{"mine": 1}\n'}, how="symlink"),
        "own_json_one_file_input": dict(files={".json": note}, one=True),
        "own_edl_sidecars": dict(files={".edl": COMSKIP}, out_at="apart",
                                 formats="formats=[json,edl]", sidecars=True),
        "own_edl_out_is_library": dict(files={".edl": COMSKIP}, formats="formats=[json,edl]"),
        "own_edl_hard_link_sidecars": dict(files={".edl": COMSKIP}, out_at="apart",
                                           sidecars=True, how="hardlink"),
        "own_vtt_ffmetadata_sidecars": dict(
            files={".chapters.vtt": b"WEBVTT\n\n1\n00:00:00.000 --> 00:00:05.000\nMine\n",
                   ".ffmetadata": b";FFMETADATA1\ntitle=mine\n"},
            out_at="apart", sidecars=True),
        "own_video_where_the_chapters_copy_goes": dict(
            files={".mkv": b"my own cut of episode 1\n"}, out_at="apart", in_out=True,
            chapters=True),
    }.items():  # fmt: skip
        add(name, partial(own_file, **kw), cost=14)
    return out
