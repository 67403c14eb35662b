"""Score prediction records against annotated intros: per-second, balanced and boundary metrics."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torchmetrics.functional.classification import (
    binary_accuracy,
    binary_f1_score,
    binary_precision,
    binary_recall,
    binary_stat_scores,
)

from introdet.atomic import atomic_write_text
from introdet.errors import EvaluationError
from introdet.training.annotations import labels_for

SCHEMA_VERSION = 1
WITHIN_SECONDS = (0.1, 0.5, 1.0, 2.0, 5.0)
USEFUL_START_S = 15.0  # a viewer skips a little late or early at the start...
USEFUL_END_S = 5.0  # ...but landing after the intro's end costs real content
# tolerance on "within k s": 20.1 - 20 is 0.10000000000000142 in binary floating point
_EPS = 1e-9

Interval = tuple[float, float]
_ZERO_COUNTS = {"tp": 0, "fp": 0, "tn": 0, "fn": 0}


# ---------------------------------------------------------------- per-second labels and metrics


def labels_from_interval(n: int, interval: Interval | None) -> np.ndarray:
    """[n] int64 by the project's labelling rule (introdet.training.annotations.labels_for)."""
    return labels_for(n, interval)


def frame_metrics(
    probs: Sequence[np.ndarray], labels: Sequence[np.ndarray], threshold: float = 0.5
) -> dict:
    """Accuracy, precision, recall, F1 and counts over all seconds of all episodes.

    A second counts as predicted intro when its probability is above ``threshold`` (strictly,
    as in torchmetrics and postprocess).
    """
    threshold = float(threshold)  # torchmetrics rejects an int threshold
    if len(probs) != len(labels):
        raise ValueError(f"{len(probs)} probability arrays but {len(labels)} label arrays")
    for i, (p, y) in enumerate(zip(probs, labels, strict=True)):
        if len(p) != len(y):
            raise ValueError(f"episode {i}: {len(p)} probabilities but {len(y)} labels")
    p = torch.from_numpy(_concat(probs, np.float64))  # [N] over all episodes
    y = torch.from_numpy(_concat(labels, np.int64))  # [N]
    out = {"n_seconds": int(len(y)), "n_intro_seconds": int(y.sum())}
    if len(y) == 0:  # nothing to score is not a score of 0
        return out | dict.fromkeys(("accuracy", "precision", "recall", "f1")) | _ZERO_COUNTS
    tp, fp, tn, fn, _ = binary_stat_scores(p, y, threshold).tolist()
    return out | {
        "accuracy": float(binary_accuracy(p, y, threshold)),
        "precision": float(binary_precision(p, y, threshold)),
        "recall": float(binary_recall(p, y, threshold)),
        "f1": float(binary_f1_score(p, y, threshold)),
        "tp": int(tp),
        "fp": int(fp),
        "tn": int(tn),
        "fn": int(fn),
    }


def _concat(arrays: Sequence[np.ndarray], dtype: type) -> np.ndarray:
    parts = [np.asarray(a, dtype=dtype).ravel() for a in arrays]
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


def balanced_seconds(n: int, interval: Interval | None) -> np.ndarray:
    """Indices of the intro's seconds plus as many seconds right after it (clipped at n)."""
    intro = np.flatnonzero(labels_from_interval(n, interval))
    if len(intro) == 0:
        return intro
    return np.arange(intro[0], min(intro[-1] + 1 + len(intro), n))


def balanced_metrics(
    probs: Sequence[np.ndarray], truth_intervals: Sequence[Interval | None], threshold: float = 0.5
) -> dict:
    """The paper's protocol: per episode only the intro and an equal stretch right after it.

    Episodes without an intro contribute nothing (they have no intro seconds to balance).
    """
    if len(probs) != len(truth_intervals):
        raise ValueError(f"{len(probs)} probability arrays but {len(truth_intervals)} intervals")
    sub_p, sub_y = [], []
    for p, interval in zip(probs, truth_intervals, strict=True):
        p = np.asarray(p)
        keep = balanced_seconds(len(p), interval)
        sub_p.append(p[keep])
        sub_y.append(labels_from_interval(len(p), interval)[keep])
    return frame_metrics(sub_p, sub_y, threshold)


# ---------------------------------------------------------------- boundaries


def _stats(values: Sequence[float]) -> dict:
    if len(values) == 0:
        return {"mean": None, "median": None, "p90": None}
    a = np.abs(np.asarray(values, dtype=np.float64))
    return {
        "mean": float(a.mean()),
        "median": float(np.median(a)),
        "p90": float(np.percentile(a, 90)),
    }


