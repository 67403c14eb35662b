"""The demo library's plan of an episode: a chain of seeded scenes, no pixels.

``plan_episode`` decides what an episode shows and when: the intro of a series from the
series' seeds only, so it is identical in every episode but for the traps it is shown with
(``as_shown``: cut short, credit text over it, another sound under it); everything else from
the episode's seeds, except the recurring non-intro material recorded as distractors.
``introdet.demo.library_plan`` plans the whole library, and ``introdet.demo.traps`` sets the
traps of whole seasons on top of these episodes.
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from introdet.demo.series import Profile, SeriesDef, frame_count
from introdet.demo.sound import Sound

FADE_FRAMES = 12
VOICE_OVER = 2.5  # seconds of dialogue over the start of the theme

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
    sound: Sound = Sound()  # its audio; sample k/fps of the scene is sound at + offset + k
    voice: Sound = Sound()  # a line spoken over its sound, in its first voice_n frames
    voice_n: int = 0
    overlay_seed: tuple[int, ...] = ()  # credit text over the picture (intro), per episode


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
    opening: int = 0  # which of the series' openings it has
    gain: float = 1.0  # its loudness: every episode is mixed at its own level
    noise_seed: tuple[int, ...] = ()  # its room tone
    season_dir: str = ""  # "Season 1/", "Specials/" or "" (the episode right in the series')
    traps: list[str] = field(default_factory=list)  # its own styles beyond the series'
    speed: Fraction = Fraction(1)  # written this much faster than planned (a PAL copy)
    dub_first: bool | None = None  # None: one audio stream; else whether the dub comes first
    copy_of: str = ""  # the id of the episode whose file this one is, byte for byte
    chapters: str = ""  # "named" | "misleading": chapters in its file (traps.chapter_marks)

    @property
    def path(self) -> str:
        return f"videos/{self.series.folder}/{self.season_dir}{self.id}.{self.series.ext}"

    @property
    def fps(self) -> Fraction:
        """The frame rate written into its file."""
        return self.series.fps * self.speed

    @property
    def n_frames(self) -> int:
        return sum(s.n for s, _ in self.scenes)


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


def intro_scenes(sd: SeriesDef, prof: Profile, seed: int, si: int, variant: int = 0) -> list[Scene]:
    """The series' intro (``variant`` 1: its second opening): shot lengths, pixels and theme
    come from the series' seeds alone."""
    key = (seed, si) if variant == 0 else (seed, si, 50 + variant)
    rng = np.random.default_rng([*key, 1])
    span = prof.opening if sd.intro == "opening" else prof.title
    total = frame_count(rng.uniform(*span), sd.fps)
    if sd.intro == "opening":
        cuts = []
        while total - sum(cuts) > 0:
            cuts.append(min(frame_count(rng.uniform(2, 4.5), sd.fps), total - sum(cuts)))
    else:
        n_shots = int(rng.integers(1, 4)) if total >= frame_count(4.5, sd.fps) else 1
        cuts = list(np.diff(np.linspace(0, total, n_shots + 1).round().astype(int)))
    if cuts[-1] < 2 * FADE_FRAMES and len(cuts) > 1:  # a fade must fit inside one shot
        cuts[-2] += cuts.pop()
    style = "opening" if sd.intro == "opening" else "intro"
    at = np.concatenate([[0], np.cumsum(cuts)[:-1]]).astype(int)  # frames into the theme
    scenes = [
        Scene(int(n), style, (*key, 2, k), (*key, 3, k), sound=Sound("theme", (*key, 20), int(a)))
        for k, (n, a) in enumerate(zip(cuts, at, strict=True))
    ]
    if sd.start_transition == "fade_in":
        scenes[0] = replace(scenes[0], fade_in=FADE_FRAMES)
    if sd.end_transition == "fade_black":
        scenes[-1] = replace(scenes[-1], fade_out=FADE_FRAMES)
    return scenes


