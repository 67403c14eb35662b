"""A CSV logger that keeps one metrics history per run folder across resumes."""

from __future__ import annotations

import csv

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment

NOT_METRICS = ("step", "epoch")  # bookkeeping columns that every row carries


class _ResumingWriter(ExperimentWriter):
    """Lightning's writer deletes an existing metrics.csv; this one keeps the rows logged
    before ``resume_step`` (the resumed checkpoint's global step) and appends after them."""

    def __init__(self, log_dir: str, resume_step: int) -> None:
        self.resume_step = resume_step
        self._kept: set[tuple[int, str]] = set()  # (step, metric) of the rows kept
        super().__init__(log_dir)

    def _check_log_dir_exists(self) -> None:  # called by __init__ instead of deleting the file
        if not self._fs.isfile(self.metrics_file_path):
            return
        with self._fs.open(self.metrics_file_path, "r", newline="") as f:
            reader = csv.DictReader(f)
            keys = list(reader.fieldnames or [])
            # rows from after the checkpoint are logged again by the resumed run
            rows = [r for r in reader if int(float(r["step"])) < self.resume_step]
        if not rows:
            self._fs.rm_file(self.metrics_file_path)
            return
        with self._fs.open(self.metrics_file_path, "w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        self.metrics_keys = sorted(keys)
        self._kept = {
            (int(float(r["step"])), k)
            for r in rows
            for k, v in r.items()
            if v and k not in NOT_METRICS
        }

    def log_metrics(self, metrics_dict: dict, step: int | None = None) -> None:
        # a checkpoint taken on an epoch's last batch is validated again on resume, at a step
        # the kept rows already hold: the value kept is the one of the same weights
        metrics = {k: v for k, v in metrics_dict.items() if (step, k) not in self._kept}
        if any(k not in NOT_METRICS for k in metrics):
            super().log_metrics(metrics, step)


class CSVHistoryLogger(CSVLogger):
    """CSVLogger whose metrics.csv continues on resume: set ``resume_step`` before fitting
    (0, the default, starts the file afresh as Lightning's logger does)."""

    resume_step: int = 0

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if self._experiment is None:
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = _ResumingWriter(self.log_dir, self.resume_step)
        return self._experiment
