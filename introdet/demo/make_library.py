"""Seeded demo TV library: real encoded episodes with known intros, label files and a truth file.

``make_library(out, seed, size)`` writes::

    out/videos/<Series folder>/<episode id>.<ext>    mp4/H.264, mkv/HEVC, webm/VP9, avi/MPEG-4
    out/train_labels.json  out/test_labels.json      the task's labels format (whole seconds)
    out/truth.json                                    exact intro times, frames, distractors

Every episode is a chain of scenes (a noisy gradient background with a few moving shapes, cut
every few seconds). The intro of a series is rendered from the series' seeds only, so its pixels
are identical in every episode; everything else is drawn from the episode's seeds, except the
recurring non-intro material recorded as ``distractors`` (a studio logo, a "previously on" recap
of the previous episode, black gaps, a recurring set).

Transition rule: a fade-in intro starts at the first frame of the fade (already 1/12 lit); a
fade-to-black intro ends at the first frame after the black one, so the black frame is intro.
Truth times are the presentation timestamps of the files as written (read back after
encoding), so ``start`` is the pts of the first intro frame and ``end`` the pts of the first
frame after it. Label times are the nearest whole second, ``floor(t + 0.5)``.
"""

from __future__ import annotations

import colorsys
import json
import math
import os
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from introdet.atomic import atomic_write_text
from introdet.demo.videofile import write_video
from introdet.errors import LibraryError

FADE_FRAMES = 12
SLIP = 60  # the labels' known typing slip: the start minute one too high
WORKERS = 2


# --- what to make --------------------------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    n_series: int  # the last one is the unseen series (test only)
    episodes: int  # per series
    duration: tuple[float, float]  # seconds per episode
    early: tuple[float, float]  # intro start after the prefix, series without a cold open
    cold_open: tuple[float, float]
    title: tuple[float, float]  # title-card intro length
    opening: tuple[float, float]  # long opening sequence length
    recap: tuple[float, float]
    shot: tuple[float, float]  # content scene length: a cut every so many seconds
    n_test: int  # test episodes per seen series
    n_slips: tuple[int, int]
    frame: tuple[int, int] | None = None  # every series at this size (tests)


PROFILES = {
    "full": Profile(6, 5, (120, 140), (2, 15), (60, 150), (3, 15), (30, 60), (10, 20), (2, 6), 2,
                    (2, 4)),
    "ci": Profile(4, 3, (45, 60), (2, 8), (15, 25), (3, 8), (12, 18), (5, 8), (2, 5), 1, (2, 2)),
    "tiny": Profile(4, 2, (20, 24), (2, 5), (6, 8), (3, 4), (6, 7), (3, 4), (1.5, 3), 1, (2, 2),
                    frame=(160, 90)),
}  # fmt: skip


@dataclass(frozen=True)
class SeriesDef:
    name: str  # as typed in the labels' "name" field
    folder: str
    slug: str  # episode id prefix
    ext: str
    codec: str
    frame: tuple[int, int]  # width, height
    fps: Fraction
    intro: str  # "title" (a few title-card shots) | "opening" (a long animated sequence)
    cold_open: bool
    start_transition: str = "cut"  # | "fade_in"
    end_transition: str = "cut"  # | "fade_black"
    logo: bool = False  # studio logo at 0:00, before the intro
    recap: bool = False  # "previously on" at the start, from the previous episode
    recurring_set: bool = False  # one scene per episode on the same background
    lookalikes: bool = False  # some names typed with Latin look-alike letters


