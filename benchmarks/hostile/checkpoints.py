"""Kind 6, checkpoints: damaged, foreign and malicious checkpoints given to ``predict`` (torch
and ``runtime=onnx``), to ``train`` (resuming) and to ``export_onnx``; tampered ONNX files, and an
ONNX export cached for checkpoint A reused for checkpoint B.

Handled means (docs/reliability.md, "Checkpoints", "Round two"): one ``error:`` line naming the
file and exit 2, no traceback, no record written; never code run from a pickle (the payload
would create a marker file); a damaged ``last.ckpt`` makes ``train`` warn and resume from the
newest checkpoint that reads; a checkpoint that still loads (zero padding after the archive)
gives the same predictions as the undamaged one; predictions with checkpoint B are B's.
"""

from __future__ import annotations

import inspect
import os
import pickle
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.kills import ckpt_state
from benchmarks.hostile.outcome import (
    EXPORT,
    PREDICT,
    TRAIN,
    Check,
    Run,
    Verdict,
    compare_records,
    records,
    run,
    verdict,
)

MARKER = "PWNED_BY_PICKLE"


class _System:
    """Unpickling this runs ``os.system(cmd)``."""

    def __init__(self, cmd: str) -> None:
        self.cmd = cmd

    def __reduce__(self):
        return (os.system, (self.cmd,))


class _Exec:
    def __init__(self, code: str) -> None:
        self.code = code

    def __reduce__(self):
        return (exec, (self.code,))


class _Popen:
    def __init__(self, args: list[str]) -> None:
        self.args = args

    def __reduce__(self):
        import subprocess

        return (subprocess.Popen, (self.args,))


def _torch():
    import torch

    return torch


def _load_a(a: Assets) -> dict:
    return _torch().load(a.ckpt_a, map_location="cpu", weights_only=True)


# --- makers: a bad checkpoint at ``path`` (the marker path for payloads) --------------------


def truncated(a: Assets, path: Path, fraction: float) -> None:
    data = a.ckpt_a.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])


def random_bytes(a: Assets, path: Path, head: bytes = b"") -> None:
    rng = np.random.default_rng(len(head))
    path.write_bytes(head + rng.integers(0, 256, 300_000, dtype=np.uint8).tobytes())


def zero_filled(a: Assets, path: Path) -> None:
    path.write_bytes(b"\0" * a.ckpt_a.stat().st_size)


def zero_padded(a: Assets, path: Path) -> None:
    path.write_bytes(a.ckpt_a.read_bytes() + b"\0" * (1 << 20))


