"""Tests for introdet.outputs.export and .chapters: every format parsed back and compared with the
segments, and chapters written into real videos read back with FFmpeg."""

from __future__ import annotations

import csv
import json
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.atomic import file_mode
from introdet.demo.videofile import write_video
from introdet.detection.postprocess import Segment
from introdet.errors import ConfigError, VideoError
from introdet.outputs import export
from introdet.outputs.chapters import apply_chapters
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


def assert_contiguous(chapters: list[tuple[str, float, float]], duration: float = DURATION) -> None:
    """Covering [0, duration] without gaps, no empty chapter, no two neighbours of one title."""
    assert chapters[0][1] == 0.0
    assert chapters[-1][2] == pytest.approx(duration, abs=MS)
    for (title, _, end), (next_title, start, _) in zip(chapters, chapters[1:], strict=False):
        assert start == end
        assert title != next_title
    assert all(end > start for _, start, end in chapters)


def assert_chapters_ok(chapters: list[tuple[str, float, float]], intro: Segment | None) -> None:
    """Contiguous, covering [0, DURATION], no empty chapter, the intro chapter = the segment."""
    assert_contiguous(chapters)
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


@pytest.mark.parametrize("action", [0, 3])
def test_edl_action_is_an_option(action, tmp_path):
    rows = parse_edl(to_edl(record(), action=action))
    assert rows == [(10.4, 20.6, action)]
    (path,) = write_episode(record(), tmp_path, ["edl"], edl_action=action)
    assert parse_edl(path.read_text(encoding="utf-8")) == rows


@pytest.mark.parametrize("action", [1, 2, 4, -1, 0.0, 3.0, True, "0", None])
def test_edl_actions_that_skip_nothing_are_refused(action, tmp_path):
    with pytest.raises(ConfigError, match="edl_action"):
        to_edl(record(), action=action)
    # refused before anything is written, even when this run writes no EDL
    with pytest.raises(ConfigError, match="edl_action"):
        write_episode(record(), tmp_path, ["json"], edl_action=action)
    assert list(tmp_path.iterdir()) == []


def test_credits_in_edl_and_chapters():
    rec = record(credits=[80.0, 95.5])
    assert parse_edl(to_edl(rec)) == [(10.4, 20.6, 3), (80.0, 95.5, 3)]  # intro, then credits
    assert parse_edl(to_edl(rec, action=0)) == [(10.4, 20.6, 0), (80.0, 95.5, 0)]
    _, chapters = parse_ffmetadata(to_ffmetadata(rec))
    assert chapters == [
        ("Episode", 0.0, 10.4),
        ("Intro", 10.4, 20.6),
        ("Episode", 20.6, 80.0),
        ("Credits", 80.0, 95.5),
        ("Episode", 95.5, DURATION),
    ]
    assert parse_vtt(to_vtt(rec)) == chapters
    # credits without an intro; credits to the end leave no empty trailing chapter
    _, chapters = parse_ffmetadata(to_ffmetadata(record(None, credits=[90.0, DURATION])))
    assert chapters == [("Episode", 0.0, 90.0), ("Credits", 90.0, DURATION)]
    assert parse_edl(to_edl(record(None, credits=[90.0, DURATION]))) == [(90.0, 100.0, 3)]


@pytest.mark.parametrize(
    ("intro", "credits"),
    [
        (Segment(10.0, 20.0, 0.9), [95.0, 104.0]),  # credits past the probed duration
        (Segment(10.0, 20.0, 0.9), [15.0, 30.0]),  # overlapping the intro
        (Segment(10.0, 20.0, 0.9), [12.0, 18.0]),  # inside the intro
        (Segment(10.0, 10.0, 0.9), [50.0, 60.0]),  # a zero-length intro
        (Segment(0.0, 20.0, 0.9), [20.0, 100.0]),  # nothing but intro and credits
        (None, [101.0, 110.0]),  # credits wholly past the end
    ],
)
def test_credits_chapters_stay_contiguous(intro, credits):
    rec = record(intro, credits=credits)
    _, chapters = parse_ffmetadata(to_ffmetadata(rec))
    assert_contiguous(chapters)
    assert chapters == parse_vtt(to_vtt(rec))
    assert {c[0] for c in chapters} <= {"Episode", "Intro", "Credits"}


