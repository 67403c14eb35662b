"""The demo library's plan: series, profiles and each episode as a chain of seeded scenes.

No pixels here: ``plan_library`` decides what every episode shows and when (the intro of a
series from the series' seeds only, so it is identical in every episode; everything else from
the episode's seeds, except the recurring non-intro material recorded as distractors).
"""

from __future__ import annotations

import colorsys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction

import numpy as np

from introdet.demo.sound import Sound
from introdet.errors import LibraryError

FADE_FRAMES = 12

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
    credits: tuple[float, float]  # end credits length (a long-credits series: x 2.5)
    frame: tuple[int, int] | None = None  # every series at this size (tests)


PROFILES = {
    "full": Profile(6, 5, (120, 140), (2, 15), (60, 150), (3, 15), (30, 60), (10, 20), (2, 6), 2,
                    (2, 4), (8, 14)),
    "ci": Profile(4, 3, (45, 60), (2, 8), (15, 25), (3, 8), (12, 18), (5, 8), (2, 5), 1, (2, 2),
                  (5, 7)),
    "tiny": Profile(4, 2, (20, 24), (2, 5), (6, 8), (3, 4), (6, 7), (3, 4), (1.5, 3), 1, (2, 2),
                    (3, 4), frame=(160, 90)),
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
    intro_at_zero: bool = False  # the intro opens the episode at 0:00
    cut_short: bool = False  # even episodes play only the first part of the intro
    two_openings: bool = False  # the second half of the season has another opening
    text_over_intro: bool = False  # per-episode credit text drawn over the intro
    long_credits: bool = False  # end credits (and their theme) longer than the intro
    # traps of introdet.demo.traps, which see each flag's meaning
    no_recurring_sound: bool = False  # each episode's own dialogue under the intro
    dub: bool = False  # two audio streams: a dub and the original
    identical_copy: bool = False  # one episode twice in the folder, byte for byte
    special: bool = False  # Season 1/ and Specials/ folders, one special with no intro
    pal_copy: bool = False  # the last episode sped up to 25 fps, sound and all
    rerecorded_theme: bool = False  # the last episodes play another recording of the theme
    dialogue_over_theme: bool = False  # lines spoken over the theme's first seconds
    preview: bool = False  # "next time on" after the credits, from the next episode
    mixed_fps: tuple[Fraction, ...] = ()  # episode k written at mixed_fps[k % len]


ROSTER = (
    SeriesDef("Harbor", "Harbor", "harbor", "mp4", "libx264", (320, 180), Fraction(25), "title",
              False, logo=True, text_over_intro=True, long_credits=True, dub=True, special=True),
    SeriesDef("Американский вандал", "Американский вандал", "vandal", "mkv", "libx265",
              (320, 180), Fraction(24), "title", True, start_transition="fade_in",
              lookalikes=True, cut_short=True, no_recurring_sound=True),
    SeriesDef("Northwind", "Northwind", "northwind", "webm", "libvpx-vp9", (320, 180),
              Fraction(25), "opening", False, recap=True, identical_copy=True),
    SeriesDef("Quarry", "Quarry", "quarry", "avi", "mpeg4", (384, 216), Fraction(24000, 1001),
              "title", False, end_transition="fade_black", recurring_set=True, intro_at_zero=True,
              two_openings=True, pal_copy=True),
    SeriesDef("Saltmarsh", "Saltmarsh", "saltmarsh", "mp4", "libx264", (320, 180), Fraction(24),
              "title", False, rerecorded_theme=True, dialogue_over_theme=True, preview=True),
    SeriesDef("Lumen", "Lumen", "lumen", "avi", "mpeg4", (320, 180), Fraction(25), "title", True,
              mixed_fps=(Fraction(25), Fraction(24000, 1001), Fraction(30000, 1001))),
)  # fmt: skip

# one thread per encoder: the episodes already run two at a time on two cores
CODEC_OPTIONS = {
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


def intro_scenes(sd: SeriesDef, prof: Profile, seed: int, si: int, variant: int = 0) -> list[Scene]:
    """The series' intro (``variant`` 1: its second opening): shot lengths, pixels and theme
    come from the series' seeds alone."""
    key = (seed, si) if variant == 0 else (seed, si, 50 + variant)
    rng = np.random.default_rng([*key, 1])
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
    n = _frames(seconds, sd.fps)
    sound = Sound("end_theme", (seed, si, 30))
    return [Scene(n, "credits", (seed, si, 6), (seed, si, 6), sound=sound,
                  overlay_seed=(seed, si, 7, number))]  # fmt: skip


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
    from introdet.demo import traps  # it builds on this module's scenes

    rng = np.random.default_rng([seed, si, 10, number])
    fps = sd.fps
    filler = _Filler(rng, prof, fps, (seed, si, 11, number))
    head = _head(seed, si, sd, prof, rng, previous)
    intro = traps.as_shown(sd, intro, (seed, si), number, prof.episodes)
    credits = [(s, "credits") for s in credit_scenes(sd, prof, seed, si, number)]
    n_head = sum(s.n for s, _ in head)
    n_intro = sum(s.n for s in intro)
    n_credits = sum(s.n for s, _ in credits)
    tail_min = 2 * _frames(prof.shot[1], fps) + n_credits
    duration = _frames(rng.uniform(*prof.duration), fps)
    if sd.intro_at_zero:
        pre = 0
    elif sd.cold_open:
        lo, hi = prof.cold_open
        hi = max(lo, min(hi, (duration - n_head - n_intro - tail_min) / float(fps)))
        pre = _frames(rng.uniform(lo, hi), fps)
    else:
        pre = _frames(rng.uniform(*prof.early), fps)
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
        n_logo = _frames(np.random.default_rng([seed, si, 4]).uniform(2, 3), sd.fps)
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
    left = _frames(seconds if seconds is not None else rng.uniform(*prof.recap), fps)
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
    # nor the second episode of a series whose even episodes show a variant of the intro
    later = [
        (si, e)
        for si, sd in enumerate(roster)
        for e in range(2, prof.episodes + 1)
        if not (e == 2 and (sd.cut_short or sd.two_openings))
    ]
    n_none = round(len(roster) * prof.episodes / 6)
    picks = rng.choice(len(later), size=min(n_none, len(later)), replace=False)
    no_intro = {later[int(k)] for k in picks}
    from introdet.demo import traps  # it builds on this module's scenes

    episodes = []
    for si, sd in enumerate(roster):
        season = []
        for number in range(1, prof.episodes + 1):
            sd_e = traps.series_at(sd, number)  # mixed frame rates: planned at its own
            variant = (number - 1) % (1 + sd.two_openings)  # two openings: they alternate
            intro = intro_scenes(sd_e, prof, seed, si, variant)
            previous = season[-1] if season else None
            has_intro = (si, number) not in no_intro
            ep = plan_episode(seed, si, sd_e, prof, number, has_intro, intro, previous)
            ep.seen = si != len(roster) - 1
            ep.opening = variant
            ep.split = "test" if not ep.seen or number > prof.episodes - prof.n_test else "train"
            ep.name = _label_name(sd, number, rng)
            season.append(ep)
        episodes += season
    for si, sd in enumerate(roster):  # after every name is drawn: the names stay as they were
        mine = [ep for ep in episodes if ep.series.folder == sd.folder]
        episodes += traps.season_traps(seed, si, sd, prof, mine, rng)
    return episodes


def _label_name(sd: SeriesDef, number: int, rng: np.random.Generator, season: int = 1) -> str:
    series = sd.name
    if sd.lookalikes and number % 2 == 0:
        series = series.translate(_LATIN_LOOKALIKE)
    fmt = _NAME_FORMATS[int(rng.integers(len(_NAME_FORMATS)))]
    return fmt.format(series=series, season=season, episode=number)
