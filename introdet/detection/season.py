"""Season mode without training: what recurs across a season's episodes, and which of it is
the intro.

Each episode is aligned with its partners (the nearest episodes in broadcast order) on a
fingerprint: the stretches two episodes share are links between an occurrence in one and an
occurrence in the other. Occurrences that overlap within an episode are one; linked
occurrences form an *item*: one piece of sound (or picture) that recurs, such as the theme
under the intro, a studio jingle, the end theme, or a line a recap quotes. Items are then
classified season-wide:

- credits: most occurrences end at the end of their episode, in its second half;
- logo: short, at 0:00, and followed in the same episodes by another recurring item;
- recap: shared by two consecutive episodes only, and in the earlier one it comes after that
  episode's intro (a "previously on" quotes the last episode's story, not its intro); the
  shots next to a recap shot, quoted from the same episode, are recap too;
- intro: the remaining item an episode shares with the most others (ties: the longer), which
  groups episodes by the opening they share when a season has two.

An episode whose only recurring stretches are of the other kinds has no intro.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from introdet.checks import check_node, number, whole
from introdet.detection.matching import audio_times, match_audio, match_pictures
from introdet.detection.postprocess import Segment
from introdet.errors import ConfigError
from introdet.features.fingerprints import EpisodePrints, PicturePrint

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
}


@dataclass
class SeasonConfig:
    """``season.*`` of predict: how the season's recurring stretches are found and judged."""

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

    def __post_init__(self) -> None:
        check_node("recurring", self, SEASON_RULES)
        if not 0 < self.min_seconds <= self.min_intro < self.max_intro:
            raise ConfigError(
                "recurring: need 0 < min_seconds <= min_intro < max_intro, got "
                f"{self.min_seconds}, {self.min_intro}, {self.max_intro}"
            )


@dataclass(frozen=True)
class Link:
    """Episodes ``a`` and ``b`` share [a_start, a_end) of a and [b_start, b_end) of b."""

    a: int
    b: int
    a_start: float
    a_end: float
    b_start: float
    b_end: float


@dataclass
class Item:
    """One recurring stretch: its extent in each episode it occurs in."""

    spans: dict[int, tuple[float, float]]
    kind: str = "other"  # intro | credits | logo | recap | other

    @property
    def support(self) -> int:
        return len(self.spans)

    def length(self) -> float:
        return float(np.median([e - s for s, e in self.spans.values()]))


@dataclass
class SeasonEpisode:
    intro: Segment | None = None
    credits: Segment | None = None
    evidence: dict = field(default_factory=dict)  # how the decision was made, for the record


def partners(n: int, max_others: int) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of each episode with its ``max_others`` nearest in order."""
    half = max(1, max_others // 2)
    pairs = {(i, j) for i in range(n) for j in range(i + 1, min(n, i + half + 1))}
    if n <= max_others + 1:  # a small season: everyone with everyone
        pairs = {(i, j) for i in range(n) for j in range(i + 1, n)}
    return sorted(pairs)


def items_from_links(links: Sequence[Link], min_overlap: float = 0.5) -> list[Item]:
    """Occurrences that overlap in one episode are one; linked occurrences are one item."""
    nodes: list[tuple[int, float, float]] = []  # (episode, start, end)
    for k in links:
        nodes += [(k.a, k.a_start, k.a_end), (k.b, k.b_start, k.b_end)]
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
    for i, (ep, _, _) in enumerate(nodes):
        by_episode.setdefault(ep, []).append(i)
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
    groups: dict[int, dict[int, list[tuple[float, float]]]] = {}
    for i, (ep, s, e) in enumerate(nodes):
        groups.setdefault(root(i), {}).setdefault(ep, []).append((s, e))
    return [Item({ep: _extent(sp) for ep, sp in g.items()}) for g in groups.values()]


def _extent(spans: list[tuple[float, float]]) -> tuple[float, float]:
    """The longest chain of overlapping spans, as one span."""
    spans = sorted(spans)
    best, cur = spans[0], spans[0]
    for s, e in spans[1:]:
        cur = (cur[0], max(cur[1], e)) if s <= cur[1] else (s, e)
        if cur[1] - cur[0] > best[1] - best[0]:
            best = cur
    return best


def classify(items: list[Item], durations: Sequence[float], cfg: SeasonConfig) -> None:
    """Set each item's kind (see the module docstring), in place."""
    for it in items:
        ends = [
            durations[ep] - e <= cfg.end_margin and s >= durations[ep] / 2
            for ep, (s, e) in it.spans.items()
        ]  # the end of the episode, and in its second half
        if it.support >= 2 and np.mean(ends) > 0.5:
            it.kind = "credits"
    early = [it for it in items if it.kind == "other" and it.support >= 2]
    for it in early:
        at_zero = np.mean([s <= 1.0 for s, _ in it.spans.values()])
        if at_zero >= 0.8 and it.length() <= cfg.logo_max and _followed(it, early):
            it.kind = "logo"
    intros = _best_items(items, durations, cfg)
    for it in items:
        if it.kind == "other" and it.support == 2 and _is_recap(it, intros):
            it.kind = "recap"
    _spread_recaps(items)
    for it in {id(x): x for x in _best_items(items, durations, cfg).values()}.values():
        it.kind = "intro"


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
    """For each episode, the intro candidate it shares with the most others (then longest)."""
    best: dict[int, Item] = {}
    for it in items:
        if it.kind not in ("other", "intro") or it.support < 2:
            continue
        for ep, (s, e) in it.spans.items():
            if not cfg.min_intro <= e - s <= cfg.max_intro:
                continue
            key = (it.support, e - s)
            cur = best.get(ep)
            if cur is None or key > (cur.support, cur.spans[ep][1] - cur.spans[ep][0]):
                best[ep] = it
    return best


