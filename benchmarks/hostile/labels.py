"""Kind 5, labels: ``python -m introdet.validate labels=...`` on hostile labels files, and
``train.py`` (and ``predict``) with such labels or with a shard manifest whose ids are hostile.

Handled means (conf/validate.yaml, docs/reliability.md): validate exits 0 when every row is usable
(the one-minute typing slip fixed and reported), 1 when some rows are rejected (each named, the
id printed escaped when it holds control characters), 2 with one ``error:`` line naming the file
when the file as a whole cannot be read; nothing is printed raw (no control character reaches the
terminal); no traceback, no hang. Training trains on the usable rows, or stops with one ``error:``
line (exit 2) when none is left. An id never becomes a path outside its folder: no file outside
is opened (strace) or written.
"""

from __future__ import annotations

import json
import os
import shutil
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.hostile.assets import ALL_FORMATS, TINY_MODEL, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.kills import ckpt_state
from benchmarks.hostile.outcome import (
    PREDICT,
    TRAIN,
    VALIDATE,
    Check,
    Verdict,
    check_records,
    named,
    opened_under,
    run,
    strace_prefix,
    verdict,
)
from introdet.features.shards import read_manifest

ROW = {"name": "Harbor, 1 сезон 1 серия", "url": "", "start": "0:00:06", "end": "0:00:10"}


def row(start=None, end=None, **kw) -> dict:
    return {**ROW, "start": start, "end": end, **kw}


def obj(*pairs) -> str:
    """A JSON object from (id, row) pairs, duplicates kept."""
    return (
        "{"
        + ", ".join(
            f"{json.dumps(k, ensure_ascii=False)}: "
            f"{v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in pairs
        )
        + "}"
    )


GOOD_ROWS = [("harbor_s01e01", row("0:00:06", "0:00:10")),
             ("northwind_s01e01", row("0:00:02", "0:00:09"))]  # fmt: skip


HUGE_INT_ROW = '{"start": 1' + "0" * 400 + ', "end": 2' + "0" * 400 + "}"  # 10**400 s


def with_good(*pairs) -> str:
    return obj(*GOOD_ROWS, *pairs)


def deep_array(n: int) -> str:
    return "[" * n + "]" * n


def many_rows(n: int) -> str:
    rows = {f"show{i % 500}_s01e{i:06d}": row(f"0:0{i % 5}:1{i % 10}", f"0:0{i % 5}:5{i % 10}")
            for i in range(n)}  # fmt: skip
    return json.dumps(rows)


