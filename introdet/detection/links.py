"""The links of a season: the stretches each episode shares with its partners, heard or seen.

A link says that episodes ``a`` and ``b`` share a stretch: in their sound (32-bit audio codes)
or in their pictures (64-bit picture hashes). Pictures sampled at other rates (a 25-fps episode
in a 23.976-fps season, a shard sampled at 1 fps) are put on one grid by time, never compared
index by index; an episode copied at another speed (a PAL copy plays 25/23.976 = 4.3 % fast,
its sound pitched up as much) is compared at that speed when at normal speed it matches
nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from introdet.detection.matching import match_audio, match_pictures
from introdet.features.fingerprints import EpisodePrints, PicturePrint
from introdet.features.picture import hamming

FILM, PAL = 24000 / 1001, 25.0
SPEEDS = (PAL / FILM, FILM / PAL)  # a PAL copy of a film-rate season, and the other way
PICTURE_FPS = 2.0  # the grid pictures are compared on when their rates differ


@dataclass(frozen=True)
class Link:
    """Episodes ``a`` and ``b`` share [a_start, a_end) of a and [b_start, b_end) of b."""

    a: int
    b: int
    a_start: float
    a_end: float
    b_start: float
    b_end: float
    signal: str = "sound"  # sound | picture
    step: float = 0.0  # seconds between the samples that set its edges (pictures)
    exact: bool = False  # pictures around a heard stretch's edges, checked on both sides


def partners(n: int, max_others: int) -> list[tuple[int, int]]:
    """Pairs (i, j), i < j, of each episode with its ``max_others`` nearest in order."""
    half = max(1, max_others // 2)
    pairs = {(i, j) for i in range(n) for j in range(i + 1, min(n, i + half + 1))}
    if n <= max_others + 1:  # a small season: everyone with everyone
        pairs = {(i, j) for i in range(n) for j in range(i + 1, n)}
    return sorted(pairs)


def sound_links(
    i: int, j: int, a: EpisodePrints, b: EpisodePrints, min_seconds: float, join: float
) -> list[Link]:
    """Links between the head and tail prints of two episodes (times on the files)."""
    links = []
    for x in (a.audio, a.tail):
        for y in (b.audio, b.tail):
            if x is None or y is None or not len(x) or not len(y):
                continue
            for m in match_audio(x, y, min_seconds=min_seconds, join_seconds=join):
                last = m.length - 1
                links.append(Link(i, j, x.time(m.start_a), x.end_time(m.start_a + last),
                                  y.time(m.start_b), y.end_time(m.start_b + last)))  # fmt: skip
    return links


def on_grid(p: PicturePrint, fps: float, speed: float = 1.0) -> PicturePrint:
    """``p`` resampled by time to ``fps`` samples per second of a normal-speed copy: sample k
    is the picture nearest to ``p.start + k / (fps * speed)`` s of its own file."""
    if len(p.hashes) == 0 or (abs(p.fps - fps * speed) < 1e-9):
        return p
    span = len(p.hashes) / p.fps
    times = np.arange(int(np.floor(span * fps * speed))) / (fps * speed)  # [K] from p.start
    idx = np.clip(np.round(times * p.fps).astype(np.int64), 0, len(p.hashes) - 1)
    return PicturePrint(p.hashes[idx], p.flat[idx], fps * speed, p.start)


def picture_links(
    i: int, j: int, pa: PicturePrint, pb: PicturePrint, min_seconds: float,
    speeds: tuple[float, float] = (1.0, 1.0),
) -> list[Link]:  # fmt: skip
    """Links between the picture prints of two episodes (each at its own speed)."""
    fps = min(pa.fps, pb.fps) if abs(pa.fps - pb.fps) > 1e-9 else pa.fps
    if speeds != (1.0, 1.0) or abs(pa.fps - pb.fps) > 1e-9:
        fps = min(fps, PICTURE_FPS)
        pa, pb = on_grid(pa, fps, speeds[0]), on_grid(pb, fps, speeds[1])
    shortest = max(2, round(min_seconds * fps))
    links = []
    for m in match_pictures(pa.hashes, pb.hashes, pa.flat, pb.flat, min_length=shortest,
                            join_gap=round(2 * fps)):  # fmt: skip
        sa, sb = pa.start + m.start_a / pa.fps, pb.start + m.start_b / pb.fps
        links.append(Link(i, j, sa, sa + m.length / pa.fps, sb, sb + m.length / pb.fps,
                          "picture", 1 / fps))  # fmt: skip
    return links


def linked(links: Iterable[Link], signal: str) -> dict[int, set[int]]:
    """For each episode, the partners it shares a stretch with in ``signal``."""
    out: dict[int, set[int]] = {}
    for k in links:
        if k.signal == signal:
            out.setdefault(k.a, set()).add(k.b)
            out.setdefault(k.b, set()).add(k.a)
    return out


def speed_search(
    prints: Sequence[EpisodePrints],
    pairs: Sequence[tuple[int, int]],
    links: Sequence[Link],
    resound: Callable[[int, float], EpisodePrints | None] | None,
    min_seconds: float,
    join: float,
) -> tuple[dict[int, float], list[Link]]:
    """Episodes whose sound matches no partner while the others' does, heard again at each
    of ``SPEEDS`` (``resound(k, speed)``: episode k's prints as if played at 1/speed): the
    speed that links it best, and those links."""
    heard = linked(links, "sound")
    if resound is None or not heard:
        return {}, []
    speeds, found = {}, []
    for k, p in enumerate(prints):
        if p.audio is None or k in heard:
            continue
        mates = [j for pair in pairs if k in pair for j in pair if j != k and j in heard]
        best: list[Link] = []
        for speed in SPEEDS:
            again = resound(k, speed)
            if again is None:
                break
            got = []
            for j in mates:
                i0, j0 = min(k, j), max(k, j)
                a, b = (again, prints[j]) if k < j else (prints[j], again)
                got += sound_links(i0, j0, a, b, min_seconds, join)
            if len(got) > len(best):
                best, speeds[k] = got, speed
        found += best
    return speeds, found


EDGE_BITS = 12  # of 64: two samples of one picture (another encode, text over it) stay under
OTHER_BITS = 22  # of 64: two unrelated pictures differ in about 32 bits, rarely in fewer


def _distance(a: PicturePrint, b: PicturePrint, d: float) -> np.ndarray:
    """Bits in which each sample of ``a`` differs from the picture ``b`` shows ``d`` s later
    (nearest sample by time); -1 where either is flat or ``b`` has no sample: int [len(a)]."""
    if len(a.hashes) == 0 or len(b.hashes) == 0:
        return np.full(len(a.hashes), -1)
    t = a.start + np.arange(len(a.hashes)) / a.fps + d - b.start  # [N] into b
    k = np.round(t * b.fps).astype(np.int64)
    inside = (k >= 0) & (k < len(b.hashes))
    k = np.clip(k, 0, len(b.hashes) - 1)
    bits = hamming(a.hashes, b.hashes[k])
    return np.where(inside & ~a.flat & ~b.flat[k], bits, -1)


def _run_to(ok: np.ndarray, inner: int, step: int) -> int:
    """From sample ``inner`` (a match) outward by ``step`` (-1: back, +1: on), the last sample
    of the run of matches that holds it (one missing sample bridged)."""
    k, last = inner, inner
    while 0 <= k + step < len(ok):
        k += step
        if ok[k]:
            last = k
        elif not (0 <= k + step < len(ok) and ok[k + step]):
            break
    return last


def _other(bits: np.ndarray) -> bool:
    """Whether samples show other pictures than their partner's (not the same picture with
    text over it or a fade): most of those compared differ in OTHER_BITS or more."""
    seen = bits[bits >= 0]
    return len(seen) > 0 and float(np.mean(seen >= OTHER_BITS)) >= 0.75


def _seen_edge(bits: np.ndarray, at: int, rising: bool) -> int | None:
    """The sample where the pictures' match begins (``rising``) or its last sample, near
    sample ``at`` of the sound's edge: the run of matches found first inside the heard
    stretch, followed outward; None: no match inside, or a match that starts inside for no
    reason the pictures show."""
    ok = (bits >= 0) & (bits <= EDGE_BITS)
    inside = np.flatnonzero(ok[at:]) + at if rising else np.flatnonzero(ok[: at + 1])
    if len(inside) == 0:
        return None
    inner = int(inside[0] if rising else inside[-1])
    edge = _run_to(ok, inner, -1 if rising else 1)
    between = bits[at:edge] if rising else bits[edge + 1 : at + 1]
    if len(between) > 1 and not _other(between):
        return None  # the title with text over it, a fade: the sound's edge stands
    return edge


def edge_link(
    i: int, j: int, d: float, heard: tuple[float, float],
    windows_i: tuple[PicturePrint | None, PicturePrint | None],
    windows_j: tuple[PicturePrint | None, PicturePrint | None],
) -> Link | None:  # fmt: skip
    """What the pictures around the edges of a heard occurrence ``heard`` of episode i show,
    where j has it ``d`` s later: from where they begin to match to where they stop, as a
    picture link; an edge the pictures do not show keeps the sound's. None: they show
    neither edge."""
    start, end = heard
    step = 0.0
    (si, ei), (sj, ej) = windows_i, windows_j
    if si is not None and sj is not None and len(si.hashes):
        at = int(np.clip(np.ceil((start - si.start) * si.fps), 0, len(si.hashes) - 1))
        first = _seen_edge(_distance(si, sj, d), at, rising=True)
        if first is not None:
            start, step = si.start + first / si.fps, 1 / si.fps
    if ei is not None and ej is not None and len(ei.hashes):
        at = int(np.clip(np.floor((end - ei.start) * ei.fps) - 1, 0, len(ei.hashes) - 1))
        last = _seen_edge(_distance(ei, ej, d), at, rising=False)
        if last is not None:
            end, step = ei.start + (last + 1) / ei.fps, 1 / ei.fps
    if step == 0.0:
        return None
    return Link(i, j, start, end, start + d, end + d, "picture", step, exact=True)
