"""Score prediction records against annotated intros: ``python -m introdet.evaluate
predictions=DIR annotations=LABELS.json [out=DIR] [plots=true]``.

Prints one table of per-second, balanced and boundary metrics (a column per prediction folder,
and per seen/unseen series with ``train_annotations``) and writes ``<out>/evaluation.json``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

from introdet.atomic import atomic_write_text
from introdet.cli import command
from introdet.errors import ConfigError
from introdet.evaluation.metrics import Interval
from introdet.evaluation.report import format_table, write_plots
from introdet.evaluation.results import (
    evaluate_dir,
    exact_truth,
    has_coarse,
    load_results,
    recorded_threshold,
)
from introdet.evaluation.segment_types import format_types, labelled_truth, type_report
from introdet.evaluation.traps import format_traps, read_truth, trap_report
from introdet.media.labels import Annotations, load_annotations
from introdet.media.library import series_key


def prediction_dirs(predictions: object) -> dict[str, str]:
    """``predictions=DIR`` (one column named "predictions") or ``{NAME: DIR, ...}``."""
    if OmegaConf.is_dict(predictions) or isinstance(predictions, dict):
        dirs = {str(k): str(v) for k, v in predictions.items()}
    elif isinstance(predictions, str | Path):
        dirs = {"predictions": str(predictions)}
    else:
        dirs = {}
    if not dirs or not all(dirs.values()):
        raise ConfigError("predictions: a folder of prediction records, or {NAME: DIR, ...}")
    return dirs


def ground_truth(
    ann: Annotations, train: Annotations | None, truth_file: str | None
) -> tuple[dict[str, Interval | None], dict[str, str] | None]:
    """(episode -> true interval, episode -> "seen"/"unseen" or None without training labels)."""
    truth = {ep: _intro_interval(i) for ep, i in ann.intros.items()}
    if truth_file:  # frame-exact intervals (the demo's truth.json) beat whole-second labels
        truth = exact_truth(truth_file, truth)
    groups = None
    if train is not None:  # seen = the series (not just the episode) was in the training labels
        # one series however its name is spelled (a look-alike letter typed in one file)
        seen = {series_key(i.series) for i in train.intros.values()}
        groups = {ep: "seen" if series_key(i.series) in seen else "unseen"
                  for ep, i in ann.intros.items()}  # fmt: skip
    return truth, groups


def _intro_interval(intro) -> Interval | None:
    return None if intro.start is None else (float(intro.start), float(intro.end))


def evaluate(cfg: DictConfig) -> dict:
    """Every prediction folder scored; prints the tables, writes ``<out>/evaluation.json``."""
    if cfg.use not in ("intro", "coarse"):
        raise ConfigError(f"use must be 'intro' or 'coarse', not {cfg.use!r}")
    predictions = prediction_dirs(cfg.predictions)
    use, out = cfg.use, Path(cfg.out)
    ann = load_annotations(cfg.annotations)
    train = load_annotations(cfg.train_annotations) if cfg.train_annotations else None
    for line in ann.report:
        print(line, file=sys.stderr)
    truth, groups = ground_truth(ann, train, cfg.truth)

    results, columns, coarse = {}, {}, {}
    for name, pred_dir in predictions.items():
        threshold = cfg.threshold
        if threshold is None:  # what predict used, as its records say; else the usual 0.5
            found = recorded_threshold(pred_dir, truth)
            threshold = 0.5 if found is None else found
        report = evaluate_dir(pred_dir, truth, groups, threshold=threshold, use=use)
        results[name] = report | {"threshold": threshold, "use": use, "dir": str(pred_dir)}
        columns |= _columns(name, report)
        if use == "intro" and has_coarse(pred_dir, truth):  # refined: show the 1-fps answer too
            before = evaluate_dir(pred_dir, truth, groups, threshold=threshold, use="coarse")
            results[name]["before_refinement"] = before
            coarse |= _columns(name, before)
        if cfg.plots:
            results_ = load_results(pred_dir, truth, use)
            write_plots(out / "plots", name, results_, results[name]["all"], threshold)

    document = {
        "annotations": str(cfg.annotations),
        "train_annotations": cfg.train_annotations,
        "annotation_report": list(ann.report),
        "results": results,
    }
    atomic_write_text(out / "evaluation.json", json.dumps(document, indent=2) + "\n")
    print(format_table(columns))
    if coarse:
        print("\nbefore frame-accurate refinement (1-fps boundaries):")
        print(format_table(coarse))
    if cfg.truth:  # a truth file names each series' traps and the credits
        exact = {ep: e for ep, e in read_truth(cfg.truth).items() if ep in truth}
        traps = {name: trap_report(d, exact) for name, d in predictions.items()}
        document["traps"] = traps
        document["types"] = {name: type_report(d, exact) for name, d in predictions.items()}
        print("\nintros by series style, and credits (both boundaries within 1 s):")
        print(format_traps(traps))
        print("\nevery segment type: within 1 s / useful of the true ones, and false ones:")
        print(format_types(document["types"]))
    elif any(i.segments for i in ann.intros.values()):  # labels that time other types
        rows = labelled_truth(ann.intros)
        document["types"] = {name: type_report(d, rows) for name, d in predictions.items()}
        print("\nevery labelled segment type: within 1 s / useful of the labelled ones, and "
              "false ones:")  # fmt: skip
        print(format_types(document["types"]))
    if "types" in document:
        atomic_write_text(out / "evaluation.json", json.dumps(document, indent=2) + "\n")
    print(f"wrote {out / 'evaluation.json'}", file=sys.stderr)
    return document


def _columns(name: str, report: dict) -> dict[str, dict]:
    return {name if group == "all" else f"{name}/{group}": s for group, s in report.items()}


@command("evaluate")
def main(cfg: DictConfig) -> int:
    evaluate(cfg)
    return 0


if __name__ == "__main__":
    main()
