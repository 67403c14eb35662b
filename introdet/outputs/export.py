"""Detected segments -> JSON records, CSV summary, EDL, FFMETADATA, WebVTT chapters.

The JSON record is the canonical result; the other formats are rendered from it, showing the
segment types a user chose (``outputs.timeline``).

What reads what:

- EDL (``<episode>.edl`` beside the video): one ``start end action`` line per found segment,
  Kodi's or MPlayer's action per type (``outputs.edl``).
- FFMETADATA: the chapters only, with no global tags, so that applying it keeps the video's own
  title and tags::

      ffmpeg -i video.mkv -i video.ffmetadata -map 0 -map_chapters 1 -codec copy out.mkv

  Never add ``-map_metadata 1``: it replaces the video's tags with those of the (tag-less) file.
  ``introdet.outputs.chapters.apply_chapters`` writes the same chapters without ffmpeg.
- WebVTT: the same chapters, for web players.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from introdet.atomic import atomic_write_text
from introdet.detection.postprocess import Segment
from introdet.errors import OutputWriteError, RecordError
from introdet.media.labels import format_time as clock
from introdet.outputs.edl import EDL_ACTION, check_edl_action, to_edl
from introdet.outputs.timeline import (
    CREDITS_TITLE,
    INTRO_TITLE,
    TITLES,
    TYPES,
    chapters,
    check_types,
    credits_span,
    for_players,
    playable_segments,
)

# 2: key, source_hash and provenance added (outputs/record.schema.json); 3: segments, the
# typed list (outputs/segments.py); 1 and 2 still read
SCHEMA_VERSION = 3
READABLE_VERSIONS = (1, 2, 3)
CSV_COLUMNS = (
    *("episode", "source", "duration", "intro_start", "intro_end", "score"),
    *("credits_start", "credits_end", "recap_start", "recap_end", "preview_start"),
    *("preview_end", "commercials"),
)
# seconds the record keeps beside the intro: to the ms, as its start and end; coarse_start and
# coarse_end stay exact, as found (refinement's cache key: episodes.refine compares them with
# the next run's coarse intro)
_INTRO_SECONDS = ("start_frame_pts", "end_frame_pts")
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
    """The canonical result: ``intro_extra`` joins the intro dict, ``extra`` the record.

    ``extra`` may carry ``credits=[start, end]`` in seconds, checked and rounded to ms
    (``credits=None``: none found, the key is left out), and ``segments``, the typed list
    (``outputs.segments``), each checked.
    """
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
    _check_extra(episode, extra)
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
        for k in _INTRO_SECONDS:
            if intro_dict.get(k) is not None:
                intro_dict[k] = round(float(intro_dict[k]), 3)
    return {
        "schema_version": SCHEMA_VERSION,
        "episode": episode,
        "source": source,
        "duration": round(float(duration), 3),  # ms, as every other time of the record
        "fps": float(fps),
        "encoder": encoder,
        "intro": intro_dict,
        "probabilities": probs,
        **extra,
    }


def _check_extra(episode: str, extra: dict) -> None:
    """The credits, other intros and segments of ``extra`` checked and rounded, in place."""
    if "credits" in extra and extra["credits"] is None:
        del extra["credits"]  # absent, not null, when none were found (record.schema.json)
    elif "credits" in extra:
        extra["credits"] = [round(t, 3) for t in credits_span(episode, extra["credits"])]
    if "segments" in extra:
        _check_segments(episode, extra["segments"])
    if extra.get("other_intros"):  # postprocess.keep=all: [start, end, score] of each
        extra["other_intros"] = [
            [round(float(a), 3), round(float(b), 3), round(float(score), 4)]
            for a, b, score in extra["other_intros"]
        ]


def format_time(seconds: float, hour_digits: int = 1) -> str:
    """``H:MM:SS.mmm`` (``hour_digits=2``: ``HH:MM:SS.mmm``, as WebVTT requires)."""
    if not (math.isfinite(seconds) and seconds >= 0):
        raise ValueError(f"cannot format time {seconds}")
    return clock(seconds, hour_digits, millis=True)  # a labels file's format, always with .mmm


def _check_segments(episode: str, segments) -> None:
    if not isinstance(segments, list):
        raise RecordError(f"{episode}: segments must be a list, got {segments!r}")
    for s in segments:
        if not isinstance(s, dict) or s.get("type") not in TITLES:
            raise RecordError(f"{episode}: a segment of no known type ({', '.join(TYPES)}): "
                              f"{s!r}")  # fmt: skip
        start, end = s.get("start"), s.get("end")
        ok = all(isinstance(t, int | float) and math.isfinite(t) for t in (start, end))
        if not ok or not 0 <= start <= end:
            raise RecordError(f"{episode}: {s['type']} [{start}, {end}] is not an interval")


def to_json(record: dict) -> str:
    return json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def escape_ffmetadata(text: str) -> str:
    """Backslash-escape '=', ';', '#', '\\' and newline, as FFmpeg's metadata format requires."""
    return "".join("\\" + c if c in "=;#\\\n" else c for c in text)


def to_ffmetadata(record: dict) -> str:
    """FFmpeg FFMETADATA1: one [CHAPTER] per chapter, in ms, and no global tags."""
    # a global title= here became the video's title wherever the file was applied
    lines = [";FFMETADATA1"]
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