ROSTER = (
    SeriesDef("Harbor", "Harbor", "harbor", "mp4", "libx264", (320, 180), Fraction(25), "title",
              False, logo=True),
    SeriesDef("Американский вандал", "Американский вандал", "vandal", "mkv", "libx265",
              (320, 180), Fraction(24), "title", True, start_transition="fade_in",
              lookalikes=True),
    SeriesDef("Northwind", "Northwind", "northwind", "webm", "libvpx-vp9", (320, 180),
              Fraction(25), "opening", False, recap=True),
    SeriesDef("Quarry", "Quarry", "quarry", "avi", "mpeg4", (384, 216), Fraction(24000, 1001),
              "title", True, end_transition="fade_black", recurring_set=True),
    SeriesDef("Saltmarsh", "Saltmarsh", "saltmarsh", "mp4", "libx264", (320, 180), Fraction(24),
              "title", False),
    SeriesDef("Lumen", "Lumen", "lumen", "avi", "mpeg4", (320, 180), Fraction(25), "title", True),
)  # fmt: skip

# one thread per encoder: the episodes already run two at a time on two cores
_CODEC_OPTIONS = {
    "libx264": {"preset": "ultrafast", "threads": "1"},
    "libx265": {"preset": "ultrafast", "x265-params": "log-level=error:pools=1:frame-threads=1"},
    "libvpx-vp9": {"deadline": "realtime", "cpu-used": "8", "threads": "1", "crf": "36", "b": "0"},
    "mpeg4": {"threads": "1", "b": "700k"},
}
_LATIN_LOOKALIKE = str.maketrans("аерс", "aepc")  # Cyrillic -> the Latin letters typed instead
_NAME_FORMATS = (
    "{series}. {season} сезон, {episode} серия",
    "{series}, {season} сезон {episode} серия",
    "{series} {season} сезон, {episode} серия",
    "{series}. {season} сезон. {episode} серия",
)


# --- the plan: scenes with seeds, no pixels ------------------------------------------------


@dataclass(frozen=True)
class Look:
    content: tuple[tuple[int, int, int], ...]  # backgrounds and objects of ordinary scenes
    intro: tuple[tuple[int, int, int], ...]  # the title card's own colours
    stripes: float  # title background: stripes per frame width


@dataclass(frozen=True)
class Scene:
    n: int  # frames
    style: str  # "content" | "intro" | "opening" | "logo" | "black"
    bg_seed: tuple[int, ...] = ()
    obj_seed: tuple[int, ...] = ()
    offset: int = 0  # frames into the scene's motion (a recap shot starts mid-scene)
    fade_in: int = 0
    fade_out: int = 0


@dataclass
class Episode:
    id: str
    series: SeriesDef
    number: int
    frame: tuple[int, int]
    look: Look
    scenes: list[tuple[Scene, str | None]]  # (scene, tag): "intro" or a distractor kind
    name: str = ""
    split: str = "train"
    seen: bool = True
    content: list[Scene] = field(default_factory=list)  # its own scenes, for the next recap

    @property
    def path(self) -> str:
        return f"videos/{self.series.folder}/{self.id}.{self.series.ext}"

    @property
    def n_frames(self) -> int:
        return sum(s.n for s, _ in self.scenes)


def _frames(seconds: float, fps: Fraction) -> int:
    return max(1, round(seconds * float(fps)))


def _whole_second(i: int, fps: Fraction) -> bool:
    # write_video stamps frame i at round(1000 * i / fps) ms
    return round(i * 1000 / float(fps)) % 1000 == 0


def _look(rng: np.random.Generator, index: int) -> Look:
    hue = (index * 0.17 + rng.uniform(0, 0.08)) % 1.0  # series apart on the colour wheel

    def rgb(h: float, s: float, v: float) -> tuple[int, int, int]:
        r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
        return round(r * 255), round(g * 255), round(b * 255)

    content = tuple(
        rgb(hue + rng.uniform(-0.07, 0.07), rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.9))
        for _ in range(6)
    )
    intro = (
        rgb(hue + 0.5, 0.9, 0.95),
        rgb(hue + 0.45, 0.8, 0.35),
        rgb(hue, 1.0, 1.0),
        rgb(hue + 0.55, 0.2, 0.98),
    )
    return Look(content, intro, float(rng.uniform(3, 9)))


