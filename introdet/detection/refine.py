"""Frame-accurate intro boundaries: snap coarse 1-per-second boundaries to cuts and fades."""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass

import av
import numpy as np

from introdet.checks import FLAG, check_node, number, whole
from introdet.detection.postprocess import Segment
from introdet.media.held_frames import HELD
from introdet.media.probe import VideoInfo, frame_rate, probe

log = logging.getLogger(__name__)

HIST_BINS = 16  # per RGB channel
THUMB = 16  # reference matching compares frames as THUMB x THUMB colour thumbnails
LUMA = np.array([0.299, 0.587, 0.114], np.float32)  # Rec. 601, as FFmpeg's blackdetect


REFINE_RULES = {
    "enabled": FLAG,
    "span": number(0, 30, lo_open=True),
    "size": whole(8, 1080),
    "min_jump": number(0, 1),
    "black_level": number(0, 255),
    "fade_step": number(0, 255, lo_open=True),
    "max_fade": number(0, 60),
    "edge_discount": number(0, 1, hi_open=True),
    "match_level": number(0, 255),
    "snap": number(0, 10),
}


@dataclass
class RefineConfig:
    """How coarse boundaries are refined; every level is on the 0..255 scale unless noted.

    Transition rules (those of ``introdet.demo.make_library``'s truth):
      - a hard cut: the intro starts at the first frame after the cut, and ends at the first
        frame after the cut that closes it (the episode's first frame);
      - a fade-in from black: the intro starts at the first frame of the fade, the frame after
        the last black frame (already faintly lit);
      - a fade to black: the first fully black frame the fade reaches belongs to the intro; the
        intro ends at the frame after it.
    """

    enabled: bool = True  # decode +-span s around each 1-fps boundary at the full frame rate
    span: float = 2.0  # seconds decoded on each side of a coarse boundary
    size: int = 64  # decoded frame size (shortest side) for the cheap signals
    # A cut is a frame whose change from the previous frame (mean of the gray pixel difference
    # and the colour histogram distance, 0..1) exceeds the larger change of its two neighbours by
    # this much: motion and fades change every frame, a cut changes one frame a lot. Measured on
    # the demo library and the tests: intro cuts 0.31..0.69, cuts between two similar content
    # shots ~0.12, motion under 0.03.
    min_jump: float = 0.2
    black_level: float = 16.0  # mean luma below this = black frame (fades)
    fade_step: float = 0.5  # mean luma change per frame that counts as a fade still moving
    max_fade: float = 3.0  # seconds: longer ramps are not searched for their black end
    # A transition at the window's edge must be this much stronger than one at the coarse
    # boundary: the coarse boundary is usually within a second of the truth, and content often
    # cuts every few seconds on both sides of an intro.
    edge_discount: float = 0.5
    # mean abs difference of colour thumbnails that still matches: the same frame through two
    # encoders differs by 1..3, unrelated shots by 15 and more
    match_level: float = 8.0
    snap: float = 0.2  # seconds: a reference step snaps to a cut or fade this close to it

    def __post_init__(self) -> None:
        check_node("refine", self, REFINE_RULES)


@dataclass(frozen=True)
class _Window:
    """Frames decoded around one coarse boundary and the cheap signals over them."""

    pts: np.ndarray  # [N] seconds from stream start
    gray: np.ndarray  # [N, h, w] luma
    hist: np.ndarray  # [N, 3, HIST_BINS]
    thumbs: np.ndarray  # [N, THUMB * THUMB * 3]
    luma: np.ndarray  # [N] mean luma
    black: np.ndarray  # [N] bool
    change: np.ndarray  # [N] change from the previous frame, 0..1; change[0] = 0

    def distance(self, i: int, j: int) -> float:
        """How different frames i and j are, on the scale of ``change``."""
        pix = _pixel_change(self.gray[i], self.gray[j])
        return 0.5 * float(pix + _hist_change(self.hist[i], self.hist[j]))


