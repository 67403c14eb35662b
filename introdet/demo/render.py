"""The demo library's pixels: each planned scene rendered as RGB frames."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, replace
from fractions import Fraction

import numpy as np

from introdet.demo import sound
from introdet.demo.library_plan import plan_library
from introdet.demo.plan import Episode, Look, Scene
from introdet.errors import LibraryError

# --- pixels --------------------------------------------------------------------------------


def _lerp_weights(n: int, k: int) -> np.ndarray:
    """Linear interpolation weights from k grid points onto n pixels. [n, k]"""
    pos = np.linspace(0, k - 1, n, dtype=np.float32)
    return np.maximum(0, 1 - np.abs(pos[:, None] - np.arange(k, dtype=np.float32)))


def _smooth_field(rng: np.random.Generator, h: int, w: int, amp: float) -> np.ndarray:
    """A low-frequency colour field: a coarse random grid, bilinearly upsampled. [H, W, 3]"""
    grid = rng.normal(0, amp, (3, 4, 3)).astype(np.float32)  # [gy, gx, 3]
    rows = np.tensordot(_lerp_weights(h, 3), grid, axes=1)  # [H, gx, 3]
    return np.einsum("yjc,xj->yxc", rows, _lerp_weights(w, 4))


def _background(scene: Scene, look: Look, w: int, h: int) -> np.ndarray:
    rng = np.random.default_rng(list(scene.bg_seed))
    yy = np.arange(h, dtype=np.float32)[:, None]  # [H, 1]
    xx = np.arange(w, dtype=np.float32)[None, :]  # [1, W]
    if scene.style in ("logo", "credits"):
        base = np.full((h, w, 3), 18 if scene.style == "logo" else 10, np.float32)
        grain = 3.0
    elif scene.style in ("intro", "opening"):
        a, b = (np.array(look.intro[i], np.float32) for i in rng.choice(2, 2, replace=False))
        angle = rng.uniform(0, np.pi)
        u = (xx * np.cos(angle) + yy * np.sin(angle)) / w
        t = 0.5 + 0.5 * np.sin(2 * np.pi * look.stripes * u + rng.uniform(0, 6))
        base = a + (b - a) * t[..., None]
        grain = 5.0
    else:
        pal = np.array(look.content, np.float32)
        a, b = pal[rng.choice(len(pal), 2, replace=False)]
        angle = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(angle) + yy * np.sin(angle)) / math.hypot(w, h)
        t = (t - t.min()) / max(float(t.max() - t.min()), 1e-6)
        base = a + (b - a) * t[..., None] + _smooth_field(rng, h, w, 25)
        grain = 8.0
    # grain keeps the picture from compressing to nothing, as real footage would not
    noise = rng.standard_normal((h, w, 1), dtype=np.float32) * np.float32(grain)
    return np.clip(base + noise, 0, 255).astype(np.uint8)  # [H, W, 3]


@dataclass
class _Sprite:
    mask: np.ndarray  # [sh, sw, 1] bool
    color: np.ndarray  # [3] uint8
    x0: float
    y0: float
    vx: float  # pixels per second
    vy: float


def _sprites(scene: Scene, look: Look, w: int, h: int) -> list[_Sprite]:
    rng = np.random.default_rng(list(scene.obj_seed))
    scale = w / 320
    if scene.style == "credits":
        return []  # names only (the overlay)
    if scene.style == "logo":
        sizes, speed, colors, count = (0.45, 0.5), (0, 0), [(212, 175, 55)], 2
    elif scene.style == "intro":
        sizes, speed, colors, count = (0.3, 0.6), (1, 5), look.intro[2:], int(rng.integers(2, 4))
    elif scene.style == "opening":
        sizes, speed, colors, count = (0.2, 0.5), (20, 60), look.intro[2:], int(rng.integers(2, 5))
    else:
        sizes, speed, colors, count = (0.12, 0.35), (10, 60), look.content, int(rng.integers(1, 4))
    out = []
    for _ in range(count):
        sh = max(2, int(h * rng.uniform(*sizes)))
        sw = max(2, min(w - 1, int(sh * rng.uniform(0.6, 1.8))))
        yy, xx = np.mgrid[0:sh, 0:sw]
        r = ((yy + 0.5) / sh - 0.5) ** 2 + ((xx + 0.5) / sw - 0.5) ** 2
        kind = int(rng.integers(3))
        if kind == 0:
            mask = np.ones((sh, sw), bool)  # rectangle
        elif kind == 1:
            mask = r <= 0.25  # ellipse
        else:
            mask = (r <= 0.25) & (r >= 0.09)  # ring
        mask = mask[..., None]  # broadcasts over RGB in np.copyto
        color = np.array(colors[int(rng.integers(len(colors)))], np.uint8)
        v = rng.uniform(*speed) * scale
        angle = rng.uniform(0, 2 * np.pi)
        out.append(
            _Sprite(
                mask,
                color,
                rng.uniform(0, w - sw),
                rng.uniform(0, h - sh),
                v * np.cos(angle),
                v * np.sin(angle),
            )
        )
    return out


def _text_lines(seed: tuple[int, ...], w: int, h: int, n: int) -> list[tuple[int, int, int]]:
    """Lines of "text" as (x, width, height) bars, one per line, ``n`` lines."""
    rng = np.random.default_rng(list(seed))
    out = []
    for _ in range(n):
        width = int(w * rng.uniform(0.2, 0.6))
        out.append((int(rng.uniform(0.05, 0.95) * (w - width)), width, max(2, h // 30)))
    return out


def _overlay(frame: np.ndarray, scene: Scene, t: float) -> None:
    """Credit text drawn over the picture: fixed in the lower third over an intro, scrolling
    up through the end credits."""
    h, w = frame.shape[:2]
    scroll = scene.style == "credits"
    lines = _text_lines(scene.overlay_seed, w, h, 40 if scroll else 2)
    gap = max(6, h // 12)
    top = h - int(t * h / 8) if scroll else int(h * 0.72)  # credits: an eighth of the height a s
    for i, (x, width, height) in enumerate(lines):
        y = top + i * gap
        if 0 <= y < h - height:
            frame[y : y + height, x : x + width] = 235


def _bounce(p: float, span: int) -> int:
    """Position p folded into [0, span]: the shape bounces off the frame's edges."""
    if span <= 0:
        return 0
    q = p % (2 * span)
    return int(q if q <= span else 2 * span - q)