def _intro_scenes(sd: SeriesDef, prof: Profile, seed: int, si: int) -> list[Scene]:
    """The series' intro: shot lengths and seeds come from the series alone."""
    rng = np.random.default_rng([seed, si, 1])
    span = prof.opening if sd.intro == "opening" else prof.title
    total = _frames(rng.uniform(*span), sd.fps)
    if sd.intro == "opening":
        cuts = []
        while total - sum(cuts) > 0:
            cuts.append(min(_frames(rng.uniform(2, 4.5), sd.fps), total - sum(cuts)))
    else:
        n_shots = int(rng.integers(1, 4)) if total >= _frames(4.5, sd.fps) else 1
        cuts = list(np.diff(np.linspace(0, total, n_shots + 1).round().astype(int)))
    if cuts[-1] < 2 * FADE_FRAMES and len(cuts) > 1:  # a fade must fit inside one shot
        cuts[-2] += cuts.pop()
    style = "opening" if sd.intro == "opening" else "intro"
    scenes = [Scene(int(n), style, (seed, si, 2, k), (seed, si, 3, k)) for k, n in enumerate(cuts)]
    if sd.start_transition == "fade_in":
        scenes[0] = replace(scenes[0], fade_in=FADE_FRAMES)
    if sd.end_transition == "fade_black":
        scenes[-1] = replace(scenes[-1], fade_out=FADE_FRAMES)
    return scenes


class _Filler:
    """Cuts a stretch of frames into fresh content scenes, with black gaps between some."""

    def __init__(self, rng: np.random.Generator, prof: Profile, fps: Fraction, key: tuple):
        self.rng, self.prof, self.fps, self.key = rng, prof, fps, key
        self.count = 0
        self.made: list[Scene] = []

    def scene(self, n: int, bg_seed: tuple[int, ...] | None = None) -> Scene:
        self.count += 1
        own = (*self.key, 100 + self.count)
        s = Scene(n, "content", bg_seed or own, own)
        if bg_seed is None:
            self.made.append(s)
        return s

    def fill(self, n: int, n_black: int = 0) -> list[tuple[Scene, str | None]]:
        lo, hi = (_frames(t, self.fps) for t in self.prof.shot)
        black_max = _frames(2.0, self.fps)
        out: list[tuple[Scene, str | None]] = []
        left = n
        while left > 0:
            if left <= hi:
                out.append((self.scene(left), None))
                break
            room = left > hi + black_max + lo
            if n_black and out and out[-1][1] is None and room and self.rng.random() < 0.4:
                b = _frames(self.rng.uniform(0.5, 2.0), self.fps)
                out.append((Scene(b, "black"), "black"))
                left -= b
                n_black -= 1
                continue
            k = min(int(self.rng.integers(lo, hi + 1)), left - lo)
            out.append((self.scene(k), None))
            left -= k
        return out


