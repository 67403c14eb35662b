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


def output(out, episode: str, suffix: str = ".json"):
    """The ``suffix`` file predict wrote for ``episode`` under ``out`` (a tree mirroring the
    input's, found by the record's id or key); a path that does not exist when there is none."""
    from pathlib import Path

    from introdet.outputs.layout import record_files

    for key, path in record_files(out):
        if episode in (key, path.stem):
            return path.with_name(path.name.removesuffix(".json") + suffix)
    return Path(out) / f"{episode}{suffix}"
