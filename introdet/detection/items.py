"""What recurs across a season: items made of the links between its episodes.

Occurrences that overlap within an episode are one; linked occurrences form an *item*: one
piece of sound or picture that recurs, such as the theme under the intro, a title card, a
studio jingle, the end theme, or a line a recap quotes. An item's extent in an episode fuses
what was heard with what was seen there (``_fused``). ``season.py`` classifies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from introdet.detection.links import Link


@dataclass
class Item:
    """One recurring stretch: its extent in each episode it occurs in, and the partners each
    occurrence was heard (sound) or seen (pictures) in."""

    spans: dict[int, tuple[float, float]]
    kind: str = "other"  # intro | credits | logo | recap | preview | commercial | other
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
