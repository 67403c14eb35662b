"""Pictures as functions of time: moving gradients, drifting rectangles, camera pans over noise
textures, text-like title cards and scrolling credits on black.

Each factory draws its parameters from an ``rng`` once and returns ``picture(t) -> HxWx3 uint8``
for a shot-local time ``t`` in seconds. Pictures depend on time, not frame numbers, so the same
title sequence is the same picture sequence at 23.976, 25 or 29.97 fps. Kept cheap (slices of
precomputed images, one trigonometric pass at most) because every frame is synthesised.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

Picture = Callable[[float], np.ndarray]


class Canvas:
    def __init__(self, width: int, height: int):
        self.w, self.h = width, height
        self.y, self.x = np.mgrid[0:height, 0:width].astype(np.float32)


def _colour(rng) -> np.ndarray:
    return rng.uniform(20, 235, 3).astype(np.float32)


def gradient(cv: Canvas, rng) -> Picture:
    """Two colours in a sine band pattern sliding along a random direction."""
    c1, c2 = _colour(rng), _colour(rng)
    ang, speed, scale = rng.uniform(0, np.pi), rng.uniform(0.1, 0.6), rng.uniform(40, 160)
    proj = (cv.x * np.cos(ang) + cv.y * np.sin(ang)) / scale

    def draw(t: float) -> np.ndarray:
        v = 0.5 + 0.5 * np.sin(2 * np.pi * (proj + speed * t))
        return (c1 + (c2 - c1) * v[..., None]).astype(np.uint8)

    return draw


def rectangles(cv: Canvas, rng, count: int | None = None) -> Picture:
    """A flat background with rectangles drifting (and wrapping) at their own velocities."""
    bg = _colour(rng).astype(np.uint8)
    n = count or int(rng.integers(3, 9))
    boxes = [
        (
            rng.uniform(0, cv.w),
            rng.uniform(0, cv.h),
            int(rng.uniform(0.08, 0.4) * cv.w),
            int(rng.uniform(0.08, 0.4) * cv.h),
            rng.uniform(-40, 40),
            rng.uniform(-25, 25),
            _colour(rng).astype(np.uint8),
        )
        for _ in range(n)
    ]

    def draw(t: float) -> np.ndarray:
        img = np.empty((cv.h, cv.w, 3), np.uint8)
        img[:] = bg
        for x0, y0, w, h, vx, vy, c in boxes:
            x = int(x0 + vx * t) % cv.w
            y = int(y0 + vy * t) % cv.h
            img[y : y + h, x : x + w] = c
        return img

    return draw


def texture(rng, h: int, w: int, cell: int) -> np.ndarray:
    """Smooth colour noise: a coarse random grid, upsampled and box-blurred, plus fine grain."""
    gh, gw = h // cell + 2, w // cell + 2
    coarse = rng.uniform(0, 255, (gh, gw, 3)).astype(np.float32)
    big = np.repeat(np.repeat(coarse, cell, 0), cell, 1)[:h, :w]
    for axis in (0, 1):
        big = sum(np.roll(big, s, axis) for s in range(-cell // 2, cell // 2 + 1)) / (cell + 1)
    big += rng.normal(0, 12, big.shape)
    return np.clip(big, 0, 255).astype(np.uint8)


def pan(cv: Canvas, rng) -> Picture:
    """A camera pan (and tilt) over a texture twice the frame's size, bouncing at the edges."""
    tex = texture(rng, cv.h * 2, cv.w * 2, int(rng.integers(6, 24)))
    vx, vy = rng.uniform(-60, 60), rng.uniform(-30, 30)
    x0, y0 = rng.uniform(0, cv.w), rng.uniform(0, cv.h)

    def bounce(p, span):
        p = p % (2 * span)
        return int(p if p < span else 2 * span - p)

    def draw(t: float) -> np.ndarray:
        x, y = bounce(x0 + vx * t, cv.w), bounce(y0 + vy * t, cv.h)
        return tex[y : y + cv.h, x : x + cv.w]

    return draw