def refine_boundaries(
    path: str | os.PathLike,
    coarse: Segment,
    cfg: RefineConfig | None = None,
    reference: Sequence[np.ndarray] | None = None,
) -> tuple[Segment, dict]:
    """Move ``coarse``'s start and end to the exact frames where the intro begins and ends.

    Only ``span`` seconds on each side of each boundary are decoded (after a seek to the keyframe
    before), at ``size``. Each boundary goes to the strongest transition in its window (cuts and
    fades, see ``RefineConfig``), discounted with distance from the coarse boundary. With
    ``reference`` (RGB frames of this intro from another episode), the boundary is where this
    episode's frames start (stop) matching the reference, snapped to a cut or fade nearby.
    A boundary without a clear transition keeps its coarse value and its flag is False.
    Raises ``VideoError`` for an unreadable file.
    """
    cfg = cfg or RefineConfig()
    info = probe(path)
    ref = _reference_thumbs(reference) if reference is not None and len(reference) else None
    start_win, end_win = _decode(path, coarse, cfg)
    start = _find(start_win, coarse.start, cfg, ref, opening=True)
    end = _find(end_win, coarse.end, cfg, ref, opening=False)
    if start is not None and end is not None and start >= end:
        log.warning("%s: refined start %.3f >= end %.3f; kept the coarse intro", path, start, end)
        start = end = None
    if start is not None and start >= coarse.end or end is not None and end <= coarse.start:
        start = end = None  # one boundary crossed the other's coarse value: not the same intro
    segment = Segment(
        coarse.start if start is None else start,
        coarse.end if end is None else end,
        coarse.score,
    )
    return segment, _extra(coarse, start, end, _frame_rate(info, start_win, end_win))


def refine_episode(
    path: str | os.PathLike, coarse: Segment, cfg: RefineConfig | None = None
) -> tuple[Segment, dict]:
    """``refine_boundaries`` for batch prediction: a bad file logs a warning, keeps ``coarse``."""
    try:
        return refine_boundaries(path, coarse, cfg)
    except (ValueError, OSError, EOFError, av.error.FFmpegError) as e:
        log.warning("%s: boundaries not refined (%s)", path, e)
        return coarse, _extra(coarse, None, None, None)


def _extra(coarse: Segment, start: float | None, end: float | None, fps: float | None) -> dict:
    return {
        "coarse_start": coarse.start,
        "coarse_end": coarse.end,
        "refined": start is not None and end is not None,
        "start_refined": start is not None,
        "end_refined": end is not None,
        "start_frame_pts": start,
        "end_frame_pts": end,
        "video_fps": fps,
    }


def _frame_rate(info: VideoInfo, *wins: _Window) -> float | None:
    """Frames per second where the boundaries are: the declared rate where the windows' frame
    steps agree with it, else what the steps say (``frame_rate``); the probed rate where the
    windows hold no steps.

    Checked rather than taken from the header, which some containers get wrong (AVI files
    with a millisecond time base report 1000), and declared rather than measured alone: a
    Matroska file's 1 ms clock rounds 24 fps to steps of 41 and 42 ms.
    """
    steps = np.concatenate([np.diff(w.pts) for w in wins])  # [S] seconds
    steps = steps[steps > 0]
    if not len(steps):
        return info.fps
    return frame_rate(info.rates, steps.tolist(), info.resolution)


# --- decoding ------------------------------------------------------------------------------


def _decode(path: str | os.PathLike, coarse: Segment, cfg: RefineConfig) -> tuple[_Window, _Window]:
    """The windows around both boundaries; one decode when they overlap (a short intro), none
    where season mode's look at the edges holds them already (``HELD``)."""
    a0, a1 = max(0.0, coarse.start - cfg.span), coarse.start + cfg.span
    b0, b1 = max(0.0, coarse.end - cfg.span), coarse.end + cfg.span
    if b0 <= a1:
        both = HELD.between(path, a0, max(a1, b1), size=cfg.size)
        return (
            _window([f for f in both if f[0] < a1], cfg),
            _window([f for f in both if f[0] >= b0], cfg),
        )
    return (
        _window(HELD.between(path, a0, a1, size=cfg.size), cfg),
        _window(HELD.between(path, b0, b1, size=cfg.size), cfg),
    )


def _window(decoded: list[tuple[float, np.ndarray]], cfg: RefineConfig) -> _Window:
    pts = np.array([t for t, _ in decoded], np.float64)  # [N]
    if not decoded:
        none = np.zeros((0, 1, 1), np.float32)
        return _Window(pts, none, none, none, pts, pts.astype(bool), pts)
    rgb = np.stack([f for _, f in decoded])  # [N, h, w, 3] uint8
    gray = rgb.astype(np.float32) @ LUMA  # [N, h, w]
    hist = _histograms(rgb)  # [N, 3, HIST_BINS]
    luma = gray.mean(axis=(1, 2))  # [N]
    change = np.zeros(len(pts), np.float32)
    change[1:] = 0.5 * (_pixel_change(gray[:-1], gray[1:]) + _hist_change(hist[:-1], hist[1:]))
    return _Window(pts, gray, hist, _thumbs(rgb), luma, luma < cfg.black_level, change)