def test_credits_are_checked_and_kept_in_the_record(tmp_path):
    rec = record(credits=(80.00049, 95.5))
    assert rec["credits"] == [80.0, 95.5]  # ms, as the intro
    (path,) = write_episode(rec, tmp_path)
    assert read_record(path)["credits"] == [80.0, 95.5]
    assert "credits" not in record(credits=None)  # absent, as the schema has it, not null
    assert parse_edl(to_edl(record(None, credits=None))) == []
    for bad in ([5.0], [5.0, "x"], [20.0, 10.0], [float("nan"), 1.0], [-1.0, 5.0], "10-20", 7):
        with pytest.raises(RecordError, match="credits"):
            record(credits=bad)
        with pytest.raises(RecordError, match="S01E01: credits"):  # a hand-edited record file
            to_edl({**record(), "credits": bad})


def test_ffmetadata_escaping():
    assert escape_ffmetadata("a=b;c#d\\e\nf") == "a\\=b\\;c\\#d\\\\e\\\nf"


def test_ffmetadata_has_no_global_tags():
    """A global title= became the video's title wherever the file was applied."""
    text = to_ffmetadata(record(episode="S01E01"))
    head, _ = parse_ffmetadata(text)
    assert head == {}
    assert "S01E01" not in text
    assert text.split("\n")[1] == ""  # the header line, then the first [CHAPTER] block


def test_ffmpeg_itself_reads_ffmetadata_and_vtt(tmp_path):
    """FFmpeg's own demuxers (through PyAV) agree with the hand parsers."""
    intro = Segment(10.4, 20.6, 0.87)
    rec = record(intro, episode="Блеск = 2x05; #b")
    meta, vtt = write_episode(rec, tmp_path, ["ffmetadata", "vtt"])
    with av.open(str(meta), format="ffmetadata") as c:
        assert "title" not in c.metadata
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
    assert rec["schema_version"] == SCHEMA_VERSION == 3
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


CSV_HEADER = ["episode", "source", "duration", "intro_start", "intro_end", "score",
              "credits_start", "credits_end", "recap_start", "recap_end", "preview_start",
              "preview_end", "commercials"]  # fmt: skip


