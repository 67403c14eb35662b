"""Traps that real seasons set, planned on top of ``plan``'s episodes (still no pixels).

A detector that matches what recurs across a season's files meets, in real libraries:

- a series whose intro has no recurring sound (``no_recurring_sound``): its title sequence shows
  the same pictures every episode, but under them each episode's own dialogue, not a theme;
- a theme re-recorded for the last episodes (``rerecorded_theme``): the same pictures and melody,
  another recording (other instrument colours, about 3 % other tempo);
- a PAL copy (``pal_copy``): a 23.976-fps episode written at 25 fps with every frame kept, so its
  sound plays 4.27 % faster, pitch and all, as a European broadcast does;
- mixed frame rates in one season (``mixed_fps``): the same seconds of scenes, other frame grids;
- a dub beside the original sound (``dub``): two audio streams, the dub first in some episodes,
  the default stream the dub's wherever it is; the music is the same in both, the voices not;
- the same file twice in a season folder (``identical_copy``), a re-download kept beside the
  first: both are marked, and the copy's truth is the original's;
- a special in ``Specials/`` beside ``Season 1/`` (``special``): no intro, the series' end credits;
- lines spoken over the theme's first seconds (``dialogue_over_theme``);
- a "next time on" preview after the end credits (``preview``), cut from the next episode's own
  scenes: recurring, but neither intro nor credits;
- a network ident mid-episode (``ident``): a 3-5 s bumper, card and sting, the same in every
  episode, after the intro: recurring in every episode, a commercial, not the intro;
- episodes no season explains (``spinoffs``): the pilot of a show of its own (one episode, an
  intro of its own, the series' end credits) and a film (no intro, end credits), each alone in
  its folder;
- an opening that first plays in episode 2 (``late_opening``): a player may choose not to skip
  it there, where it is first heard;
- chapters in the files (``chapters``): episode 2's named as its segments are ("Opening", "End
  Credits"...), the last episode's misleading, as chapters named by the story are: "Intro" over
  the cold open, "Ending" over the last scenes before the credits.

Each is a flag of the series (``SeriesDef``); the styles of a truth row are the series' flags
plus the episode's own ``traps`` (the episodes a trap touches, where it touches only some).
The traps in the intro itself (no recurring sound, re-recorded theme, dialogue over the theme)
are set as each episode is planned (``introdet.demo.plan.as_shown``); ``series_at`` gives the
frame rate an episode is planned at, and ``season_traps`` sets the rest on a planned season.
"""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from itertools import pairwise

import numpy as np

from introdet.demo.plan import Episode, Scene, clips, intro_scenes, plan_episode, rerecorded
from introdet.demo.series import Profile, SeriesDef, frame_count, label_name
from introdet.demo.sound import Sound
from introdet.errors import LibraryError

PAL = Fraction(25)
SERIES_STYLES = ("no_recurring_sound", "dub", "dialogue_over_theme", "mixed_fps", "ident",
                 "late_opening", "chapters")


def series_at(sd: SeriesDef, number: int) -> SeriesDef:
    """The series as episode ``number`` is planned and written: a mixed-rate season cycles its
    rates, so every scene keeps its length in seconds on another frame grid."""
    if not sd.mixed_fps:
        return sd
    return replace(sd, fps=sd.mixed_fps[(number - 1) % len(sd.mixed_fps)])


def season_traps(
    seed: int,
    si: int,
    sd: SeriesDef,
    prof: Profile,
    season: list[Episode],
    rng: np.random.Generator,
) -> list[Episode]:
    """Set the series' traps on its planned ``season`` (in place); return the files it adds (a
    special, a copy). ``rng`` draws the label names of the added files."""
    has_intro = {ep.id: any(tag == "intro" for _, tag in ep.scenes) for ep in season}
    for ep in season:
        if sd.dub:  # odd episodes: the dub first; the dub is the default stream in all
            ep.dub_first = ep.number % 2 == 1
        if rerecorded(sd, ep.number, prof.episodes) and has_intro[ep.id]:
            ep.traps.append("rerecorded_theme")
    if sd.pal_copy:  # the last episode of the first opening (but the first): a trap alone
        _pal(next((ep for ep in reversed(season[1:]) if ep.opening == 0), season[-1]))
    if sd.preview and prof.extras:
        _previews(seed, si, prof, season)
    if sd.ident and prof.extras:
        _idents(seed, si, season)
    added = []
    if sd.special:
        for ep in season:
            ep.season_dir = "Season 1/"
        added.append(_special(seed, si, sd, prof, season[0], rng))
    if sd.spinoffs and prof.extras:
        added += _spinoffs(seed, si, sd, prof, season[0], rng)
    if sd.chapters and len(season) > 2:
        season[1].chapters, season[-1].chapters = "named", "misleading"
        season[-1].traps.append("misleading_chapters")
    if sd.identical_copy:  # of the first episode that shows its intro
        original = next((ep for ep in season if has_intro[ep.id]), season[0])
        original.traps.append("identical_copy")
        added.append(
            replace(original, id=f"{original.id} (1)", copy_of=original.id,
                    traps=list(original.traps))
        )  # fmt: skip
    return added


def _pal(ep: Episode) -> None:
    """Write every planned frame at 25 fps: the file, sound included, plays 25/fps faster."""
    if ep.series.fps == PAL:
        raise LibraryError(f"{ep.series.name}: a PAL copy needs a series not already at 25 fps")
    ep.speed = PAL / ep.series.fps
    ep.traps.append("pal_copy")