def credit_scenes(sd: SeriesDef, prof: Profile, seed: int, si: int, number: int) -> list[Scene]:
    """End credits: the series' layout and end theme, this episode's names scrolling."""
    rng = np.random.default_rng([seed, si, 6])
    seconds = rng.uniform(*prof.credits) * (2.5 if sd.long_credits else 1.0)
    n = frame_count(seconds, sd.fps)
    sound = Sound("end_theme", (seed, si, 30))
    return [Scene(n, "credits", (seed, si, 6), (seed, si, 6), sound=sound,
                  overlay_seed=(seed, si, 7, number))]  # fmt: skip


# --- the intro as each episode shows it (the traps of introdet.demo.traps in its intro) ---


def rerecorded(sd: SeriesDef, number: int, n_episodes: int) -> bool:
    """Whether episode ``number`` plays the re-recorded theme: the last 40 % of the season, at
    least one episode, never the first (which sets the original)."""
    n = max(1, round(0.4 * n_episodes))
    return sd.rerecorded_theme and number > max(1, n_episodes - n)


def cut_short(intro: list[Scene], share: float = 0.6) -> list[Scene]:
    """The first ``share`` of the intro, cut off abruptly (no fade at the cut)."""
    keep = max(1, round(share * sum(s.n for s in intro)))
    out = []
    for s in intro:
        if keep <= 0:
            break
        out.append(replace(s, n=min(s.n, keep), fade_out=s.fade_out if s.n <= keep else 0))
        keep -= s.n
    return out


def as_shown(
    sd: SeriesDef, intro: list[Scene], key: tuple[int, int], number: int, n_episodes: int
) -> list[Scene]:
    """The series' intro as episode ``number`` shows it (``key``: seed and series index): cut
    short on even episodes, with credit text over it, over this episode's own dialogue instead
    of the theme, with a re-recorded theme, or with lines spoken over the theme's start."""
    if sd.cut_short and number % 2 == 0:
        intro = cut_short(intro)
    if sd.text_over_intro:
        intro = [replace(s, overlay_seed=(*key, 8, number)) for s in intro]
    if sd.no_recurring_sound:  # the same pictures, the episode's own lines under them
        own = (*key, 14, number)
        intro = [replace(s, sound=Sound("dialogue", own, s.sound.at)) for s in intro]
    elif rerecorded(sd, number, n_episodes):
        intro = [replace(s, sound=replace(s.sound, arrangement=(*key, 16))) for s in intro]
    if sd.dialogue_over_theme:
        voice = Sound("dialogue", (*key, 15, number))
        intro = _voice_over(intro, voice, frame_count(VOICE_OVER, sd.fps))
    return intro


def _voice_over(intro: list[Scene], voice: Sound, n: int) -> list[Scene]:
    """``voice`` spoken over the first ``n`` frames of the intro, across its cuts."""
    out, done = [], 0
    for s in intro:
        k = min(s.n, n - done)
        out.append(replace(s, voice=replace(voice, at=done), voice_n=k) if k > 0 else s)
        done += max(k, 0)
    return out


class _Filler:
    """Cuts a stretch of frames into fresh content scenes, with black gaps between some."""

    def __init__(self, rng: np.random.Generator, prof: Profile, fps: Fraction, key: tuple):
        self.rng, self.prof, self.fps, self.key = rng, prof, fps, key
        self.count = 0
        self.made: list[Scene] = []

    def scene(self, n: int, bg_seed: tuple[int, ...] | None = None) -> Scene:
        self.count += 1
        own = (*self.key, 100 + self.count)
        s = Scene(n, "content", bg_seed or own, own, sound=Sound("dialogue", own))
        if bg_seed is None:
            self.made.append(s)
        return s

    def fill(self, n: int, n_black: int = 0) -> list[tuple[Scene, str | None]]:
        lo, hi = (frame_count(t, self.fps) for t in self.prof.shot)
        black_max = frame_count(2.0, self.fps)
        out: list[tuple[Scene, str | None]] = []
        left = n
        while left > 0:
            if left <= hi:
                out.append((self.scene(left), None))
                break
            room = left > hi + black_max + lo
            if n_black and out and out[-1][1] is None and room and self.rng.random() < 0.4:
                b = frame_count(self.rng.uniform(0.5, 2.0), self.fps)
                out.append((Scene(b, "black"), "black"))
                left -= b
                n_black -= 1
                continue
            k = min(int(self.rng.integers(lo, hi + 1)), left - lo)
            out.append((self.scene(k), None))
            left -= k
        return out