# name -> (file content as str or bytes, documented exit codes, an id the report must name)
TEXTS: dict[str, tuple[str | bytes, set[int], str | None]] = {
    "good_file": (with_good(), {0}, None),
    "typing_slip": (obj(("harbor_s01e01", row("0:01:06", "0:00:10"))), {0}, "harbor_s01e01"),
    "backwards_over_a_minute": (with_good(("bw", row("0:05:00", "0:01:00"))), {1}, "bw"),
    "backwards_near_zero": (with_good(("bz", row("0:00:30", "0:00:10"))), {1}, "bz"),
    "start_equals_end": (with_good(("eq", row("0:00:10", "0:00:10"))), {1}, "eq"),
    "non_numeric": (with_good(("nn", row("abc", "def"))), {1}, "nn"),
    "arabic_indic_digits": (with_good(("ar", row("٠:٠١:٠٢", "٠:٠١:٠٩"))), {1}, "ar"),
    "fullwidth_digits": (with_good(("fw", row("１２", "２０"))), {1}, "fw"),
    "devanagari_digits": (with_good(("dv", row("१२", "२०"))), {1}, "dv"),
    "nan_literal": (with_good(("nan", '{"start": NaN, "end": 5}')), {1}, "nan"),
    "infinity_literal": (with_good(("inf", '{"start": 1, "end": Infinity}')), {1}, "inf"),
    "nan_string": (with_good(("nans", row("nan", "inf"))), {1}, "nans"),
    "float_overflow_string": (with_good(("ovf", row("1e999", "2e999"))), {1}, "ovf"),
    "huge_float": (with_good(("hf", row(1e300, 1.5e300))), {0, 1}, None),
    "huge_int": (with_good(("hi", HUGE_INT_ROW)), {1}, "hi"),
    "huge_hours": (with_good(("hh", row("99999999999:00:00", "99999999999:00:05"))), {0, 1}, None),
    "negative": (with_good(("neg", row(-5, 10))), {1}, "neg"),
    "negative_clock": (with_good(("negc", row("-0:00:05", "0:00:10"))), {1}, "negc"),
    "minutes_over_59": (with_good(("m75", row("0:75:00", "0:76:00"))), {1}, "m75"),
    "too_many_colons": (with_good(("col", row("1:02:03:04", "1:02:03:05"))), {1}, "col"),
    "two_dots": (with_good(("dots", row("0:01:06.5.5", "0:01:10"))), {1}, "dots"),
    "hex_number": (with_good(("hex", row("0x10", "0x20"))), {1}, "hex"),
    "spaces_around_time": (with_good(("sp", row(" 12 ", " 20 "))), {0}, None),
    "boolean_time": (with_good(("bool", '{"start": true, "end": false}')), {1}, "bool"),
    "list_time": (with_good(("lst", '{"start": [1], "end": [2]}')), {1}, "lst"),
    "start_only": (with_good(("so", '{"start": "0:00:05"}')), {1}, "so"),
    "start_null_end_set": (with_good(("sn", row(None, "0:00:05"))), {1}, "sn"),
    "both_null": (with_good(("nointro", row(None, None))), {0}, None),
    "no_times_at_all": (with_good(("none", '{"name": "x"}')), {1}, "none"),
    "row_not_object": (with_good(("arr", '["0:00:01", "0:00:05"]')), {1}, "arr"),
    "row_is_string": (with_good(("str", '"0:00:01-0:00:05"')), {1}, "str"),
    "duplicate_ids": (with_good(("dup", row(1, 5)), ("dup", row(2, 6))), {1}, "dup"),
    "nul_in_id": (with_good(("ep\x001", row(1, 5))), {1}, "ep\\x001"),
    "escape_sequence_in_id": (with_good(("ep\x1b[2J\x1b[31m", row(1, 5))), {1}, "ep\\x1b"),
    "newline_in_id": (with_good(("ep\nfake: fixed", row(1, 5))), {1}, "ep\\n"),
    "bidi_override_in_id": (with_good(("ep\u202egnp.exe", row(1, 5))), {1}, "ep"),
    "bell_in_name_field": (with_good(("bell", row(1, 5, name="x\x07\x1b[2Jy"))), {0}, None),
    "empty_id": (with_good(("", row(1, 5))), {1}, None),
    "blank_id": (with_good(("   ", row(1, 5))), {1}, None),
    "dotdot_id": (with_good(("../../../../etc/passwd", row(1, 5))), {0}, None),
    "slash_id": (with_good(("/abs/path/ep", row(1, 5))), {0}, None),
    "very_long_id": (with_good(("x" * 100_000, row(1, 5))), {0}, None),
    "bom": ("\ufeff" + with_good(), {0}, None),
    "utf16": (with_good().encode("utf-16"), {2}, None),
    "invalid_utf8": (b'{"h\xff\xfe": {"start": 1, "end": 5}}', {2}, None),
    "cp1251_name": (
        with_good()
        .replace("сезон", "\x00")
        .encode("utf-8")
        .replace(b"\x00", "сезон".encode("cp1251")),
        {2},
        None,
    ),  # fmt: skip
    "list_json": ("[]", {2}, None),
    "string_json": ('"labels"', {2}, None),
    "number_json": ("42", {2}, None),
    "null_json": ("null", {2}, None),
    "empty_object": ("{}", {0, 1}, None),
    "empty_file": ("", {2}, None),
    "whitespace_file": (" \n\t\n", {2}, None),
    "trailing_garbage": (with_good() + " trailing garbage", {2}, None),
    "two_objects": (with_good() + with_good(), {2}, None),
    "truncated_json": (with_good()[:-7], {2}, None),
    "deep_nesting_top": (deep_array(100_000), {2}, None),
    "deep_nesting_in_row": (
        with_good(("deep", '{"start": ' + deep_array(50_000) + "}")),
        {1, 2},
        None,
    ),  # fmt: skip
    "rows_100k": (many_rows(100_000), {0}, None),
}


