"""Prediction records on disk next to the ground truth: reading, checking, scoring a folder."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from introdet.errors import ConfigError, EvaluationError
from introdet.evaluation.metrics import EpisodeResult, Interval, summarize
from introdet.outputs.export import READABLE_VERSIONS
from introdet.outputs.layout import record_files


def read_prediction(path: str | Path) -> dict:
    """Load one ``<episode>.json`` record and check the fields evaluation relies on."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvaluationError(f"{path}: cannot read prediction record: {e}") from e
    if not isinstance(record, dict) or record.get("schema_version") not in READABLE_VERSIONS:
        got = record.get("schema_version") if isinstance(record, dict) else type(record).__name__
        raise EvaluationError(
            f"{path}: schema_version {got!r}, expected one of {list(READABLE_VERSIONS)}"
        )
    if record.get("fps", 1) != 1:
        raise EvaluationError(f"{path}: fps {record['fps']} (evaluation expects 1 per second)")
    probs = record.get("probabilities")
    if not isinstance(probs, list):
        raise EvaluationError(f"{path}: 'probabilities' is missing or not a list")
    try:
        a = np.asarray(probs, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise EvaluationError(f"{path}: 'probabilities' are not numbers: {e}") from e
    if a.ndim != 1 or not np.all((a >= 0) & (a <= 1)):  # also catches NaN
        raise EvaluationError(f"{path}: 'probabilities' must be a flat list of values in [0, 1]")
    intro = record.get("intro")
    if intro is not None and not (isinstance(intro, dict) and {"start", "end"} <= intro.keys()):
        raise EvaluationError(f"{path}: 'intro' must be null or have 'start' and 'end'")
    return record


def _detected(record: dict, use: str) -> Interval | None:
    intro = record["intro"]
    if intro is None:
        return None
    # an unrefined record has no coarse pair: its final boundaries are the coarse ones
    if use == "coarse" and "coarse_start" in intro and "coarse_end" in intro:
        return float(intro["coarse_start"]), float(intro["coarse_end"])
    return float(intro["start"]), float(intro["end"])


def prediction_files(pred_dir: str | Path, truth: Mapping) -> dict[str, Path]:
    """episode -> its record under ``pred_dir`` (a tree mirroring the library, or flat), for
    the episodes of ``truth``: a record's file is named by its id or by its key (path
    relative to the input), whichever the id is."""
    found = {}
    for key, path in record_files(pred_dir):
        for name in (key, path.stem):
            if name in truth:
                found.setdefault(name, path)
                break
    return dict(sorted(found.items()))


def load_results(
    pred_dir: str | Path, truth: Mapping[str, Interval | None], use: str = "intro"
) -> list[EpisodeResult]:
    """Every ``pred_dir/<episode>.json`` whose episode has ground truth, sorted by episode."""
    if use not in ("intro", "coarse"):
        raise ConfigError(f"use must be 'intro' or 'coarse', not {use!r}")
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise EvaluationError(f"{pred_dir}: not a directory of prediction records")
    results = []
    for episode, path in prediction_files(pred_dir, truth).items():
        record = read_prediction(path)
        if record.get("episode", episode) != episode:
            raise EvaluationError(f"{path}: record is for episode {record['episode']!r}")
        results.append(
            EpisodeResult(
                episode=episode,
                probs=np.asarray(record["probabilities"], dtype=np.float64),
                truth=truth[episode],
                detected=_detected(record, use),
                fps=float(record.get("video_fps", record.get("fps", 1))),
            )
        )
    if not results:
        raise EvaluationError(f"{pred_dir}: no prediction record for any annotated episode")
    return results


def evaluate_dir(
    pred_dir: str | Path,
    truth: Mapping[str, Interval | None],
    groups: Mapping[str, str] | None = None,
    threshold: float = 0.5,
    use: str = "intro",
) -> dict:
    """``{"all": summary, "<group>": summary, ...}`` for the records in ``pred_dir``.

    ``groups`` maps episode -> group name (e.g. "seen"/"unseen"); episodes it leaves out count
    only in "all". Each summary lists the annotated episodes that had no record.
    """
    results = load_results(pred_dir, truth, use)
    have = {r.episode for r in results}
    missing = sorted(set(truth) - have)
    groups = groups or {}
    if "all" in groups.values():
        raise ValueError("group name 'all' is reserved for the report over every episode")
    members = {"all": results}
    for r in results:
        if r.episode in groups:
            members.setdefault(groups[r.episode], []).append(r)
    out = {}
    for name, rs in members.items():
        summary = summarize(rs, threshold)
        wanted = missing if name == "all" else [e for e in missing if groups.get(e) == name]
        out[name] = summary | {"missing_records": wanted}
    return out


def recorded_threshold(pred_dir: str | Path, truth: Mapping) -> float | None:
    """The post-processing threshold predict used for these records (their provenance), if
    they name one: plots draw what decided, not a default."""
    for path in prediction_files(pred_dir, truth).values():
        post = (read_prediction(path).get("provenance") or {}).get("postprocess") or {}
        if "threshold" in post:
            return float(post["threshold"])
    return None


def has_coarse(pred_dir: str | Path, truth: Mapping[str, Interval | None]) -> bool:
    """Whether any annotated episode's record in ``pred_dir`` was refined (keeps its 1-fps pair)."""
    for path in prediction_files(pred_dir, truth).values():
        intro = read_prediction(path).get("intro")
        if intro and "coarse_start" in intro:
            return True
    return False


def exact_truth(path: str | Path, truth: Mapping[str, Interval | None]) -> dict:
    """``truth`` with the frame-exact intervals of a ``truth.json`` (the demo library writes one)
    in place of the whole-second labels, for the episodes that file lists."""
    try:
        exact = json.loads(Path(path).read_text(encoding="utf-8"))["episodes"]
    except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError) as e:
        raise EvaluationError(f"{path}: cannot read frame-exact truth: {e}") from e
    out = dict(truth)
    for ep in out:
        if ep in exact:
            intro = exact[ep]["intro"]
            out[ep] = None if intro is None else (float(intro["start"]), float(intro["end"]))
    return out
