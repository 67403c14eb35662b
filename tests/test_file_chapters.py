"""Issue #28: the chapters a file already carries, read without decoding, and the segments
their names tell (Intro Skipper's TestChapterAnalyzer case among them)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.detection.chapter_names import (
    COMMERCIAL,
    CREDITS,
    INTRO,
    PREVIEW,
    RECAP,
    kind_of,
    segments_of,
)
from introdet.errors import VideoError
from introdet.media.file_chapters import FileChapter, FileChapters, read_chapters

MS = Fraction(1, 1000)


def chaptered(path: Path, seconds: int, marks: list[tuple[float, float | None, str]]) -> Path:
    """A ``seconds``-long 16x16 video at 1 fps whose container carries ``marks``
    (start, end or None: an end the container leaves to the next start, title)."""
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264" if path.suffix != ".webm" else "libvpx-vp9", rate=1)
        s.width = s.height = 16
        s.pix_fmt = "yuv420p"
        for i in range(seconds):
            f = av.VideoFrame.from_ndarray(np.full((16, 16, 3), i % 255, np.uint8), "rgb24")
            f.pts = i
            out.mux(s.encode(f))
        out.mux(s.encode())
        out.set_chapters([
            {"id": k + 1, "start": round(a * 1000), "end": round((a if b is None else b) * 1000),
             "time_base": MS, "metadata": {"title": t} if t else {}}
            for k, (a, b, t) in enumerate(marks)
        ])  # fmt: skip
    return path


def test_intro_skippers_chapter_case_gives_intro_and_credits(tmp_path):
    """TestChapterAnalyzer: "Cold Open" 0, "Opening" 60, "Episode" 90, "Credits" 1890, a
    2000-s file: the intro [60, 90] and the credits [1890, 2000]."""
    video = chaptered(tmp_path / "e1.mkv", 2000, [(0, 60, "Cold Open"), (60, 90, "Opening"),
                                                   (90, 1890, "Episode"),
                                                   (1890, 2000, "Credits")])  # fmt: skip
    reading = segments_of(read_chapters(video))
    assert [(s.kind, s.start, s.end) for s in reading.segments] == [
        (INTRO, 60.0, 90.0),
        (CREDITS, 1890.0, 2000.0),
    ]
    assert reading.of(INTRO).evidence == "chapter 'Opening'"
    assert reading.notes == ()


@pytest.mark.parametrize("suffix", [".mp4", ".webm"])
def test_chapters_of_other_containers_are_read(tmp_path, suffix):
    untitled = "" if suffix == ".webm" else "Part A"  # FFmpeg's MP4 muxer repeats a title
    video = chaptered(tmp_path / f"e1{suffix}", 120, [(0, 10, "Recap"), (10, 40, "OP"),
                                                       (40, 100, untitled),
                                                       (100, 120, "ED")])  # fmt: skip
    found = read_chapters(video)
    assert [c.title for c in found.chapters] == ["Recap", "OP", untitled, "ED"]
    assert found.duration == pytest.approx(120, abs=1.5)
    kinds = [(s.kind, round(s.start), round(s.end)) for s in segments_of(found).segments]
    assert kinds == [(RECAP, 0, 10), (INTRO, 10, 40), (CREDITS, 100, 120)]


def test_a_chapter_without_an_end_ends_where_the_next_begins(tmp_path):
    video = chaptered(tmp_path / "e1.mkv", 300, [(0, None, "Prologue"), (30, None, "Opening"),
                                                  (120, None, "Episode")])  # fmt: skip
    found = read_chapters(video)
    assert [(c.start, c.end) for c in found.chapters[:2]] == [(0.0, 30.0), (30.0, 120.0)]
    assert found.chapters[-1].end == pytest.approx(300, abs=1.5)


def test_a_file_without_chapters_has_none_and_a_damaged_one_is_an_error(tmp_path):
    plain = chaptered(tmp_path / "plain.mkv", 5, [])
    assert read_chapters(plain).chapters == ()
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(VideoError, match="bad.mkv"):
        read_chapters(bad)


@pytest.mark.parametrize(
    "title, kind",
    [
        ("Opening", INTRO), ("OP2", INTRO), ("Opening: Unravel", INTRO), ("OP - Guren", INTRO),
        ("Chapter 3 - Opening", INTRO), ("02. Opening", INTRO), ("Opening II", INTRO),
        ("Vorspann", INTRO), ("Générique", INTRO), ("オープニング", INTRO), ("Czołówka", INTRO),
        ("Заставка", INTRO), ("Ending 1", CREDITS), ("End Credits", CREDITS),
        ("Credits (cont.)", CREDITS), ("Générique de fin", CREDITS), ("Abspann", CREDITS),
        ("Napisy końcowe", CREDITS), ("エンディング", CREDITS), ("Титры", CREDITS),
        ("Previously on Lost", RECAP), ("Was bisher geschah", RECAP), ("Rückblick", RECAP),
        ("Next time on Lost", PREVIEW), ("次回予告", PREVIEW), ("Vorschau", PREVIEW),
        ("Eyecatch", COMMERCIAL), ("Werbung", COMMERCIAL),
        # stories and plain numbering name nothing
        ("Opening Night", None), ("The Credits Scene", None), ("Cold Open", None),
        ("Prologue", None), ("Episode", None), ("Chapter 1", None), ("00:05:00.000", None),
        ("Next", None), ("Previously", RECAP), ("Opera", None), ("Edge", None),
    ],
)  # fmt: skip
def test_chapter_titles_name_segment_kinds(title, kind):
    assert kind_of(title) == kind


def test_mislabelled_chapters_are_not_taken_and_the_note_says_why():
    """An "Opening" of 25 minutes (a whole act named so), "Credits" that start the film."""
    reading = segments_of(_file(2460.0, (0, 40, "End Credits"), (40, 1540, "Opening"),
                                (1540, 2400, "Episode"), (2400, 2460, "Next time")))  # fmt: skip
    assert [(s.kind, s.start) for s in reading.segments] == [(PREVIEW, 2400)]
    credits, opening = reading.notes
    assert "'End Credits' (0:00-0:40) not taken as the credits: it starts in the first" in credits
    assert "'Opening' (0:40-25:40) not taken as the intro: 1500 s is longer than any" in opening


def test_neighbouring_chapters_of_one_kind_are_one_segment():
    found = _file(1300.0, (0, 100, "Episode"), (100, 150, "OP part 1"), (150, 190, "OP part 2"),
                  (190, 1300, "Episode"))  # fmt: skip
    assert [(s.kind, s.start, s.end) for s in segments_of(found).segments] == [(INTRO, 100, 190)]


def _file(duration: float, *marks: tuple[float, float, str]) -> FileChapters:
    return FileChapters(tuple(FileChapter(*m) for m in marks), duration)
