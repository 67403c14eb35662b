"""Kind 4, disk full: a small tmpfs mounted per case (``mount -t tmpfs -o size=N``, root) and
filled to a given level under extract's shard folder, predict's output folder (and its feature
cache, its ONNX export) and train's run folder; and ``RLIMIT_FSIZE`` (no file may grow past N
bytes: writes fail like on a full disk, EFBIG instead of ENOSPC).

Handled means (docs/reliability.md, "Full disk", "Round two"): exit 2 with exactly one ``error:``
line naming a path on the full disk, no traceback; no half shard, no temp file, no episode with
only some of its formats, no checkpoint that does not load; the work finished before is kept
(shards complete before the failure are not redone); and once there is space again the same
command completes, to the same outputs as a run that never lacked space. Hydra's own log is kept
off the full disk (``hydra.run.dir=``) as docs/reliability.md advises, except in the cases named
``*_default_log`` that try the default.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import subprocess
from collections.abc import Iterator
from functools import partial
from pathlib import Path

from benchmarks.hostile.assets import ALL_FORMATS, FORMATS, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.concurrent import extract_ref, predict_ref
from benchmarks.hostile.kills import check_last_step, ckpt_state, train_args, train_reference
from benchmarks.hostile.outcome import (
    EXPORT,
    EXTRACT,
    PREDICT,
    TRAIN,
    Check,
    Run,
    Verdict,
    check_records,
    check_shards,
    compare_features,
    compare_records,
    manifest_ids,
    run,
    shard_features,
    temp_files,
    verdict,
)


class NoTmpfs(RuntimeError):
    pass


@contextlib.contextmanager
def small_disk(folder: Path, size_kb: int, free_kb: float) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` at ``folder``, filled by ``filler`` until ``free_kb`` remain."""
    folder.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(folder)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        raise NoTmpfs(f"cannot mount a tmpfs: {r.stderr.strip()}")
    try:
        fill(folder, free_kb)
        yield folder
    finally:
        if subprocess.run(["umount", str(folder)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(folder)], capture_output=True)


def fill(folder: Path, free_kb: float) -> None:
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(b"\0" * 4096)
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - int(free_kb * 1024)))


def free_space(folder: Path) -> None:
    (folder / "filler").unlink(missing_ok=True)


def fsize_limit(limit: int):
    def cap() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write, not a killed process
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return cap


def _on_full_disk(ck: Check, cmd: list[str], disk: Path, size_kb: int, free_kb: float,
                  limit: int | None, timeout: int, on_full, with_room) -> Verdict:  # fmt: skip
    """Run ``cmd`` under a file size limit (``limit``) or with ``disk`` a small, filled tmpfs;
    it must fit or fail cleanly, and ``on_full()`` judges what it left (the tmpfs still
    mounted). Then the same command with room again must finish, and ``with_room(kept)``
    judges it, ``kept`` being what ``on_full`` returned."""
    if limit is not None:
        disk.mkdir()
        r = ck.add(run(cmd, timeout=timeout, preexec=fsize_limit(limit),
                       prefix=f"prlimit --fsize={limit} -- "))  # fmt: skip
        return _judged(ck, r, cmd, disk, None, timeout, on_full, with_room)
    try:
        with small_disk(disk, size_kb, free_kb):
            r = ck.add(run(cmd, timeout=timeout))
            return _judged(ck, r, cmd, disk, disk, timeout, on_full, with_room)
    except NoTmpfs as e:
        from benchmarks.hostile.assets import AssetError

        raise AssetError(str(e)) from e


def _judged(ck: Check, r: Run, cmd: list[str], disk: Path, mounted: Path | None, timeout: int,
            on_full, with_room) -> Verdict:  # fmt: skip
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    if r.rc == 0:
        ck.note("it all fitted: nothing failed")
    else:
        _failed_cleanly(ck, r, disk)
    kept = on_full()
    if mounted is not None:
        free_space(mounted)
    again = ck.add(run(cmd, timeout=timeout))
    if again.timed_out or again.traceback():
        return verdict(ck, again)
    ck.exit(again, 0, "with space again")
    with_room(kept)
    return verdict(ck, r)


