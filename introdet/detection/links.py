"""The links of a season: the stretches each episode shares with its partners, heard or seen.

A link says that episodes ``a`` and ``b`` share a stretch: in their sound (32-bit audio codes)
or in their pictures (64-bit picture hashes). Pictures sampled at other rates (a 25-fps episode
in a 23.976-fps season, a shard sampled at 1 fps) are put on one grid by time, never compared
index by index; an episode copied at another speed (a PAL copy plays 25/23.976 = 4.3 % fast,
its sound pitched up as much) is compared at that speed when at normal speed it matches
nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np

from introdet.detection.matching import audio_times, match_audio, match_pictures
from introdet.features.fingerprints import EpisodePrints, PicturePrint

FILM, PAL = 24000 / 1001, 25.0
SPEEDS = (PAL / FILM, FILM / PAL)  # a PAL copy of a film-rate season, and the other way
PICTURE_FPS = 2.0  # the grid pictures are compared on when their rates differ
SPED = 0.2  # seconds: how close the edges of sound heard at another speed are (pitched back)


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
    step: float = 0.0  # how far its edges may be off: pictures' sample step, SPED
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
                links.append(Link(i, j, *audio_times(m, x, y)))
    return links


def on_grid(p: PicturePrint, fps: float, speed: float = 1.0) -> PicturePrint:
    """``p`` resampled by time to ``fps`` samples per second of a normal-speed copy: sample k
    is the picture nearest to ``p.start + k / (fps * speed)`` s of its own file."""
    if len(p.hashes) == 0 or (abs(p.fps - fps * speed) < 1e-9):
        return p
    span = len(p.hashes) / p.fps
    times = np.arange(int(np.floor(span * fps * speed))) / (fps * speed)  # [K] from p.start
    idx = np.clip(np.round(times * p.fps).astype(np.int64), 0, len(p.hashes) - 1)
    thumbs = None if p.thumbs is None else p.thumbs[idx]
    return PicturePrint(p.hashes[idx], p.flat[idx], fps * speed, p.start, thumbs)


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


def _drifts(links: Sequence[Link]) -> bool:
    """Whether a pair's links are pieces whose offset drifts as one speed would (a PAL copy
    heard at normal speed matches in short pieces, each a little later than the last)."""
    ordered = sorted(links, key=lambda k: k.a_start)
    for x, y in zip(ordered, ordered[1:], strict=False):
        if y.a_start - x.a_end > 3.0:
            continue  # apart: two stretches (the intro, the credits), not pieces of one
        gap = y.a_start - x.a_start
        slope = ((y.b_start - y.a_start) - (x.b_start - x.a_start)) / gap if gap > 0 else 0.0
        if 0.02 <= abs(slope) <= 0.07:
            return True
    return False


def _plain(links: Sequence[Link], k: int) -> set[int]:
    """The partners episode k shares sound with at one speed (not drifting pieces)."""
    by: dict[int, list[Link]] = {}
    for x in links:
        if x.signal == "sound" and k in (x.a, x.b):
            by.setdefault(x.b if x.a == k else x.a, []).append(x)
    return {j for j, got in by.items() if not _drifts(got)}


def speed_search(
    prints: Sequence[EpisodePrints],
    pairs: Sequence[tuple[int, int]],
    links: Sequence[Link],
    resound: Callable[[int, float], EpisodePrints | None] | None,
    min_seconds: float,
    join: float,
) -> tuple[dict[int, float], list[Link]]:
    """Episodes whose sound matches no partner at one speed while the others' does, heard
    again at each of ``SPEEDS`` (``resound(k, speed)``: episode k's prints as if played at
    1/speed). Returns the speed of each episode it links better at, and the season's sound
    links with that episode's replaced. Where no two episodes match at one speed, the last
    one is tried (a season of two, one a PAL copy)."""
    if resound is None:
        return {}, list(links)
    plain = {k: _plain(links, k) for k in range(len(prints))}
    lonely = [k for k, p in enumerate(prints) if p.audio is not None and not plain[k]]
    if not any(plain.values()):
        lonely = lonely[-1:]
    lonely += [k for k in _off_rate(prints) if k not in lonely]
    speeds, out = {}, list(links)
    for k in lonely:
        mates = [j for pair in pairs if k in pair for j in pair
                 if j != k and (plain[j] or not any(plain.values()))
                 and prints[j].audio is not None]  # fmt: skip
        mine = [x for x in out if x.signal == "sound" and k in (x.a, x.b)]
        best, length = mine, sum(x.a_end - x.a_start for x in mine if not _drifting_pair(mine, x))
        for speed in SPEEDS:
            again = resound(k, speed)
            if again is None:
                break
            got = []
            for j in mates:
                a, b = (again, prints[j]) if k < j else (prints[j], again)
                got += [replace(x, step=SPED) for x in
                        sound_links(min(k, j), max(k, j), a, b, min_seconds, join)]  # fmt: skip
            total = sum(x.a_end - x.a_start for x in got)
            if total > length:
                best, length, speeds[k] = got, total, speed
        if k in speeds:
            out = [x for x in out if x not in mine] + best
    return speeds, out


def _off_rate(prints: Sequence[EpisodePrints]) -> list[int]:
    """Episodes whose video runs at one of ``SPEEDS`` times the season's usual frame rate
    (a PAL copy at 25 fps among 23.976-fps episodes): heard again whatever they matched."""
    rates = [round(p.fps, 2) for p in prints if p.fps]
    if not rates:
        return []
    usual = max(set(rates), key=lambda r: (rates.count(r), -r))  # a tie: the film's rate
    return [k for k, p in enumerate(prints) if p.audio is not None and p.fps and
            any(abs(p.fps / usual - s) < 0.003 for s in SPEEDS)]  # fmt: skip


def _drifting_pair(mine: Sequence[Link], x: Link) -> bool:
    """Whether link ``x`` is one of drifting pieces of its pair."""
    return _drifts([y for y in mine if (y.a, y.b) == (x.a, x.b)])