def _csv_rows(records: list[dict], folder) -> list[dict]:
    path = write_csv(records, folder / "intros.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == CSV_HEADER
    return rows


def test_write_csv_round_trip(tmp_path):
    recs = [record(), record(None, episode="S01E02"), record(episode='odd, "quoted" id')]
    rows = _csv_rows(recs, tmp_path)
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


# --- chapters written into the video ------------------------------------------------------------

TAGS = {"title": "My Show", "creation_time": "2024-05-06T07:08:09.000000Z"}
CLIP_S = 10.0  # 10 fps, a key frame each second
CLIP_INTRO = Segment(2.0, 4.5, 0.9)


def video_record(intro: Segment | None = CLIP_INTRO, credits=(8.0, CLIP_S)) -> dict:
    return episode_record("S01E01", None, CLIP_S, 10.0, "vit", intro, [], credits=credits)


def tagged_copy(src: Path, dest: Path) -> Path:
    """``src`` with TAGS and an English audio track, as a user's video has its own tags."""
    with av.open(str(src)) as i, av.open(str(dest), "w") as o:
        o.metadata.update(TAGS)
        streams = {s.index: o.add_stream_from_template(s, opaque=True) for s in i.streams}
        streams[i.streams.audio[0].index].metadata["language"] = "eng"
        for packet in i.demux():
            if packet.size:
                packet.stream = streams[packet.stream.index]
                o.mux(packet)
    return dest


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> dict[str, Path]:
    """A tagged H.264 + AAC clip per container: {suffix: path}."""
    root = tmp_path_factory.mktemp("videos")
    frames = [np.full((48, 64, 3), (9 * i) % 256, np.uint8) for i in range(int(CLIP_S * 10))]
    out = {}
    for suffix in (".mkv", ".mp4"):
        plain = write_video(root / f"plain{suffix}", frames, fps=10, audio=True, gop=10)
        out[suffix] = tagged_copy(plain, root / f"tagged{suffix}")
    return out


def read_chapters(path: Path) -> list[tuple[str, Fraction, Fraction]]:
    with av.open(str(path)) as c:
        return [
            (ch["metadata"]["title"], ch["start"] * ch["time_base"], ch["end"] * ch["time_base"])
            for ch in c.chapters()
        ]


def packets(path: Path) -> dict[str, list[bytes]]:
    """Each audio and video stream's packet payloads, by stream type."""
    with av.open(str(path)) as c:
        out: dict[str, list[bytes]] = {"video": [], "audio": []}
        for packet in c.demux(*c.streams.video, *c.streams.audio):
            if packet.size:
                out[packet.stream.type].append(bytes(packet))
        return out


VIDEO_CHAPTERS = [
    ("Episode", 0, 2),
    ("Intro", 2, Fraction(9, 2)),
    ("Episode", Fraction(9, 2), 8),
    ("Credits", 8, 10),
]


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_apply_chapters_writes_chapters_and_keeps_the_rest(videos, tmp_path, suffix):
    src = videos[suffix]
    dest = apply_chapters(src, video_record(), tmp_path / f"S01E01{suffix}")
    assert dest == tmp_path / f"S01E01{suffix}"
    assert read_chapters(dest) == VIDEO_CHAPTERS
    with av.open(str(dest)) as c:
        assert {k: c.metadata.get(k) for k in TAGS} == TAGS
        assert c.streams.audio[0].metadata["language"] == "eng"
    before, after = packets(src), packets(dest)
    assert {k: len(v) for k, v in after.items()} == {k: len(v) for k, v in before.items()}
    assert len(after["video"]) == CLIP_S * 10
    assert after["video"] == before["video"]  # copied, not re-encoded
    assert list(tmp_path.iterdir()) == [dest]  # no temp file left
    assert dest.stat().st_mode & 0o777 == file_mode()


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_apply_chapters_in_place_replaces_the_old_chapters(videos, tmp_path, suffix):
    video = Path(shutil.copy(videos[suffix], tmp_path / f"S01E01{suffix}"))
    apply_chapters(video, video_record(), video)
    with av.open(str(video)) as c:
        n_streams = len(c.streams)
    apply_chapters(video, video_record(Segment(1.0, 3.0, 0.9), credits=None), video)
    assert read_chapters(video) == [("Episode", 0, 1), ("Intro", 1, 3), ("Episode", 3, 10)]
    with av.open(str(video)) as c:
        assert len(c.streams) == n_streams  # an MP4's old chapter track is not copied along
        assert c.metadata["title"] == TAGS["title"]
    assert list(tmp_path.iterdir()) == [video]


def test_apply_chapters_refuses_containers_without_chapters(videos, tmp_path):
    with pytest.raises(VideoError, match=r"out\.avi: .*'\.avi'"):
        apply_chapters(videos[".mkv"], video_record(), tmp_path / "out.avi")
    with pytest.raises(VideoError, match="suffix-less"):
        apply_chapters(videos[".mkv"], video_record(), tmp_path / "out")
    # WebM takes chapters but not H.264: FFmpeg's refusal names the file
    with pytest.raises(VideoError, match=r"tagged\.mkv: .*out\.webm.*h264"):
        apply_chapters(videos[".mkv"], video_record(), tmp_path / "out.webm")
    assert list(tmp_path.iterdir()) == []


def test_apply_chapters_failures_leave_dest_as_it_was(videos, tmp_path):
    dest = tmp_path / "S01E01.mkv"
    dest.write_bytes(b"the old file")
    broken = tmp_path / "broken.mkv"
    broken.write_bytes(b"\x1a\x45\xdf\xa3" + b"\0" * 64)  # an EBML header, then nothing
    with pytest.raises(VideoError, match=r"broken\.mkv"):
        apply_chapters(broken, video_record(), dest)
    with pytest.raises(VideoError, match=r"missing\.mkv: no such file"):
        apply_chapters(tmp_path / "missing.mkv", video_record(), dest)
    with pytest.raises(RecordError, match="credits"):
        apply_chapters(videos[".mkv"], {**video_record(), "credits": [9.0]}, dest)
    assert dest.read_bytes() == b"the old file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["S01E01.mkv", "broken.mkv"]


def documented_ffmpeg_command() -> list[str]:
    """The ``ffmpeg ...`` line of introdet.outputs.export's docstring, split into arguments."""
    (line,) = [x.strip() for x in export.__doc__.splitlines() if x.strip().startswith("ffmpeg ")]
    return line.split()


def test_documented_ffmpeg_command_maps_chapters_only():
    cmd = documented_ffmpeg_command()
    assert cmd[cmd.index("-map_chapters") + 1] == "1"
    assert "-map_metadata" not in cmd  # it would take the tags from the ffmetadata file


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="no ffmpeg on PATH (apt install ffmpeg)")
def test_ffmetadata_applied_with_the_documented_ffmpeg_command(videos, tmp_path):
    (meta,) = write_episode(video_record(), tmp_path, ["ffmetadata"])
    out = tmp_path / "out.mkv"
    names = {"video.mkv": str(videos[".mkv"]), "video.ffmetadata": str(meta), "out.mkv": str(out)}
    cmd = [names.get(arg, arg) for arg in documented_ffmpeg_command()]
    cmd[1:1] = ["-nostdin", "-loglevel", "error"]
    subprocess.run(cmd, check=True, capture_output=True, timeout=60)
    assert read_chapters(out) == VIDEO_CHAPTERS
    with av.open(str(out)) as c:
        assert c.metadata["title"] == TAGS["title"]  # the episode id did not replace it
    assert packets(out)["video"] == packets(videos[".mkv"])["video"]


