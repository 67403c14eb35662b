"""The series of the library, one trap each, and how an episode of a series is laid out.

Every episode: a cold open (per-episode shots + dialogue), the intro (what the series' trap
says recurs: pictures, sound or both), per-episode content (a cut every 2-6 s, dialogue), the
end credits (recurring end theme + the series' credits roll on black), optionally more after.
What recurs is drawn from the series seed only (``np.random.default_rng([base, ...])``); what
varies from the episode's generator, so recurrence is exactly what the trap intends.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache

import numpy as np

from benchmarks.season_traps import music
from benchmarks.season_traps import pictures as pic
from benchmarks.season_traps import sound as snd
from benchmarks.season_traps.timeline import Builder, Plan, mix

F23976, F25, F2997 = Fraction(24000, 1001), Fraction(25), Fraction(30000, 1001)


@dataclass(frozen=True)
class Size:
    width: int
    height: int
    episodes: int
    cold: tuple  # cold open length range, s
    content: tuple
    montage: tuple  # recurring title sequence length range
    credits: tuple
    shortest: float  # content is lengthened so that no episode is shorter (s)


SIZES = {
    "small": Size(256, 144, 4, (5, 30), (15, 30), (10, 20), (10, 14), 60.0),
    "full": Size(320, 180, 6, (5, 40), (35, 70), (12, 25), (12, 20), 100.0),
}


@dataclass(frozen=True)
class Series:
    name: str
    trap: str  # the style every episode carries
    container: str
    sr: int
    channels: int
    intro_pictures: str = "montage"  # montage | card | episode (per-episode shots: not recurring)
    intro_sound: str = "theme"  # theme | bass | episode (per-episode dialogue: not recurring)
    extras: tuple = ()
    fps: Fraction = F25


SERIES = [
    Series("Amber Coast", "baseline", "mp4", 44100, 2),
    Series("Birch Hollow", "picture_only_intro", "mkv", 48000, 1, intro_sound="episode"),
    Series("Cinder Row", "picture_only_title_card", "webm", 48000, 2, "card", "episode"),
    Series("Dune Market", "sound_only_intro", "mp4", 48000, 1, intro_pictures="episode"),
    Series(
        "Ember Vale", "bass_clipped", "mkv", 48000, 2, intro_sound="bass", extras=("clip_loud",)
    ),
    Series(
        "Fern Street", "bass_clipped_sound_only", "mp4", 44100, 2, "episode", "bass", ("clip_loud",)
    ),
    Series("Granite Bay", "pal_season", "mp4", 48000, 2, extras=("pal",), fps=F23976),
    Series("Harbor Lights", "mixed_fps", "mkv", 48000, 1, extras=("mixed_fps",)),
    Series("Iris Point", "dialogue_over_theme", "webm", 48000, 2, extras=("talk_over",)),
    Series(
        "Quarry Hill",
        "dialogue_over_theme_sound_only",
        "mp4",
        44100,
        1,
        "episode",
        extras=("talk_over",),
    ),
    Series("Juniper Lane", "dub_announcer", "mkv", 48000, 2, extras=("dub",)),
    Series("Kestrel Fields", "prelap_fade_title", "mp4", 44100, 1, extras=("prelap",)),
    Series("Linden Park", "preview_after_credits", "webm", 48000, 2, extras=("preview",)),
    Series("Moss Harbor", "specials_show", "mp4", 44100, 2, extras=("special",)),
    Series("Nettle Cross", "identical_copy", "avi", 44100, 1, extras=("copy",)),
    Series("Onyx Ridge", "noisy_soundtrack", "mkv", 48000, 2, extras=("noise",)),
    Series("Pine Falls", "rerecorded_theme", "mp4", 48000, 2, extras=("rearranged",), fps=F23976),
]


def series_base(s: Series, seed: int) -> int:
    return zlib.crc32(s.name.encode()) + 7919 * seed


def episode_id(s: Series, k: int, season=1) -> str:
    return f"{s.name} S{season:02d}E{k + 1:02d}"


# --- sound cues (cached: a theme is rendered once per series, rate and length) -----------


@lru_cache(maxsize=64)
def _theme(kind: str, th: music.Theme, sr: int, dur: float, timbre, tempo: float) -> np.ndarray:
    x = music.bass_theme(sr, dur, th) if kind == "bass" else music.theme(sr, dur, th, timbre, tempo)
    return snd.normalise(x, 0.8)


def theme_cue(kind, th, dur, timbre=None, tempo=1.0):
    return lambda sr: _theme(kind, th, sr, round(dur, 6), timbre, tempo)


def speech_cue(seed: int, dur: float, f0: float | None = None, density=0.75):
    return lambda sr: snd.normalise(
        snd.speech(sr, dur, np.random.default_rng(seed), f0, density), 0.8
    )


def talk(b: Builder, rng, start: float, dur: float, dub: bool, gain=0.7) -> None:
    """Per-episode dialogue; in a dubbed series a different voice on stream 0."""
    seed, f0 = int(rng.integers(2**31)), float(rng.uniform(95, 230))
    if dub:
        b.hear(start, speech_cue(seed, dur, f0), gain, streams=(1,))
        b.hear(start, speech_cue(seed + 1, dur, f0 * 1.25), gain, streams=(0,))
    else:
        b.hear(start, speech_cue(seed, dur, f0), gain)


def content(b: Builder, cv, rng, seconds: float, dub: bool, speak=True) -> tuple[int, int]:
    """Per-episode shots, a cut every 2-6 s, with dialogue over them; returns the frames."""
    first, start, left = b.frame, b.now, seconds
    while left > 0.5:
        d = min(left, rng.uniform(2, 6))
        d = left if left - d < 2 else d
        b.show(d, pic.shot_for(cv, rng))
        left -= d
    if speak:
        talk(b, rng, start, b.now - start, dub)
    return first, b.frame


def intro_pictures(b: Builder, cv, s: Series, base: int, rng, length: float, fade: bool) -> None:
    srng = np.random.default_rng([base, 1000])  # the series' own: identical every episode
    if s.intro_pictures == "episode":
        content(b, cv, rng, length, False, speak=False)
        return
    if s.intro_pictures == "card":
        b.show(length, pic.title_card(cv, srng, pic.gradient(cv, srng)))
        return
    pieces, left = [], length
    while left > 0:
        d = left if left < 5 else float(srng.uniform(2, 4))
        pieces.append(d)
        left -= d
    for i, d in enumerate(pieces):
        last = i == len(pieces) - 1
        picture = (
            pic.title_card(cv, srng, pic.shot_for(cv, srng)) if last else pic.shot_for(cv, srng)
        )
        b.show(d, pic.faded(picture, d, 1.0) if fade and last else picture)


def build(s: Series, k: int, size: Size, cv, seed: int, with_preview=True) -> Plan:
    """Episode ``k`` (0-based) of series ``s``."""
    base = series_base(s, seed)
    rng = np.random.default_rng([base, k])
    srng = np.random.default_rng([base, 1])
    intro_len = srng.uniform(2, 5) if s.intro_pictures == "card" else srng.uniform(*size.montage)
    credits_len = srng.uniform(*size.credits)
    fps = [F23976, F25, F2997][k % 3] if "mixed_fps" in s.extras else s.fps
    out_fps = F25 if "pal" in s.extras and k == 2 else fps
    dub = "dub" in s.extras
    b = Builder(fps)
    content(b, cv, rng, rng.uniform(*size.cold), dub)
    i0 = b.frame
    intro_pictures(b, cv, s, base, rng, intro_len, "prelap" in s.extras)
    i1 = b.frame
    t0, t1 = b.seconds_of(i0), b.seconds_of(i1)
    if s.intro_sound == "episode":
        talk(b, rng, t0, t1 - t0, dub)
    else:
        pre = 1.5 if "prelap" in s.extras else 0.0
        redo = "rearranged" in s.extras and k in (2, 3)
        timbre = (
            {"fm": "pluck", "pluck": "organ", "organ": "fm"}[music.theme_for(base).timbre]
            if redo
            else None
        )
        b.hear(
            t0 - pre,
            theme_cue(
                s.intro_sound, music.theme_for(base), t1 - t0 + pre, timbre, 1.03 if redo else 1.0
            ),
        )
    if "talk_over" in s.extras:
        b.hear(t0, speech_cue(int(rng.integers(2**31)), 2.5, density=1.0), 1.6)
    if dub:
        b.hear(t0 - 1.5, speech_cue(base + 99, 1.3, 88.0, density=1.0), 0.9, streams=(0,))
    if "prelap" in s.extras:
        b.show(3.0, pic.episode_card(cv, rng))
    length = max(rng.uniform(*size.content), size.shortest - b.now - credits_len)
    spans = [content(b, cv, rng, length, dub)]
    c0, c1 = _end_credits(b, cv, base, credits_len)
    styles = [s.trap]
    preview = None
    if "preview" in s.extras and with_preview:
        preview = b.frame
        _preview(b, build(s, k + 1, size, cv, seed, with_preview=False), rng)
    if out_fps != fps:
        styles.append("pal_speedup")
    if "mixed_fps" in s.extras:
        styles.append(f"fps_{float(fps):.3f}")
    loud = "clip_loud" in s.extras and k % 2 == 0
    if loud:
        styles.append("clipped_loud")
    plan = Plan(
        s.name,
        episode_id(s, k),
        f"{s.name}/Season 1",
        s.container,
        fps,
        out_fps,
        s.sr,
        s.channels,
        styles,
        n_streams=2 if dub else 1,
        default_stream=1 if dub and k % 2 else 0,
        gain=1.0 if loud else float(10 ** (rng.uniform(-12, 0) / 20)),
        clip=loud,
        noise="noise" in s.extras,
        intro=(i0, i1),
        credits=(c0, c1),
        preview=preview,
        noise_seed=int(rng.integers(2**31)),
    )
    if "clip_loud" in s.extras and not loud:
        plan.gain = 0.5
    return _finish(plan, b, rng, spans)


def _end_credits(b: Builder, cv, base: int, seconds: float) -> tuple[int, int]:
    """The show's credits roll over its slow end theme, from now: their first and end frame."""
    c0 = b.frame
    b.show(seconds, pic.credits_roll(cv, np.random.default_rng([base, 2000]), seconds))
    c1 = b.frame
    theme = theme_cue("theme", music.theme_for(base + 1, slow=True), b.seconds_of(c1 - c0))
    b.hear(b.seconds_of(c0), theme, 0.8)
    return c0, c1