def _failed_cleanly(ck: Check, r: Run, where: Path) -> None:
    """Exit 2, one error line naming a path under ``where``."""
    ck.exit(r, 2, "on the full disk")
    ck.one_error(r, [str(where)], "on the full disk")
    if (
        r.rc == 2
        and r.errors()
        and not any(s in r.errors()[0] for s in ("No space", "too large", "Errno 28", "Errno 27"))
    ):
        ck.note(f"the error line gives no reason of space: {r.errors()[0][:160]!r}")


# --- extract -------------------------------------------------------------------------------


def extract_full(ctx: Ctx, size_kb: int, free_kb: float, default_log: bool = False,
                 limit: int | None = None) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    ref = extract_ref(a)
    videos = a.lib / "videos"
    disk = ctx.dir / "disk"
    out = disk / "shards"
    log = [] if default_log else [f"hydra.run.dir={ctx.dir / 'logs'}"]
    cmd = [*EXTRACT, f"input={videos}", f"out={out}", *log]
    return _on_full_disk(ck, cmd, disk, size_kb, free_kb, limit, 150,
                         lambda: _extract_on_full(ck, out),
                         lambda kept: _extract_with_room(ck, out, ref, kept))  # fmt: skip


def _extract_on_full(ck: Check, out: Path) -> dict[str, int]:
    """The shards left whole on the full disk, and nothing half-written: episode -> mtime."""
    from benchmarks.hostile.outcome import orphan_arrays

    found = shard_features(out)
    for ep, (_, arr) in found.items():
        ck.ok(arr is not None, f"on the full disk: shard {ep!r} marked complete but not whole")
    orphans = orphan_arrays(out)
    ck.ok(
        not orphans,
        f"on the full disk: arrays without metadata left: {[p.name for p in orphans[:3]]}",
    )
    temps = temp_files(out)
    ck.ok(not temps, f"on the full disk: temp files left {[p.name for p in temps[:3]]}")
    ids = manifest_ids(out)
    if ids is not None and not ids <= set(found):
        ck.fail(f"on the full disk: the manifest lists shards that are not complete: "
                f"{sorted(ids - set(found))[:3]}")  # fmt: skip
    return {ep: (out / f"{ep}.npy").stat().st_mtime_ns for ep in found}


def _extract_with_room(ck: Check, out: Path, ref: dict, kept: dict[str, int]) -> None:
    got = check_shards(ck, out, "with space again")
    compare_features(ck, got, ref, "with space again")
    redone = [
        ep
        for ep, t in kept.items()
        if (out / f"{ep}.npy").is_file() and (out / f"{ep}.npy").stat().st_mtime_ns != t
    ]
    ck.ok(not redone, f"shards finished before the failure were made again: {redone[:3]}")
    ck.note(f"{len(kept)} of {len(ref)} shards were written before the failure")


# --- predict -------------------------------------------------------------------------------


def predict_full(ctx: Ctx, size_kb: int, free_kb: float, source: str = "shards",
                 limit: int | None = None) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    if source == "shards":
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib_shards}", ALL_FORMATS]
    elif source == "onnx":
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib_shards}", "runtime=onnx", ALL_FORMATS]
    else:  # videos: the feature cache is on the full disk too
        args = [f"ckpt={a.ckpt_a}", f"input={a.lib / 'videos'}", ALL_FORMATS]
    ref = predict_ref(a, source, args)
    disk = ctx.dir / "disk"
    out = disk / "pred"
    cmd = [*PREDICT, *args, f"out={out}", f"hydra.run.dir={ctx.dir / 'logs'}"]
    return _on_full_disk(ck, cmd, disk, size_kb, free_kb, limit, 150,
                         lambda: _predict_on_full(ck, out, source),
                         lambda kept: _predict_with_room(ck, out, ref, kept))  # fmt: skip


def _predict_on_full(ck: Check, out: Path, source: str) -> int:
    """Records left on the full disk have all their formats or none; their number."""
    got = check_records(ck, out, FORMATS, "on the full disk")
    if source == "videos":
        check_shards_partial(ck, out / ".shards")
    return len(got)


def _predict_with_room(ck: Check, out: Path, ref: dict, written: int) -> None:
    got = check_records(ck, out, FORMATS, "with space again")
    compare_records(ck, got, ref, "with space again")
    ck.note(f"{written} of {len(ref)} records were written before the failure")


