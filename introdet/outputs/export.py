"""Detected intros -> JSON records (canonical), CSV summary, EDL, FFMETADATA and WebVTT chapters."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from introdet.atomic import atomic_write_text
from introdet.detection.postprocess import Segment
from introdet.errors import RecordError

SCHEMA_VERSION = 1
EDL_ACTION = 3  # Kodi: commercial break, which Kodi skips
INTRO_TITLE = "Intro"
EPISODE_TITLE = "Episode"
CSV_COLUMNS = ("episode", "source", "duration", "intro_start", "intro_end", "score")
# the fields every record has, in order; ``**extra`` may not overwrite them
_RESERVED = (
    *("schema_version", "episode", "source", "duration"),
    *("fps", "encoder", "intro", "probabilities"),
)


def episode_record(
    episode: str,
    source: str | None,
    duration: float,
    fps: float,
    encoder: str,
    intro: Segment | None,
    probabilities: Sequence[float],
    intro_extra: dict | None = None,
    **extra,
) -> dict:
    """The canonical result: ``intro_extra`` joins the intro dict, ``extra`` the record."""
    clash = sorted(set(extra) & set(_RESERVED))
    if clash:
        raise RecordError(f"{episode}: extra keys {clash} would overwrite record fields")
    if intro_extra and intro is None:
        raise RecordError(f"{episode}: intro_extra given but there is no intro")
    if not (math.isfinite(duration) and duration >= 0):
        raise RecordError(f"{episode}: duration must be a finite number >= 0, got {duration}")
    probs = [round(float(p), 4) for p in probabilities]
    if not all(math.isfinite(p) for p in probs):
        raise RecordError(f"{episode}: probabilities contain NaN or inf")
    intro_dict = None
    if intro is not None:
        if not (0 <= intro.start <= intro.end):
            raise RecordError(f"{episode}: intro [{intro.start}, {intro.end}) is not an interval")
        intro_dict = {
            "start": round(float(intro.start), 3),  # ms: what every chapter format can hold
            "end": round(float(intro.end), 3),
            "score": round(float(intro.score), 4),
            **(intro_extra or {}),
        }
    return {
        "schema_version": SCHEMA_VERSION,
        "episode": episode,
        "source": source,
        "duration": float(duration),
        "fps": float(fps),
        "encoder": encoder,
        "intro": intro_dict,
        "probabilities": probs,
        **extra,
    }


def format_time(seconds: float, hour_digits: int = 1) -> str:
    """``H:MM:SS.mmm`` (``hour_digits=2``: ``HH:MM:SS.mmm``, as WebVTT requires)."""
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"cannot format time {seconds}")
    ms = round(seconds * 1000)  # whole ms first: 59.9996 s must become 1:00.000, not 0:59.1000
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:0{hour_digits}d}:{m:02d}:{s:02d}.{ms:03d}"


def chapters(record: dict) -> list[tuple[str, int, int]]:
    """(title, start_ms, end_ms) chapters covering [0, duration] without gaps or empty chapters."""
    end_ms = round(record["duration"] * 1000)
    intro = record.get("intro")
    if intro is None:
        return [(EPISODE_TITLE, 0, end_ms)]
    # one set of integer boundaries shared by neighbours keeps the chapters contiguous;
    # an intro running past a short probed duration is clipped to the file
    a = min(round(intro["start"] * 1000), end_ms)
    b = min(max(round(intro["end"] * 1000), a), end_ms)
    spans = [(EPISODE_TITLE, 0, a), (INTRO_TITLE, a, b), (EPISODE_TITLE, b, end_ms)]
    return [c for c in spans if c[2] > c[1]] or [(EPISODE_TITLE, 0, end_ms)]


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def to_edl(record: dict) -> str:
    """Kodi/MPlayer EDL: ``start end action`` per line; empty when there is no intro."""
    intro = record.get("intro")
    if intro is None:
        return ""
    return f"{intro['start']:.3f} {intro['end']:.3f} {EDL_ACTION}\n"


def escape_ffmetadata(text: str) -> str:
    """Backslash-escape '=', ';', '#', '\\' and newline, as FFmpeg's metadata format requires."""
    return "".join("\\" + c if c in "=;#\\\n" else c for c in text)


def to_ffmetadata(record: dict) -> str:
    """FFmpeg FFMETADATA1: the episode as global title, then one [CHAPTER] per chapter, in ms."""
    lines = [";FFMETADATA1", f"title={escape_ffmetadata(str(record['episode']))}"]
    for title, start, end in chapters(record):
        lines += ["", "[CHAPTER]", "TIMEBASE=1/1000", f"START={start}", f"END={end}"]
        lines.append(f"title={escape_ffmetadata(title)}")
    return "\n".join(lines) + "\n"


def to_vtt(record: dict) -> str:
    """WebVTT chapters: the same chapters as FFMETADATA, one cue each."""
    out = ["WEBVTT", ""]
    for i, (title, start, end) in enumerate(chapters(record), 1):
        span = f"{format_time(start / 1000, 2)} --> {format_time(end / 1000, 2)}"
        out += [f"chapter-{i}", span, title, ""]  # fixed titles: nothing to escape
    return "\n".join(out)


FORMATS: dict[str, Callable[[dict], str]] = {
    "json": to_json,
    "edl": to_edl,
    "ffmetadata": to_ffmetadata,
    "vtt": to_vtt,
}
SUFFIX = {"json": ".json", "edl": ".edl", "ffmetadata": ".ffmetadata", "vtt": ".chapters.vtt"}


def _file_stem(episode: str) -> str:
    # the id becomes a file name inside out_dir: it must not climb out of it
    if not episode or episode in (".", "..") or any(c in episode for c in "/\\\0"):
        raise RecordError(f"episode id {episode!r} cannot be used as a file name")
    return episode


def write_episode(
    record: dict, out_dir: str | Path, formats: Sequence[str] = ("json",)
) -> list[Path]:
    """Write ``out_dir/<episode><suffix>`` for each format, each file atomically."""
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; known: {sorted(FORMATS)}")
    stem = _file_stem(record["episode"])
    # render everything first so that a bad record leaves no half-exported episode behind
    texts = {f: FORMATS[f](record) for f in dict.fromkeys(formats)}
    return [atomic_write_text(Path(out_dir) / f"{stem}{SUFFIX[f]}", t) for f, t in texts.items()]


def write_csv(records: Sequence[dict], path: str | Path) -> Path:
    """One row per episode; intro columns are empty when no intro was found."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in records:
        intro = r.get("intro") or {}
        spans = [intro.get(k, "") for k in ("start", "end", "score")]
        writer.writerow([r["episode"], r.get("source") or "", r["duration"], *spans])
    return atomic_write_text(path, buf.getvalue())


def read_record(path: str | Path) -> dict:
    """Read a JSON record written by ``write_episode``; RecordError names the file otherwise."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: unreadable episode record ({e})") from e
    if not isinstance(record, dict):
        raise RecordError(f"{path}: expected a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise RecordError(
            f"{path}: schema_version {version!r}, this introdet reads {SCHEMA_VERSION}"
        )
    missing = [k for k in _RESERVED if k not in record]
    if missing:
        raise RecordError(f"{path}: record lacks {missing}")
    return record