# --- issue #26 item 8: outputs --------------------------------------------------------------------


def test_no_sliver_chapter_after_the_credits(videos, tmp_path):
    """Season mode's credits often end a tenth of a second before the probed end of the file:
    no 0.11-s "Episode" chapter after them; the credits run to the end."""
    rec = episode_record(
        "e", None, 55.96, 1.0, "none", Segment(5.0, 15.0, 0.9), [], credits=[40.0, 55.85]
    )
    _, chapters = parse_ffmetadata(to_ffmetadata(rec))
    assert chapters == [
        ("Episode", 0.0, 5.0), ("Intro", 5.0, 15.0), ("Episode", 15.0, 40.0),
        ("Credits", 40.0, 55.96),
    ]  # fmt: skip
    assert parse_vtt(to_vtt(rec)) == chapters
    assert parse_edl(to_edl(rec)) == [(5.0, 15.0, 3), (40.0, 55.85, 3)]  # the EDL: as found
    assert rec["credits"] == [40.0, 55.85]  # and the record
    # the chapters applied to a copy of a video too
    dest = apply_chapters(videos[".mkv"], video_record(credits=(8.0, 9.9)), tmp_path / "c.mkv")
    assert read_chapters(dest)[-1] == ("Credits", 8, 10)


def test_short_episode_chapters_join_a_neighbour():
    def titles(intro, credits, duration=DURATION):
        rec = episode_record("e", None, duration, 1.0, "vit", intro, [], credits=credits)
        _, chapters = parse_ffmetadata(to_ffmetadata(rec))
        assert_contiguous(chapters, duration)
        assert parse_vtt(to_vtt(rec)) == chapters
        return chapters

    # an intro 0.4 s in: it starts the file
    assert titles(Segment(0.4, 20.0, 0.9), None) == [("Intro", 0.0, 20.0), ("Episode", 20.0, 100.0)]
    # half a second between the intro and the credits: the intro's
    assert titles(Segment(10.0, 50.0, 0.9), [50.5, 90.0]) == [
        ("Episode", 0.0, 10.0), ("Intro", 10.0, 50.5), ("Credits", 50.5, 90.0),
        ("Episode", 90.0, 100.0),
    ]  # fmt: skip
    # a whole second is a chapter
    assert titles(None, [90.0, 99.0])[-1] == ("Episode", 99.0, 100.0)
    # a file shorter than that is still one chapter
    assert titles(None, None, 0.5) == [("Episode", 0.0, 0.5)]
    # intro and credits themselves are kept however short: they are what was found
    assert titles(Segment(10.0, 10.5, 0.9), None)[1] == ("Intro", 10.0, 10.5)


def test_csv_has_credits_columns(tmp_path):
    recs = [record(credits=[80.0, 95.5]), record(None, episode="S01E02")]
    rows = _csv_rows(recs, tmp_path)
    assert (rows[0]["credits_start"], rows[0]["credits_end"]) == ("80.0", "95.5")
    assert rows[1]["credits_start"] == rows[1]["credits_end"] == ""


