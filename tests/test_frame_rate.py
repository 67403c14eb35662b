"""The frame rate: the stream's declared rate where its timestamps agree (a 24-fps Matroska file
rounds its 41.667 ms frame steps to 41 or 42 ms), the timestamps where they do not."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.detection.postprocess import Segment
from introdet.detection.refine import refine_boundaries
from introdet.media.probe import frame_rate, probe

NTSC_FILM, NTSC = 24000 / 1001, 30000 / 1001


def frames(n: int) -> list[np.ndarray]:
    """Two shots of grainy colour with a moving box: something for refinement to look at."""
    rng = np.random.default_rng(0)
    out = []
    for k in range(n):
        f = np.full((48, 64, 3), 60 if k < n // 2 else 180, np.uint8)
        f[:] += rng.integers(0, 8, (48, 64, 1), dtype=np.uint8)
        f[16:32, 4 + k % 40 : 16 + k % 40] = 240
        out.append(f)
    return out


def recorded_fps(path: Path) -> float:
    """``video_fps`` as refinement hands it to a predict record."""
    _, extra = refine_boundaries(path, Segment(1.0, 3.0, 1.0))
    return extra["video_fps"]


@pytest.mark.parametrize(
    ("name", "fps", "codec"),
    [
        ("film.mkv", 24, "libx265"),  # issue #26: recorded 23.8095 (steps rounded to 42 ms)
        ("ntsc_film.mkv", NTSC_FILM, "libx265"),
        ("ntsc_film_h264.mkv", NTSC_FILM, "libx264"),
        ("ntsc.mkv", NTSC, "libx264"),
        ("pal.mp4", 25, "libx264"),
        ("ntsc.mp4", NTSC, "libx264"),  # a millisecond clock written into MP4's 1/16000
        ("film.webm", 24, "libvpx-vp9"),
    ],
)
def test_declared_rate_wins_over_rounded_timestamps(tmp_path: Path, name, fps, codec) -> None:
    path = write_video(tmp_path / name, frames(5 * 24), fps=fps, codec=codec)
    assert probe(path).fps == pytest.approx(fps, rel=1e-9)
    assert recorded_fps(path) == pytest.approx(fps, rel=1e-9)


@pytest.mark.parametrize(
    ("name", "fps", "resolution"),
    [
        ("film.mkv", 24, 0.001),  # Matroska's 1 ms clock
        ("film.mp4", 24, 0.001),  # milliseconds written into MP4's 1/16000: steps 656 or 672
        ("pal.mp4", 25, 1 / 16000),  # every step 640 ticks: exact, checked to the tick
    ],
)
def test_timestamp_resolution(tmp_path: Path, name: str, fps: float, resolution: float) -> None:
    info = probe(write_video(tmp_path / name, frames(48), fps=fps))
    assert info.resolution == pytest.approx(resolution, rel=1e-9)


def test_variable_frame_rate_keeps_its_timestamps(tmp_path: Path) -> None:
    # the header declares 25 fps (Matroska's default duration); the frames step 25..60 ms
    steps = np.random.default_rng(7).integers(25, 61, 120) / 1000.0
    times = np.r_[0, np.cumsum(steps)[:-1]]
    path = write_video(tmp_path / "vfr.mkv", frames(120), fps=25, times=list(times))
    info = probe(path)
    assert float(info.rates[0]) == 25
    # probing: frames a second over the first RATE_PACKETS frames, not the header's 25
    assert info.fps == pytest.approx(47 / (times[47] - times[0]), rel=1e-9)
    # refinement: the usual frame step in its windows (0..4 s here: 1 +- 2 s and 3 +- 2 s)
    win = np.diff(times[times < 5.0])
    usual = win[np.abs(win - np.median(win)) <= 0.001 + 1e-9]
    assert recorded_fps(path) == pytest.approx(1 / usual.mean(), rel=1e-9)


def test_wrong_header_gives_way_to_timestamps(tmp_path: Path) -> None:
    # frames every 1/24 s under a header that says 30: the timestamps win, to the frame
    times = [k / 24 for k in range(120)]
    path = write_video(tmp_path / "liar.mkv", frames(120), fps=30, times=times)
    assert float(probe(path).rates[0]) == 30
    assert probe(path).fps == pytest.approx(24, abs=0.02)  # 47 steps, their ends within 1 ms
    assert recorded_fps(path) == pytest.approx(24, abs=0.02)


@pytest.mark.parametrize(
    ("rates", "steps", "resolution", "expected"),
    [
        # a 1 ms clock: 41.667 ms frames step 42, 41, 42 ...
        ([Fraction(24)], [0.042, 0.041, 0.042] * 10, 0.001, 24.0),
        ([Fraction(24000, 1001)], [0.042, 0.042, 0.041] * 10, 0.001, NTSC_FILM),
        # an MP4's measured average and its base rate: the same rate, the simpler one
        ([Fraction(576000, 19219), Fraction(30000, 1001)], [0.033, 0.034] * 10, 0.001, NTSC),
        # 24 and 23.976 are not the same rate: the first that agrees
        ([Fraction(24000, 1001), Fraction(24)], [0.042, 0.041, 0.042] * 10, 0.001, NTSC_FILM),
        # MPEG-TS's 90 kHz clock tells 24 from 23.976 (3753.75 ticks a frame)
        (
            [Fraction(24), Fraction(24000, 1001)],
            [3754 / 90000, 3753 / 90000] * 10,
            1 / 90000,
            NTSC_FILM,
        ),
        # interlaced: a field rate declared first, frames every 40 ms
        ([Fraction(50), Fraction(25)], [0.04] * 10, 1 / 90000, 25.0),
        # no steps: the first declared rate; nothing at all: None
        ([Fraction(25), Fraction(24)], [], 0.001, 25.0),
        ([], [], 0.001, None),
        # nothing declared: the usual step (dropped frames left out)
        ([], [0.04, 0.04, 0.08, 0.04, 0.04], 0.001, 25.0),
    ],
)
def test_frame_rate(rates, steps, resolution, expected) -> None:
    got = frame_rate(rates, steps, resolution)
    assert got == (None if expected is None else pytest.approx(expected, rel=1e-9))
