"""Tests for introdet.outputs.export: every format parsed back and compared with the segment."""

from __future__ import annotations

import csv
import json
import re
from fractions import Fraction
from pathlib import Path

import av
import pytest

from introdet.detection.postprocess import Segment
from introdet.outputs.export import (
    FORMATS,
    SCHEMA_VERSION,
    SUFFIX,
    RecordError,
    episode_record,
    escape_ffmetadata,
    format_time,
    read_record,
    to_edl,
    to_ffmetadata,
    to_vtt,
    write_csv,
    write_episode,
)

DURATION = 100.0
MS = 1e-3


INTRO = Segment(10.4, 20.6, 0.87)


def record(intro: Segment | None = INTRO, episode: str = "S01E01", **kw) -> dict:
    probs = [0.123456] * int(DURATION)
    return episode_record(episode, "/videos/x.mkv", DURATION, 1.0, "vit", intro, probs, **kw)


# --- tiny parsers, written from the format descriptions rather than from introdet ---------------


def parse_edl(text: str) -> list[tuple[float, float, int]]:
    rows = [line.split() for line in text.splitlines() if line.strip()]
    return [(float(a), float(b), int(action)) for a, b, action in rows]


def unescape_ffmetadata(value: str) -> str:
    return re.sub(r"\\(.)", r"\1", value, flags=re.DOTALL)


def split_ffmetadata_lines(text: str) -> list[str]:
    """Logical lines: a backslash before a newline continues the line (an escaped newline)."""
    lines, current = [], ""
    for raw in text.split("\n"):
        current += raw
        if len(re.search(r"\\*$", raw).group()) % 2:  # odd trailing backslashes: escaped newline
            current += "\n"
            continue
        lines.append(current)
        current = ""
    return lines


def parse_ffmetadata(text: str) -> tuple[dict, list[tuple[str, float, float]]]:
    """(global metadata, chapters as (title, start_s, end_s)) with TIMEBASE arithmetic."""
    lines = split_ffmetadata_lines(text)
    assert lines[0] == ";FFMETADATA1"
    head: dict = {}
    blocks: list[dict] = []
    for line in lines[1:]:
        if not line or line[0] in ";#":
            continue
        if line == "[CHAPTER]":
            blocks.append({})
            continue
        key, value = re.split(r"(?<!\\)=", line, maxsplit=1)
        (blocks[-1] if blocks else head)[key] = unescape_ffmetadata(value)
    chapters = []
    for b in blocks:
        tb = Fraction(b["TIMEBASE"])
        chapters.append((b["title"], float(int(b["START"]) * tb), float(int(b["END"]) * tb)))
    return head, chapters


def parse_vtt_time(stamp: str) -> float:
    h, m, s = stamp.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def parse_vtt(text: str) -> list[tuple[str, float, float]]:
    blocks = text.strip().split("\n\n")
    assert blocks[0] == "WEBVTT"
    cues = []
    for block in blocks[1:]:
        lines = block.split("\n")
        i = next(k for k, line in enumerate(lines) if "-->" in line)
        a, b = (p.strip() for p in lines[i].split("-->"))
        assert re.fullmatch(r"\d\d:\d\d:\d\d\.\d{3}", a) and re.fullmatch(
            r"\d\d:\d\d:\d\d\.\d{3}", b
        )
        cues.append(("\n".join(lines[i + 1 :]), parse_vtt_time(a), parse_vtt_time(b)))
    return cues


def assert_chapters_ok(chapters: list[tuple[str, float, float]], intro: Segment | None) -> None:
    """Contiguous, covering [0, DURATION], no empty chapter, the intro chapter = the segment."""
    assert chapters[0][1] == 0.0
    assert chapters[-1][2] == pytest.approx(DURATION, abs=MS)
    for (_, _, end), (_, start, _) in zip(chapters, chapters[1:], strict=False):
        assert start == end
    assert all(end > start for _, start, end in chapters)
    intros = [c for c in chapters if c[0] == "Intro"]
    if intro is None:
        assert intros == [] and len(chapters) == 1
    else:
        ((_, start, end),) = intros
        assert start == pytest.approx(intro.start, abs=MS)
        assert end == pytest.approx(intro.end, abs=MS)