def render(record: dict, fmt: str, edl_action=EDL_ACTION, types: Sequence[str] = TYPES) -> str:
    """One format's text: the JSON record whole, a player's file with the segments of
    ``types`` only; ``edl_action`` is used by the EDL only (``outputs.edl.edl_actions``)."""
    if fmt == "json":
        return to_json(record)
    if fmt == "edl":
        return to_edl(for_players(record, types), edl_action)
    return FORMATS[fmt](for_players(record, types))


def _file_stem(episode: str) -> str:
    # the id becomes a file name inside out_dir: it must not climb out of it
    if not episode or episode in (".", "..") or any(c in episode for c in "/\\\0"):
        raise RecordError(f"episode id {episode!r} cannot be used as a file name")
    return episode


def write_episode(
    record: dict,
    out_dir: str | Path,
    formats: Sequence[str] = ("json",),
    edl_action=EDL_ACTION,
    types: Sequence[str] = TYPES,
) -> list[Path]:
    """Write ``out_dir/<episode><suffix>`` for each format, each file atomically."""
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown:
        raise ValueError(f"unknown export format(s) {unknown}; known: {sorted(FORMATS)}")
    check_edl_action(edl_action)  # a bad setting fails whether or not this run writes EDL
    types = check_types(types)
    stem = _file_stem(record["episode"])
    paths = {f: Path(out_dir) / f"{stem}{SUFFIX[f]}" for f in dict.fromkeys(formats)}
    return write_files(paths, record, edl_action, types)


def write_files(
    paths: Mapping[str, Path], record: dict, edl_action=EDL_ACTION,
    types: Sequence[str] = TYPES,
) -> list[Path]:  # fmt: skip
    """Each format's file (``paths``: format -> file), atomically, all or none: everything is
    rendered first (a bad record writes nothing), and a write that fails (a full disk) takes
    back the episode's files written before it, so no episode keeps only some formats."""
    texts = {f: render(record, f, edl_action, types) for f in paths}
    written: list[Path] = []
    for f, text in texts.items():
        try:
            written.append(atomic_write_text(paths[f], text))
        except OSError as e:
            for p in written:
                p.unlink(missing_ok=True)
            why = f"cannot write {paths[f]} ({e.strerror or e})"
            raise OutputWriteError(e.errno, why, str(paths[f])) from e
    return written


def write_csv(records: Sequence[dict], path: str | Path) -> Path:
    """One row per episode; a type's columns are empty when none a player can use was found
    (``playable_segments``; the first of each type, ``commercials`` all of them as
    ``start-end`` separated by ``;``); text cells are never formulas (``csv_cell``)."""
    lines = [_csv_line(CSV_COLUMNS)]
    for r in records:
        spans = playable_segments(r)
        found: dict[str, tuple[float, float]] = {}
        for title, a, b in spans:
            found.setdefault(title, (a / 1000, b / 1000))
        intro = found.get(INTRO_TITLE, ("", ""))
        score = (r.get("intro") or {}).get("score", "") if INTRO_TITLE in found else ""
        more = [v for t in (CREDITS_TITLE, TITLES["recap"], TITLES["preview"])
                for v in found.get(t, ("", ""))]  # fmt: skip
        ads = ";".join(f"{a / 1000:g}-{b / 1000:g}" for t, a, b in spans
                       if t == TITLES["commercial"])  # fmt: skip
        row = [r["episode"], r.get("source") or "", r["duration"], *intro, score, *more, ads]
        lines.append(_csv_line([csv_cell(v) for v in row]))
    return atomic_write_text(path, "".join(lines))


# a text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV Injection"),
# full-width forms included: some spreadsheets read them as the ASCII ones
_FORMULA_START = "=+-@\t\r＝＋－＠"


def csv_cell(value):
    """``value``, with a ``'`` before a text that a spreadsheet would run as a formula
    (``@SUM(1)``, ``=1+2``, ``-1``...); numbers and other text unchanged."""
    if isinstance(value, str) and value and value[0] in _FORMULA_START:
        return "'" + value
    return value


def _csv_line(row: Sequence) -> str:
    """One CSV row ending in ``\n``, a field holding ``\r`` or ``\n`` quoted: a writer whose
    line ends are ``\r\n`` quotes both (Python before 3.12 quotes only the line end's
    characters), and only the row's own line end is replaced."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL).writerow(row)
    return buf.getvalue()[:-2] + "\n"


def read_record(path: str | Path) -> dict:
    """Read a JSON record written by ``write_episode``; RecordError names the file otherwise."""
    try:
        record = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise RecordError(f"{path}: unreadable episode record ({e})") from e
    if not isinstance(record, dict):
        raise RecordError(f"{path}: expected a JSON object, got {type(record).__name__}")
    version = record.get("schema_version")
    if version not in READABLE_VERSIONS:
        raise RecordError(
            f"{path}: schema_version {version!r}, this introdet reads {list(READABLE_VERSIONS)}"
        )
    missing = [k for k in _RESERVED if k not in record]
    if missing:
        raise RecordError(f"{path}: record lacks {missing}")
    return record
