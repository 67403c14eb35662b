"""The hostile corpus of issue #17: bad inputs, kills, concurrent jobs, full disks, bad labels,
bad checkpoints and bad config values, each run through the real commands in subprocesses and
classified (``outcome.py``). The runner is ``__main__.py`` (``python -m benchmarks.hostile``);
one module per kind."""

KINDS = ("inputs", "kills", "concurrent", "diskfull", "labels", "checkpoints", "configs")
TITLES = {
    "inputs": "video inputs",
    "kills": "SIGKILL",
    "concurrent": "two jobs at once",
    "diskfull": "disk full",
    "labels": "labels",
    "checkpoints": "checkpoints",
    "configs": "config values",
}
