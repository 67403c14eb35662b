"""Reports of evaluation summaries: the plain-text table and the figures."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from introdet.evaluation.metrics import EpisodeResult
from introdet.media.paths import id_path

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
    return align_rows([["", *names], *rows])


def align_rows(table: list[list[str]]) -> str:
    """Rows of cells as text columns: the first left-aligned, the others right-aligned."""
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    lines = [
        "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(r, widths, strict=True))
        )
        for r in table
    ]
    return "\n".join(line.rstrip() for line in lines)


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
            out / name / f"{id_path(r.episode)}.png",
            threshold=threshold,
            detected=r.detected,
            truth=r.truth,
            title=f"{name}: {r.episode}",
        )
    return figures
