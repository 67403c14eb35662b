"""Season mode's findings: a season's episodes heard and seen, then decided (``season.py``).

Every pair of partners is heard (``links.py``). Pictures are compared where the sound leaves
doubt, or for every pair when asked (``recurring.pictures``); around the edges of the intro
and the start of the credits that both episodes of a pair share, a few seconds of pictures
show where they begin and end. Identical files (a copy, a hard link) are decided as one
episode.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from introdet.detection.edges import edge_link
from introdet.detection.items import Item, items_from_links
from introdet.detection.links import (
    Link,
    partners,
    picture_links,
    sound_links,
    speed_search,
)
from introdet.detection.postprocess import Segment
from introdet.detection.recaps import find_recaps
from introdet.detection.season import (
    SeasonConfig,
    SeasonEpisode,
    classify,
    results_of,
    season_items,
)
from introdet.features.audio import AudioPrint
from introdet.features.fingerprints import EpisodePrints, PicturePrint
from introdet.features.picture import hamming
from introdet.media.workers import cores


@dataclass
class SeasonSources:
    """What season mode may look at, episode by episode (the season in broadcast order)."""

    prints: Sequence[EpisodePrints]  # the sound, heard once
    # episode k's pictures over its scan, on demand; None: none to see
    pictures: Callable[[int], PicturePrint | None]
    # episode k's sound as if played at 1/speed (a PAL copy), on demand; None: not possible
    resound: Callable[[int, float], EpisodePrints | None] | None = None
    # episode k's pictures from t0 to t1 s, sampled densely (edges); None: not possible
    window: Callable[[int, float, float], PicturePrint | None] | None = None


@dataclass
class SeasonFindings:
    items: list[Item]
    results: list[SeasonEpisode]
    pictured: int = 0  # episodes whose pictures were looked at (the scan's or at edges)
    identical: dict[int, int] = field(default_factory=dict)  # a copy -> the episode it copies


# two files are one episode seen twice (a copy, a link, a remux into another container, a
# copy re-encoded) when they last as long, to SAME_DURATION s, and their sound differs in at
# most SAME_BITS of its code bits at the best shift within SAME_SHIFT s (priming samples a
# remux adds, a container's start time). A copy heard half a code step off differs in a fifth
# of its bits; two episodes of one show share an intro, credits, a recap, a quarter of a scan
# at most, and differ in about half of the rest (chance): over a third in all
SAME_DURATION = 0.5
SAME_BITS = 0.25
SAME_SHIFT = 0.5


def identical(prints: Sequence[EpisodePrints]) -> dict[int, int]:
    """Episodes that are the same episode as an earlier one (``SAME_BITS``): k -> the first."""
    same: dict[int, int] = {}
    codes: dict[int, tuple[bytes, bytes]] = {}

    def code(i: int) -> tuple[bytes, bytes]:
        if i not in codes:
            codes[i] = _codes(prints[i])
        return codes[i]

    for k, p in enumerate(prints):
        if p.audio is None or not len(p.audio):
            continue  # nothing to tell a copy by
        for j in range(k):
            q = prints[j]
            if j in same or q.audio is None or abs(p.duration - q.duration) > SAME_DURATION:
                continue
            exact = round(p.duration, 3) == round(q.duration, 3) and code(k) == code(j)
            if (
                exact
                or _same_sound(p.audio, q.audio)
                and (p.tail is None or q.tail is None or _same_sound(p.tail, q.tail))
            ):
                same[k] = j
                break
    return same


def _codes(p: EpisodePrints) -> tuple[bytes, bytes]:
    return p.audio.codes.tobytes(), p.tail.codes.tobytes() if p.tail is not None else b""


def _same_sound(a: AudioPrint, b: AudioPrint) -> bool:
    """Whether two prints of one stretch of sound are of the same sound (``SAME_BITS``)."""
    n = min(len(a), len(b))
    if n == 0 or not np.isclose(a.hop, b.hop):
        return False
    reach = min(int(round(SAME_SHIFT / a.hop)), n - 1)
    shift0 = int(round((b.start - a.start) / a.hop))  # code i of a is at code i - shift0 of b
    for d in range(shift0 - reach, shift0 + reach + 1):
        x = a.codes[max(0, d) : max(0, d) + n]
        y = b.codes[max(0, -d) : max(0, -d) + n]
        m = min(len(x), len(y))
        heard = ~(a.silent[max(0, d) :][:m] | b.silent[max(0, -d) :][:m])
        if heard.sum() * 2 < n:  # less than half of them compared: silence tells nothing
            continue
        if hamming(x[:m], y[:m])[heard].mean() <= SAME_BITS * 32:
            return True
    return False


def season_findings(src: SeasonSources, cfg: SeasonConfig) -> SeasonFindings:
    """``_findings`` of the season, each set of identical episodes decided as one: a copy
    compared with itself would share its whole length."""
    same = identical(src.prints)
    if not same:
        return _findings(src, cfg)
    keep = [k for k in range(len(src.prints)) if k not in same]
    resound = src.resound and (lambda i, speed: src.resound(keep[i], speed))
    window = src.window and (lambda i, t0, t1: src.window(keep[i], t0, t1))
    sub = SeasonSources([src.prints[k] for k in keep], lambda i: src.pictures(keep[i]), resound,
                        window)  # fmt: skip
    found = _findings(sub, cfg)
    where = {k: keep.index(same.get(k, k)) for k in range(len(src.prints))}  # k -> sub index
    for it in found.items:
        it.spans = {k: it.spans[i] for k, i in where.items() if i in it.spans}
    results = [copy.deepcopy(found.results[where[k]]) for k in range(len(src.prints))]
    for r in results:
        r.intro_with = frozenset(k for k, i in where.items() if i in r.intro_with)
    return SeasonFindings(found.items, results, found.pictured, same)


def _findings(src: SeasonSources, cfg: SeasonConfig) -> SeasonFindings:
    """What recurs across a season, heard and seen, and each episode's intro and credits.

    Every pair of partners is heard. Pictures are compared for every pair (``pictures=
    always``), or, with ``auto``, where the sound leaves doubt: for every pair when no
    episode has a heard intro (title cards over sound that does not repeat), else for the
    pairs of an episode without sound or without a heard intro, whose pictures may then only
    join it to what its partners were heard sharing (a re-recorded theme, another dub): a set
    that every episode visits, seen alone, is no intro."""
    prints, n = src.prints, len(src.prints)
    durations = [p.duration for p in prints]
    pairs = partners(n, cfg.max_others)
    mates = [sum(k in pair for pair in pairs) for k in range(n)]
    links = []
    for i, j in pairs:
        if prints[i].audio is not None and prints[j].audio is not None:
            links += sound_links(i, j, prints[i], prints[j], cfg.min_seconds, cfg.join)
    speeds, links = speed_search(prints, pairs, links, src.resound, cfg.min_seconds, cfg.join)
    heard = results_of(season_items(links, durations, cfg), durations, cfg)
    doubt = {k for k, r in enumerate(heard) if prints[k].audio is None or r.intro is None}
    # no intro heard anywhere: the opening is a picture (title cards over sound that does not
    # repeat); one heard somewhere: the episodes without are mostly episodes without one
    everywhere = cfg.pictures == "always" or (cfg.pictures == "auto" and len(doubt) == n)
    look = [(i, j) for i, j in pairs if everywhere or (
        cfg.pictures == "auto" and (i in doubt or j in doubt))]  # fmt: skip
    pictures: dict[int, PicturePrint | None] = {}
    for i, j in look:
        for k in (i, j):
            if k not in pictures:
                pictures[k] = src.pictures(k)
        if pictures[i] is None or pictures[j] is None:
            continue
        links += picture_links(i, j, pictures[i], pictures[j], cfg.min_seconds,
                               (speeds.get(i, 1.0), speeds.get(j, 1.0)))  # fmt: skip
    items = _classified(links, durations, cfg, everywhere)
    seen = {k for k, p in pictures.items() if p is not None}
    if src.window is not None and cfg.pictures != "never":
        edges, looked = _edge_links(src, links, results_of(items, durations, cfg), pairs)
        seen |= looked
        if edges:
            items = _classified(links + edges, durations, cfg, everywhere)
    if src.window is not None and cfg.pictures != "never":
        _idents_seen(src, items, cfg)
    results = results_of(items, durations, cfg, mates)
    find_recaps(prints, results, cfg)
    return SeasonFindings(items, results, len(seen))


def _idents_seen(src: SeasonSources, items: Sequence[Item], cfg: SeasonConfig) -> None:
    """An ident shows one card in every episode; a music cue heard again over other scenes
    (a show's transition sting) is no commercial. Each commercial's pictures are compared in
    two of its episodes, where both can be read; one whose pictures differ is "other"."""
    for it in items:
        if it.kind != "commercial":
            continue
        a, b = sorted(it.spans)[:2]
        (sa, ea), (sb, eb) = it.spans[a], it.spans[b]
        pa, pb = src.window(a, sa, ea), src.window(b, sb, eb)
        if pa is None or pb is None:
            continue
        if not picture_links(a, b, pa, pb, min(cfg.min_seconds, 0.5 * (ea - sa))):
            it.kind = "other"


def _classified(
    links: Sequence[Link], durations: Sequence[float], cfg: SeasonConfig, seen_alone: bool
) -> list[Item]:
    """The season's items, each of its kind; without ``seen_alone``, pictures only join
    episodes to what was heard."""
    items = items_from_links(links)
    if not seen_alone:
        items = [it for it in items if it.heard()]
    classify(items, durations, cfg)
    return items


# seconds of pictures looked at around an edge: outside it (dialogue over the theme's first
# 2.5 s), and inside it (the title pictures 1-1.5 s after a theme that leads in)
EDGE_OUTSIDE, EDGE_INSIDE = 3.5, 2.0


def _edge_links(
    src: SeasonSources, links: Sequence[Link], found: Sequence[SeasonEpisode],
    pairs: Sequence[tuple[int, int]],
) -> tuple[list[Link], set[int]]:  # fmt: skip
    """Picture links at the edges of the intro, and at the start of the credits, that both
    episodes of a pair were found to share: where their pictures begin (and the intro's
    end), sampled densely (the scan's pictures are 0.5 s apart, and a pan or a fast cut
    looks different half a second on). The credits end with the episode or its preview, and
    their pictures may only move their start earlier: their names differ by episode. Also
    returns the episodes whose pictures were looked at."""
    looks = []  # (pair, kind, the link its edges are looked at along)
    for (i, j), kind in itertools.product(pairs, ("intro", "credits")):
        a, b = getattr(found[i], kind), getattr(found[j], kind)
        if a is None or b is None:
            continue
        shared = [k for k in links if (k.a, k.b) == (i, j) and _halves(k.a_start, k.a_end, a)
                  and _halves(k.b_start, k.b_end, b)]  # fmt: skip
        if not shared:
            continue
        k = max(shared, key=lambda x: (x.signal == "sound", x.a_end - x.a_start))
        if abs((k.b_end - k.b_start) - (k.a_end - k.a_start)) <= 0.1:  # else another speed:
            looks.append(((i, j), kind, k))  # the pictures would need it too

    def around(look: tuple[int, str]) -> tuple:
        k, kind = look
        seg = getattr(found[k], kind)
        start = src.window(k, max(0.0, seg.start - EDGE_OUTSIDE), seg.start + EDGE_INSIDE)
        end = None
        if kind == "intro":
            end = src.window(k, max(0.0, seg.end - EDGE_INSIDE), seg.end + EDGE_OUTSIDE)
        return start, end

    # decoding 1080p pictures is the most of season mode's time: two decoders at once keep
    # both cores busy, where one decoder's own threads leave a third of them idle
    wanted = sorted({(k, kind) for pair, kind, _ in looks for k in pair})  # each once
    with ThreadPoolExecutor(min(cores(), 4)) as pool:
        windows = dict(zip(wanted, pool.map(around, wanted), strict=True))
    edges = []
    for (i, j), kind, k in looks:
        a, b = getattr(found[i], kind), getattr(found[j], kind)
        d = k.b_start - k.a_start
        link = edge_link(i, j, d, (a.start, a.end), windows[i, kind], windows[j, kind],
                         search=k.step, inward=kind == "intro",
                         theirs=(b.start - d, b.end - d))  # fmt: skip
        if link is not None:
            edges.append(link)
    return edges, {k for (k, _), got in windows.items() if any(w is not None for w in got)}


def _halves(s: float, e: float, seg: Segment) -> bool:
    """Whether [s, e) covers at least half of ``seg``."""
    return min(e, seg.end) - max(s, seg.start) >= 0.5 * (seg.end - seg.start)