def validate_case(ctx: Ctx, name: str) -> Verdict:
    text, codes, must_name = TEXTS[name]
    ck = Check()
    path = ctx.dir / "labels.json"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    r = ck.add(run([*VALIDATE, f"labels={path}"], timeout=60))
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    _validated(ck, r, codes, must_name, path)
    if name == "rows_100k":
        ck.note(f"{r.seconds:.1f} s for 100,000 rows")
    return verdict(ck, r)


def _validated(ck: Check, r, codes: set[int], must_name: str | None, path: Path) -> None:
    ck.exit(r, codes, "validate")
    ck.no_raw_control(r)
    if r.rc == 2:
        ck.one_error(r, [str(path)], "validate")
    elif r.rc in (0, 1):
        ck.ok(
            any("episodes used" in ln for ln in r.out.splitlines()),
            "validate printed no summary line",
        )
        if r.rc == 1 and must_name:
            lines = [ln for ln in r.out.splitlines() if "rejected" in ln]
            ck.ok(
                any(must_name in ln for ln in lines),
                f"no 'rejected' line names {must_name!r}: {lines[:2]}",
            )
        if must_name and 0 in codes and 1 not in codes:  # the slip: a 'fixed' line
            ck.ok(
                any("fixed" in ln and must_name in ln for ln in r.out.splitlines()),
                f"no 'fixed' line for {must_name!r}",
            )


def validate_special(ctx: Ctx, what: str) -> Verdict:
    """Labels paths that are not plain files, and shard folders beside them."""
    a = ctx.assets
    ck = Check()
    labels = ctx.dir / "labels.json"
    labels.write_text(with_good(), encoding="utf-8")
    extra: list[str] = []
    codes, names = {2}, [str(labels)]
    if what == "directory":
        labels.unlink()
        labels.mkdir()
    elif what == "missing":
        labels.unlink()
    elif what == "fifo":
        labels.unlink()
        os.mkfifo(labels)
    elif what == "dev_null_link":
        labels.unlink()
        os.symlink("/dev/null", labels)
    elif what == "link_loop":
        labels.unlink()
        os.symlink(labels.name, labels)
    elif what == "shards_missing":
        extra = [f"shards={ctx.dir / 'nowhere'}"]
        names = [str(ctx.dir / "nowhere")]
    elif what == "shards_bad_manifest":
        shards = _copy_shards(a, ctx.dir / "shards")
        (shards / "manifest.jsonl").write_text('{"episode": "x", broken\n')
        extra = [f"shards={shards}"]
        names = [str(shards)]
    elif what == "beyond_duration":
        labels.write_text(with_good(("harbor_s01e02", row("0:00:10", "0:09:00"))))
        extra = [f"shards={a.lib_shards}"]
        codes, names = {1}, ["harbor_s01e02"]
    elif what == "unknown_ids":
        labels.write_text(with_good(("nobody_s09e09", row(1, 5))))
        extra = [f"shards={a.lib_shards}"]
        codes, names = {1}, ["nobody_s09e09"]
    r = ck.add(run([*VALIDATE, f"labels={labels}", *extra], timeout=30))
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    ck.exit(r, codes, "validate")
    ck.no_raw_control(r)
    if r.rc == 2:
        ck.one_error(r, names, "validate")
    elif r.rc == 1:
        ck.ok(any(n in r.out for n in names), f"no line names {names}")
    return verdict(ck, r)


# --- ids that climb out of their folder (manifest, labels) ---------------------------------


def _copy_shards(a: Assets, dst: Path) -> Path:
    shutil.copytree(a.lib_shards, dst, ignore=shutil.ignore_patterns(".logs"))
    return dst


def _plant(shards: Path, evil_id: str, outside: Path) -> None:
    """A manifest line (and a shard) whose id climbs out to ``outside``: the features there
    exist, so a reader that follows the id would find them."""
    lines = (shards / "manifest.jsonl").read_text(encoding="utf-8").splitlines()
    meta = json.loads(lines[0]) | {"episode": evil_id}
    target = shards / f"{evil_id}.npy"
    resolved = Path(os.path.normpath(target))
    resolved.parent.mkdir(parents=True, exist_ok=True)
    first = json.loads(lines[0])["episode"]
    np.save(resolved, np.load(shards / f"{first}.npy"))
    resolved.with_suffix(".json").write_text(json.dumps(meta, ensure_ascii=False))
    (shards / "manifest.jsonl").write_text("\n".join([*lines, json.dumps(meta)]) + "\n")
    assert str(resolved).startswith(str(outside)), (resolved, outside)