def _pixel_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean absolute gray difference, 0..1. [N, h, w] x2 -> [N]"""
    return np.abs(a - b).mean(axis=(-2, -1)) / 255.0


def _hist_change(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Total variation distance of colour histograms, mean over channels, 0..1. -> [N]"""
    return 0.5 * np.abs(a - b).sum(axis=-1).mean(axis=-1)


def _histograms(frames: np.ndarray) -> np.ndarray:
    """Normalised per-channel histograms. [N, h, w, 3] uint8 -> [N, 3, HIST_BINS]"""
    n = len(frames)
    # every other pixel: the histogram barely changes and this is the costliest signal
    bins = frames[:, ::2, ::2].reshape(n, -1, 3) // np.uint8(256 // HIST_BINS)  # [N, P, 3]
    # one bincount over (frame, channel, bin) indices instead of N * 3 np.histogram calls
    offsets = ((np.arange(n)[:, None, None] * 3 + np.arange(3)) * HIST_BINS).astype(np.int32)
    counts = np.bincount((bins + offsets).ravel(), minlength=n * 3 * HIST_BINS)
    return counts.reshape(n, 3, HIST_BINS) / bins.shape[1]


def _thumbs(frames: np.ndarray) -> np.ndarray:
    """THUMB x THUMB area-averaged colour thumbnails. [N, H, W, 3] -> [N, THUMB * THUMB * 3]"""
    n, h, w = frames.shape[:3]
    rows = np.linspace(0, h, THUMB + 1).astype(int)[:-1]
    cols = np.linspace(0, w, THUMB + 1).astype(int)[:-1]
    f = frames.astype(np.float32)
    sums = np.add.reduceat(np.add.reduceat(f, rows, axis=1), cols, axis=2)  # [N, T, T, 3]
    sizes = np.outer(np.diff(np.r_[rows, h]), np.diff(np.r_[cols, w]))[..., None]  # [T, T, 1]
    return (sums / sizes).reshape(n, -1)


def _reference_thumbs(frames: Sequence[np.ndarray]) -> np.ndarray:
    """Thumbnails of reference frames of any size and number. -> [R, THUMB * THUMB * 3]"""
    return np.concatenate([_thumbs(np.asarray(f)[None]) for f in frames])


# --- choosing a transition ---------------------------------------------------------------


def _find(
    win: _Window, coarse: float, cfg: RefineConfig, ref: np.ndarray | None, opening: bool
) -> float | None:
    """Pts of the first intro frame (``opening``) or of the first frame after the intro."""
    if len(win.pts) < 3:
        return None
    fades, ramps = _fades(win, cfg, opening)
    # a fade's steps can look like cuts (its histogram slides through the bins)
    cuts = [(i, s) for i, s in _cuts(win, cfg, opening) if i not in ramps]
    cands = cuts + fades  # (index of the boundary frame, strength)
    if ref is not None:
        step = _reference_step(win, ref, cfg, opening)
        if step is not None:
            lo, hi = win.pts[step[0]] - cfg.snap, win.pts[step[1]] + cfg.snap
            near = [(i, s) for i, s in cands if lo <= win.pts[i] <= hi]
            if near:  # the one closest to the step, the stronger of two equally close
                off = [(max(step[0] - i, i - step[1], 0), -s, i) for i, s in near]
                return float(win.pts[min(off)[2]])
            # black between intro and episode: the intro is the lit part
            return float(win.pts[step[1] if opening else step[0]])
    best, best_score = None, 0.0
    for i, strength in cands:
        far = min(1.0, abs(win.pts[i] - coarse) / cfg.span)
        score = strength * (1.0 - cfg.edge_discount * far)
        if score > best_score:
            best, best_score = i, score
    return None if best is None else float(win.pts[best])


