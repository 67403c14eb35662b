from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from introdet.media.labels import (
    AnnotationError,
    group_series,
    labels_for,
    load_annotations,
    parse_annotations,
    parse_time,
    series_from_name,
    series_key,
    split_episodes,
)
from introdet.validate import main
from tests.commands import help_text, run_command


def test_parse_time_formats():
    assert parse_time("0:01:42") == 102
    assert parse_time("01:42") == 102
    assert parse_time("1:00:00") == 3600
    assert parse_time(95) == 95 and parse_time("95.5") == 95.5
    for bad in ("1:75", "abc", "", None, True, "-3", float("nan"), [1]):
        with pytest.raises(ValueError):
            parse_time(bad)


# every kind of bad row seen in real labels files, in their format; "dup" appears twice
RAW = """{
 "good": {"name": "Блеск. 2 сезон, 5 серия", "url": "u", "start": "0:01:42", "end": "0:01:47"},
 "slip": {"name": "Блеск. 2 сезон, 6 серия", "start": "0:03:47", "end": "0:03:10"},
 "backwards": {"name": "X. 1 сезон, 1 серия", "start": "0:05:00", "end": "0:03:10"},
 "equal": {"start": "0:01:00", "end": "0:01:00"},
 "negative": {"start": -5, "end": 10},
 "toolong": {"start": "0:01:00", "end": "0:09:00"},
 "garbled": {"start": "1:2:3:4", "end": "0:01:00"},
 "dup": {"start": 1, "end": 5},
 "dup": {"start": 2, "end": 6},
 "unknown": {"start": 1, "end": 5},
 "nointro": {"name": "X. 1 сезон, 2 серия", "start": null, "end": null},
 "seconds": {"series": "Y", "start": 12.5, "end": "30"}
}"""


def test_fixes_and_rejections(tmp_path):
    path = tmp_path / "labels.json"
    path.write_text(RAW, encoding="utf-8")
    known = [
        "good",
        "slip",
        "backwards",
        "equal",
        "negative",
        "toolong",
        "garbled",
        "dup",
        "nointro",
        "seconds",
    ]
    ann = load_annotations(path, durations={"toolong": 300.0}, known=known)
    assert set(ann.intros) == {"good", "slip", "nointro", "seconds"}
    assert (ann.intros["slip"].start, ann.intros["slip"].end) == (167.0, 190.0)
    assert [e for e, _ in ann.fixed] == ["slip"]
    reasons = dict(ann.rejected)
    assert set(reasons) == {
        "backwards",
        "equal",
        "negative",
        "toolong",
        "garbled",
        "dup",
        "unknown",
    }
    assert "not after start" in reasons["backwards"] and "negative" in reasons["negative"]
    assert "beyond" in reasons["toolong"] and "duplicate" in reasons["dup"]
    assert "unknown episode" in reasons["unknown"] and "not a time" in reasons["garbled"]
    assert ann.intros["nointro"].interval is None
    assert ann.intros["good"].series == "Блеск" and ann.intros["seconds"].series == "Y"
    assert (
        all(str(path) in line for line in ann.report) and len(ann.report) == 9
    )  # dup: one line per row


def test_backwards_by_more_than_a_minute_is_not_fixed():
    ann = parse_annotations([("a", {"start": "0:05:00", "end": "0:03:59"})])
    assert not ann.intros and "not after start" in ann.rejected[0][1]
    # the fix must give a valid interval: start - 60 < 0 is no fix
    ann = parse_annotations([("b", {"start": 50, "end": 20})])
    assert not ann.intros and not ann.fixed


def test_series_names_fold_lookalikes_and_punctuation():
    names = [
        "Амepикaнcкий вaндaл. 1 сезон, 2 серия",
        "Американский вандал, 1 сезон 3 серия",
        "АМЕРИКАНСКИЙ  ВАНДАЛ 2 сезон. 1 серия",
    ]
    keys = {series_key(series_from_name(n)) for n in names}
    assert len(keys) == 1
    assert series_from_name("Harbor S01E03") == "Harbor"
    assert series_key("Harbor") != series_key("Harbour")


def test_labels_half_overlap_rule():
    assert labels_for(30, (10.0, 20.0)).nonzero()[0].tolist() == list(range(10, 20))
    assert labels_for(30, (10.4, 20.6)).nonzero()[0].tolist() == list(range(10, 21))
    assert labels_for(30, (10.6, 20.4)).nonzero()[0].tolist() == list(range(11, 20))
    assert labels_for(15, (10.0, 20.0)).nonzero()[0].tolist() == list(range(10, 15))
    assert labels_for(5, None).sum() == 0


def _intros(n_series: int, n_eps: int):
    pairs = [
        (f"s{s}e{e}", {"name": f"Show{s}. 1 сезон, {e} серия", "start": 1, "end": 5})
        for s in range(n_series)
        for e in range(n_eps)
    ]
    return parse_annotations(pairs).intros


def test_split_by_series_keeps_series_together():
    intros = _intros(10, 3)
    parts = split_episodes(intros, "series", 0.2, 0.2, seed=1)
    assert sum(len(v) for v in parts.values()) == 30
    owner = {}
    for name, eps in parts.items():
        for e in eps:
            owner.setdefault(e.split("e")[0], set()).add(name)
    assert all(len(v) == 1 for v in owner.values())
    assert len(parts["test"]) == 6 and len(parts["val"]) == 6
    assert parts == split_episodes(intros, "series", 0.2, 0.2, seed=1)
    assert len(group_series(intros)) == 10