def _plan_episode(
    seed: int,
    si: int,
    sd: SeriesDef,
    prof: Profile,
    number: int,
    has_intro: bool,
    intro: list[Scene],
    previous: Episode | None,
) -> Episode:
    rng = np.random.default_rng([seed, si, 10, number])
    fps = sd.fps
    filler = _Filler(rng, prof, fps, (seed, si, 11, number))
    head: list[tuple[Scene, str | None]] = []
    if sd.logo:
        n_logo = _frames(np.random.default_rng([seed, si, 4]).uniform(2, 3), fps)
        head.append((Scene(n_logo, "logo", (seed, si, 4), (seed, si, 4)), "studio_logo"))
    if sd.recap and previous is not None:
        head += [(s, "recap") for s in _recap(rng, prof, fps, previous.content)]
    n_head = sum(s.n for s, _ in head)
    n_intro = sum(s.n for s in intro)
    tail_min = 2 * _frames(prof.shot[1], fps)
    duration = _frames(rng.uniform(*prof.duration), fps)
    if sd.cold_open:
        lo, hi = prof.cold_open
        hi = max(lo, min(hi, (duration - n_head - n_intro - tail_min) / float(fps)))
        pre = _frames(rng.uniform(lo, hi), fps)
    else:
        pre = _frames(rng.uniform(*prof.early), fps)
    start = n_head + pre
    # a frame boundary inside a second, never a whole second, at both ends of the intro
    while _whole_second(start, fps) or _whole_second(start + n_intro, fps):
        start += 1
    duration = max(duration, start + n_intro + tail_min)
    n_black = int(rng.integers(1, 3)) if rng.random() < 0.6 else 0
    if has_intro:
        before = filler.fill(start - n_head, n_black if sd.cold_open else 0)
        after = filler.fill(duration - start - n_intro, n_black)
        body = before + [(s, "intro") for s in intro] + after
    else:
        after = filler.fill(duration - n_head, n_black)
        body = after
    if sd.recurring_set:
        _place_set(body, after, filler, (seed, si, 5))
    return Episode(
        id=f"{sd.slug}_s01e{number:02d}",
        series=sd,
        number=number,
        frame=prof.frame or sd.frame,
        look=_look(np.random.default_rng([seed, si, 0]), si),
        scenes=head + body,
        content=filler.made,
    )


def _recap(
    rng: np.random.Generator, prof: Profile, fps: Fraction, source: Sequence[Scene]
) -> list[Scene]:
    """Shots cut from the previous episode's own scenes: recurring, but not intro."""
    left = _frames(rng.uniform(*prof.recap), fps)
    shots = []
    while left > 0:
        n = min(left, _frames(rng.uniform(0.75, 1.25) * prof.shot[0], fps))
        if left - n < _frames(0.5 * prof.shot[0], fps):
            n = left  # no sliver of a shot at the end
        fits = [s for s in source if s.n >= n] or [max(source, key=lambda s: s.n)]
        src = fits[int(rng.integers(len(fits)))]
        n = min(n, src.n)
        off = int(rng.integers(0, src.n - n + 1))
        shots.append(replace(src, n=n, offset=src.offset + off))
        left -= n
    return shots


def _place_set(
    body: list[tuple[Scene, str | None]],
    after: list[tuple[Scene, str | None]],
    filler: _Filler,
    set_seed: tuple[int, ...],
) -> None:
    """Turn one inner content scene into the series' recurring set (same background)."""
    inner = [i for i, (s, tag) in enumerate(body) if tag is None and 0 < i < len(body) - 1]
    if not inner:
        return
    after_ids = {id(s) for s, _ in after}
    later = [i for i in inner if id(body[i][0]) in after_ids]
    i = (later[1:] or later or inner)[0]  # not right after the intro when there is a choice
    scene = body[i][0]
    body[i] = (filler.scene(scene.n, bg_seed=set_seed), "recurring_set")
    filler.made = [s for s in filler.made if s is not scene]  # a recap must not quote it


def plan_library(seed: int = 0, size: str = "full") -> list[Episode]:
    """Every episode's scene list, split and label name, without rendering a pixel."""
    if size not in PROFILES:
        raise LibraryError(f"unknown size {size!r}; choose one of {', '.join(PROFILES)}")
    prof = PROFILES[size]
    rng = np.random.default_rng([seed, 999])
    roster = ROSTER[: prof.n_series]
    # about 1 in 6 episodes has no intro; never a first episode, so each series shows its intro
    later = [(si, e) for si in range(len(roster)) for e in range(2, prof.episodes + 1)]
    n_none = round(len(roster) * prof.episodes / 6)
    picks = rng.choice(len(later), size=min(n_none, len(later)), replace=False)
    no_intro = {later[int(k)] for k in picks}
    episodes = []
    for si, sd in enumerate(roster):
        intro = _intro_scenes(sd, prof, seed, si)
        unseen = si == len(roster) - 1
        previous = None
        for number in range(1, prof.episodes + 1):
            ep = _plan_episode(
                seed, si, sd, prof, number, (si, number) not in no_intro, intro, previous
            )
            ep.seen = not unseen
            ep.split = "test" if unseen or number > prof.episodes - prof.n_test else "train"
            ep.name = _label_name(sd, number, rng)
            episodes.append(ep)
            previous = ep
    return episodes


