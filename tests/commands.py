"""Run a command's ``main()`` in this process with the given command line; returns its exit code."""

from __future__ import annotations

import sys
from collections.abc import Callable


def run_command(main: Callable[[], None], *args: str) -> int:
    """``main()`` with ``sys.argv`` set to ``args``, as Hydra reads it; SystemExit -> its code."""
    saved = sys.argv
    sys.argv = ["introdet", *args]
    try:
        main()
    except SystemExit as e:
        return e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved
    return 0


def help_text(main: Callable[[], None], capsys) -> str:
    """What ``--help`` prints: the command's own keys, not every config group of conf/."""
    assert run_command(main, "--help") == 0
    text = capsys.readouterr().out
    assert "Compose your configuration" not in text  # Hydra's generic page
    return text
