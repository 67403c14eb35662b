"""Lines of Lightning and torch that tell a user nothing about their run, left out: an
advertisement, a deprecation inside Lightning, the note that a resumed run's checkpoint folder
holds checkpoints (it always does), and progress bars where no one watches them."""

from __future__ import annotations

import logging
import sys
import warnings

# messages of Lightning's rank-zero logger that are not about the run
ADVERTISEMENTS = ("litlogger",)
# Python warnings raised inside Lightning for every run
WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)",  # lightning's _pytree on torch 2.14
    r"Checkpoint directory .* exists and is not empty",  # a resumed run's own checkpoints
)


def _not_advertised(record: logging.LogRecord) -> bool:
    return not any(word in record.getMessage() for word in ADVERTISEMENTS)


def quiet_lightning() -> None:
    """Once per process; the user's own logging and warnings filters stay as they are."""
    rank_zero = logging.getLogger("lightning.pytorch.utilities.rank_zero")
    if _not_advertised not in rank_zero.filters:
        rank_zero.addFilter(_not_advertised)
    for pattern in WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)


def progress_bar() -> bool:
    """Lightning's bar only on a terminal: in a log file each update is one more line."""
    return sys.stderr.isatty()