def escape_case(ctx: Ctx, command: str, depth: int) -> Verdict:
    """A manifest id ``../`` x depth + ``OUTSIDE/PWN`` with its features really there."""
    a = ctx.assets
    ck = Check()
    shards = _copy_shards(a, ctx.dir / "lib" / "shards")
    outside = ctx.dir / "OUTSIDE" if depth == 2 else Path("/tmp") / f"hostile_OUTSIDE_{ctx.name}"
    shutil.rmtree(outside, ignore_errors=True)
    up = "../" * (depth if depth == 2 else len(shards.parts) - 1)
    evil = f"{up}{'OUTSIDE' if depth == 2 else 'tmp/' + outside.name}/PWN"
    _plant(shards, evil, outside)
    before = sorted(p.name for p in outside.rglob("*"))
    labels = ctx.dir / "labels.json"
    labels.write_text(obj(*GOOD_ROWS, (evil, row("0:00:02", "0:00:09")),
                          ("vandal_s01e01", row("0:00:06", "0:00:10"))))  # fmt: skip
    trace = ctx.dir / "strace.log"
    if command == "train":
        run_dir = ctx.dir / "run"
        cmd = [*TRAIN, *TINY_MODEL, f"data.shard_dir={shards}", f"data.train_labels={labels}",
               "data.split_by=episode", "data.val_fraction=0.25", "data.test_fraction=0.25",
               "test_after_fit=true", "trainer.max_epochs=2", f"paths.output_dir={run_dir}",
               f"hydra.run.dir={run_dir}"]  # fmt: skip
        cmd = [c for c in cmd if c != "test_after_fit=false"]
    elif command == "predict":
        cmd = [*PREDICT, f"ckpt={a.ckpt_a}", f"input={shards}", f"out={ctx.dir / 'pred'}",
               ALL_FORMATS]  # fmt: skip
    else:
        cmd = [*VALIDATE, f"labels={labels}", f"shards={shards}"]
    r = ck.add(run([*strace_prefix(trace), *cmd], timeout=240, prefix=""))
    r.cmd = cmd  # shown without strace
    hits = opened_under(trace, outside)
    if hits:
        ck.unsafe.append(f"{command} reached a file outside its folders through the id: {hits[0]}")
    after = sorted(p.name for p in outside.rglob("*"))
    if after != before:
        ck.unsafe.append(f"{command} wrote outside its folders: {sorted(set(after) - set(before))}")
    if depth != 2:
        shutil.rmtree(outside, ignore_errors=True)
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    ck.no_raw_control(r)
    if command == "train":
        ck.exit(r, 0, "train")
        last = ctx.dir / "run" / "checkpoints" / "last.ckpt"
        ck.ok(ckpt_state(last) is not None, "train: no last.ckpt that loads")
    elif command == "predict":
        ck.exit(r, 0, "predict")
        recs = check_records(ck, ctx.dir / "pred", ("json", "edl", "ffmetadata", "vtt"))
        n = len(read_manifest(a.lib_shards))  # the sound episodes, without the planted id
        ck.ok(len(recs) == n, f"predict: {len(recs)} records of the {n} sound episodes")
        ck.ok(
            named(r.text, evil) or "cannot be used as a path" in r.text,
            "predict: the skipped id is not named",
        )
    else:
        ck.exit(r, 1, "validate")  # the id has no shard it may use: rejected
    return verdict(ck, r)


# --- training with hostile labels ----------------------------------------------------------