def flipped(a: Assets, path: Path) -> None:
    data = bytearray(a.ckpt_a.read_bytes())
    rng = np.random.default_rng(3)
    for i in rng.integers(len(data) // 4, len(data) // 2, 64):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def payload(kind: str, marker: Path) -> object:
    if kind == "exec":
        return _Exec(f"open({str(marker)!r}, 'w').write('ran')")
    if kind == "popen":
        return _Popen(["touch", str(marker)])
    return _System(f"touch {marker}")


def plain_pickle(a: Assets, path: Path, marker: Path) -> None:
    path.write_bytes(pickle.dumps({"state_dict": payload("system", marker)}, protocol=2))


def torch_saved(a: Assets, path: Path, marker: Path, kind: str = "system",
                legacy: bool = False, where: str = "state_dict") -> None:  # fmt: skip
    torch = _torch()
    if where == "state_dict":
        obj = {"state_dict": payload(kind, marker)}
    else:  # a real checkpoint with the payload hidden in one of its entries
        obj = _load_a(a)
        if where == "hyper_parameters":
            obj["hyper_parameters"]["note"] = payload(kind, marker)
        else:
            obj.setdefault("callbacks", {})["Evil"] = {"state": payload(kind, marker)}
    torch.save(obj, path, _use_new_zipfile_serialization=not legacy)


def without_hparams(a: Assets, path: Path) -> None:
    c = _load_a(a)
    _torch().save({"state_dict": c["state_dict"]}, path)


def with_hparams(a: Assets, path: Path, **changes) -> None:
    c = _load_a(a)
    c["hyper_parameters"] = {**c["hyper_parameters"], **changes}
    for k, v in changes.items():
        if v is _DROP:
            del c["hyper_parameters"][k]
    _torch().save(c, path)


_DROP = object()


def state_dict_list(a: Assets, path: Path) -> None:
    c = _load_a(a)
    c["state_dict"] = list(c["state_dict"].values())
    _torch().save(c, path)


def plain_tensor(a: Assets, path: Path) -> None:
    _torch().save(_torch().zeros(3), path)


def directory(a: Assets, path: Path) -> None:
    path.mkdir()


def link_loop(a: Assets, path: Path) -> None:
    os.symlink(path.name, path)


def fifo(a: Assets, path: Path) -> None:
    os.mkfifo(path)


def other_encoder(a: Assets, path: Path) -> None:
    shutil.copyfile(_other_encoder_ckpt(a), path)


def _other_encoder_ckpt(a: Assets) -> Path:
    """A detector trained on features recorded as ViT-B-32 (openai): another encoder."""

    def build() -> Path:
        from benchmarks.hostile.assets import TINY_MODEL

        ident = {"model_name": "ViT-B-32", "pretrained": "openai", "embed_dim": 512,
                 "image_size": 224, "random_weights": False}  # fmt: skip
        shards, labels = a.feature_set("vitb32", seconds=60, intro=(5, 20), identity=ident)
        out = a.root / "runs" / "other_encoder"
        shutil.rmtree(out, ignore_errors=True)
        cmd = [*TRAIN, *TINY_MODEL, f"data.shard_dir={shards}", f"data.train_labels={labels}",
               "data.split_by=series", "data.val_fraction=0.34", "data.test_fraction=0",
               "trainer.max_epochs=1", f"paths.output_dir={out}",
               f"hydra.run.dir={out}"]  # fmt: skip
        a._checked(run(cmd, timeout=240), "train on another encoder's features")
        return out / "checkpoints" / "last.ckpt"

    return a.get("ckpt:other_encoder", build)


# --- predict with a bad checkpoint ---------------------------------------------------------

PRED = ["tuned_postprocess=false"]  # the same post-processing wherever the file sits


def reference_a(a: Assets) -> dict:
    out = a.root / "refs" / "predict_ckpt_a"
    return a.reference("predict_ckpt_a", [*PREDICT, *PRED, f"ckpt={a.ckpt_a}",
                                          f"input={a.lib_shards}", f"out={out}"], out)  # fmt: skip


def reference_b(a: Assets) -> dict:
    out = a.root / "refs" / "predict_ckpt_b"
    return a.reference("predict_ckpt_b", [*PREDICT, *PRED, f"ckpt={a.ckpt_b}",
                                          f"input={a.lib_shards}", f"out={out}"], out)  # fmt: skip


def _make(make: Callable, a: Assets, path: Path, marker: Path) -> None:
    if "marker" in inspect.signature(make).parameters:
        make(a, path, marker=marker)
    else:
        make(a, path)


def _marker_check(ck: Check, marker: Path) -> None:
    if marker.exists():
        ck.unsafe.append(f"code in the checkpoint ran: {marker.name} was created")
        marker.unlink()


def refused(ck: Check, r: Run, path: Path, out: Path | None = None,
            also: tuple[str, ...] = ()) -> None:  # fmt: skip
    """Exit 2, one error line naming the file (or what ``also`` lists), nothing written."""
    ck.exit(r, 2)
    ck.one_error(r, [str(path), path.name, *also])
    if out is not None:
        recs = records(out)
        ck.ok(not recs, f"{len(recs)} records written with a refused checkpoint")


def predict_case(ctx: Ctx, make: Callable, name: str = "model.ckpt", accept_same: bool = False,
                 extra: tuple[str, ...] = (), input: str = "shards",
                 also: tuple[str, ...] = ()) -> Verdict:  # fmt: skip
    """``make(assets, path[, marker])`` writes the bad file; predict must refuse it (or, with
    ``accept_same``, may use it when its predictions equal the undamaged checkpoint's)."""
    a = ctx.assets
    ck = Check()
    path = ctx.dir / name
    marker = ctx.dir / MARKER
    _make(make, a, path, marker)
    out = ctx.dir / "pred"
    src = a.lib_shards if input == "shards" else a.lib / "videos"
    r = ck.add(run([*PREDICT, *PRED, f"ckpt={path}", f"input={src}", f"out={out}", *extra],
                   timeout=180))  # fmt: skip
    _marker_check(ck, marker)
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    if accept_same and r.rc == 0:
        compare_records(ck, records(out), reference_a(a), "predictions with the damaged file")
        ck.note("the file still loads; its predictions were compared with the undamaged one's")
    else:
        # a mismatch between the checkpoint and the features may name either side
        refused(ck, r, path, out, tuple(x.format(input=src) for x in also))
    return verdict(ck, r)


# --- ONNX ----------------------------------------------------------------------------------


def _export_a(a: Assets) -> Path:
    def build() -> Path:
        out = a.root / "onnx_a"
        shutil.rmtree(out, ignore_errors=True)
        a._checked(run([*EXPORT, f"ckpt={a.ckpt_a}", f"out={out}"], timeout=240), "export A")
        return out

    return a.get("onnx:a", build)


def _other_model(path: Path) -> None:
    """A valid ONNX file of another model than introdet's (x [1, 3] -> Identity -> y)."""
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "other", [x], [y])
    onnx.save(helper.make_model(graph), str(path))