def interval_iou(a: Interval, b: Interval) -> float:
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return inter / union if union > 0 else float(a == b)


def _share(count: int, total: int) -> float | None:
    return count / total if total else None


def boundary_report(
    pred: Mapping[str, Interval | None],
    truth: Mapping[str, Interval | None],
    fps: float | Mapping[str, float] = 1.0,
) -> dict:
    """Boundary errors, hit shares, IoU, missed and false intros over episodes in both dicts.

    Errors are ``predicted - true`` (signed in ``per_episode``; stats are of absolute values),
    in seconds, and in frames at ``fps`` (one rate, or the video frame rate per episode).
    Shares of hits and the IoU are over episodes with a true intro, a missed one counting as
    a failure and IoU 0.
    """
    episodes = sorted(set(pred) & set(truth))
    start_err, end_err, start_frames, end_frames, ious = [], [], [], [], []
    within = dict.fromkeys(WITHIN_SECONDS, 0)
    useful = missed = false_intros = n_with = 0
    per_episode = {}
    for ep in episodes:
        t, p = truth[ep], pred[ep]
        row = {"truth": _pair(t), "pred": _pair(p), "start_error": None, "end_error": None}
        per_episode[ep] = row
        if t is None:
            false_intros += p is not None
            continue
        n_with += 1
        if p is None:
            missed += 1
            ious.append(0.0)
            row["iou"] = 0.0
            continue
        ds, de = float(p[0]) - float(t[0]), float(p[1]) - float(t[1])
        rate = _rate(fps, ep)
        row |= {"start_error": ds, "end_error": de, "iou": interval_iou(p, t)}
        start_err.append(ds)
        end_err.append(de)
        start_frames.append(ds * rate)
        end_frames.append(de * rate)
        ious.append(row["iou"])
        for k in WITHIN_SECONDS:
            within[k] += abs(ds) <= k + _EPS and abs(de) <= k + _EPS
        useful += abs(ds) <= USEFUL_START_S + _EPS and abs(de) <= USEFUL_END_S + _EPS
    n_without = len(episodes) - n_with
    return {
        "n_episodes": len(episodes),
        "n_with_intro": n_with,
        "n_without_intro": n_without,
        "n_detected": len(start_err),
        "missed": missed,
        "false_intros": false_intros,
        "missed_share": _share(missed, n_with),
        "false_share": _share(false_intros, n_without),
        "start_error": _stats(start_err),
        "end_error": _stats(end_err),
        "start_error_frames": _stats(start_frames),
        "end_error_frames": _stats(end_frames),
        "within": {f"{k:g}": _share(within[k], n_with) for k in WITHIN_SECONDS},
        "useful": _share(useful, n_with),
        "iou": float(np.mean(ious)) if ious else None,
        "per_episode": per_episode,
    }


def _pair(interval: Interval | None) -> list[float] | None:
    return None if interval is None else [float(interval[0]), float(interval[1])]


def _rate(fps: float | Mapping[str, float], episode: str) -> float:
    if not isinstance(fps, Mapping):
        return float(fps)
    if episode not in fps:
        raise EvaluationError(f"no frame rate given for episode {episode!r}")
    return float(fps[episode])


# ---------------------------------------------------------------- prediction records


@dataclass
class EpisodeResult:
    """One episode's prediction record next to its ground truth."""

    episode: str
    probs: np.ndarray  # [T] float
    truth: Interval | None
    detected: Interval | None
    fps: float  # frame rate for boundary errors in frames

    @property
    def labels(self) -> np.ndarray:  # [T] int64
        return labels_from_interval(len(self.probs), self.truth)


def read_prediction(path: str | Path) -> dict:
    """Load one ``<episode>.json`` record and check the fields evaluation relies on."""
    path = Path(path)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise EvaluationError(f"{path}: cannot read prediction record: {e}") from e
    if not isinstance(record, dict) or record.get("schema_version") != SCHEMA_VERSION:
        got = record.get("schema_version") if isinstance(record, dict) else type(record).__name__
        raise EvaluationError(f"{path}: schema_version {got!r}, expected {SCHEMA_VERSION}")
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


