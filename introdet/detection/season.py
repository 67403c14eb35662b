"""Season mode without training: what recurs across a season's episodes, heard and seen, and
which of it is the intro.

Each episode is aligned with its partners (the nearest episodes in broadcast order) on its
sound and, where the sound leaves doubt or when asked, on its pictures
(``detection/links.py``): the stretches two episodes share are links between an occurrence in
one and an occurrence in the other. Occurrences that overlap within an episode are one; linked
occurrences form an *item*: one piece of sound or picture that recurs, such as the theme under
the intro, a title card, a studio jingle, the end theme, or a line a recap quotes. An item's
extent in an episode fuses what was heard with what was seen there (``_fused``). Items are
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
- intro: the remaining item an episode shares with the most others (ties: the one heard and
  seen, then the longer), which groups episodes by the opening they share when a season has
  two.

An episode whose only recurring stretches are of the other kinds has no intro.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from introdet.checks import check_node, number, one_of, whole
from introdet.detection.links import Link
from introdet.detection.postprocess import Segment
from introdet.errors import ConfigError

SEASON_RULES = {
    "scan": number(0, 86400, lo_open=True),
    "scan_fraction": number(0, 1, lo_open=True),
    "tail": number(0, 86400),
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


@dataclass
class Item:
    """One recurring stretch: its extent in each episode it occurs in, and the partners each
    occurrence was heard (sound) or seen (pictures) in."""

    spans: dict[int, tuple[float, float]]
    kind: str = "other"  # intro | credits | logo | recap | preview | other
    by: dict[int, dict[str, set[int]]] = field(default_factory=dict)  # ep -> signal -> partners

    def signals(self, ep: int) -> dict[str, int]:
        """How many partners ``ep``'s occurrence was heard and seen in."""
        by = self.by.get(ep, {})
        return {"heard": len(by.get("sound", ())), "seen": len(by.get("picture", ()))}

    def heard(self) -> bool:
        """Whether any occurrence was heard."""
        return any(by.get("sound") for by in self.by.values())

    def heard_and_seen(self) -> int:
        """Signals (0-2) the item was found in anywhere."""
        return len({sig for by in self.by.values() for sig, mates in by.items() if mates})

    @property
    def support(self) -> int:
        return len(self.spans)

    def length(self) -> float:
        return float(np.median([e - s for s, e in self.spans.values()]))


# seconds a preview's first clip may start before the credits' end: matched edges sit a
# little inside the true ones
PREVIEW_SLACK = 1.0


@dataclass
class SeasonEpisode:
    intro: Segment | None = None
    credits: Segment | None = None
    preview: Segment | None = None  # "next time on": clips of the next episode, after the credits
    recap: Segment | None = None  # "previously on": clips of the episode before (recaps.py)
    evidence: dict = field(default_factory=dict)  # how the decision was made, for the record


