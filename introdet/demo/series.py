"""The demo library's series and sizes: what to make, before any plan of a scene.

``PROFILES`` sizes the library (``full``, ``ci``, ``tiny``), ``ROSTER`` lists its series with
their containers, encoders, frame rates and the traps each sets (``SeriesDef``'s flags), and
``label_name`` types an episode's name as a person labelling it would.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction

import numpy as np


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
    # an ident mid-episode, a lone pilot, a film, previews, an opening first heard in episode 2:
    # none in the tiny library
    extras: bool = True


PROFILES = {
    "full": Profile(6, 5, (120, 140), (2, 15), (60, 150), (3, 15), (30, 60), (10, 20), (2, 6), 2,
                    (2, 4), (8, 14)),
    "ci": Profile(4, 4, (45, 60), (2, 8), (15, 25), (3, 8), (12, 18), (5, 8), (2, 5), 1, (2, 2),
                  (5, 7)),
    "tiny": Profile(4, 2, (20, 24), (2, 5), (6, 8), (3, 4), (6, 7), (3, 4), (1.5, 3), 1, (2, 2),
                    (3, 4), frame=(160, 90), extras=False),
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
    ident: bool = False  # a network ident (a bumper) mid-episode, the same in every episode
    spinoffs: bool = False  # a pilot of a show of its own (one episode) and a film
    late_opening: bool = False  # the opening first plays in episode 2: episode 1 has none
    chapters: bool = False  # chapters: episode 2's named, the last one's misleading
    mixed_fps: tuple[Fraction, ...] = ()  # episode k written at mixed_fps[k % len]


ROSTER = (
    SeriesDef("Harbor", "Harbor", "harbor", "mp4", "libx264", (320, 180), Fraction(25), "title",
              False, logo=True, text_over_intro=True, long_credits=True, dub=True, special=True,
              spinoffs=True),
    SeriesDef("Американский вандал", "Американский вандал", "vandal", "mkv", "libx265",
              (320, 180), Fraction(24), "title", True, start_transition="fade_in",
              lookalikes=True, cut_short=True, no_recurring_sound=True, chapters=True),
    SeriesDef("Northwind", "Northwind", "northwind", "webm", "libvpx-vp9", (320, 180),
              Fraction(25), "opening", False, recap=True, identical_copy=True, ident=True,
              late_opening=True, preview=True),
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


def frame_count(seconds: float, fps: Fraction) -> int:
    """``seconds`` in whole frames at ``fps``, at least one."""
    return max(1, round(seconds * float(fps)))


def label_name(sd: SeriesDef, number: int, rng: np.random.Generator, season: int = 1) -> str:
    series = sd.name
    if sd.lookalikes and number % 2 == 0:
        series = series.translate(_LATIN_LOOKALIKE)
    fmt = _NAME_FORMATS[int(rng.integers(len(_NAME_FORMATS)))]
    return fmt.format(series=series, season=season, episode=number)