def test_validate_cli(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "l.json"
    path.write_text(RAW, encoding="utf-8")
    assert run_command(main, f"labels={path}") == 1  # there are rejected rows
    out = capsys.readouterr().out
    assert "fixed slip" in out and "rejected backwards" in out and "episodes used" in out
    path.write_text('{"a": {"start": 1, "end": 2}}')
    assert run_command(main, f"labels={path}") == 0
    path.write_text("[1, 2]")
    assert run_command(main, f"labels={path}") == 2
    assert capsys.readouterr().err.startswith(f"error: {path}")
    assert run_command(main, f"labels={path}", f"shards={tmp_path / 'none'}") == 2
    assert "shard folder does not exist" in capsys.readouterr().err
    assert run_command(main, f"labels={path}", "shard=x") == 2  # a mistyped key is an error
    assert "error: unknown key 'shard' (did you mean 'shards'?)" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["l.json"]  # no log or run folder


def test_whole_file_errors(tmp_path):
    with pytest.raises(AnnotationError, match="cannot read"):
        load_annotations(tmp_path / "missing.json")
    (tmp_path / "x.json").write_text("{not json")
    with pytest.raises(AnnotationError, match="not valid JSON"):
        load_annotations(tmp_path / "x.json")


@pytest.mark.parametrize("reader", ["load_annotations", "review"])
def test_a_fifo_is_refused_not_waited_on(reader, tmp_path):
    """Reading a FIFO blocks until someone writes to it: validate, train and the review app
    hung for good."""
    import os
    import threading

    from introdet.review.labels import LabelsFile

    fifo = tmp_path / "labels.json"
    os.mkfifo(fifo)
    raised: list[BaseException] = []

    def read() -> None:
        try:
            (load_annotations if reader == "load_annotations" else LabelsFile)(fifo)
        except AnnotationError as e:
            raised.append(e)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout=10)
    blocked = reader.is_alive()
    if blocked:  # unblock the reader so the test run can end
        with open(fifo, "w"):
            pass
    assert not blocked, "the read waited on the FIFO"
    assert raised and f"{fifo}: not a regular file" in str(raised[0])


@pytest.mark.parametrize(
    "value", [10**400, "1" + "0" * 400 + ":00:00", "1" * 400, -(10**400), 2**1030]
)
def test_a_time_too_large_for_a_float_is_rejected(value):
    """A 400-digit JSON integer raised OverflowError out of the parser (a traceback)."""
    with pytest.raises(ValueError, match="not a time|negative"):
        parse_time(value)
    ann = parse_annotations([("show_s01e01", {"start": value, "end": 5})])
    assert not ann.intros and ann.rejected[0][0] == "show_s01e01"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
times = st.one_of(
    st.none(),
    st.integers(-100, 10_000),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.from_regex(r"\d{1,2}:\d{1,2}(:\d{1,2})?", fullmatch=True),
)
rows = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {"start": times, "end": times},
        optional={"name": st.text(max_size=30), "series": json_values},
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), rows), max_size=8))
def test_parser_never_crashes_and_accounts_for_every_row(tmp_path_factory, entries):
    doc = "{" + ",".join(f"{json.dumps(k)}: {json.dumps(v)}" for k, v in entries) + "}"
    path = tmp_path_factory.mktemp("h") / "l.json"
    path.write_text(doc, encoding="utf-8")
    ann = load_annotations(path)
    used, fixed = set(ann.intros), {e for e, _ in ann.fixed}
    rejected = [e for e, _ in ann.rejected]
    assert fixed <= used and not used & set(rejected)
    assert len(used) + len(rejected) == len(entries)  # every row used or rejected, once
    for intro in ann.intros.values():
        if intro.has_intro:
            assert 0 <= intro.start < intro.end and np.isfinite(intro.end)
        assert isinstance(intro.series, str) and intro.series


def test_validate_cli_help(capsys):
    text = help_text(main, capsys)
    assert "python -m introdet.validate labels=LABELS.json [shards=DIR]" in text
    assert "\n  labels " in text and "\n  shards " in text


def test_the_summary_counts_a_series_once_whatever_its_script():
    """validate counted 4 series where the labels name 3 (and the demo 6 for 5): a name typed
    with Latin look-alikes of its Cyrillic letters counted as a series of its own."""
    row = {"start": 1, "end": 5}
    ann = parse_annotations([
        ("v1", {**row, "name": "Американский вандал. 1 сезон, 1 серия"}),
        ("v2", {**row, "name": "Амepикaнcкий вaндaл. 1 сезон, 2 серия"}),  # Latin e, p, a, c
        ("h1", {**row, "name": "Harbor. 1 сезон, 1 серия"}),
        ("h2", {**row, "name": "HARBOR, 1 сезон 2 серия"}),
        ("n1", {**row, "name": "Northwind. 1 сезон, 1 серия"}),
    ])  # fmt: skip
    assert ann.n_series == 3 == len(group_series(ann.intros))
    assert ann.summary().endswith(", 3 series")
