"""Season mode without training: what recurs across a season's episodes, heard and seen, and
which of it is the intro.

Each episode is aligned with its partners (the nearest episodes in broadcast order) on its
sound and, where the sound leaves doubt or when asked, on its pictures
(``detection/links.py``): the stretches two episodes share are links between an occurrence in
one and an occurrence in the other. Occurrences that overlap within an episode are one; linked
occurrences form an *item*: one piece of sound or picture that recurs, such as the theme under
the intro, a title card, a studio jingle, the end theme, or a line a recap quotes. An item's
extent in an episode fuses what was heard with what was seen there (``items.py``). Items are
then classified season-wide:

- preview: shared by two consecutive episodes only, at the end of the earlier one and inside
  the later one (a "next time on" after the credits);
- credits: most occurrences end at the end of their episode (before its preview), in its
  second half;
- logo: short, at 0:00, and followed in the same episodes by another recurring item, or only
  seen (a card without a jingle or a theme);
- recap: shared by two consecutive episodes only, and in the earlier one it comes after that
  episode's intro (a "previously on" quotes the last episode's story, not its intro); the
  shots next to a recap shot, quoted from the same episode, are recap too;
- commercial: a network ident or bumper: heard, at most ``COMMERCIAL_MAX`` s, in most of the
  season's episodes, after a longer recurring stretch (the intro) in most of them;
- intro: the remaining item an episode shares with the most others (ties: the one heard and
  seen, then the longer), which groups episodes by the opening they share when a season has
  two.

An episode whose only recurring stretches are of the other kinds has no intro.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from introdet.checks import NULL, check_node, number, one_of, whole
from introdet.detection.items import Item, items_from_links
from introdet.detection.links import Link
from introdet.detection.postprocess import Segment
from introdet.errors import ConfigError

SEASON_RULES = {
    "scan": number(0, 86400, lo_open=True),
    "scan_fraction": number(0, 1, lo_open=True),
    "tail": number(0, 86400),
    "first_scan": number(0, 86400, lo_open=True) | NULL,
    "first_tail": number(0, 86400) | NULL,
    "min_seconds": number(0, 3600, lo_open=True),
    "max_others": whole(1, 1000),
    "min_intro": number(0, 3600, lo_open=True),
    "max_intro": number(0, 3600, lo_open=True),
    "end_margin": number(0, 3600),
    "logo_max": number(0, 3600),
    "snap_start": number(0, 3600),
    "join": number(0, 3600),
    "pictures": one_of("auto", "always", "never"),
}


@dataclass
class SeasonConfig:
    """``season.*`` of predict and extract: how what recurs across a season's episodes is
    found and judged; saved with a model trained with season channels."""

    # the intro is searched in the first scan seconds or scan_fraction of each episode,
    # whichever is longer (real labels: 4 of 79 intros start after 7:00, one at 11:48), and
    # the credits in the last tail seconds
    scan: float = 900.0
    scan_fraction: float = 0.4
    tail: float = 600.0
    # every episode is heard first over its first first_scan and last first_tail seconds; the
    # rest of the scan (or tail) only where the season finds no intro ending inside it (no
    # credits starting inside it); null: the whole scan (tail) at once. 75 of 79 real intros
    # start before 7:00 (none is over a minute long); credits and a preview after them fit in
    # the last 4:00 of most shows
    first_scan: float | None = 480.0
    first_tail: float | None = 240.0
    min_seconds: float = 1.5  # the shortest shared stretch that counts (matched edges sit a
    # little inside the true ones: a 2-s intro matches over about 1.6 s)
    max_others: int = 8  # partners per episode: its nearest episodes in broadcast order
    min_intro: float = 1.5  # intro length limits, as matched (real intros: 2 to 59 s)
    max_intro: float = 120.0
    end_margin: float = 15.0  # credits end within this many seconds of the episode's end
    logo_max: float = 5.0  # an opening jingle or logo is at most this long
    snap_start: float = 1.0  # an intro starting this close to 0:00 starts at 0:00 (the first
    # sound frame is centred a little after the file's start)
    join: float = 12.0  # pieces of one shared stretch at one offset are joined across gaps of
    # up to this many seconds where the bits are noisy but related (a theme mixed low in the
    # spectrum, clipped, or under dialogue matches in pieces)
    # pictures: compared for every pair (always), for the episodes the sound leaves in doubt
    # and their partners (auto: no heard intro, or no sound), or never
    pictures: str = "auto"

    def __post_init__(self) -> None:
        check_node("season", self, SEASON_RULES)
        if not 0 < self.min_seconds <= self.min_intro < self.max_intro:
            raise ConfigError(
                "season: need 0 < min_seconds <= min_intro < max_intro, got "
                f"{self.min_seconds}, {self.min_intro}, {self.max_intro}"
            )


COMMERCIAL_MAX = 30.0  # seconds: an ident or a bumper is short; a recurring scene is no ad


@dataclass
class SeasonEpisode:
    intro: Segment | None = None
    credits: Segment | None = None
    preview: Segment | None = None  # "next time on": clips of the next episode, after the credits
    recap: Segment | None = None  # "previously on": clips of the episode before (recaps.py)
    commercials: list[Segment] = field(default_factory=list)  # idents, bumpers mid-episode
    evidence: dict = field(default_factory=dict)  # how the decision was made, for the record
    # the season's episodes (their places in it) the intro recurs in: one version of an opening
    intro_with: frozenset[int] = frozenset()


def classify(items: list[Item], durations: Sequence[float], cfg: SeasonConfig) -> None:
    """Set each item's kind (see the module docstring), in place."""
    ending = list(durations)  # where each episode's own story ends: before a preview
    for it in items:
        if _is_preview(it, durations, cfg):
            it.kind = "preview"
            first = min(it.spans)
            ending[first] = min(ending[first], it.spans[first][0])
    for it in items:
        ends = [
            ending[ep] - e <= cfg.end_margin and s >= durations[ep] / 2
            for ep, (s, e) in it.spans.items()
        ]  # the end of the episode (before a preview), and in its second half
        if it.kind == "other" and it.support >= 2 and np.mean(ends) > 0.5:
            it.kind = "credits"
    credits = [it for it in items if it.kind == "credits"]
    for it in items:
        if it.kind == "other" and it.support >= 2 and _after_credits(it, credits):
            it.kind = "preview"
    early = [it for it in items if it.kind == "other" and it.support >= 2]
    for it in early:
        at_zero = np.mean([s <= 1.0 for s, _ in it.spans.values()])
        silent = not it.heard()  # a card without a jingle or a theme
        if at_zero >= 0.8 and it.length() <= cfg.logo_max and (silent or _followed(it, early)):
            it.kind = "logo"
    for it in items:
        if it.kind == "other" and _is_commercial(it, items, len(durations)):
            it.kind = "commercial"
    intros = _best_items(items, durations, cfg)
    for it in items:
        if it.kind == "other" and it.support == 2 and _is_recap(it, intros):
            it.kind = "recap"
    _spread_recaps(items)
    for it in {id(x): x for x in _best_items(items, durations, cfg).values()}.values():
        it.kind = "intro"