def text_blocks(
    img: np.ndarray, rng, lines: int, top: int, bottom: int, colour, centred=True
) -> None:
    """Draw "text": rows of small rectangles (words of letter-sized blocks) in place."""
    h, w = img.shape[:2]
    lh = max(3, h // 30)
    ys = np.linspace(top, bottom, lines, endpoint=False).astype(int) if lines else []
    for y in ys:
        words = [int(rng.integers(2, 9)) for _ in range(rng.integers(1, 5))]
        letter = max(2, w // 80)
        width = sum(k * (letter + 1) + 3 * letter for k in words)
        x = (w - width) // 2 if centred else int(0.1 * w)
        for k in words:
            for _ in range(k):
                hh = lh if rng.random() < 0.8 else lh + lh // 2
                img[y + lh - hh : y + lh, max(0, x) : max(0, x + letter)] = colour
                x += letter + 1
            x += 3 * letter


def title_card(cv: Canvas, rng, background: Picture | None = None) -> Picture:
    """A series title: a big block "word" and a subtitle line over a background picture
    (or a flat colour), drifting slowly to the right."""
    overlay = np.zeros((cv.h, cv.w), bool)
    layer = np.zeros((cv.h, cv.w, 3), np.uint8)
    text_blocks(layer, rng, 1, int(cv.h * 0.62), cv.h, (255, 255, 255))
    cw, ch = int(cv.w * rng.uniform(0.35, 0.6)), int(cv.h * rng.uniform(0.15, 0.25))
    x0, y0 = (cv.w - cw) // 2, int(cv.h * 0.3)
    cells = rng.random((2, 7)) < 0.7  # the big "logo": a 2x7 grid of filled blocks
    for r in range(2):
        for c in range(7):
            if cells[r, c]:
                layer[
                    y0 + r * ch // 2 : y0 + (r + 1) * ch // 2 - 2,
                    x0 + c * cw // 7 : x0 + (c + 1) * cw // 7 - 2,
                ] = _colour(rng)
    overlay = layer.any(axis=2)
    flat = _colour(rng).astype(np.uint8)

    def draw(t: float) -> np.ndarray:
        base = background(t).copy() if background else np.full((cv.h, cv.w, 3), flat, np.uint8)
        s = int(6 * t) % cv.w
        ov, ly = np.roll(overlay, s, 1), np.roll(layer, s, 1)
        base[ov] = ly[ov]
        return base

    return draw


def episode_card(cv: Canvas, rng) -> Picture:
    """A per-episode title card: a few lines of "text" on a dark flat colour, static."""
    img = np.full((cv.h, cv.w, 3), rng.uniform(0, 60, 3).astype(np.uint8), np.uint8)
    text_blocks(img, rng, int(rng.integers(1, 4)), int(cv.h * 0.35), int(cv.h * 0.65), _colour(rng))
    return lambda t: img


def credits_roll(cv: Canvas, rng, duration: float) -> Picture:
    """White text-like lines on black scrolling up over ``duration`` seconds."""
    tall = np.zeros((cv.h * 2 + int(duration * cv.h / 6), cv.w, 3), np.uint8)
    lines = (tall.shape[0] - 2 * cv.h) // max(6, cv.h // 14)
    text_blocks(tall, rng, lines, cv.h, tall.shape[0] - cv.h, (235, 235, 235))
    speed = (tall.shape[0] - cv.h) / duration

    def draw(t: float) -> np.ndarray:
        y = min(int(speed * t), tall.shape[0] - cv.h)
        return tall[y : y + cv.h]

    return draw


def shot_for(cv: Canvas, rng) -> Picture:
    """A content shot of a random kind."""
    kind = rng.integers(3)
    return (gradient, rectangles, pan)[kind](cv, rng)


def faded(picture: Picture, length: float, fade: float) -> Picture:
    """The picture fading to black over its last ``fade`` seconds (black at ``length``)."""

    def draw(t: float) -> np.ndarray:
        k = min(1.0, max(0.0, (length - t) / fade))
        img = picture(t)
        return img if k >= 1 else (img * k).astype(np.uint8)

    return draw