def items_from_links(links: Sequence[Link], min_overlap: float = 0.5) -> list[Item]:
    """Occurrences that overlap in one episode are one; linked occurrences are one item. Its
    extent in an episode fuses what was heard there with what was seen (``_fused``)."""
    nodes: list[tuple[int, float, float, Link]] = []  # (episode, start, end, link)
    for k in links:
        nodes += [(k.a, k.a_start, k.a_end, k), (k.b, k.b_start, k.b_end, k)]
    parent = list(range(len(nodes)))

    def root(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    def join(x: int, y: int) -> None:
        parent[root(x)] = root(y)

    for i in range(0, len(nodes), 2):
        join(i, i + 1)
    by_episode: dict[int, list[int]] = {}
    for i, node in enumerate(nodes):
        by_episode.setdefault(node[0], []).append(i)
    for idx in by_episode.values():
        idx.sort(key=lambda i: nodes[i][1])
        for x, i in enumerate(idx):
            for j in idx[x + 1 :]:
                if nodes[j][1] >= nodes[i][2]:
                    break
                overlap = min(nodes[i][2], nodes[j][2]) - nodes[j][1]
                shorter = min(nodes[i][2] - nodes[i][1], nodes[j][2] - nodes[j][1])
                if overlap >= min_overlap * shorter:
                    join(i, j)
    groups: dict[int, list[tuple[int, float, float, Link]]] = {}
    for i, node in enumerate(nodes):
        groups.setdefault(root(i), []).append(node)
    return [_item(g) for g in groups.values()]


def _item(nodes: list[tuple[int, float, float, Link]]) -> Item:
    """One item from its occurrences: per episode, per signal, the extent and the partners.
    What was seen around the edges of what was heard (``exact`` links) is preferred to what
    the scan's pictures show."""
    spans: dict[int, dict[str, list[tuple[float, float]]]] = {}
    steps: dict[str, float] = {}
    by: dict[int, dict[str, set[int]]] = {}
    for ep, s, e, k in nodes:
        kind = "edge" if k.exact else "sped" if k.signal == "sound" and k.step else k.signal
        spans.setdefault(ep, {}).setdefault(kind, []).append((s, e))
        steps[kind] = max(steps.get(kind, 0.0), k.step)
        by.setdefault(ep, {}).setdefault(k.signal, set()).add(k.b if ep == k.a else k.a)
    fused = {}
    for ep, sig in spans.items():
        kind = "edge" if "edge" in sig else "picture"
        heard, seen = sig.get("sound") or sig.get("sped"), sig.get(kind)  # the finer first
        fused[ep] = _fused(heard and _extent(heard), seen and _extent(seen),
                           steps.get(kind, 0.0), kind == "edge")  # fmt: skip
    return Item(fused, by=by)


CHAIN_GAP = 2.0  # seconds: spans of one item in one episode this close are one stretch


def _extent(spans: list[tuple[float, float]]) -> tuple[float, float]:
    """The longest chain of spans that overlap or nearly touch (a music whose bars repeat
    matches in pieces at several offsets), as one span."""
    spans = sorted(spans)
    best, cur = spans[0], spans[0]
    for s, e in spans[1:]:
        cur = (cur[0], max(cur[1], e)) if s <= cur[1] + CHAIN_GAP else (s, e)
        if cur[1] - cur[0] > best[1] - best[0]:
            best = cur
    return best


def _fused(
    heard: tuple[float, float] | None, seen: tuple[float, float] | None, step: float,
    exact: bool = False,
) -> tuple[float, float]:  # fmt: skip
    """One occurrence's extent from the sound's (to ~0.05 s) and the pictures' (samples
    ``step`` apart: a seen stretch begins within a step before its first matching sample and
    ends within a step before its end, so its edges are taken in the middle of that step).
    Where the two agree, the sound's edge is the finer. Only pictures sampled densely around
    the edge (``exact``: ``edges.py``) move a heard edge: outward where they match beyond it
    (dialogue over the theme's first seconds), inward by more than a second where they were
    checked to show something else there (the cold open while the theme leads in over it,
    another dub), never because text over the title or a fade's darkest frames broke the
    match. The scan's pictures, half a second apart, only stand where nothing was heard.
    Frame refinement then finds the cut."""
    if seen is not None:
        seen = (max(0.0, seen[0] - step / 2), seen[1] - step / 2)
    if seen is None or heard is None:
        return heard or seen
    if min(heard[1], seen[1]) <= max(heard[0], seen[0]):  # apart: the longer
        return heard if heard[1] - heard[0] >= seen[1] - seen[0] else seen
    if not exact:
        return heard
    near, inside = step / 2 + 0.15, 1.0
    start = seen[0] if seen[0] < heard[0] - near or seen[0] > heard[0] + inside else heard[0]
    end = seen[1] if seen[1] > heard[1] + near or seen[1] < heard[1] - inside else heard[1]
    return (start, end)


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
    early = [it for it in items if it.kind == "other" and it.support >= 2]
    for it in early:
        at_zero = np.mean([s <= 1.0 for s, _ in it.spans.values()])
        silent = not it.heard()  # a card without a jingle or a theme
        if at_zero >= 0.8 and it.length() <= cfg.logo_max and (silent or _followed(it, early)):
            it.kind = "logo"
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
    return after >= 0.5 * it.support


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
    if not clips or res.credits is None:
        return
    s = min(it.spans[ep][0] for it in clips)
    e = max(it.spans[ep][1] for it in clips)
    if s < res.credits.end - PREVIEW_SLACK:  # story another episode quotes, not a preview
        return
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