def _is_preview(it: Item, durations: Sequence[float], cfg: SeasonConfig) -> bool:
    """A "next time on" after the credits: clips shared with the next episode alone, at the
    end of the earlier one and inside the story of the later one."""
    if it.support != 2:
        return False
    first, second = sorted(it.spans)
    (s1, e1), (_, e2) = it.spans[first], it.spans[second]
    return (second == first + 1 and durations[first] - e1 <= cfg.end_margin
            and s1 >= durations[first] / 2 and durations[second] - e2 > cfg.end_margin)  # fmt: skip


def _after_credits(it: Item, credits: list[Item]) -> bool:
    """Clips of later episodes after the ``credits`` of the first one they play in: a "next
    time on" whose shots the next episode plays in its story and the one after quotes in its
    recap (so in three episodes, early in two): never an intro. In every later episode they
    play before its credits."""

    def credits_of(ep: int) -> tuple[float, float] | None:
        spans = [c.spans[ep] for c in credits if ep in c.spans]
        return (min(a for a, _ in spans), max(b for _, b in spans)) if spans else None

    first = min(it.spans)
    own = credits_of(first)
    if own is None or it.spans[first][0] < own[1] - 0.5:
        return False
    later = [(credits_of(ep), span) for ep, span in it.spans.items() if ep != first]
    return all(c is None or e <= c[0] + 0.5 for c, (_, e) in later)