# --- formats ------------------------------------------------------------------------------------

INTROS = [Segment(10.4, 20.6, 0.87), Segment(0.0, 31.0, 0.9), Segment(12.3456, 100.0, 0.7), None]


@pytest.mark.parametrize("intro", INTROS)
def test_edl_round_trip(intro):
    rows = parse_edl(to_edl(record(intro)))
    if intro is None:
        assert rows == []
    else:
        ((start, end, action),) = rows
        assert start == pytest.approx(intro.start, abs=MS)
        assert end == pytest.approx(intro.end, abs=MS)
        assert action == 3


@pytest.mark.parametrize("intro", INTROS)
def test_ffmetadata_round_trip(intro):
    _, chapters = parse_ffmetadata(to_ffmetadata(record(intro)))
    assert_chapters_ok(chapters, intro)


@pytest.mark.parametrize("intro", INTROS)
def test_vtt_round_trip(intro):
    chapters = parse_vtt(to_vtt(record(intro)))
    assert_chapters_ok(chapters, intro)
    assert chapters == parse_ffmetadata(to_ffmetadata(record(intro)))[1]  # the same chapters


def test_chapter_layout():
    titles = [c[0] for c in parse_vtt(to_vtt(record(Segment(10.4, 20.6, 0.9))))]
    assert titles == ["Episode", "Intro", "Episode"]
    # an intro at 0:00 gives no empty leading chapter, one running to the end no trailing one
    titles = [c[0] for c in parse_vtt(to_vtt(record(Segment(0.0, 20.0, 0.9))))]
    assert titles == ["Intro", "Episode"]
    titles = [c[0] for c in parse_vtt(to_vtt(record(Segment(5.0, 100.0, 0.9))))]
    assert titles == ["Episode", "Intro"]
    assert [c[0] for c in parse_vtt(to_vtt(record(None)))] == ["Episode"]
    assert to_edl(record(None)) == ""


def test_intro_past_probed_duration_is_clipped_in_chapters():
    _, chapters = parse_ffmetadata(to_ffmetadata(record(Segment(90.0, 104.0, 0.9))))
    assert chapters[-1] == ("Intro", 90.0, 100.0)


def test_ffmetadata_escaping():
    assert escape_ffmetadata("a=b;c#d\\e\nf") == "a\\=b\\;c\\#d\\\\e\\\nf"
    episode = "Show = best; #1 \\ cut\nII"
    head, chapters = parse_ffmetadata(to_ffmetadata(record(episode=episode)))
    assert head["title"] == episode
    assert len(chapters) == 3  # the escaped '=', ';', '#' and newline did not break the blocks


def test_ffmpeg_itself_reads_ffmetadata_and_vtt(tmp_path):
    """FFmpeg's own demuxers (through PyAV) agree with the hand parsers."""
    intro = Segment(10.4, 20.6, 0.87)
    rec = record(intro, episode="Блеск = 2x05; #b")
    meta, vtt = write_episode(rec, tmp_path, ["ffmetadata", "vtt"])
    with av.open(str(meta), format="ffmetadata") as c:
        assert c.metadata["title"] == "Блеск = 2x05; #b"
        got = [
            (
                ch["metadata"]["title"],
                float(ch["start"] * ch["time_base"]),
                float(ch["end"] * ch["time_base"]),
            )
            for ch in c.chapters()
        ]
    assert got == [("Episode", 0.0, 10.4), ("Intro", 10.4, 20.6), ("Episode", 20.6, DURATION)]
    with av.open(str(vtt)) as c:
        s = c.streams[0]
        tb = s.time_base
        packets = [p for p in c.demux(s) if p.size]
        cues = [
            (bytes(p).decode(), float(p.pts * tb), float((p.pts + p.duration) * tb))
            for p in packets
        ]
    assert cues == got


def test_format_time():
    assert format_time(0) == "0:00:00.000"
    assert format_time(3723.4567) == "1:02:03.457"
    assert format_time(59.9996) == "0:01:00.000"  # rounding carries into the minutes
    assert format_time(5.25, hour_digits=2) == "00:00:05.250"
    with pytest.raises(ValueError):
        format_time(-1)


# --- records and files --------------------------------------------------------------------------