def load_results(
    pred_dir: str | Path, truth: Mapping[str, Interval | None], use: str = "intro"
) -> list[EpisodeResult]:
    """Every ``pred_dir/<episode>.json`` whose episode has ground truth, sorted by episode."""
    if use not in ("intro", "coarse"):
        raise ValueError(f"use must be 'intro' or 'coarse', not {use!r}")
    pred_dir = Path(pred_dir)
    if not pred_dir.is_dir():
        raise EvaluationError(f"{pred_dir}: not a directory of prediction records")
    results = []
    for path in sorted(pred_dir.glob("*.json")):
        if path.stem not in truth:  # also skips unrelated JSON files kept beside the records
            continue
        record = read_prediction(path)
        if record.get("episode", path.stem) != path.stem:
            raise EvaluationError(f"{path}: record is for episode {record['episode']!r}")
        results.append(
            EpisodeResult(
                episode=path.stem,
                probs=np.asarray(record["probabilities"], dtype=np.float64),
                truth=truth[path.stem],
                detected=_detected(record, use),
                fps=float(record.get("video_fps", record.get("fps", 1))),
            )
        )
    if not results:
        raise EvaluationError(f"{pred_dir}: no prediction record for any annotated episode")
    return results


def summarize(results: Sequence[EpisodeResult], threshold: float = 0.5) -> dict:
    """Frame, balanced and boundary metrics over one set of episodes."""
    probs = [r.probs for r in results]
    return {
        "n_episodes": len(results),
        "frame": frame_metrics(probs, [r.labels for r in results], threshold),
        "balanced": balanced_metrics(probs, [r.truth for r in results], threshold),
        "boundary": boundary_report(
            {r.episode: r.detected for r in results},
            {r.episode: r.truth for r in results},
            fps={r.episode: r.fps for r in results},
        ),
    }


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


# ---------------------------------------------------------------- table

_ROWS: list[tuple[str, tuple[str, ...]]] = [
    ("frame F1", ("frame", "f1")),
    ("frame precision", ("frame", "precision")),
    ("frame recall", ("frame", "recall")),
    ("frame accuracy", ("frame", "accuracy")),
    ("balanced F1", ("balanced", "f1")),
    ("start err median (s)", ("boundary", "start_error", "median")),
    ("end err median (s)", ("boundary", "end_error", "median")),
    ("within 1 s", ("boundary", "within", "1")),
    ("within 0.1 s", ("boundary", "within", "0.1")),
    ("useful", ("boundary", "useful")),
    ("IoU", ("boundary", "iou")),
]


def _lookup(report: dict, keys: tuple[str, ...]) -> object:
    for k in keys:
        if not isinstance(report, dict) or k not in report:
            return None
        report = report[k]
    return report


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_table(reports: Mapping[str, dict]) -> str:
    """Plain-text table: one row per metric, one column per named summary (from evaluate_dir)."""
    names = list(reports)
    rows = [[label] + [_cell(_lookup(reports[n], keys)) for n in names] for label, keys in _ROWS]
    for label, count, total in (
        ("missed", "missed", "n_with_intro"),
        ("false", "false_intros", "n_without_intro"),
    ):
        cells = []
        for n in names:
            b = reports[n].get("boundary", {})
            cells.append(f"{b[count]}/{b[total]}" if count in b else "-")
        rows.append([label, *cells])
    table = [["", *names], *rows]
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    ]
    return "\n".join(line.rstrip() for line in lines)


# ---------------------------------------------------------------- command line


def _parse_args(argv: Sequence[str]) -> tuple[dict[str, str], dict[str, str]]:
    """key=value tokens -> (options, {name: prediction dir})."""
    options, predictions = {}, {}
    for token in argv:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise SystemExit(f"evaluate: expected key=value, got {token!r}")
        key = key.lstrip("+")  # Hydra's "+key=value" spelling means the same here
        if key == "predictions":
            predictions["predictions"] = value
        elif key.startswith("predictions."):
            predictions[key.removeprefix("predictions.")] = value
        elif key in (
            "annotations",
            "train_annotations",
            "truth",
            "out",
            "plots",
            "threshold",
            "use",
        ):
            options[key] = value
        else:
            raise SystemExit(f"evaluate: unknown option {key!r}")
    if not predictions or "annotations" not in options:
        raise SystemExit(
            "usage: python -m introdet.evaluate predictions=DIR annotations=FILE "
            "[predictions.NAME=DIR ...] [train_annotations=FILE] [truth=TRUTH.json] [out=DIR] "
            "[plots=true] [threshold=0.5] [use=intro|coarse]"
        )
    return options, predictions