def check_shards_partial(ck: Check, shards: Path) -> None:
    from benchmarks.hostile.outcome import orphan_arrays

    for ep, (_, arr) in shard_features(shards).items():
        ck.ok(arr is not None, f"on the full disk: cached shard {ep!r} not whole")
    ck.ok(not orphan_arrays(shards), "on the full disk: half shards left in the cache")
    ck.ok(not temp_files(shards), "on the full disk: temp files left in the cache")


# --- train and export ----------------------------------------------------------------------


def train_full(ctx: Ctx, size_kb: int, free_kb: float, limit: int | None = None) -> Verdict:
    a = ctx.assets
    ck = Check()
    ref = train_reference(a)
    disk = ctx.dir / "disk"
    out = disk / "run"
    args = [x for x in train_args(a, out) if not x.startswith("hydra.run.dir=")]
    cmd = [*TRAIN, *args, f"hydra.run.dir={ctx.dir / 'logs'}"]
    return _on_full_disk(ck, cmd, disk, size_kb, free_kb, limit, 200,
                         lambda: _train_on_full(ck, out),
                         lambda kept: _train_with_room(ck, out, ref))  # fmt: skip


def _train_on_full(ck: Check, out: Path) -> None:
    for p in (out / "checkpoints").glob("*.ckpt"):
        ck.ok(ckpt_state(p) is not None, f"on the full disk: {p.name} left but does not load")
    ck.ok(not temp_files(out), "on the full disk: temp files left")


def _train_with_room(ck: Check, out: Path, ref: dict) -> None:
    check_last_step(ck, out / "checkpoints" / "last.ckpt", ref, "with space again")


def export_full(ctx: Ctx, limit: int) -> Verdict:
    a = ctx.assets
    ck = Check()
    out = ctx.dir / "onnx"
    cmd = [*EXPORT, f"ckpt={a.ckpt_a}", f"out={out}"]
    r = ck.add(run(cmd, timeout=150, preexec=fsize_limit(limit),
                   prefix=f"prlimit --fsize={limit} -- "))  # fmt: skip
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    _failed_cleanly(ck, r, out)
    ck.ok(not temp_files(out), "temp files left")
    if out.is_dir():
        for p in out.glob("*.onnx"):
            ck.note(f"{p.name} ({p.stat().st_size} bytes) written before the failure")
    again = ck.add(run(cmd, timeout=150))
    if again.timed_out or again.traceback():
        return verdict(ck, again)
    ck.exit(again, 0, "without the limit")
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 16) -> None:
        out.append(Case("diskfull", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for free in (0, 8, 40, 100, 180):
        add(f"extract_tmpfs_free_{free}k", partial(extract_full, size_kb=512, free_kb=free))
    add(
        "extract_tmpfs_free_0k_default_log",
        partial(extract_full, size_kb=512, free_kb=0, default_log=True),
    )
    add(
        "extract_tmpfs_free_2k_default_log",
        partial(extract_full, size_kb=512, free_kb=2, default_log=True),
    )
    for limit in (1000, 20000, 23000):
        add(f"extract_fsize_{limit}", partial(extract_full, size_kb=0, free_kb=0, limit=limit))
    for free in (0, 12, 40, 90):
        add(f"predict_tmpfs_free_{free}k", partial(predict_full, size_kb=256, free_kb=free))
    add(
        "predict_tmpfs_cache_on_full_disk",
        partial(predict_full, size_kb=512, free_kb=60, source="videos"),
    )
    add(
        "predict_tmpfs_onnx_export_on_full_disk",
        partial(predict_full, size_kb=512, free_kb=30, source="onnx"),
    )
    for limit in (500, 1500):
        add(f"predict_fsize_{limit}", partial(predict_full, size_kb=0, free_kb=0, limit=limit))
    for free in (0, 200, 500):
        add(f"train_tmpfs_free_{free}k", partial(train_full, size_kb=2048, free_kb=free), 25)
    for limit in (10000, 200000):
        add(f"train_fsize_{limit}", partial(train_full, size_kb=0, free_kb=0, limit=limit), 25)
    add("export_onnx_fsize_10000", partial(export_full, limit=10000))
    return out
