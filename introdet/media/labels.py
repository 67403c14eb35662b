"""The labels file: reading and validating it, its time format both ways, its known typing
slip, series names, per-second labels and splits.

File format (the one real data sets of this task use)::

    {"<episode id>": {"name": "Блеск. 2 сезон, 5 серия", "url": "...",
                      "start": "0:01:42", "end": "0:01:47"}, ...}

Times are ``H:MM:SS``, ``MM:SS`` or plain seconds (number or string, decimals allowed);
``format_time`` writes them as ``H:MM:SS`` with ``.mmm`` when not a whole second.
``"start": null, "end": null`` marks an episode known to have no intro. ``series`` may be
given explicitly; otherwise it is parsed from ``name``.

A row may also time the episode's other segments, each type a key (``TYPED``): ``null`` for
none, a ``[start, end]`` pair, or a list of pairs (``"commercial": [["0:20:00", "0:20:04"],
...]``); a type not named is not labelled. Training reads the intro only; ``evaluate`` scores
every labelled type.

Labelling rule: second k (the interval [k, k+1)) is intro when it overlaps the intro's
[start, end) by at least half a second. So [10.0, 20.0) labels seconds 10..19, and
[10.4, 20.6) labels 10..20 (second 10 overlaps 0.6 s, second 20 overlaps 0.6 s).
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from introdet.errors import AnnotationError
from introdet.media.library import series_from_name, series_key

log = logging.getLogger(__name__)

SLIP = 60.0  # the typing error seen in real files: the start minute one too high


# the segment types beside the intro a row may label (media servers' Outro, Recap, Preview,
# Commercial)
TYPED = ("credits", "recap", "preview", "commercial")


@dataclass(frozen=True)
class Intro:
    episode: str
    start: float | None  # seconds; None (with end None) = the episode has no intro
    end: float | None
    series: str
    name: str | None = None
    # the other segment types the row labels: type -> its spans (none: empty); absent: unknown
    segments: Mapping[str, tuple[tuple[float, float], ...]] = field(
        default_factory=dict, hash=False
    )

    @property
    def has_intro(self) -> bool:
        return self.start is not None

    @property
    def interval(self) -> tuple[float, float] | None:
        return (self.start, self.end) if self.start is not None else None


@dataclass
class Annotations:
    path: str
    intros: dict[str, Intro] = field(default_factory=dict)
    fixed: list[tuple[str, str]] = field(default_factory=list)  # (episode, what was changed)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (episode, reason)

    @property
    def report(self) -> list[str]:
        lines = [f"{self.path}: fixed {_shown(ep)}: {why}" for ep, why in self.fixed]
        lines += [f"{self.path}: rejected {_shown(ep)}: {why}" for ep, why in self.rejected]
        return lines

    @property
    def n_series(self) -> int:
        """Series among the episodes used, look-alike spellings of a name counted once (the
        grouping the splits use: ``group_series``)."""
        return len({series_key(i.series) for i in self.intros.values()})

    def summary(self) -> str:
        n_intro = sum(i.has_intro for i in self.intros.values())
        return (
            f"{self.path}: {len(self.intros)} episodes used ({n_intro} with an intro, "
            f"{len(self.intros) - n_intro} without), {len(self.fixed)} fixed, "
            f"{len(self.rejected)} rejected, {self.n_series} series"
        )


def _shown(episode: str) -> str:
    """An id as it can be printed: escaped when it holds control characters (a NUL, an
    escape sequence) that would otherwise reach the terminal or log raw."""
    return episode if episode.isprintable() else ascii(episode)


# --- times -------------------------------------------------------------------------------

# ASCII digits only: Python's \d and float() also read Arabic-Indic and other scripts' digits
_CLOCK = re.compile(r"^\s*(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)\s*$", re.ASCII)


def parse_time(value: object) -> float:
    """``H:MM:SS``, ``MM:SS``, or seconds -> float seconds. ValueError on anything else."""
    if isinstance(value, bool):  # bool is an int subclass; true/false is no time
        raise ValueError(f"not a time: {value!r}")
    if isinstance(value, (int, float)):
        try:
            t = float(value)
        except OverflowError:  # a JSON integer of hundreds of digits
            raise ValueError(f"not a time: {str(value)[:20]}... (too large)") from None
    elif isinstance(value, str):
        m = _CLOCK.match(value)
        if m:
            h, mm, ss = m.groups()
            if int(mm) >= 60 or float(ss) >= 60:
                raise ValueError(f"not a time: {value!r} (minutes and seconds must be < 60)")
            try:
                t = int(h or 0) * 3600 + int(mm) * 60 + float(ss)
            except OverflowError:  # hours beyond a float's range
                raise ValueError(f"not a time: {value!r} (too large)") from None
        else:
            try:
                if not value.isascii():
                    raise ValueError
                t = float(value.strip())
            except ValueError:
                raise ValueError(f"not a time: {value!r}") from None
    else:
        raise ValueError(f"not a time: {value!r}")
    if not math.isfinite(t):
        raise ValueError(f"not a time: {value!r}")
    if t < 0:
        raise ValueError(f"negative time: {value!r}")
    return t


def format_time(seconds: float, hour_digits: int = 1, millis: bool = False) -> str:
    """``H:MM:SS`` as labels files write times, with ``.mmm`` when the time is not a whole
    second (``millis``: always, as EDL, WebVTT and chapter files want; ``hour_digits=2``:
    ``HH``). Rounded to the millisecond first: 59.9996 s is ``0:01:00``, not ``0:00:59.1000``."""
    ms = round(seconds * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:0{hour_digits}d}:{m:02d}:{s:02d}" + (f".{ms:03d}" if ms or millis else "")


def short_time(seconds: float) -> str:
    """``M:SS`` (``H:MM:SS`` from an hour), whole seconds: a time in a sentence a person reads
    ("dark frames from 41:12 to 43:05")."""
    m, s = divmod(int(round(seconds)), 60)
    return f"{m // 60}:{m % 60:02d}:{s:02d}" if m >= 60 else f"{m}:{s:02d}"


# --- series names ------------------------------------------------------------------------


def _series_from_id(episode: str) -> str:
    return series_from_name(episode.replace("_", " ")) or episode.strip() or episode


# --- loading -----------------------------------------------------------------------------


class _Pairs(list):
    """A JSON object as its (key, value) pairs: duplicate ids stay visible, unlike in a dict."""


def refuse_special(path: Path) -> None:
    """A FIFO's read waits for a writer and a device's may never end: labels are plain files."""
    if path.exists() and not path.is_file():
        raise AnnotationError(f"{path}: not a regular file")


def load_annotations(
    path: str | Path,
    durations: Mapping[str, float] | None = None,
    known: Iterable[str] | None = None,
) -> Annotations:
    """Read a labels file; fix the one-minute slip; reject (and report) every other bad row.

    ``durations`` (episode -> seconds) rejects intervals beyond an episode's end; ``known``
    rejects ids that have no video/shard.
    """
    path = Path(path)
    refuse_special(path)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise AnnotationError(f"{path}: cannot read labels file ({e})") from e
    try:
        pairs = json.loads(text, object_pairs_hook=_Pairs)
    except (ValueError, RecursionError) as e:
        raise AnnotationError(f"{path}: not valid JSON ({e})") from e
    if not isinstance(pairs, _Pairs):
        raise AnnotationError(
            f"{path}: expected a JSON object of episodes, got {type(pairs).__name__}"
        )
    return parse_annotations(pairs, str(path), durations, known)


def parse_annotations(
    pairs: Iterable[tuple[str, object]],
    where: str = "<labels>",
    durations: Mapping[str, float] | None = None,
    known: Iterable[str] | None = None,
) -> Annotations:
    ann = Annotations(path=where)
    pairs = list(pairs)
    known = set(known) if known is not None else None
    counts = Counter(k for k, _ in pairs)
    for episode, row in pairs:
        if not episode.isprintable():  # a NUL or escape byte: no file is named that way
            ann.rejected.append((episode, "the id holds control characters"))
            continue
        if counts[episode] > 1:
            ann.rejected.append((episode, f"duplicate id ({counts[episode]} rows)"))
            continue
        try:
            intro, fix = _parse_row(episode, row, durations, known)
        except ValueError as e:
            ann.rejected.append((episode, str(e)))
            continue
        if fix:
            ann.fixed.append((episode, fix))
        ann.intros[episode] = intro
    return ann  # callers report ann.report once, each in its own way


def _parse_row(episode, row, durations, known) -> tuple[Intro, str | None]:
    if not isinstance(episode, str) or not episode.strip():
        raise ValueError("empty episode id")
    if not isinstance(row, (_Pairs, dict)):
        raise ValueError(f"expected an object with start and end, got {type(row).__name__}")
    fields = dict(row)
    if known is not None and episode not in known:
        raise ValueError("unknown episode (no video or feature shard with this id)")
    name = fields.get("name")
    name = name if isinstance(name, str) else None
    series = fields.get("series")
    series = series.strip() if isinstance(series, str) else ""
    if not series:
        series = ((series_from_name(name) or "") if name else "").strip() or _series_from_id(
            episode
        )
    duration = durations.get(episode) if durations else None
    typed = {kind: _spans(kind, fields[kind], duration) for kind in TYPED if kind in fields}
    raw_start, raw_end = fields.get("start"), fields.get("end")
    if raw_start is None and raw_end is None:
        if "start" not in fields and "end" not in fields:
            raise ValueError("no start and end (write null for both to mark 'no intro')")
        return Intro(episode, None, None, series.strip(), name, typed), None
    if raw_start is None or raw_end is None:
        raise ValueError("start and end must both be times, or both null")
    start, end = parse_time(raw_start), parse_time(raw_end)
    fix = None
    if start >= end and 0 < start - end < SLIP and start - SLIP >= 0:
        fix = f"start {format_time(start)} typed a minute late -> {format_time(start - SLIP)}"
        start -= SLIP
    if end <= start:
        raise ValueError(f"end {raw_end!r} is not after start {raw_start!r}")
    if duration is not None and end > duration + 1.0:  # a second of slack for rounding
        raise ValueError(f"intro ends at {end:.0f} s, beyond the episode's {duration:.0f} s")
    return Intro(episode, start, end, series.strip(), name, typed), fix


def _spans(kind: str, value: object, duration: float | None) -> tuple[tuple[float, float], ...]:
    """A typed field: null, one [start, end] pair, or a list of pairs, each an interval in
    the episode; ValueError naming the type otherwise."""
    if value is None:
        return ()
    pairs = value if isinstance(value, list) and value and isinstance(value[0], list) else [value]
    out = []
    for pair in pairs:
        if not (isinstance(pair, list) and len(pair) == 2):
            raise ValueError(f"{kind}: expected null, [start, end] or a list of them, got "
                             f"{pair!r}")  # fmt: skip
        try:
            start, end = parse_time(pair[0]), parse_time(pair[1])
        except ValueError as e:
            raise ValueError(f"{kind}: {e}") from None
        if end <= start:
            raise ValueError(f"{kind}: end {pair[1]!r} is not after start {pair[0]!r}")
        if duration is not None and end > duration + 1.0:
            raise ValueError(f"{kind} ends at {end:.0f} s, beyond the episode's {duration:.0f} s")
        out.append((start, end))
    return tuple(sorted(out))


# --- labels and splits -------------------------------------------------------------------


def labels_for(
    n_seconds: int, interval: tuple[float, float] | None, fps: float = 1.0
) -> np.ndarray:
    """[n_seconds] int64 0/1 by the half-overlap rule (module docstring)."""
    if n_seconds < 0:
        raise ValueError(f"negative number of seconds: {n_seconds}")
    labels = np.zeros(n_seconds, dtype=np.int64)
    if interval is None:
        return labels
    start, end = float(interval[0]) * fps, float(interval[1]) * fps
    if not end >= start:
        raise ValueError(f"interval ends before it starts: {interval}")
    k = np.arange(n_seconds)
    overlap = np.minimum(k + 1, end) - np.maximum(k, start)  # negative when disjoint
    labels[overlap >= 0.5 - 1e-9] = 1  # 1e-9: 10.5 * fps may land a hair under the half
    return labels


def group_series(intros: Mapping[str, Intro]) -> dict[str, list[str]]:
    """series key -> episode ids, with look-alike spellings of a name merged."""
    groups: dict[str, list[str]] = {}
    for ep, intro in sorted(intros.items()):
        groups.setdefault(series_key(intro.series), []).append(ep)
    return groups


def split_episodes(
    intros: Mapping[str, Intro],
    by: str = "series",
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
) -> dict[str, list[str]]:
    """Deterministic train/val/test split; ``by="series"`` keeps each series in one split,
    since the same intro recurs in every episode of a series."""
    if by not in ("series", "episode"):
        raise ValueError(f"split by must be 'series' or 'episode', got {by!r}")
    units = list(group_series(intros).values()) if by == "series" else [[e] for e in sorted(intros)]
    random.Random(seed).shuffle(units)
    n = len(units)
    n_test = round(n * test_fraction) if test_fraction > 0 else 0
    n_val = round(n * val_fraction) if val_fraction > 0 else 0
    if n >= 3:  # each requested split gets at least one unit when there are enough
        n_test, n_val = max(n_test, test_fraction > 0), max(n_val, val_fraction > 0)
    parts = {
        "test": units[:n_test],
        "val": units[n_test : n_test + n_val],
        "train": units[n_test + n_val :],
    }
    return {k: sorted(e for unit in v for e in unit) for k, v in parts.items()}


def overlapping(splits: Mapping[str, Iterable[str]]) -> dict[str, list[str]]:
    """episode -> the splits it appears in, for episodes in more than one."""
    seen: dict[str, list[str]] = {}
    for name, eps in splits.items():
        for e in eps:
            seen.setdefault(e, []).append(name)
    return {e: s for e, s in seen.items() if len(s) > 1}