def _is_commercial(it: Item, items: list[Item], n: int) -> bool:
    """A network ident or bumper: heard, short, in most of the season's episodes (three at
    least), and in two thirds of them (two at least) after a longer recurring stretch heard
    there (the intro). Decided before the intro, which an ident in every episode would
    otherwise outrank where the intro is missing; a "previously on" card or a sting before
    the intro is no commercial (nothing longer before it), nor the intro after it (longer)."""
    if not it.heard() or it.support < max(3, (n + 1) // 2) or it.length() > COMMERCIAL_MAX:
        return False
    longer = [o for o in items if o is not it and o.kind == "other" and o.support >= 2
              and o.heard() and o.length() > it.length()]  # fmt: skip
    after = sum(any(ep in o.spans and o.spans[ep][1] <= s + 0.5 for o in longer)
                for ep, (s, _) in it.spans.items())  # fmt: skip
    return after >= 2 and after >= 2 * it.support / 3


def _spread_recaps(items: list[Item], gap: float = 3.0) -> None:
    """A recap is a run of shots quoted from the episode before: a stretch shared with that
    episode alone, within ``gap`` s of a recap shot in the later episode, is one too."""
    recaps = [it for it in items if it.kind == "recap"]
    while recaps:
        found = []
        for it in items:
            if it.kind != "other":
                continue
            later = max(it.spans)
            s, e = it.spans[later]
            if any(
                r.spans.keys() == it.spans.keys()  # the same two episodes
                and r.spans[later][0] - gap <= e
                and s <= r.spans[later][1] + gap
                for r in recaps
            ):
                it.kind = "recap"
                found.append(it)
        recaps = found


def _followed(it: Item, others: list[Item]) -> bool:
    """Whether, in most of ``it``'s episodes, another recurring item starts after it ends."""
    after = 0
    for ep, (_, end) in it.spans.items():
        if any(o is not it and ep in o.spans and o.spans[ep][0] >= end - 0.5 for o in others):
            after += 1
    return after >= min(2, 0.5 * it.support)  # a logo before an intro that half a season lacks


def _is_recap(it: Item, intros: dict[int, Item]) -> bool:
    """Two consecutive episodes; in the earlier one the item comes after its intro."""
    first, second = sorted(it.spans)
    if second != first + 1:
        return False
    own = intros.get(first)
    if own is not None and own is not it:
        return it.spans[first][0] >= own.spans[first][1] - 0.5
    return it.spans[first][0] > it.spans[second][0] + 10.0  # no intro known: quoted from later


def _best_items(items: list[Item], durations: Sequence[float], cfg: SeasonConfig) -> dict:
    """For each episode, the intro candidate it shares with the most others (then longest).
    Two shots that merely look alike for a second or two are not a title card: an item only
    seen is a candidate when three episodes (or the whole season) share it, or when it lasts
    twice ``min_seconds``."""
    best: dict[int, Item] = {}
    for it in items:
        if it.kind not in ("other", "intro") or it.support < 2:
            continue
        widely = it.support >= min(3, len(durations))
        if not it.heard() and not widely and it.length() < 2 * cfg.min_seconds:
            continue
        for ep, (s, e) in it.spans.items():
            if not cfg.min_intro <= e - s <= cfg.max_intro:
                continue
            cur = best.get(ep)
            if cur is None or _rank(it, ep) > _rank(cur, ep):
                best[ep] = it
    return best


def _rank(it: Item, ep: int) -> tuple[int, int, float]:
    """An intro candidate's claim: shared by more episodes, heard and seen, then longer."""
    s, e = it.spans[ep]
    return it.support, it.heard_and_seen(), e - s


def season_items(links: Sequence[Link], durations: Sequence[float], cfg: SeasonConfig):
    """The recurring items of a season, each of its kind."""
    items = items_from_links(links)
    classify(items, durations, cfg)
    return items


def decide(links: Sequence[Link], durations: Sequence[float], cfg: SeasonConfig):
    """Intro and credits of each episode from the links between them."""
    return results_of(season_items(links, durations, cfg), durations, cfg)


def results_of(
    items: Sequence[Item], durations: Sequence[float], cfg: SeasonConfig,
    mates: Sequence[int] | None = None,
) -> list[SeasonEpisode]:  # fmt: skip
    """Each episode's intro and credits (and the items it shares) from classified items;
    ``mates``: how many partners each episode was compared with, for the record."""
    out = [SeasonEpisode() for _ in durations]
    for ep, res in enumerate(out):
        mine = [it for it in items if ep in it.spans]
        res.evidence = {"recurring": sorted(
            [[round(it.spans[ep][0], 2), round(it.spans[ep][1], 2), it.kind, it.support]
             for it in mine]
        )}  # fmt: skip
        intros = [it for it in mine if it.kind == "intro"]
        if intros:
            it = max(intros, key=lambda x: _rank(x, ep))
            s, e = it.spans[ep]
            s = 0.0 if s <= cfg.snap_start else s
            res.intro = Segment(s, e, it.support / len(durations))
            res.intro_with = frozenset(it.spans)
            res.evidence["intro"] = _evidence(it, ep, mates)
        credits = sorted((it for it in mine if it.kind == "credits"),
                         key=lambda x: x.spans[ep][1])  # fmt: skip
        if credits:
            last = credits[-1]
            s, e = last.spans[ep]
            for it in reversed(credits[:-1]):  # one stretch, from its first recurring second
                if it.spans[ep][1] >= s - cfg.join:
                    s = min(s, it.spans[ep][0])
            res.credits = Segment(s, e, last.support / len(durations))
            res.evidence["credits"] = _evidence(last, ep, mates)
        _preview(res, [it for it in mine if it.kind == "preview" and min(it.spans) == ep],
                 ep, durations, cfg, mates)  # fmt: skip
        ads = sorted((it for it in mine if it.kind == "commercial"), key=lambda x: x.spans[ep])
        res.commercials = [Segment(*it.spans[ep], it.support / len(durations)) for it in ads]
        if ads:
            res.evidence["commercials"] = [_evidence(it, ep, mates) for it in ads]
    return out


def _preview(
    res: SeasonEpisode, clips: list[Item], ep: int, durations: Sequence[float],
    cfg: SeasonConfig, mates: Sequence[int] | None,
) -> None:  # fmt: skip
    """``res.preview``: the clips of the next episode that close ``ep`` (items of kind preview
    where ``ep`` is the earlier episode) as one stretch. A "next time on" follows the credits
    (none without them: clips before their end are story the next episode quotes in its
    recap) and runs to the end of the file: it starts where the credits end when its first clip
    found starts within ``cfg.join`` of them, and ends at the end of the file when its last
    clip found ends within ``cfg.end_margin`` of it (a clip too short, or too changed, to be
    found is still the preview's)."""
    if res.credits is None:
        return
    # clips before the credits are story the next episode quotes in its recap, not a preview
    clips = [it for it in clips if it.spans[ep][0] >= res.credits.start]
    if not clips:
        return
    s = min(it.spans[ep][0] for it in clips)
    e = max(it.spans[ep][1] for it in clips)
    if s - res.credits.end <= cfg.join:
        s = res.credits.end
    if durations[ep] - e <= cfg.end_margin:
        e = durations[ep]
    if e > s:
        best = max(clips, key=lambda it: it.spans[ep][1] - it.spans[ep][0])
        res.preview = Segment(s, e, best.support / len(durations))
        res.evidence["preview"] = {**_evidence(best, ep, mates), "clips": len(clips)}


def _evidence(it: Item, ep: int, mates: Sequence[int] | None) -> dict:
    """What found an item in an episode: the partners it was heard in and seen in."""
    out: dict = {**it.signals(ep), "episodes": it.support}
    if mates is not None:
        out["partners"] = mates[ep]
    return out