def plan_episode(
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
    head = _head(seed, si, sd, prof, rng, previous)
    intro = as_shown(sd, intro, (seed, si), number, prof.episodes)
    credits = [(s, "credits") for s in credit_scenes(sd, prof, seed, si, number)]
    n_head = sum(s.n for s, _ in head)
    n_intro = sum(s.n for s in intro)
    n_credits = sum(s.n for s, _ in credits)
    tail_min = 2 * frame_count(prof.shot[1], fps) + n_credits
    duration = frame_count(rng.uniform(*prof.duration), fps)
    if sd.intro_at_zero:
        pre = 0
    elif sd.cold_open:
        lo, hi = prof.cold_open
        hi = max(lo, min(hi, (duration - n_head - n_intro - tail_min) / float(fps)))
        pre = frame_count(rng.uniform(lo, hi), fps)
    else:
        pre = frame_count(rng.uniform(*prof.early), fps)
    start = n_head + pre
    # a frame boundary inside a second, never a whole second, at both ends of the intro
    while start and (_whole_second(start, fps) or _whole_second(start + n_intro, fps)):
        start += 1
    duration = max(duration, start + n_intro + tail_min)
    n_black = int(rng.integers(1, 3)) if rng.random() < 0.6 else 0
    if has_intro:
        before = filler.fill(start - n_head, n_black if sd.cold_open else 0)
        after = filler.fill(duration - start - n_intro - n_credits, n_black)
        body = before + [(s, "intro") for s in intro] + after
    else:
        after = filler.fill(duration - n_head - n_credits, n_black)
        body = after
    if sd.recurring_set:
        _place_set(body, after, filler, (seed, si, 5))
    return Episode(
        id=f"{sd.slug}_s01e{number:02d}",
        series=sd,
        number=number,
        frame=prof.frame or sd.frame,
        look=_look(np.random.default_rng([seed, si, 0]), si),
        scenes=head + body + credits,
        gain=float(10 ** (np.random.default_rng([seed, si, 12, number]).uniform(-9, 0) / 20)),
        noise_seed=(seed, si, 13, number),
        content=filler.made,
    )


def _head(
    seed: int, si: int, sd: SeriesDef, prof: Profile, rng, previous: Episode | None
) -> list[tuple[Scene, str | None]]:
    """What opens the episode before its own story: a studio logo, a "previously on" recap."""
    head: list[tuple[Scene, str | None]] = []
    if sd.logo:
        n_logo = frame_count(np.random.default_rng([seed, si, 4]).uniform(2, 3), sd.fps)
        jingle = Sound("jingle", (seed, si, 4))
        head.append(
            (Scene(n_logo, "logo", (seed, si, 4), (seed, si, 4), sound=jingle), "studio_logo")
        )
    if sd.recap and previous is not None:
        head += [(s, "recap") for s in clips(rng, prof, sd.fps, previous.content)]
    return head


def clips(
    rng: np.random.Generator,
    prof: Profile,
    fps: Fraction,
    source: Sequence[Scene],
    seconds: float | None = None,
) -> list[Scene]:
    """Shots cut from another episode's own scenes (a recap of the previous one, a preview of
    the next: ``seconds`` long, else a recap's length): recurring, but not intro."""
    left = frame_count(seconds if seconds is not None else rng.uniform(*prof.recap), fps)
    shots = []
    while left > 0:
        n = min(left, frame_count(rng.uniform(0.75, 1.25) * prof.shot[0], fps))
        if left - n < frame_count(0.5 * prof.shot[0], fps):
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