def write_plots(
    out: Path, name: str, results: list[EpisodeResult], summary: dict, threshold: float = 0.5
) -> dict[str, Path]:
    """PR curve, boundary-error histogram and one curve per episode; returns the first two."""
    from introdet.evaluation.plots import plot_boundary_errors, plot_episode, plot_pr_curve

    per_episode = summary["boundary"]["per_episode"]
    errors = [per_episode[r.episode] for r in results]
    figures = {
        "pr_curve": plot_pr_curve(
            [r.probs for r in results], [r.labels for r in results], out / f"{name}_pr.png"
        ),
        "boundary_errors": plot_boundary_errors(
            [e["start_error"] for e in errors if e["start_error"] is not None],
            [e["end_error"] for e in errors if e["end_error"] is not None],
            out / f"{name}_boundary_errors.png",
        ),
    }
    for r in results:
        plot_episode(
            r.probs,
            out / name / f"{r.episode}.png",
            threshold=threshold,
            detected=r.detected,
            truth=r.truth,
            title=f"{name}: {r.episode}",
        )
    return figures


def main(argv: Sequence[str] | None = None) -> int:
    """python -m introdet.evaluate predictions=DIR annotations=FILE [key=value ...]"""
    from introdet.training.annotations import (
        load_annotations,  # the lead's module; core code needs none
    )

    options, predictions = _parse_args(sys.argv[1:] if argv is None else argv)
    threshold = float(options.get("threshold", 0.5))
    use = options.get("use", "intro")
    out = Path(options.get("out", "outputs/evaluation"))
    try:  # AnnotationError is a ValueError: report it like a bad record, without a traceback
        ann = load_annotations(options["annotations"])
        train = (
            load_annotations(options["train_annotations"])
            if "train_annotations" in options
            else None
        )
    except ValueError as e:
        print(f"evaluate: {e}", file=sys.stderr)
        return 1
    for line in ann.report:
        print(line, file=sys.stderr)
    truth = {ep: _intro_interval(i) for ep, i in ann.intros.items()}
    if "truth" in options:  # frame-exact intervals (the demo's truth.json) beat whole-second labels
        exact = json.loads(Path(options["truth"]).read_text(encoding="utf-8"))["episodes"]
        for ep in truth:
            if ep in exact:
                intro = exact[ep]["intro"]
                truth[ep] = None if intro is None else (float(intro["start"]), float(intro["end"]))
    groups = None
    if train is not None:  # seen = the series (not just the episode) was in the training labels
        seen = {i.series for i in train.intros.values()}
        groups = {ep: "seen" if i.series in seen else "unseen" for ep, i in ann.intros.items()}

    results, columns, coarse = {}, {}, {}
    for name, pred_dir in predictions.items():
        try:
            report = evaluate_dir(pred_dir, truth, groups, threshold=threshold, use=use)
        except ValueError as e:  # EvaluationError and bad arguments such as use=
            print(f"evaluate: {e}", file=sys.stderr)
            return 1
        results[name] = report | {"threshold": threshold, "use": use, "dir": str(pred_dir)}
        for group, summary in report.items():
            columns[name if group == "all" else f"{name}/{group}"] = summary
        if use == "intro" and _has_coarse(pred_dir, truth):  # refined: show the 1-fps answer too
            before = evaluate_dir(pred_dir, truth, groups, threshold=threshold, use="coarse")
            results[name]["before_refinement"] = before
            for group, summary in before.items():
                coarse[name if group == "all" else f"{name}/{group}"] = summary
        if options.get("plots", "false").lower() in ("true", "1", "yes"):
            write_plots(
                out / "plots",
                name,
                load_results(pred_dir, truth, use),
                results[name]["all"],
                threshold,
            )

    document = {
        "annotations": str(options["annotations"]),
        "train_annotations": options.get("train_annotations"),
        "annotation_report": list(ann.report),
        "results": results,
    }
    atomic_write_text(out / "evaluation.json", json.dumps(document, indent=2) + "\n")
    print(format_table(columns))
    if coarse:
        print("\nbefore frame-accurate refinement (1-fps boundaries):")
        print(format_table(coarse))
    print(f"wrote {out / 'evaluation.json'}", file=sys.stderr)
    return 0


def _has_coarse(pred_dir: str | Path, truth: Mapping[str, Interval | None]) -> bool:
    for path in Path(pred_dir).glob("*.json"):
        if path.stem in truth:
            intro = read_prediction(path).get("intro")
            if intro and "coarse_start" in intro:
                return True
    return False


def _intro_interval(intro) -> Interval | None:
    return None if intro.start is None else (float(intro.start), float(intro.end))


if __name__ == "__main__":
    sys.exit(main())