def onnx_file(ctx: Ctx, damage: str) -> Verdict:
    a = ctx.assets
    ck = Check()
    src = _export_a(a)
    path = ctx.dir / "detector.onnx"
    data = (src / "detector.onnx").read_bytes()
    if damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "random":
        path.write_bytes(np.random.default_rng(0).integers(0, 256, 100_000, np.uint8).tobytes())
    elif damage == "flipped":
        buf = bytearray(data)
        for i in np.random.default_rng(1).integers(len(buf) // 2, len(buf) - 100, 64):
            buf[i] ^= 0xFF
        path.write_bytes(bytes(buf))
    elif damage == "wrong_kind":  # a valid ONNX file that is no detector: one Identity
        _other_model(path)
    elif damage == "empty":
        path.write_bytes(b"")
    out = ctx.dir / "pred"
    r = ck.add(run([*PREDICT, *PRED, f"ckpt={path}", "runtime=onnx", f"input={a.lib_shards}",
                    f"out={out}"], timeout=180))  # fmt: skip
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    if damage == "flipped" and r.rc == 0:
        compare_records(ck, records(out), reference_a(a), "predictions with the damaged ONNX")
        ck.note("the damaged ONNX still loads; its predictions were compared with the undamaged")
    else:
        refused(ck, r, path, out)
    return verdict(ck, r)


def onnx_cache(ctx: Ctx, how: str) -> Verdict:
    """predict runtime=onnx with A into a folder, then with B (or a damaged cache)."""
    a = ctx.assets
    ck = Check()
    out = ctx.dir / "pred"
    run_dir = ctx.dir / "run" / "checkpoints"
    run_dir.mkdir(parents=True)
    ckpt = run_dir / "last.ckpt"
    shutil.copyfile(a.ckpt_a, ckpt)
    base = [*PREDICT, *PRED, "runtime=onnx", f"input={a.lib_shards}", f"out={out}"]
    first = ck.add(run([*base, f"ckpt={ckpt}"], timeout=240))
    if first.timed_out or first.traceback() or first.rc != 0:
        ck.exit(first, 0, "predict with A")
        return verdict(ck, first)
    cached = sorted((out / "onnx").glob("*.onnx"))
    if how == "b_same_path":  # B copied over A's file: same name, other content
        shutil.copyfile(a.ckpt_b, ckpt)
        second = ck.add(run([*base, f"ckpt={ckpt}"], timeout=240))
    elif how == "b_other_path":
        second = ck.add(run([*base, f"ckpt={a.ckpt_b}"], timeout=240))
    elif how == "b_same_path_same_mtime":
        st = ckpt.stat()
        shutil.copyfile(a.ckpt_b, ckpt)
        os.utime(ckpt, ns=(st.st_atime_ns, st.st_mtime_ns))
        second = ck.add(run([*base, f"ckpt={ckpt}"], timeout=240))
    else:  # the cached export damaged
        for p in cached:
            data = p.read_bytes()
            p.write_bytes(data[: len(data) // 3] if how == "cache_truncated" else b"")
        second = ck.add(run([*base, f"ckpt={ckpt}"], timeout=240))
    if second.timed_out or second.traceback():
        return verdict(ck, second)
    if how.startswith("b_"):
        ck.exit(second, 0, "predict with B")
        compare_records(ck, records(out), reference_b(a), "predictions with B")
    elif second.rc == 0:
        compare_records(ck, records(out), reference_a(a), "predictions after the cache was damaged")
        ck.note("the damaged cache was made again or not used")
    else:
        refused(ck, second, cached[0] if cached else out)
    return verdict(ck, second)


# --- train and export ----------------------------------------------------------------------


def _copy_run(a: Assets, dst: Path) -> Path:
    src = a.ckpt_a.parent.parent
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns(".hydra", "*.log"))
    return dst


def resume_case(ctx: Ctx, damage: str) -> Verdict:
    """A run folder (A's, 30 epochs) resumed for 2 more epochs with a damaged checkpoint."""
    a = ctx.assets
    ck = Check()
    run_dir = _copy_run(a, ctx.dir / "run")
    folder = run_dir / "checkpoints"
    last = folder / "last.ckpt"
    marker = ctx.dir / MARKER
    others = [p for p in folder.glob("*.ckpt") if p != last]
    expect_fallback = True
    if damage == "truncated":
        truncated(a, last, 0.5)
    elif damage == "random":
        random_bytes(a, last)
    elif damage == "empty":
        last.write_bytes(b"")
    elif damage == "pickle":
        torch_saved(a, last, marker)
    elif damage == "directory":
        last.unlink()
        last.mkdir()
    elif damage == "truncated_alone":
        truncated(a, last, 0.5)
        for p in others:
            p.unlink()
        expect_fallback = False
    elif damage == "all_damaged":
        truncated(a, last, 0.5)
        for p in others:
            p.write_bytes(b"\0" * 100)
        expect_fallback = False
    extra = ["trainer.max_epochs=32"]
    cmd = [*TRAIN, *a.lib_train_args(run_dir), *extra]
    r = ck.add(run(cmd, timeout=240))
    _marker_check(ck, marker)
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    if expect_fallback:
        ck.exit(r, 0, "train")
        ck.ok(
            "resuming from" in r.text and any(o.name in r.text for o in others),
            "no 'resuming from' the newest good checkpoint in the log",
        )
        ck.ok(last.name in r.text or "last.ckpt" in r.text, "the damaged last.ckpt is not named")
        state = ckpt_state(last)
        ck.ok(state is not None, "no last.ckpt that loads after the resumed run")
    else:
        refused(ck, r, folder)
    return verdict(ck, r)


def train_ckpt_case(ctx: Ctx, what: str) -> Verdict:
    a = ctx.assets
    ck = Check()
    run_dir = ctx.dir / "run"
    marker = ctx.dir / MARKER
    extra: list[str] = []
    if what == "other_shape":  # resuming A's run with another model shape
        _copy_run(a, run_dir)
        extra = ["model.d_model=64", "trainer.max_epochs=32"]
        named = run_dir / "checkpoints" / "last.ckpt"
    elif what == "other_encoder":
        (run_dir / "checkpoints").mkdir(parents=True)
        named = run_dir / "checkpoints" / "last.ckpt"
        shutil.copyfile(_other_encoder_ckpt(a), named)
        extra = ["trainer.max_epochs=32"]
    elif what == "pickle_ckpt_path":
        named = ctx.dir / "given.ckpt"
        torch_saved(a, named, marker)
        extra = [f"ckpt_path={named}"]
    elif what == "truncated_ckpt_path":
        named = ctx.dir / "given.ckpt"
        truncated(a, named, 0.3)
        extra = [f"ckpt_path={named}"]
    else:  # a ckpt_path that does not exist
        named = ctx.dir / "nowhere.ckpt"
        extra = [f"ckpt_path={named}"]
    r = ck.add(run([*TRAIN, *a.lib_train_args(run_dir), *extra], timeout=240))
    _marker_check(ck, marker)
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    refused(ck, r, named)
    return verdict(ck, r)


def export_case(ctx: Ctx, make: Callable) -> Verdict:
    a = ctx.assets
    ck = Check()
    path = ctx.dir / "model.ckpt"
    marker = ctx.dir / MARKER
    _make(make, a, path, marker)
    r = ck.add(run([*EXPORT, f"ckpt={path}", f"out={ctx.dir / 'onnx'}"], timeout=180))
    _marker_check(ck, marker)
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    refused(ck, r, path)
    ck.ok(
        not list((ctx.dir / "onnx").glob("*.onnx")) if (ctx.dir / "onnx").is_dir() else True,
        "export wrote ONNX files from a refused checkpoint",
    )
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 7) -> None:
        out.append(Case("checkpoints", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    P = predict_case
    for f in (0.1, 0.5, 0.9):
        add(
            f"predict_truncated_{round(f * 1000):03d}",
            partial(P, make=partial(truncated, fraction=f)),
        )
    add("predict_random_bytes", partial(P, make=random_bytes))
    add("predict_empty", partial(P, make=lambda a, p: p.write_bytes(b"")))
    add("predict_zero_filled", partial(P, make=zero_filled))
    add("predict_zero_padded", partial(P, make=zero_padded, accept_same=True))
    add("predict_bytes_flipped_in_weights", partial(P, make=flipped, accept_same=True))
    add("predict_pickle_plain", partial(P, make=plain_pickle))
    add("predict_pickle_torch_zip", partial(P, make=torch_saved))
    add("predict_pickle_torch_legacy", partial(P, make=partial(torch_saved, legacy=True)))
    add("predict_pickle_exec", partial(P, make=partial(torch_saved, kind="exec")))
    add("predict_pickle_popen", partial(P, make=partial(torch_saved, kind="popen")))
    add(
        "predict_pickle_in_hyper_parameters",
        partial(P, make=partial(torch_saved, where="hyper_parameters")),
    )
    add("predict_pickle_in_callbacks", partial(P, make=partial(torch_saved, where="callbacks")))
    add("predict_pickle_runtime_onnx", partial(P, make=torch_saved, extra=("runtime=onnx",)))
    add("predict_pickle_named_onnx", partial(P, make=plain_pickle, name="model.onnx",
                                             extra=("runtime=onnx",)))  # fmt: skip
    add("predict_missing_hyper_parameters", partial(P, make=without_hparams))
    add("predict_hparams_window_0", partial(P, make=partial(with_hparams, window=0)))
    add("predict_hparams_other_shape", partial(P, make=partial(with_hparams, d_model=64)))
    add("predict_hparams_no_encoder", partial(P, make=partial(with_hparams, encoder=None),
                                              accept_same=True))  # fmt: skip
    add("predict_state_dict_list", partial(P, make=state_dict_list))
    add("predict_plain_tensor", partial(P, make=plain_tensor))
    add("predict_directory_named_ckpt", partial(P, make=directory))
    add("predict_missing_file", partial(P, make=lambda a, p: None))
    add("predict_fifo_named_ckpt", partial(P, make=fifo))
    add("predict_other_encoder_on_shards", partial(P, make=other_encoder, also=("{input}",)))
    add("predict_other_encoder_on_videos", partial(P, make=other_encoder, input="videos",
                                                   also=("ViT-B-32",)), 12)  # fmt: skip
    for damage in ("truncated", "random", "flipped", "wrong_kind"):
        add(f"onnx_file_{damage}", partial(onnx_file, damage=damage), 10)
    for how in ("b_other_path", "b_same_path", "b_same_path_same_mtime", "cache_truncated"):
        add(f"onnx_cache_{how}", partial(onnx_cache, how=how), 20)
    for damage in ("truncated", "random", "pickle", "directory", "truncated_alone", "all_damaged"):
        add(f"resume_last_ckpt_{damage}", partial(resume_case, damage=damage), 12)
    for what in ("other_shape", "other_encoder", "pickle_ckpt_path", "truncated_ckpt_path"):
        add(f"train_{what}", partial(train_ckpt_case, what=what), 10)
    add("export_onnx_pickle", partial(export_case, make=torch_saved))
    add("export_onnx_truncated", partial(export_case, make=partial(truncated, fraction=0.5)))
    return out
