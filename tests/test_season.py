"""Tests for introdet.detection.season: items from links, and the season-wide decision.

The links here are what the fingerprint matcher reports for a planned season (every pair of
episodes sharing a stretch); tests over real files are in tests/test_predict_season.py.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from types import SimpleNamespace

import pytest

from introdet.detection.episodes import _first_appearance
from introdet.detection.items import items_from_links
from introdet.detection.links import Link, partners
from introdet.detection.season import SeasonConfig, decide
from introdet.errors import ConfigError

CFG = SeasonConfig()


def season_links(plan: dict[int, dict[str, tuple[float, float]]]) -> list[Link]:
    """Links between every two episodes that have a stretch of the same name."""
    links = []
    for i, j in itertools.combinations(sorted(plan), 2):
        for name in plan[i].keys() & plan[j].keys():
            (a0, a1), (b0, b1) = plan[i][name], plan[j][name]
            n = min(a1 - a0, b1 - b0)  # a cut-short intro shares its first part
            links.append(Link(i, j, a0, a0 + n, b0, b0 + n))
    return links


def intros(result) -> list[tuple[float, float] | None]:
    return [r.intro and (r.intro.start, r.intro.end) for r in result]


def test_the_intro_is_what_most_episodes_share_after_a_logo_and_before_the_credits():
    durations = [1300.0, 1320.0, 1290.0, 1310.0]
    plan = {
        ep: {
            "logo": (0.0, 2.5),
            "intro": (60.0 + 10 * ep, 90.0 + 10 * ep),
            "credits": (d - 40.0, d),
        }
        for ep, d in enumerate(durations)
    }
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(60.0 + 10 * ep, 90.0 + 10 * ep) for ep in range(4)]
    for r, d in zip(result, durations, strict=True):
        assert (r.credits.start, r.credits.end) == (d - 40.0, d)


def test_an_episode_without_an_intro_gets_none_even_with_logo_and_credits():
    durations = [1300.0] * 4
    plan = {ep: {"logo": (0.0, 2.5), "credits": (1260.0, 1300.0)} for ep in range(4)}
    for ep in (0, 1, 3):
        plan[ep]["intro"] = (40.0, 52.0)
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(40.0, 52.0), (40.0, 52.0), None, (40.0, 52.0)]
    assert all(r.credits is not None for r in result)


def test_a_short_intro_at_zero_is_not_taken_for_a_logo():
    durations = [1300.0] * 3
    plan = {ep: {"intro": (0.0, 3.3), "credits": (1280.0, 1300.0)} for ep in range(3)}
    assert intros(decide(season_links(plan), durations, CFG)) == [(0.0, 3.3)] * 3


def test_credits_longer_than_the_intro_are_credits():
    durations = [1300.0, 1310.0, 1305.0]
    plan = {ep: {"intro": (30.0, 38.0), "credits": (d - 90.0, d)} for ep, d in enumerate(durations)}
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(30.0, 38.0)] * 3
    assert [r.credits.end - r.credits.start for r in result] == [90.0] * 3


def test_a_recap_shared_with_the_previous_episode_is_not_the_intro():
    durations = [1300.0] * 3
    plan = {ep: {"intro": (70.0, 100.0)} for ep in range(3)}
    # episode 1 opens with 20 s quoted from after episode 0's intro; so does 2 from 1
    plan[0]["story1"] = (600.0, 620.0)
    plan[1]["story1"] = (5.0, 25.0)
    plan[1]["story2"] = (800.0, 822.0)
    plan[2]["story2"] = (3.0, 25.0)
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(70.0, 100.0)] * 3
    kinds = {k for r in result for *_, k, _ in r.evidence["recurring"]}
    assert "recap" in kinds


def test_two_openings_group_the_episodes_and_a_cut_short_one_keeps_its_part():
    durations = [1300.0] * 5
    plan = {ep: {"credits": (1270.0, 1300.0)} for ep in range(5)}
    for ep in (0, 2, 4):
        plan[ep]["opening_a"] = (50.0 + ep, 80.0 + ep)
    for ep in (1, 3):
        plan[ep]["opening_b"] = (20.0, 45.0)
    plan[4]["opening_a"] = (54.0, 66.0)  # cut short: its first 12 s
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(50.0, 80.0), (20.0, 45.0), (52.0, 82.0), (20.0, 45.0), (54.0, 66.0)]


def test_items_merge_overlapping_occurrences_and_keep_apart_the_rest():
    links = [
        Link(0, 1, 10.0, 40.0, 12.0, 42.0),
        Link(0, 2, 10.5, 39.5, 30.0, 59.0),  # the same stretch of 0, a bit shorter
        Link(1, 2, 500.0, 520.0, 600.0, 620.0),  # something else
    ]
    items = sorted(items_from_links(links), key=lambda it: -it.support)
    assert [it.support for it in items] == [3, 2]
    assert items[0].spans == {0: (10.0, 40.0), 1: (12.0, 42.0), 2: (30.0, 59.0)}


def test_partners_are_the_nearest_episodes_and_everyone_in_a_small_season():
    assert partners(4, 8) == list(itertools.combinations(range(4), 2))
    big = partners(30, 8)
    assert all(j - i <= 4 for i, j in big) and len(big) == sum(min(4, 29 - i) for i in range(30))


@pytest.mark.parametrize("bad", [{"min_seconds": 0}, {"min_intro": 200}, {"max_others": 0}])
def test_bad_settings_name_the_key(bad):
    with pytest.raises(ConfigError, match="season"):
        SeasonConfig(**bad)


def test_every_shot_of_a_recap_is_recap_even_one_quoted_from_before_an_intro():
    durations = [1300.0] * 3
    plan = {ep: {"intro": (70.0, 100.0)} for ep in range(3)}
    # episode 2 has no intro of its own; its recap quotes episode 1's story after the intro
    # (two shots) and one shot from before it
    del plan[2]["intro"]
    plan[1]["after1"], plan[2]["after1"] = (400.0, 404.0), (2.0, 6.0)
    plan[1]["after2"], plan[2]["after2"] = (500.0, 503.0), (7.0, 10.0)
    plan[1]["before"], plan[2]["before"] = (30.0, 33.0), (11.0, 14.0)
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(70.0, 100.0), (70.0, 100.0), None]
    assert {k for *_, k, _ in result[2].evidence["recurring"]} == {"recap"}


def test_a_next_time_on_quoted_again_in_a_recap_is_a_preview_not_an_intro():
    """Issue #28: episode 0 ends with a "next time on" (after its credits) whose clip episode 1
    plays in its story and episode 2 quotes in its recap: in three episodes, early in two. The
    opening first plays in episode 1."""
    durations = [1300.0] * 4
    plan = {ep: {"credits": (1270.0, 1300.0), "intro": (40.0, 70.0)} for ep in range(4)}
    plan[0] = {"credits": (1240.0, 1270.0), "clip": (1275.0, 1290.0)}
    plan[1]["clip"] = (90.0, 105.0)
    plan[2]["clip"] = (5.0, 20.0)
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [None, (40.0, 70.0), (40.0, 70.0), (40.0, 70.0)]
    assert (result[0].preview.start, result[0].preview.end) == (1270.0, 1300.0)


def test_a_logo_is_no_intro_where_half_the_season_lacks_the_intro():
    """A 2.5-s studio logo at 0:00 of five episodes, the intro after it in two: the logo is
    not the intro of the three without one."""
    durations = [1300.0] * 5
    plan = {ep: {"logo": (0.0, 2.5), "credits": (1260.0, 1300.0)} for ep in range(5)}
    for ep in (0, 2):
        plan[ep]["intro"] = (40.0, 52.0)
    result = decide(season_links(plan), durations, CFG)
    assert intros(result) == [(40.0, 52.0), None, (40.0, 52.0), None, None]


def test_each_opening_is_first_heard_where_it_first_plays_and_a_copy_as_its_original():
    """Two openings alternating (0, 2, 4 and 1, 3): episodes 0 and 1 are where each is first
    heard; a copy of episode 1 (place 5) is marked as episode 1 is; none before an opening
    plays (a season whose opening first plays in episode 1)."""
    durations = [1300.0] * 5
    plan = {ep: {"credits": (1270.0, 1300.0)} for ep in range(5)}
    for ep in (0, 2, 4):
        plan[ep]["opening_a"] = (50.0, 80.0)
    for ep in (1, 3):
        plan[ep]["opening_b"] = (20.0, 45.0)
    result = decide(season_links(plan), durations, CFG)
    assert [sorted(r.intro_with) for r in result] == [[0, 2, 4], [1, 3], [0, 2, 4], [1, 3],
                                                      [0, 2, 4]]  # fmt: skip
    jobs = [SimpleNamespace(key=f"show/s01e{k + 1:02d}", path=None) for k in range(5)]
    copy = replace(result[1], evidence=dict(result[1].evidence))
    _first_appearance([*jobs, SimpleNamespace(key="show/s01e02 (1)", path=None)],
                      [*result, copy], {5: 1})  # fmt: skip
    assert [bool(r.evidence.get("first_appearance")) for r in [*result, copy]] == [
        True, True, False, False, False, True]  # fmt: skip
    late = decide(season_links({k - 1: v for k, v in plan.items() if k}), durations[1:], CFG)
    _first_appearance(jobs[1:], late)
    assert [bool(r.evidence.get("first_appearance")) for r in late] == [True, True, False, False]