def render_scene(scene: Scene, look: Look, w: int, h: int, fps: Fraction) -> Iterator[np.ndarray]:
    """Yield the scene's frames [H, W, 3] uint8."""
    if scene.style == "black":
        black = np.zeros((h, w, 3), np.uint8)
        for _ in range(scene.n):
            yield black
        return
    bg = _background(scene, look, w, h)
    sprites = _sprites(scene, look, w, h)
    for k in range(scene.n):
        t = (scene.offset + k) / float(fps)
        frame = bg.copy()
        for s in sprites:
            sh, sw = s.mask.shape[:2]
            x = _bounce(s.x0 + s.vx * t, w - sw)
            y = _bounce(s.y0 + s.vy * t, h - sh)
            np.copyto(frame[y : y + sh, x : x + sw], s.color, where=s.mask)
        if scene.overlay_seed:
            _overlay(frame, scene, t)
        alpha = 1.0
        if k < scene.fade_in:
            alpha = (k + 1) / scene.fade_in
        if k >= scene.n - scene.fade_out:
            alpha = (scene.n - 1 - k) / scene.fade_out  # 0 on the last frame: black
        if alpha < 1.0:
            frame = np.round(frame * np.float32(alpha)).astype(np.uint8)
        yield frame


def episode_audio(ep: Episode, rate: int, dub: bool = False) -> np.ndarray:
    """The episode's soundtrack at ``rate`` Hz, as long as its frames. float32 [S]

    ``dub``: the dubbed track, where other voices (other seeds) speak every line over the same
    music. A PAL copy (``speed`` > 1) is drawn at ``rate / speed`` samples a planned second and
    played at ``rate``: every sound is a function of time, so this is the planned soundtrack
    resampled without loss, faster and higher by ``speed``, as a sped-up broadcast is."""
    fps, at = ep.series.fps, rate / float(ep.speed)  # planned frames, samples a planned second
    parts, k = [], 0
    for scene, _ in ep.scenes:
        chunk = sound.render(_voiced(scene.sound, dub), scene.offset, scene.n, fps, at)
        if scene.voice_n:  # a line spoken over the scene's first frames
            line = sound.render(_voiced(scene.voice, dub), scene.offset, scene.voice_n, fps, at)
            m = min(len(line), len(chunk))
            chunk[:m] += line[:m]
        # the sound's sample grid starts at its own frame 0: re-cut on the file's grid
        a = round(k / fps * at)
        b = round((k + scene.n) / fps * at)
        parts.append(np.resize(chunk, b - a) if len(chunk) != b - a else chunk)
        k += scene.n
    wave = np.concatenate(parts) + sound.room_tone(ep.noise_seed, sum(len(x) for x in parts))
    return np.clip(wave * ep.gain, -1.0, 1.0).astype(np.float32)


def _voiced(s: sound.Sound, dub: bool) -> sound.Sound:
    """The sound as the dub has it: lines in other voices, the music and jingle untouched."""
    return replace(s, seed=(*s.seed, 90)) if dub and s.kind == "dialogue" else s


def render_episode(ep: Episode) -> Iterator[np.ndarray]:
    w, h = ep.frame
    for scene, _ in ep.scenes:
        yield from render_scene(scene, ep.look, w, h, ep.series.fps)


def render_intro(seed: int, size: str, episode: str) -> np.ndarray:
    """The intro of ``episode`` (its id) exactly as rendered into it. [N, H, W, 3]"""
    for ep in plan_library(seed, size):
        if ep.id == episode:
            w, h = ep.frame
            intro = [s for s, tag in ep.scenes if tag == "intro"]
            if not intro:
                raise LibraryError(f"{episode} has no intro")
            frames = [f for s in intro for f in render_scene(s, ep.look, w, h, ep.series.fps)]
            return np.stack(frames)
    raise LibraryError(f"no episode {episode!r} in the {size!r} library")