def season_items(links: Sequence[Link], durations: Sequence[float], cfg: SeasonConfig):
    """The recurring items of a season, each of its kind."""
    items = items_from_links(links)
    classify(items, durations, cfg)
    return items


def decide(links: Sequence[Link], durations: Sequence[float], cfg: SeasonConfig):
    """Intro and credits of each episode from the links between them."""
    return results_of(season_items(links, durations, cfg), durations, cfg)


def results_of(items: Sequence[Item], durations: Sequence[float], cfg: SeasonConfig):
    """Each episode's intro and credits (and the items it shares) from classified items."""
    out = [SeasonEpisode() for _ in durations]
    for ep, res in enumerate(out):
        mine = [it for it in items if ep in it.spans]
        res.evidence = {"recurring": sorted(
            [[round(it.spans[ep][0], 2), round(it.spans[ep][1], 2), it.kind, it.support]
             for it in mine]
        )}  # fmt: skip
        intros = [it for it in mine if it.kind == "intro"]
        if intros:
            it = max(intros, key=lambda x: (x.support, x.spans[ep][1] - x.spans[ep][0]))
            s, e = it.spans[ep]
            s = 0.0 if s <= cfg.snap_start else s
            res.intro = Segment(s, e, it.support / len(durations))
        credits = [it for it in mine if it.kind == "credits"]
        if credits:
            it = max(credits, key=lambda x: x.spans[ep][1])
            s, e = it.spans[ep]
            res.credits = Segment(s, e, it.support / len(durations))
    return out


def season_links(
    prints: Sequence[EpisodePrints],
    picture_of: Callable[[int], PicturePrint],
    cfg: SeasonConfig,
) -> list[Link]:
    """The stretches each episode shares with its partners: in sound, and in pictures for a
    pair where either episode has no sound (``picture_of(i)`` fingerprints episode i)."""
    links, pictures = [], {}
    for i, j in partners(len(prints), cfg.max_others):
        a, b = prints[i], prints[j]
        if a.audio is not None and b.audio is not None:
            links += _sound_links(i, j, a, b, cfg)
            continue
        for k in (i, j):
            if k not in pictures:
                pictures[k] = picture_of(k)
        pa, pb = pictures[i], pictures[j]
        if pa.fps != pb.fps:  # hashes at other rates do not align frame by frame
            continue
        shortest = max(2, round(cfg.min_seconds * pa.fps))
        for m in match_pictures(pa.hashes, pb.hashes, pa.flat, pb.flat, min_length=shortest):
            sa, sb = pa.start + m.start_a / pa.fps, pb.start + m.start_b / pb.fps
            n = m.length / pa.fps
            links.append(Link(i, j, sa, sa + n, sb, sb + n))
    return links


def _sound_links(i: int, j: int, a: EpisodePrints, b: EpisodePrints, cfg) -> list[Link]:
    """Links between the head and tail prints of two episodes (times on the files)."""
    links = []
    for x in (a.audio, a.tail):
        for y in (b.audio, b.tail):
            if x is None or y is None or not len(x) or not len(y):
                continue
            for m in match_audio(x, y, min_seconds=cfg.min_seconds):
                sa, sb, length = audio_times(m, x, y)
                links.append(Link(i, j, sa, sa + length, sb, sb + length))
    return links
