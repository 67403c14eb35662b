"""Tests for introdet.detection.refine over tiny real videos with cuts and fades at known frames."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.detection.postprocess import Segment
from introdet.detection.refine import RefineConfig, refine_boundaries, refine_episode
from introdet.errors import VideoError

FPS = 25
H, W = 48, 64
HALF_FRAME = 0.5 / FPS


def shot(seed: int, n: int) -> list[np.ndarray]:
    """A shot: a two-colour gradient with grain and a box drifting one pixel per frame."""
    rng = np.random.default_rng(seed)
    a, b = rng.uniform(40, 220, (2, 3))
    t = np.linspace(0, 1, W, dtype=np.float32)[None, :, None]  # [1, W, 1]
    bg = a + (b - a) * t + rng.normal(0, 6, (H, W, 1))  # [H, W, 3]
    box = rng.uniform(30, 230, 3)
    frames = []
    for k in range(n):
        f = bg.copy()
        x = 4 + k % (W - 20)
        f[16:32, x : x + 12] = box
        frames.append(np.clip(f, 0, 255).astype(np.uint8))
    return frames


def faded(frames: list[np.ndarray], alphas: list[float]) -> list[np.ndarray]:
    """The frames scaled towards black, as make_library renders a fade."""
    return [
        np.round(f * np.float32(a)).astype(np.uint8) for f, a in zip(frames, alphas, strict=True)
    ]


def black(n: int) -> list[np.ndarray]:
    return [np.zeros((H, W, 3), np.uint8)] * n


def write(path: Path, frames: list[np.ndarray], **kw) -> Path:
    return write_video(path, frames, fps=FPS, **kw)


# intro = frames 37..161 (two shots), content around it: start 1.48 s, end 6.48 s
CUT_FRAMES = 37, 162


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory) -> Path:
    frames = shot(1, 37) + shot(10, 60) + shot(11, 65) + shot(3, 63)
    return write(tmp_path_factory.mktemp("refine") / "cut.mp4", frames)


@pytest.mark.parametrize(
    ("coarse_start", "coarse_end"), [(1.0, 6.0), (2.0, 7.0), (1.0, 7.0), (2.4, 5.5)]
)
def test_hard_cuts_snap_to_exact_frames(cut_video: Path, coarse_start: float, coarse_end: float):
    coarse = Segment(coarse_start, coarse_end, 0.9)
    seg, extra = refine_boundaries(cut_video, coarse)
    a, b = CUT_FRAMES
    assert seg.start == pytest.approx(a / FPS, abs=HALF_FRAME)
    assert seg.end == pytest.approx(b / FPS, abs=HALF_FRAME)
    assert seg.score == 0.9
    assert extra["refined"] and extra["start_refined"] and extra["end_refined"]
    assert extra["coarse_start"] == coarse_start and extra["coarse_end"] == coarse_end
    assert extra["start_frame_pts"] == seg.start and extra["end_frame_pts"] == seg.end
    assert extra["video_fps"] == pytest.approx(FPS)


@pytest.mark.parametrize("before", ["black", "content"])
def test_fade_in_starts_at_first_lit_frame(tmp_path: Path, before: str):
    # content 0..24, then black or more content 25..39, then the intro fades in over 40..51
    # (its first frame already 1/12 lit, as in the demo library), cut to content at 140
    intro = shot(10, 100)
    lit = faded(intro[:12], [(k + 1) / 12 for k in range(12)]) + intro[12:]
    gap = black(15) if before == "black" else shot(2, 15)
    path = write(tmp_path / "fade_in.mp4", shot(1, 25) + gap + lit + shot(3, 60))
    for coarse_start in (1.0, 2.0, 2.6):
        seg, extra = refine_boundaries(path, Segment(coarse_start, 6.0, 1.0))
        assert extra["start_refined"]
        # the rule: the intro starts at the fade's first frame, the one after the black
        assert seg.start == pytest.approx(40 / FPS, abs=HALF_FRAME)
        assert seg.end == pytest.approx(140 / FPS, abs=HALF_FRAME)


@pytest.mark.parametrize("after", ["black", "content"])
def test_fade_to_black_ends_after_first_black_frame(tmp_path: Path, after: str):
    # intro 30..129; its last 12 frames fade out, reaching black on frame 129 (alpha 0); then
    # either more black and content from 140 or content at once: the intro ends at frame 130
    intro = shot(10, 100)
    out = intro[:88] + faded(intro[88:], [(11 - k) / 12 for k in range(12)])
    tail = black(10) + shot(3, 60) if after == "black" else shot(3, 70)
    path = write(tmp_path / "fade_out.mp4", shot(1, 30) + out + tail)
    for coarse_end in (5.0, 6.0, 4.4):
        seg, extra = refine_boundaries(path, Segment(1.0, coarse_end, 1.0))
        assert extra["end_refined"]
        assert seg.end == pytest.approx(130 / FPS, abs=HALF_FRAME)
        assert seg.start == pytest.approx(30 / FPS, abs=HALF_FRAME)


def test_variable_frame_rate_gives_exact_pts(tmp_path: Path):
    rng = np.random.default_rng(7)
    steps = rng.integers(25, 60, 200)  # milliseconds between frames
    times = np.r_[0, np.cumsum(steps)[:-1]] / 1000.0
    a, b = 53, 140
    frames = shot(1, a) + shot(10, b - a) + shot(3, 200 - b)
    path = write(tmp_path / "vfr.mkv", frames, times=list(times))
    coarse = Segment(round(times[a]), round(times[b]), 1.0)
    seg, extra = refine_boundaries(path, coarse)
    assert extra["refined"]
    assert seg.start == pytest.approx(times[a], abs=1e-6)
    assert seg.end == pytest.approx(times[b], abs=1e-6)


def test_times_count_from_stream_start(tmp_path: Path):
    frames = shot(1, 37) + shot(10, 125) + shot(3, 63)
    path = write(tmp_path / "late.mp4", frames, start=1.5)  # first frame at pts 1.5 s
    seg, extra = refine_boundaries(path, Segment(1.0, 6.0, 1.0))
    assert extra["refined"]
    assert seg.start == pytest.approx(37 / FPS, abs=HALF_FRAME)
    assert seg.end == pytest.approx(162 / FPS, abs=HALF_FRAME)


def test_smooth_gradient_keeps_coarse(tmp_path: Path):
    # the picture's colour drifts a little every frame: no cut, no black, nothing to snap to
    base = shot(4, 1)[0].astype(np.float32)
    frames = [np.clip(base * (0.6 + 0.4 * k / 225), 0, 255).astype(np.uint8) for k in range(225)]
    path = write(tmp_path / "smooth.mp4", frames)
    coarse = Segment(2.0, 6.0, 0.7)
    seg, extra = refine_boundaries(path, coarse)
    assert seg == coarse
    assert not extra["refined"] and not extra["start_refined"] and not extra["end_refined"]
    assert extra["start_frame_pts"] is None and extra["end_frame_pts"] is None


def test_reference_overrides_a_stronger_nearer_cut(tmp_path: Path):
    # content shot at 0..26, then content shot 27..49, then the intro 50..149: coarse start 1.0
    # sits on the content cut at 27; only the reference tells that the intro starts at 50
    intro = shot(10, 100)
    frames = shot(1, 27) + shot(2, 23) + intro + shot(3, 50)
    path = write(tmp_path / "ref2.mp4", frames)
    seg, _ = refine_boundaries(path, Segment(1.0, 6.0, 1.0), reference=intro[::3])
    assert seg.start == pytest.approx(50 / FPS, abs=HALF_FRAME)
    assert seg.end == pytest.approx(150 / FPS, abs=HALF_FRAME)


def test_reference_ignores_black_that_looks_like_a_dark_fade_frame(tmp_path: Path):
    # the intro (30..129) fades in over 24 frames from a cut; after it: content 130..139,
    # black 140..159, content. Black matches the reference's faint first frames, yet must not
    # count as intro; the content -> black cut (5.6 s) is nearer the coarse end (6.0) than the
    # true end (5.2 s)
    intro = shot(10, 100)
    lit = faded(intro[:24], [(k + 1) / 24 for k in range(24)]) + intro[24:]
    frames = shot(1, 30) + lit + shot(2, 10) + black(20) + shot(3, 60)
    path = write(tmp_path / "ref3.mp4", frames)
    seg, extra = refine_boundaries(path, Segment(1.0, 6.0, 1.0), reference=lit)
    assert extra["refined"]
    assert seg.start == pytest.approx(30 / FPS, abs=HALF_FRAME)
    assert seg.end == pytest.approx(130 / FPS, abs=HALF_FRAME)


def test_unreadable_file_keeps_coarse(tmp_path: Path, caplog):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    coarse = Segment(3.0, 20.0, 0.8)
    with pytest.raises(VideoError, match="broken.mp4"):
        refine_boundaries(bad, coarse)
    with caplog.at_level(logging.WARNING, logger="introdet.detection.refine"):
        seg, extra = refine_episode(bad, coarse)
    assert seg == coarse
    assert extra["refined"] is False and extra["coarse_start"] == 3.0
    assert "broken.mp4" in caplog.text
    seg, extra = refine_episode(tmp_path / "missing.mkv", coarse)
    assert seg == coarse and not extra["start_refined"]


def test_refine_episode_refines_a_good_file(cut_video: Path):
    seg, extra = refine_episode(cut_video, Segment(1.0, 6.0, 1.0))
    assert extra["refined"]
    assert seg.start == pytest.approx(CUT_FRAMES[0] / FPS, abs=HALF_FRAME)


def test_bad_config_is_rejected():
    with pytest.raises(ValueError, match="span"):
        RefineConfig(span=0)
