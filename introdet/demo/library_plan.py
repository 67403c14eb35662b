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
    episodes = []
    for si, sd in enumerate(roster):
        season = []
        for number in range(1, prof.episodes + 1):
            sd_e = series_at(sd, number)  # mixed frame rates: planned at its own
            variant = (number - 1) % (1 + sd.two_openings)  # two openings: they alternate
            intro = intro_scenes(sd_e, prof, seed, si, variant)
            previous = season[-1] if season else None
            has_intro = (si, number) not in no_intro
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