def _label_name(sd: SeriesDef, number: int, rng: np.random.Generator) -> str:
    series = sd.name
    if sd.lookalikes and number % 2 == 0:
        series = series.translate(_LATIN_LOOKALIKE)
    fmt = _NAME_FORMATS[int(rng.integers(len(_NAME_FORMATS)))]
    return fmt.format(series=series, season=1, episode=number)


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
    if scene.style == "logo":
        base = np.full((h, w, 3), 18, np.float32)
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
        alpha = 1.0
        if k < scene.fade_in:
            alpha = (k + 1) / scene.fade_in
        if k >= scene.n - scene.fade_out:
            alpha = (scene.n - 1 - k) / scene.fade_out  # 0 on the last frame: black
        if alpha < 1.0:
            frame = np.round(frame * np.float32(alpha)).astype(np.uint8)
        yield frame


def render_episode(ep: Episode) -> Iterator[np.ndarray]:
    w, h = ep.frame
    for scene, _ in ep.scenes:
        yield from render_scene(scene, ep.look, w, h, ep.series.fps)


def render_intro(seed: int, size: str, series: str) -> np.ndarray:
    """The intro of ``series`` (folder name) exactly as rendered into its episodes. [N, H, W, 3]"""
    for ep in plan_library(seed, size):
        if ep.series.folder == series:
            w, h = ep.frame
            intro = _intro_scenes(ep.series, PROFILES[size], seed, ROSTER.index(ep.series))
            frames = [f for s in intro for f in render_scene(s, ep.look, w, h, ep.series.fps)]
            return np.stack(frames)
    raise LibraryError(f"no series {series!r} in the {size!r} library")


# --- files ---------------------------------------------------------------------------------


def _encode(ep: Episode, out: str) -> list[float]:
    """Write one episode (temp name, then rename); return its frames' pts in seconds."""
    sd = ep.series
    final = Path(out) / ep.path
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp{final.suffix}")
    bare = final.with_name(f".{final.stem}.bare{final.suffix}")
    opts = dict(_CODEC_OPTIONS[sd.codec])
    try:
        # write_video's AAC tone costs more than the whole video, and WebM does not allow AAC;
        # so: video alone, then the packets copied beside a cheap silent track
        write_video(bare, render_episode(ep), float(sd.fps), sd.codec, options=opts)
        _add_silence(bare, tmp, "libopus" if sd.ext == "webm" else "aac")
        times = frame_times(tmp)
        if len(times) != ep.n_frames:
            raise LibraryError(f"{final}: wrote {ep.n_frames} frames, reads back {len(times)}")
        os.replace(tmp, final)
    finally:
        bare.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return times


def _add_silence(src: Path, dst: Path, codec: str) -> None:
    """Copy ``src``'s video packets into ``dst`` beside a silent mono track of the same length.

    Silence encodes to one packet repeated, so it is encoded once and the packet re-stamped.
    """
    rate = 48000 if codec == "libopus" else 22050
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        aout = out.add_stream(codec, rate=rate, layout="mono")
        aout.codec_context.open()  # frame_size is only known once open
        step = aout.codec_context.frame_size or 1024
        silent = b""
        fmt = aout.codec_context.format.name
        for i in range(8):  # past the encoder's priming: a steady-state silent packet
            zeros = np.zeros((1, step), np.int16 if fmt.startswith("s16") else np.float32)
            frame = av.AudioFrame.from_ndarray(zeros, format=fmt, layout="mono")
            frame.sample_rate, frame.pts = rate, i * step
            silent = next((bytes(p) for p in aout.encode(frame)), silent)
        if not silent:
            silent = bytes(next(iter(aout.encode())))
        k = 0
        for packet in inp.demux(vin):
            if not packet.size:  # the demuxer's end-of-stream marker
                continue
            t = float(packet.pts * vin.time_base)
            while k * step <= (t + 1.0) * rate:  # audio runs a little ahead, then stops
                _mux_copy(out, aout, silent, k * step, step, rate)
                k += 1
            packet.stream = vout
            out.mux(packet)