def _previews(seed: int, si: int, prof: Profile, season: list[Episode]) -> None:
    """ "Next time on" after each episode's credits but the last: shots of the next episode's
    own scenes, 10-15 s in the full library (as much shorter as its recaps in the small ones).
    The credits end where the preview starts."""
    for ep, nxt in pairwise(season):
        if nxt.series.fps != ep.series.fps or not nxt.content:
            continue  # a shot is counted in frames of its own rate
        rng = np.random.default_rng([seed, si, 18, ep.number])
        lo = prof.recap[0]
        shots = clips(rng, prof, ep.series.fps, nxt.content, rng.uniform(lo, 1.5 * lo))
        ep.scenes += [(s, "preview") for s in shots]
        ep.traps.append("preview")


def _idents(seed: int, si: int, season: list[Episode]) -> None:
    """The series' ident (one card, one sting, 3-5 s) before the second story scene after each
    episode's intro (an act break), tagged ``commercial``."""
    seconds = float(np.random.default_rng([seed, si, 31]).uniform(3, 5))
    sting = Sound("theme", (seed, si, 31))
    for ep in season:
        story = [i for i, (_, tag) in enumerate(ep.scenes) if tag is None]
        after = [i for i in story if any(t == "intro" for _, t in ep.scenes[:i])] or story
        if not after:
            continue
        n = frame_count(seconds, ep.series.fps)
        ident = Scene(n, "logo", (seed, si, 31), (seed, si, 31), sound=sting)
        ep.scenes.insert(after[min(1, len(after) - 1)], (ident, "commercial"))


def _spinoffs(
    seed: int, si: int, sd: SeriesDef, prof: Profile, first: Episode, rng: np.random.Generator
) -> list[Episode]:
    """A pilot of a spin-off show, alone in its folder, with an intro no other file plays; and
    a film: no intro, end credits. Both in the test split: there is nothing to learn from."""
    out = []
    film = f"{sd.name} Nights"
    for slug, name, folder, intro in (("pilot", f"{sd.name} Pilot", f"{sd.folder} Pilot", True),
                                      ("film", film, f"Films/{film} (2021)", False)):  # fmt: skip
        own = replace(sd, name=name, folder=folder, special=False)
        scenes = intro_scenes(own, prof, seed, si, 7) if intro else []
        ep = plan_episode(seed, si, own, prof, 1, intro, scenes, None)
        ep.id = f"{sd.slug}_{slug}"
        ep.seen, ep.split = first.seen, "test"
        ep.name = label_name(own, 1, rng)
        ep.dub_first = first.dub_first
        ep.traps.append("lone_episode" if intro else "film")
        out.append(ep)
    return out


def _special(
    seed: int, si: int, sd: SeriesDef, prof: Profile, first: Episode, rng: np.random.Generator
) -> Episode:
    """Season 0's first episode in ``Specials/``: the studio logo if the series has one, a story
    of its own, no intro, then the series' end credits (their layout and end theme)."""
    ep = plan_episode(seed, si, sd, prof, 0, False, [], None)
    ep.id = f"{sd.slug}_s00e01"
    ep.season_dir = "Specials/"
    ep.seen = first.seen
    ep.split = "test"  # nothing to learn from, something to get right
    ep.name = label_name(sd, 1, rng, season=0)
    ep.dub_first = first.dub_first
    ep.traps.append("special")
    return ep


# a chapter's title by what its scenes are; the rest of the story is "Episode"
NAMED = {"intro": "Opening", "credits": "End Credits", "recap": "Previously On",
         "preview": "Next Time", "commercial": "Commercial", "logo": "Logo"}  # fmt: skip
ENDING = 8.0  # seconds of the last scenes before the credits a misleading "Ending" names


def chapter_marks(ep: Episode) -> list[tuple[int, int, str]]:
    """``ep``'s chapters (first frame, frame after the last, title) as ``ep.chapters`` says:
    "named" as its segments are, "misleading" named by the story (its first story stretch
    "Intro", its last scenes before the credits "Ending", the rest "Part N")."""
    runs: list[list] = []  # [first frame, end frame, segment tag or None]
    ending = _ending(ep) if ep.chapters == "misleading" else (0, 0)
    i = 0
    for scene, tag in ep.scenes:
        kind = tag if tag in NAMED else None  # black gaps and recurring sets are story
        if kind is None and ending[0] <= i < ending[1]:
            kind = "ending"
        if runs and runs[-1][2] == kind:
            runs[-1][1] = i + scene.n
        else:
            runs.append([i, i + scene.n, kind])
        i += scene.n
    if ep.chapters == "named":
        before = [k for k, r in enumerate(runs) if r[2] == "intro"][:1]
        return [(a, b, NAMED[t] if t else "Cold Open" if before and k < before[0] else "Episode")
                for k, (a, b, t) in enumerate(runs)]  # fmt: skip
    story = [k for k, r in enumerate(runs) if r[2] is None][:1]
    return [(a, b, "Intro" if story and k == story[0] else "Ending" if t == "ending"
             else f"Part {k + 1}") for k, (a, b, t) in enumerate(runs)]  # fmt: skip


def _ending(ep: Episode) -> tuple[int, int]:
    """The frames (first, the credits' first) of the last story scenes before the credits
    that together last ``ENDING`` seconds or just over."""
    starts, i = [], 0
    for scene, tag in ep.scenes:
        starts.append((i, scene.n, tag))
        i += scene.n
    credits = next((a for a, _, tag in starts if tag == "credits"), i)
    tail = [(a, n) for a, n, tag in starts if a < credits and tag not in NAMED]
    seconds, first = 0.0, credits
    for a, n in reversed(tail):
        if seconds >= ENDING:
            break
        seconds, first = seconds + n / float(ep.series.fps), a
    return first, credits