def test_episode_record_fields():
    rec = record(intro_extra={"coarse_start": 9.0, "refined": True}, season="1")
    assert rec["schema_version"] == SCHEMA_VERSION == 1
    assert rec["intro"] == {
        "start": 10.4,
        "end": 20.6,
        "score": 0.87,
        "coarse_start": 9.0,
        "refined": True,
    }
    assert rec["probabilities"][:2] == [0.1235, 0.1235]
    assert rec["season"] == "1"
    assert record(None)["intro"] is None
    with pytest.raises(RecordError, match="overwrite"):
        record(schema_version=2)
    with pytest.raises(RecordError, match="NaN"):
        episode_record("e", None, 1.0, 1.0, "enc", None, [float("nan")])


def test_write_episode_writes_exactly_the_requested_files(tmp_path):
    rec = record()
    paths = write_episode(rec, tmp_path / "out", ["json", "edl", "vtt"])
    expected = {tmp_path / "out" / f"S01E01{SUFFIX[f]}" for f in ("json", "edl", "vtt")}
    assert set(paths) == expected
    assert set((tmp_path / "out").iterdir()) == expected  # no leftover temp files
    assert paths[2].name == "S01E01.chapters.vtt"
    assert json.loads(paths[0].read_text(encoding="utf-8")) == rec
    assert write_episode(rec, tmp_path / "default") == [tmp_path / "default" / "S01E01.json"]


def test_write_episode_rejects_unknown_format_before_writing(tmp_path):
    with pytest.raises(ValueError, match="srt") as err:
        write_episode(record(), tmp_path, ["json", "srt"])
    assert all(name in str(err.value) for name in FORMATS)
    assert list(tmp_path.iterdir()) == []


def test_write_episode_rejects_path_like_ids(tmp_path):
    for bad in ("../escape", "a/b", ""):
        with pytest.raises(RecordError, match="file name"):
            write_episode(record(episode=bad), tmp_path)


def test_non_ascii_episode_ids(tmp_path):
    rec = record(episode="Блеск 2x05")
    paths = write_episode(rec, tmp_path, list(FORMATS))
    assert {p.name for p in paths} == {f"Блеск 2x05{s}" for s in SUFFIX.values()}
    assert "Блеск 2x05" in paths[0].read_text(encoding="utf-8")  # ensure_ascii=False
    assert read_record(paths[0]) == rec
    csv_path = write_csv([rec], tmp_path / "summary.csv")
    with open(csv_path, newline="", encoding="utf-8") as f:
        assert next(csv.DictReader(f))["episode"] == "Блеск 2x05"


def test_write_csv_round_trip(tmp_path):
    recs = [record(), record(None, episode="S01E02"), record(episode='odd, "quoted" id')]
    path = write_csv(recs, tmp_path / "intros.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["episode", "source", "duration", "intro_start", "intro_end", "score"]
    assert [r["episode"] for r in rows] == ["S01E01", "S01E02", 'odd, "quoted" id']
    assert (float(rows[0]["intro_start"]), float(rows[0]["intro_end"])) == (10.4, 20.6)
    assert float(rows[0]["score"]) == 0.87 and float(rows[0]["duration"]) == DURATION
    assert rows[1]["intro_start"] == rows[1]["intro_end"] == rows[1]["score"] == ""
    assert rows[0]["source"] == "/videos/x.mkv"
    assert [p.name for p in tmp_path.iterdir()] == ["intros.csv"]


def test_read_record_checks_schema(tmp_path):
    (path,) = write_episode(record(), tmp_path)
    assert read_record(path) == record()
    bad = tmp_path / "old.json"
    bad.write_text(json.dumps({**record(), "schema_version": 99}), encoding="utf-8")
    with pytest.raises(RecordError, match=r"old\.json.*schema_version 99"):
        read_record(bad)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError, match=r"broken\.json"):
        read_record(broken)
    with pytest.raises(ValueError, match=r"missing\.json"):
        read_record(tmp_path / "missing.json")


def test_written_files_are_whole_and_match_writers(tmp_path):
    rec = record()
    for path, name in zip(write_episode(rec, tmp_path, list(FORMATS)), FORMATS, strict=True):
        assert Path(path).read_text(encoding="utf-8") == FORMATS[name](rec)