def _mux_copy(out, stream, data: bytes, pts: int, duration: int, rate: int) -> None:
    packet = av.Packet(data)
    packet.pts = packet.dts = pts
    packet.duration = duration
    packet.time_base = Fraction(1, rate)
    packet.stream = stream
    out.mux(packet)


def frame_times(path: str | Path) -> list[float]:
    """Presentation times (seconds) of every video frame, in display order, from the packets."""
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            pts = sorted(p.pts for p in c.demux(stream) if p.pts is not None and p.size)
            return [float(p * stream.time_base) for p in pts]
    except (av.FFmpegError, IndexError) as e:
        raise LibraryError(f"{path}: cannot read back the video stream ({e})") from e


def _nearest_second(t: float) -> int:
    return math.floor(t + 0.5)


def _hms(s: int) -> str:
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _truth_row(ep: Episode, times: list[float]) -> dict:
    bounds, i = [], 0
    for scene, tag in ep.scenes:
        bounds.append((i, i + scene.n, tag))
        i += scene.n
    end_of = times + [round(times[-1] + 1 / float(ep.series.fps), 6)]  # one past the last frame
    intro = [(a, b) for a, b, tag in bounds if tag == "intro"]
    row = {
        "series": ep.series.folder,
        "split": ep.split,
        "seen": ep.seen,
        "path": ep.path,
        "name": ep.name,
        "codec": ep.series.codec,
        "fps": float(ep.series.fps),
        "duration": end_of[-1],
        "n_frames": len(times),
        "intro": None,
        "distractors": [],
    }
    if intro:
        a, b = intro[0][0], intro[-1][1]
        row["intro"] = {
            "start": end_of[a],
            "end": end_of[b],
            "start_frame": a,
            "end_frame": b,
            "start_transition": ep.series.start_transition,
            "end_transition": ep.series.end_transition,
        }
    for a, b, tag in _merge_runs(bounds):
        if tag not in (None, "intro"):
            row["distractors"].append({"kind": tag, "start": end_of[a], "end": end_of[b]})
    return row


def _merge_runs(bounds: list[tuple[int, int, str | None]]) -> list[tuple[int, int, str | None]]:
    """Adjacent scenes with one tag as one span (a recap is several shots)."""
    out: list[tuple[int, int, str | None]] = []
    for a, b, tag in bounds:
        if out and out[-1][2] == tag and out[-1][1] == a:
            out[-1] = (out[-1][0], b, tag)
        else:
            out.append((a, b, tag))
    return out


