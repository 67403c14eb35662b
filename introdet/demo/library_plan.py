"""The demo library's plan: every episode of every series, with its split and label name.

No pixels here: ``plan_library`` plans each episode (``introdet.demo.plan``) at the frame rate
it is written at, then sets the traps of whole seasons on them (``introdet.demo.traps``).
"""

from __future__ import annotations

import numpy as np

from introdet.demo.plan import Episode, intro_scenes, plan_episode
from introdet.demo.series import PROFILES, ROSTER, label_name
from introdet.demo.traps import season_traps, series_at
from introdet.errors import LibraryError


def plan_library(seed: int = 0, size: str = "full") -> list[Episode]:
    """Every episode's scene list, split and label name, without rendering a pixel."""
    if size not in PROFILES:
        raise LibraryError(f"unknown size {size!r}; choose one of {', '.join(PROFILES)}")
    prof = PROFILES[size]
    rng = np.random.default_rng([seed, 999])
    roster = ROSTER[: prof.n_series]
    # about 1 in 6 episodes has no intro; never a first episode, so each series shows its intro
    # (but a series whose opening first plays in episode 2: its first has none, its others all
    # have it), nor one of the first two showings of each version of it (even episodes show
    # the other opening, or the intro cut short), so that every version recurs
    later = [
        (si, e)
        for si, sd in enumerate(roster)
        for e in range(2, prof.episodes + 1)
        if not (sd.late_opening and prof.extras)
        and not (e <= 4 and sd.two_openings or e <= 3 and sd.cut_short)
    ]
    n_none = round(len(roster) * prof.episodes / 6)
    no_intro: set[tuple[int, int]] = set()
    keep = max(prof.episodes - 2, 1)  # each series keeps two intros, that one recurs (but tiny)
    for k in rng.permutation(len(later)):
        si, e = later[int(k)]
        if len(no_intro) < n_none and sum(s == si for s, _ in no_intro) < keep:
            no_intro.add((si, e))
    episodes = []
    for si, sd in enumerate(roster):
        season = []
        for number in range(1, prof.episodes + 1):
            sd_e = series_at(sd, number)  # mixed frame rates: planned at its own
            variant = (number - 1) % (1 + sd.two_openings)  # two openings: they alternate
            intro = intro_scenes(sd_e, prof, seed, si, variant)
            previous = season[-1] if season else None
            late = sd.late_opening and prof.extras and number == 1
            has_intro = (si, number) not in no_intro and not late
            ep = plan_episode(seed, si, sd_e, prof, number, has_intro, intro, previous)
            ep.seen = si != len(roster) - 1
            ep.opening = variant
            ep.split = "test" if not ep.seen or number > prof.episodes - prof.n_test else "train"
            ep.name = label_name(sd, number, rng)
            season.append(ep)
        episodes += season
    for si, sd in enumerate(roster):  # after every name is drawn: the names stay as they were
        mine = [ep for ep in episodes if ep.series.folder == sd.folder]
        episodes += season_traps(seed, si, sd, prof, mine, rng)
    return episodes