def train_labels_case(ctx: Ctx, text: str, codes: set[int], names: list[str]) -> Verdict:
    a = ctx.assets
    ck = Check()
    labels = ctx.dir / "labels.json"
    labels.write_text(text, encoding="utf-8")
    out = ctx.dir / "run"
    cmd = [*TRAIN, *a.lib_train_args(out, labels), "trainer.max_epochs=2"]
    r = ck.add(run(cmd, timeout=180))
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    ck.exit(r, codes, "train")
    ck.no_raw_control(r)
    if r.rc == 2:
        ck.one_error(r, names or [str(labels)], "train")
        ck.ok(
            not (out / "checkpoints").is_dir() or not any((out / "checkpoints").iterdir()),
            "train wrote checkpoints before refusing",
        )
    elif r.rc == 0:
        ck.ok(ckpt_state(out / "checkpoints" / "last.ckpt") is not None, "no last.ckpt that loads")
        for n in names:
            ck.ok(named(r.text, n), f"train's log does not name the rejected {n!r}")
    return verdict(ck, r)


TRAIN_TEXTS = {
    "train_bad_rows_among_good": (
        obj(("harbor_s01e01", row("0:01:06", "0:00:10")),
            ("northwind_s01e01", row("0:00:02", "0:00:09")),
            ("vandal_s01e01", row("0:00:06", "0:00:10")),
            ("harbor_s01e02", row("٠:٠٠:٠٥", "0:00:09")),
            ("quarry_s01e01", row("0:00:09", "0:00:03")), ("bad\x00id", row(1, 5))),
        {0}, ["harbor_s01e02", "quarry_s01e01", "bad\\x00id"]),
    "train_empty_object": ("{}", {2}, []),
    "train_all_rows_rejected": (obj(("harbor_s01e01", row("x", "y")),
                                    ("northwind_s01e01", row(9, 2))), {2}, []),
    "train_unknown_ids_only": (obj(("nobody_s01e01", row(1, 5)), ("nobody_s01e02", row(2, 6))),
                               {2}, []),
    "train_not_an_object": ("[1, 2, 3]", {2}, []),
    "train_invalid_json": ('{"harbor_s01e01": {"start": 1,', {2}, []),
    "train_beyond_duration": (obj(("harbor_s01e01", row("0:00:06", "0:00:10")),
                                  ("vandal_s01e01", row("0:00:06", "0:00:10")),
                                  ("northwind_s01e01", row("0:00:02", "0:59:00"))),
                              {0}, ["northwind_s01e01"]),
    "train_huge_int_time": (obj(("harbor_s01e01", row("0:00:06", "0:00:10")),
                                ("vandal_s01e01", row("0:00:06", "0:00:10")),
                                ("northwind_s01e01", HUGE_INT_ROW)),
                            {0}, ["northwind_s01e01"]),
}  # fmt: skip


def val_labels_case(ctx: Ctx, text: str | None) -> Verdict:
    """A broken ``data.val_labels`` file beside good training labels: exit 2 naming it."""
    a = ctx.assets
    ck = Check()
    val = ctx.dir / "val.json"
    if text is not None:
        val.write_text(text)
    out = ctx.dir / "run"
    cmd = [*TRAIN, *a.lib_train_args(out), "trainer.max_epochs=1", f"data.val_labels={val}"]
    r = ck.add(run(cmd, timeout=180))
    if r.timed_out or r.traceback():
        return verdict(ck, r)
    ck.exit(r, 2, "train")
    ck.one_error(r, [str(val)], "train")
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 2) -> None:
        out.append(Case("labels", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for name in TEXTS:
        add(f"validate_{name}", partial(validate_case, name=name), 4 if name == "rows_100k" else 2)
    for what in (
        "directory",
        "missing",
        "fifo",
        "dev_null_link",
        "link_loop",
        "shards_missing",
        "shards_bad_manifest",
        "beyond_duration",
        "unknown_ids",
    ):
        add(f"validate_path_{what}", partial(validate_special, what=what))
    for command in ("train", "predict", "validate"):
        add(f"manifest_id_climbs_out_{command}", partial(escape_case, command=command, depth=2), 15)
    for command in ("train", "predict"):
        add(
            f"manifest_id_climbs_to_tmp_{command}",
            partial(escape_case, command=command, depth=99),
            15,
        )
    for name, (text, codes, names) in TRAIN_TEXTS.items():
        add(name, partial(train_labels_case, text=text, codes=codes, names=names), 10)
    add("train_val_labels_missing", partial(val_labels_case, text=None), 10)
    add("train_val_labels_not_json", partial(val_labels_case, text="not json"), 10)
    return out