def build_special(s: Series, size: Size, cv, seed: int) -> Plan:
    """A special: no intro, the show's end credits (and its end theme)."""
    base = series_base(s, seed)
    rng = np.random.default_rng([base, 500])
    srng = np.random.default_rng([base, 1])
    srng.uniform()  # the same draws as build(): the same credits length as the season's
    credits_len = srng.uniform(*size.credits)
    b = Builder(s.fps)
    length = max(rng.uniform(*size.cold) + rng.uniform(*size.content), size.shortest - credits_len)
    spans = [content(b, cv, rng, length, False)]
    c0, c1 = _end_credits(b, cv, base, credits_len)
    plan = Plan(
        s.name,
        f"{s.name} S00E01",
        f"{s.name}/Specials",
        s.container,
        s.fps,
        s.fps,
        s.sr,
        s.channels,
        ["special_no_intro"],
        intro=None,
        credits=(c0, c1),
    )
    return _finish(plan, b, rng, spans)


def _finish(plan: Plan, b: Builder, rng, spans) -> Plan:
    """Room tone under everything, and the shots and cues into the plan."""
    seed, total = int(rng.integers(2**31)), b.now
    b.hear(
        0.0,
        lambda sr: snd.normalise(snd.room_tone(sr, total, np.random.default_rng(seed)), 1.0),
        0.05,
    )
    plan.shots, plan.cues = b.shots, b.cues
    plan.content = spans
    return plan


def _preview(b: Builder, nxt: Plan, rng) -> None:
    """10-20 s "next time": 3-4 clips (pictures and sound) from the next episode's content."""
    first, stop = nxt.content[0]
    lo, hi = float(first / nxt.fps), float(stop / nxt.fps)
    cache: dict = {}

    def sound_of(u: float, d: float):
        def make(sr):
            if sr not in cache:
                cache[sr] = mix(nxt, 0, sr)
            return cache[sr][int(round(u * sr)) : int(round((u + d) * sr))]

        return make

    total = rng.uniform(10, 20)
    n = int(rng.integers(3, 5))
    for d in [total / n] * n:
        u = float(rng.uniform(lo, max(lo, hi - d - 0.1)))
        b.hear(b.now, sound_of(u, d))
        b.show(d, lambda t, u=u: nxt.picture_at(u + t))
