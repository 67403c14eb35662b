"""What players are shown of a record: its segments, clipped to the file, in whole ms, as
chapters that cover the file without gaps or slivers, and only of the types a user chose
(``segments=`` of predict). The one rule of every player writer (EDL, FFMETADATA, WebVTT,
chapters applied to a copy, CSV); the JSON record keeps what was found."""

from __future__ import annotations

import math
from collections.abc import Iterable

from introdet.errors import ConfigError, RecordError

INTRO_TITLE = "Intro"
CREDITS_TITLE = "Credits"
EPISODE_TITLE = "Episode"
# the segment types a record's list holds (media servers' Intro, Outro, Recap, Preview,
# Commercial), and each one's chapter title
TYPES = ("intro", "credits", "recap", "preview", "commercial")
TITLES = {"intro": INTRO_TITLE, "credits": CREDITS_TITLE, "recap": "Recap",
          "preview": "Preview", "commercial": "Commercial"}  # fmt: skip
TYPE_OF = {title: kind for kind, title in TITLES.items()}  # a chapter title's type
# An "Episode" chapter shorter than this (the stretch between the file's start or end and a
# found segment, or between two of them) joins its neighbour: the credits run to the file's
# end, an intro found 0.4 s in starts it. Season mode's credits end where the last recurring
# sound does, which can be a tenth of a second before the probed end of the file, and the model's
# boundaries come from 1-fps rows: a gap under a second is the detection's rounding, not a
# part of the episode. A player shows such a chapter as a sliver nobody can click (a
# 0.1-s chapter of a 45-min episode is a twentieth of a pixel of a 1280-px seek bar), and its
# "next chapter" lands there and plays a blink of it. 1 s, not more: a scene after the
# credits, or a cold open before an intro, lasts seconds, and keeps its chapter. The
# intro and credits chapters are kept however short (1 ms or more): they are what was found.
MIN_CHAPTER_MS = 1000


def check_types(types) -> tuple[str, ...]:
    """``types`` (``segments=`` of predict) as a tuple of known segment types; ConfigError
    naming the unknown ones otherwise."""
    if isinstance(types, str):
        types = [types]
    unknown = [str(t) for t in types if t not in TYPES]
    if unknown:
        raise ConfigError(f"segments: unknown type(s) {unknown}; known: {', '.join(TYPES)}")
    return tuple(dict.fromkeys(types))


def for_players(record: dict, types: Iterable[str] = TYPES) -> dict:
    """``record`` as the player files show it: only its segments of ``types`` (all: the
    record itself). The JSON record and the CSV summary keep every segment found."""
    types = set(types)
    if types >= set(TYPES):
        return record
    view = dict(record)
    if isinstance(record.get("segments"), list):
        view["segments"] = [s for s in record["segments"] if s.get("type") in types]
    for kind in ("intro", "credits"):  # a schema 1 or 2 record has these and no list
        if kind not in types:
            view[kind] = None
    return view


def credits_span(episode: str, credits) -> tuple[float, float]:
    if not (isinstance(credits, list | tuple) and len(credits) == 2):
        raise RecordError(f"{episode}: credits must be [start, end] in seconds, got {credits!r}")
    try:
        start, end = float(credits[0]), float(credits[1])
    except (TypeError, ValueError):
        raise RecordError(f"{episode}: credits {credits!r} are not numbers") from None
    if not (math.isfinite(start) and math.isfinite(end) and 0 <= start <= end):
        raise RecordError(f"{episode}: credits [{start}, {end}] are not an interval")
    return start, end


def found_segments(record: dict) -> list[tuple[str, float, float]]:
    """(title, start_s, end_s) of each segment the record has: its typed list (schema 3),
    else the intro, then the credits."""
    if isinstance(record.get("segments"), list):
        return [(TITLES[s["type"]], float(s["start"]), float(s["end"]))
                for s in record["segments"] if s.get("type") in TITLES]  # fmt: skip
    found = []
    if record.get("intro") is not None:
        found.append((INTRO_TITLE, record["intro"]["start"], record["intro"]["end"]))
    if record.get("credits") is not None:
        found.append((CREDITS_TITLE, *credits_span(record["episode"], record["credits"])))
    return found


def playable_segments(record: dict) -> list[tuple[str, int, int]]:
    """(title, start_ms, end_ms) of the found segments a player can use, in the record's order:
    each clipped to [0, duration] in whole ms, one empty after clipping (under 1 ms: a
    zero-length intro, one past the file's end, any segment of a file of duration 0) left out.

    The one rule of every writer (EDL, FFMETADATA, WebVTT, chapters applied to a copy, CSV);
    the JSON record keeps what was found.
    """
    end_ms = round(record["duration"] * 1000)
    out = []
    for title, start, end in found_segments(record):
        a = min(max(round(start * 1000), 0), end_ms)
        b = min(max(round(end * 1000), a), end_ms)
        if b > a:
            out.append((title, a, b))
    return out


def chapters(record: dict) -> list[tuple[str, int, int]]:
    """(title, start_ms, end_ms) chapters covering [0, duration] without gaps or empty chapters,
    and no "Episode" chapter under ``MIN_CHAPTER_MS`` beside another chapter; none for a file
    of duration 0 (under 1 ms)."""
    end_ms = round(record["duration"] * 1000)
    if end_ms <= 0:
        return []
    spans, t = [], 0
    for title, start, end in sorted(playable_segments(record), key=lambda s: s[1]):
        # one set of integer boundaries shared by neighbours keeps the chapters contiguous; a
        # segment overlapping the one before starts where that one ends
        a = max(start, t)
        b = max(end, a)
        spans += [(EPISODE_TITLE, t, a), (title, a, b)]
        t = b
    spans.append((EPISODE_TITLE, t, end_ms))
    out: list[tuple[str, int, int]] = []
    for title, a, b in spans:
        if b <= a:
            continue
        if out and out[-1][0] == title:  # the two sides of a zero-length segment
            out[-1] = (title, out[-1][1], b)
        else:
            out.append((title, a, b))
    return _join_slivers(out) or [(EPISODE_TITLE, 0, end_ms)]


def _join_slivers(chapters: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    """Each "Episode" chapter under ``MIN_CHAPTER_MS`` joins the chapter before it (the first
    one joins the next): a found segment's chapter takes it, so no two neighbours share a
    title; a lone chapter stays, however short the file."""
    out = list(chapters)
    i = 0
    while i < len(out):
        title, a, b = out[i]
        if title != EPISODE_TITLE or b - a >= MIN_CHAPTER_MS or len(out) == 1:
            i += 1
        elif i == 0:
            out[1] = (out[1][0], a, out[1][2])
            del out[0]
        else:
            out[i - 1] = (out[i - 1][0], out[i - 1][1], b)
            del out[i]
    return out