def test_seconds_in_records_and_csv_are_rounded_to_the_ms(tmp_path):
    extra = {"coarse_start": 10.0, "start_frame_pts": 10.4104104104, "end_frame_pts": None}
    rec = episode_record(
        "e", "/v.mkv", 55.597208333333334, 1.0, "vit", INTRO, [0.5], intro_extra=extra,
        other_intros=[[30.123456, 40.987654, 0.123456]],
    )  # fmt: skip
    assert rec["duration"] == 55.597
    assert rec["intro"]["start_frame_pts"] == 10.41 and rec["intro"]["end_frame_pts"] is None
    assert rec["other_intros"] == [[30.123, 40.988, 0.1235]]
    (path,) = write_episode(rec, tmp_path)
    assert '"duration": 55.597,' in path.read_text(encoding="utf-8")
    with open(write_csv([rec], tmp_path / "intros.csv"), newline="", encoding="utf-8") as f:
        assert next(csv.DictReader(f))["duration"] == "55.597"


# --- schema 3: every segment type, in every writer --------------------------------------------

TYPED = [
    {"type": "recap", "start": 0.0, "end": 8.0, "confidence": 1.0, "evidence": "chapter 'Recap'"},
    {"type": "intro", "start": 10.4, "end": 20.6, "confidence": 0.87, "evidence": "the theme"},
    {"type": "commercial", "start": 50.0, "end": 55.0, "confidence": 1.0, "evidence": "x"},
    {"type": "credits", "start": 80.0, "end": 94.0, "confidence": 1.0, "evidence": "y"},
    {"type": "preview", "start": 94.0, "end": 100.0, "confidence": 1.0, "evidence": "z"},
]


def test_every_writer_writes_every_segment_type(tmp_path):
    rec = record(credits=[80.0, 94.0], segments=TYPED)
    # the credits and the preview that follows them at once: one EDL line (MPlayer drops the
    # second of two that touch)
    spans = [(0.0, 8.0), (10.4, 20.6), (50.0, 55.0), (80.0, 100.0)]
    assert [(a, b) for a, b, _ in parse_edl(to_edl(rec))] == spans
    _, chapters = parse_ffmetadata(to_ffmetadata(rec))
    titles = ["Recap", "Episode", "Intro", "Episode", "Commercial", "Episode", "Credits",
              "Preview"]  # fmt: skip
    assert [t for t, _, _ in chapters] == titles
    assert "\nRecap\n" in to_vtt(rec) and "\nPreview\n" in to_vtt(rec)
    (row,) = _csv_rows([rec], tmp_path)
    assert (row["recap_start"], row["recap_end"], row["preview_start"]) == ("0.0", "8.0", "94.0")
    assert row["commercials"] == "50-55" and row["credits_start"] == "80.0"
    dest = apply_chapters(_clip(tmp_path), rec | {"duration": 2.0, "segments": [
        {"type": "recap", "start": 0.0, "end": 0.5, "confidence": 1.0, "evidence": "r"},
        {"type": "preview", "start": 1.5, "end": 2.0, "confidence": 1.0, "evidence": "p"},
    ]}, tmp_path / "copy.mkv")  # fmt: skip
    with av.open(str(dest)) as c:
        assert [ch["metadata"]["title"] for ch in c.chapters()] == ["Recap", "Episode", "Preview"]


def test_records_of_schema_2_still_read_and_write(tmp_path):
    rec = record(credits=[80.0, 94.0]) | {"schema_version": 2}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(rec))
    old = read_record(path)
    assert [(a, b) for a, b, _ in parse_edl(to_edl(old))] == [(10.4, 20.6), (80.0, 94.0)]


def test_a_segment_of_no_known_type_or_no_interval_is_refused():
    with pytest.raises(RecordError, match="no known type"):
        record(segments=[{"type": "outro", "start": 1.0, "end": 2.0}])
    with pytest.raises(RecordError, match=r"recap \[5.0, 2.0\] is not an interval"):
        record(segments=[{"type": "recap", "start": 5.0, "end": 2.0}])


def _clip(tmp_path) -> Path:
    path = tmp_path / "clip.mkv"
    write_video(path, np.zeros((50, 32, 32, 3), np.uint8), fps=25)
    return path