def _cuts(win: _Window, cfg: RefineConfig, opening: bool) -> list[tuple[int, float]]:
    """Frames i that change far more than frames i - 1 and i + 1 do (a one-frame spike)."""
    c, black = win.change, win.black
    out = []
    for i in range(1, len(c)):
        neighbours = [c[j] for j in (i - 1, i + 1) if 1 <= j < len(c)]
        spike = float(c[i] - max(neighbours, default=0.0))
        if spike < cfg.min_jump:
            continue
        # an intro never starts on a black frame; one that ends out of black ended in a fade to
        # black, which _fades places by its own rule
        if black[i] if opening else black[i - 1]:
            continue
        out.append((i, spike))
    return out


def _fades(
    win: _Window, cfg: RefineConfig, opening: bool
) -> tuple[list[tuple[int, float]], set[int]]:
    """Fades from black (opening) or to black (closing).

    Returns (boundary frame index, strength) per fade and the indices inside the ramps, where a
    boundary cannot be. A fade needs at least two frames moving the same way, so a hard cut to
    or from black is left to ``_cuts``. Strength: the change from the black frame to the ramp's
    far end.
    """
    luma, black, eps = win.luma, win.black, cfg.fade_step
    fps = len(luma) / max(float(win.pts[-1] - win.pts[0]), 1e-6)
    longest = max(2, int(cfg.max_fade * fps))
    n, out, ramps = len(luma), [], set()
    direction = 1 if opening else -1  # walk away from the black frame, into the ramp
    for b in range(n):
        if not black[b]:
            continue
        # b must be where the black ends (fade-in) or where the fade bottoms out (fade to
        # black), not a dark frame on the ramp itself
        inner = b - direction  # the neighbour on the side away from the ramp
        if 0 <= inner < n and luma[b] > luma[inner] + eps:
            continue
        k, steps = b, 0
        while 0 <= k + direction < n and luma[k + direction] > luma[k] + eps and steps < longest:
            k += direction
            steps += 1
        if steps < 2 or luma[k] < cfg.black_level:
            continue
        # fade-in: the first lit frame, the one after the black; but where a cut lands on the
        # fade's faint first frame (darker than the frame before it), that frame. Fade to black:
        # the frame after the black one.
        landed = opening and inner >= 0 and luma[inner] > luma[b] + eps
        boundary = b if landed else b + 1
        if boundary >= n:
            continue
        out.append((boundary, win.distance(b, k)))
        # boundaries at b + 1 agree with the fade; any other frame of the ramp is inside it
        ramps.update(set(range(min(b, k) + 1, max(b, k) + 1)) - {boundary})
    return out, ramps


def _reference_step(
    win: _Window, ref: np.ndarray, cfg: RefineConfig, opening: bool
) -> tuple[int, int] | None:
    """Indices where frames start (``opening``) or stop matching the reference, by a step fit.

    Each frame votes +1 when it matches some reference frame, -1 when not, black frames abstain;
    the step with the most agreeing minus disagreeing votes wins, provided that margin is 80 %
    of the votes and both sides hold a few frames of their kind. Returns the first and last of
    equally good steps (a run of abstaining black frames leaves the step anywhere inside it).
    """
    dist = _nearest(win.thumbs, ref)  # [N]
    vote = np.where(dist < cfg.match_level, 1.0, -1.0)
    # black matches any dark frame of the reference (a fade's first frames): it abstains
    vote[win.black] = 0.0
    if not opening:
        vote = -vote  # intro frames come first
    # agree[i] = frames before i that are not intro + frames from i on that are
    before = np.r_[0.0, np.cumsum(-vote)]  # [N + 1]
    after = np.r_[np.cumsum(vote[::-1])[::-1], 0.0]  # [N + 1]
    agree = before + after
    inside = agree[1:-1]  # steps strictly inside the window
    ties = np.flatnonzero(inside == inside.max()) + 1
    i, j = int(ties[0]), int(ties[-1])
    n = np.count_nonzero(vote)
    if agree[i] < 0.8 * n or (vote[:i] < 0).sum() < 3 or (vote[j:] > 0).sum() < 3:
        return None
    return i, j


def _nearest(thumbs: np.ndarray, ref: np.ndarray, chunk: int = 64) -> np.ndarray:
    """Mean abs difference from each thumbnail to its closest reference one. -> [N]"""
    best = np.full(len(thumbs), np.inf, np.float32)
    for k in range(0, len(ref), chunk):  # chunks bound the [N, chunk, D] temporary
        d = np.abs(thumbs[:, None, :] - ref[None, k : k + chunk, :]).mean(axis=-1)
        best = np.minimum(best, d.min(axis=1))
    return best
