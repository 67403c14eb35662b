"""Issue #27 items 4, 15 and 18: intros.csv cells a spreadsheet cannot run as formulas, one row
per episode whatever its name holds, and no writer writing a segment no player can use."""

from __future__ import annotations

import csv

import av
import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.detection.postprocess import Segment
from introdet.outputs import export
from introdet.outputs.chapters import apply_chapters, chapter_dicts
from introdet.outputs.export import (
    CSV_COLUMNS,
    chapters,
    episode_record,
    to_edl,
    to_ffmetadata,
    to_vtt,
    write_csv,
)

DURATION = 100.0
INTRO = Segment(10.0, 20.0, 0.9)


def rec(episode="e", source="/v/e.mkv", intro=INTRO, duration=DURATION, **kw):
    return episode_record(episode, source, duration, 1.0, "vit", intro, [], **kw)


def read_rows(path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def edl(record) -> list[tuple[float, float]]:
    return [(float(a), float(b)) for a, b, _ in (x.split() for x in to_edl(record).splitlines())]


# --- item 4: CSV injection ------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["@SUM(1)", "=1+2", "+1", "-1", "\tx", "\rx", "＝1+2"])
def test_csv_text_cells_are_never_formulas(tmp_path, name):
    path = write_csv([rec(name, source="=HYPERLINK(1)")], tmp_path / "intros.csv")
    (row,) = read_rows(path)[1:]
    assert row[0] == "'" + name
    assert row[1] == "'=HYPERLINK(1)"
    assert row[2:6] == ["100.0", "10.0", "20.0", "0.9"]  # numbers unchanged


def test_csv_plain_cells_and_numbers_are_unchanged(tmp_path):
    r = rec("S01E01 - Pilot", intro=None, credits=[80.0, 95.5])
    (row,) = read_rows(write_csv([r], tmp_path / "intros.csv"))[1:]
    assert row == ["S01E01 - Pilot", "/v/e.mkv", "100.0", "", "", "", "80.0", "95.5", *[""] * 5]


# --- item 15: CR and LF inside a field ------------------------------------------------------------


def test_csv_newlines_in_names_keep_one_row_per_episode(tmp_path):
    names = ["a\rb", "c\nd", "e\r\nf"]
    recs = [rec(n, source=f"/v/{n}\r.mkv") for n in names]
    path = write_csv(recs, tmp_path / "intros.csv")
    rows = read_rows(path)
    assert len(rows) == 1 + len(names)
    assert [r[0] for r in rows[1:]] == names
    assert [r[1] for r in rows[1:]] == [f"/v/{n}\r.mkv" for n in names]
    assert all(len(r) == len(CSV_COLUMNS) for r in rows)


# --- item 18: one rule for every writer -----------------------------------------------------------


@pytest.mark.parametrize("intro", [Segment(10.0, 10.0, 0.9), Segment(10.0, 10.0004, 0.9)])
def test_an_empty_intro_is_written_nowhere(tmp_path, intro):
    r = rec(intro=intro)
    assert to_edl(r) == ""
    assert [t for t, _, _ in chapters(r)] == ["Episode"]
    assert "Intro" not in to_ffmetadata(r) and "Intro" not in to_vtt(r)
    (row,) = read_rows(write_csv([r], tmp_path / "intros.csv"))[1:]
    assert row[3:6] == ["", "", ""]
    assert r["intro"]["start"] == r["intro"]["end"] == 10.0  # the record keeps what was found


def test_segments_past_the_end_are_clipped_in_every_writer(tmp_path):
    r = rec(intro=Segment(150.0, 160.0, 0.9), credits=[90.0, 120.0])
    assert edl(r) == [(90.0, 100.0)]
    assert chapters(r) == [("Episode", 0, 90000), ("Credits", 90000, 100000)]
    assert "END=100000" in to_ffmetadata(r) and "00:01:40.000" in to_vtt(r)
    (row,) = read_rows(write_csv([r], tmp_path / "intros.csv"))[1:]
    assert row[3:] == ["", "", "", "90.0", "100.0", *[""] * 5]
    assert r["credits"] == [90.0, 120.0]  # the record keeps what was found


def test_a_file_of_duration_zero_gets_no_chapters(tmp_path):
    r = rec(duration=0.0, credits=[1.0, 2.0])
    assert export.playable_segments(r) == []
    assert chapters(r) == [] and chapter_dicts(r) == []
    assert to_edl(r) == ""
    assert "[CHAPTER]" not in to_ffmetadata(r)
    assert "-->" not in to_vtt(r)
    (row,) = read_rows(write_csv([r], tmp_path / "intros.csv"))[1:]
    assert row[2:] == ["0.0", *[""] * 10]


def test_chapters_applied_to_a_copy_follow_the_same_rule(tmp_path):
    frames = [np.full((48, 64, 3), 9 * i % 256, np.uint8) for i in range(20)]
    video = write_video(tmp_path / "v.mkv", frames, fps=10, audio=False, gop=10)
    dest = apply_chapters(video, rec(duration=0.0, credits=[1.0, 2.0]), tmp_path / "c.mkv")
    with av.open(str(dest)) as c:
        assert list(c.chapters()) == []
    r = rec(intro=Segment(1.0, 1.0, 0.9), duration=2.0, credits=[1.5, 9.0])
    dest = apply_chapters(video, r, tmp_path / "d.mkv")
    with av.open(str(dest)) as c:
        got = [
            (ch["metadata"]["title"], ch["start"] * ch["time_base"], ch["end"] * ch["time_base"])
            for ch in c.chapters()
        ]
    assert got == [("Episode", 0, 1.5), ("Credits", 1.5, 2)]


def test_one_function_decides_for_every_writer():
    r = rec(intro=Segment(1.0, 5.0, 0.9), credits=[100.0, 130.0], duration=99.9996)
    r["intro"]["start"] = -1.0  # a hand-edited record
    # the duration rounds to 100 s, where the credits start: empty after clipping
    assert export.playable_segments(r) == [("Intro", 0, 5000)]
    assert edl(r) == [(0.0, 5.0)]
