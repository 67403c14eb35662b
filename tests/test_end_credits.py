"""Issue #28: the end credits of a video with no season to compare with, from its last
pictures (Intro Skipper's credits.mp4 among them), and none where it ends otherwise."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from introdet.detection.end_credits import FrameLooks, credits_from, end_credits

ISK = Path(__file__).parent / "media" / "intro-skipper" / "credits.mp4"
FPS = 10


def test_intro_skippers_lone_episode_credits_start_at_300_s():
    """Its TestEndCreditDetection: a 330-s episode whose credits start at 300 +- 3 s."""
    seg, why = end_credits(ISK)
    assert seg is not None, why
    assert seg.start == pytest.approx(300, abs=3)
    assert seg.end == pytest.approx(330, abs=0.5)
    assert why == "dark frames from 5:00 to 5:30"  # black without text: an end card


def _scene(rng: np.random.Generator, t: float) -> np.ndarray:
    """A moving mid-tone picture [64, 96, 3]: what an episode shows."""
    yy, xx = np.mgrid[0:64, 0:96]
    base = 110 + 50 * np.sin(xx / 9 + t) * np.cos(yy / 7 - t / 2)
    return np.clip(base[..., None] + rng.normal(0, 12, (64, 96, 3)), 0, 255).astype(np.uint8)


def _roll(t: float) -> np.ndarray:
    """Names rolling up a black screen [64, 96, 3]."""
    frame = np.full((64, 96, 3), 8, np.uint8)
    for line in range(30):
        y = 64 - int(t * 8) + line * 9
        if 0 <= y < 61:
            x = 10 + (line * 23) % 40
            frame[y : y + 3, x : x + 30 + (line * 7) % 20] = 230
    return frame


def video(path: Path, parts: list[tuple[str, float]], seed: int = 0) -> Path:
    """An H.264 video of ``parts``: ("scene" | "roll" | "black" | "fade" | "card", seconds)."""
    rng = np.random.default_rng(seed)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 96, 64, "yuv420p"
        s.options = {"g": "50"}  # a keyframe every 5 s, as broadcast files have
        k = 0
        for kind, seconds in parts:
            n = round(seconds * FPS)
            for i in range(n):
                t = k / FPS
                if kind == "scene":
                    pic = _scene(rng, t)
                elif kind == "roll":
                    pic = _roll(i / FPS)
                elif kind == "fade":  # a scene going dark
                    pic = (_scene(rng, t) * (1 - i / n)).astype(np.uint8)
                elif kind == "card":  # one line of white text on black
                    pic = np.zeros((64, 96, 3), np.uint8)
                    pic[30:34, 20:76] = 235
                else:
                    pic = np.zeros((64, 96, 3), np.uint8)
                frame = av.VideoFrame.from_ndarray(pic, format="rgb24")
                frame.pts = k
                out.mux(s.encode(frame))
                k += 1
        out.mux(s.encode())
    return path


def test_a_roll_on_black_is_found_to_the_frame_second(tmp_path):
    seg, why = end_credits(video(tmp_path / "e.mp4", [("scene", 170.0), ("roll", 40.0)]))
    assert seg is not None, why
    assert seg.start == pytest.approx(170.0, abs=0.5)
    assert seg.end == pytest.approx(210.0, abs=0.2)
    assert why.startswith("dark frames with text from 2:50")


def test_credits_end_where_a_preview_begins(tmp_path):
    parts = [("scene", 150.0), ("roll", 30.0), ("scene", 20.0)]
    seg, why = end_credits(video(tmp_path / "e.mp4", parts))
    assert seg is not None, why
    assert (seg.start, seg.end) == (pytest.approx(150.0, abs=0.5), pytest.approx(180.0, abs=0.5))


@pytest.mark.parametrize(
    "parts, why",
    [
        ([("scene", 120.0)], "no dark frames at the end"),
        ([("scene", 118.0), ("fade", 1.0), ("black", 1.5)], "too short for credits"),
        ([("scene", 80.0), ("card", 4.0), ("scene", 36.0)], "too far from the end"),
        ([("scene", 120.0), ("black", 2.0)], "too short for credits"),
    ],
    ids=["scenes to the end", "a fade to black", "a title card mid-way", "two seconds of black"],
)
def test_no_credits_where_a_video_ends_otherwise(tmp_path, parts, why):
    seg, said = end_credits(video(tmp_path / "e.mp4", parts))
    assert seg is None and why in said


def test_dark_frames_in_the_first_half_are_not_credits():
    times = np.arange(0, 40, 0.25)
    dark = times >= 10  # a video dark from 10 s to its end at 40 s: a night, not its credits
    seen = FrameLooks(times, dark, dark, np.zeros(len(times), bool))
    seg, why = credits_from(seen, 40.0)
    assert seg is None and why == "dark frames from 0:10: in the first half, not credits"
