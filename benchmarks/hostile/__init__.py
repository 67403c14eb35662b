"""The hostile corpus of issue #17: bad inputs, kills, concurrent jobs, full disks, bad labels,
bad checkpoints and bad config values; and of issue #27: library scans, a library that changes,
output files, odd and long paths, files that lie about their size and the review app; each run
through the real commands in subprocesses and classified (``outcome.py``). The runner is
``__main__.py`` (``python -m benchmarks.hostile``); one module per kind."""

KINDS = (
    "inputs", "kills", "concurrent", "diskfull", "labels", "checkpoints", "configs",
    "library", "changes", "outputs", "paths", "resources", "review",
)  # fmt: skip
TITLES = {
    "inputs": "video inputs",
    "kills": "SIGKILL",
    "concurrent": "two jobs at once",
    "diskfull": "disk full",
    "labels": "labels",
    "checkpoints": "checkpoints",
    "configs": "config values",
    "library": "library scans",
    "changes": "a library that changes",
    "outputs": "outputs",
    "paths": "odd and long paths",
    "resources": "files that lie about their size",
    "review": "review app",
}