def _labels(truth: dict, seed: int, prof: Profile) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, 998])
    eps = truth["episodes"]
    # the slip needs start + 60 > end, i.e. an intro that rounds to under a minute
    can_slip = sorted(
        k
        for k, e in eps.items()
        if e["split"] == "train"
        and e["intro"]
        and 1 <= _nearest_second(e["intro"]["end"]) - _nearest_second(e["intro"]["start"]) < SLIP
    )
    n = min(len(can_slip), int(rng.integers(prof.n_slips[0], prof.n_slips[1] + 1)))
    slipped = {can_slip[int(i)] for i in rng.choice(len(can_slip), n, replace=False)}
    files: dict[str, dict] = {"train": {}, "test": {}}
    for k, e in sorted(eps.items()):
        e["slipped"] = k in slipped
        start = end = None
        if e["intro"]:
            s = _nearest_second(e["intro"]["start"]) + (SLIP if k in slipped else 0)
            start, end = _hms(s), _hms(_nearest_second(e["intro"]["end"]))
        files[e["split"]][k] = {"name": e["name"], "url": "", "start": start, "end": end}
    return files["train"], files["test"]


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Delete videos an earlier run listed in truth.json that this library no longer has."""
    try:
        old = json.loads((out / "truth.json").read_text(encoding="utf-8"))["episodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for e in old.values():
        rel = e.get("path", "") if isinstance(e, dict) else ""
        if rel.startswith("videos/") and ".." not in rel and rel not in keep:
            (out / rel).unlink(missing_ok=True)


def make_library(out: str | Path, seed: int = 0, size: str = "full") -> dict:
    """Write the demo library under ``out`` and return the truth dict (also in truth.json)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LibraryError(f"{out}: exists and is not a directory")
    episodes = plan_library(seed, size)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out, {ep.path for ep in episodes})
    jobs = sorted(episodes, key=lambda ep: -ep.n_frames * ep.frame[0] * ep.frame[1])
    with ProcessPoolExecutor(WORKERS) as pool:
        futures = {ep.id: pool.submit(_encode, ep, str(out)) for ep in jobs}
        times = {k: f.result() for k, f in futures.items()}
    truth = {
        "seed": seed,
        "size": size,
        "episodes": {ep.id: _truth_row(ep, times[ep.id]) for ep in episodes},
    }
    train, test = _labels(truth, seed, PROFILES[size])
    for name, data in (("train_labels.json", train), ("test_labels.json", test)):
        atomic_write_text(out / name, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(out / "truth.json", json.dumps(truth, ensure_ascii=False, indent=2) + "\n")
    return truth


def _summary(truth: dict) -> list[str]:
    by_series: dict[str, list[dict]] = {}
    for e in truth["episodes"].values():
        by_series.setdefault(e["series"], []).append(e)
    lines = []
    for series, eps in by_series.items():
        n_train = sum(e["split"] == "train" for e in eps)
        intros = [e["intro"] for e in eps if e["intro"]]
        length = intros[0]["end"] - intros[0]["start"] if intros else 0.0
        starts = ", ".join(f"{i['start']:.2f}" for i in intros)
        kinds = sorted({d["kind"] for e in eps for d in e["distractors"]})
        lines.append(
            f"{series}: {len(eps)} episodes ({n_train} train, {len(eps) - n_train} test"
            f"{'' if eps[0]['seen'] else ', unseen series'}), {eps[0]['codec']} "
            f"{Path(eps[0]['path']).suffix[1:]} @ {eps[0]['fps']:.3f} fps, "
            f"{sum(e['duration'] for e in eps) / 60:.1f} min, intro {length:.2f} s "
            f"starting at [{starts}], {len(eps) - len(intros)} without; "
            f"distractors: {', '.join(kinds) or 'none'}"
        )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m introdet.demo.make_library out=DIR [seed=0] [size=full]``."""
    usage = "usage: python -m introdet.demo.make_library out=DIR [seed=0] [size=full|ci|tiny]"
    args = {"seed": "0", "size": "full"}
    for token in sys.argv[1:] if argv is None else argv:
        key, eq, value = token.partition("=")
        if not eq or key not in ("out", "seed", "size"):
            print(f"bad argument {token!r}\n{usage}", file=sys.stderr)
            return 2
        args[key] = value
    if "out" not in args or not args["seed"].lstrip("-").isdigit():
        print(usage, file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    try:
        truth = make_library(args["out"], int(args["seed"]), args["size"])
    except LibraryError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for line in _summary(truth):
        print(line)
    out = Path(args["out"])
    n = len(truth["episodes"])
    print(f"{n} episodes in {time.perf_counter() - t0:.1f} s")
    for name in ("videos", "train_labels.json", "test_labels.json", "truth.json"):
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
