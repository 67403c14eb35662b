"""Check a labels file (and with shards, its ids and durations): ``python -m introdet.validate
labels=LABELS.json [shards=DIR]``.

Prints what was fixed and what was rejected, row by row, then a summary. Exit code 0: every
row is usable; 1: some rows were rejected; 2: the file (or the shard folder) cannot be read.
"""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from introdet.cli import command
from introdet.media.labels import load_annotations


def validate(path: str | Path, shard_dir: str | Path | None = None) -> int:
    """Print the report for a labels file; with shards, check ids and durations too.

    Returns the number of problems (rejected rows and labelled episodes without a shard).
    """
    durations = known = None
    if shard_dir is not None:
        from introdet.features.shards import read_manifest

        metas = read_manifest(shard_dir)
        # the extracted part bounds what a label may cover
        durations = {e: m.start + m.n_seconds / m.fps for e, m in metas.items()}
        known = set(metas)
    ann = load_annotations(path, durations=durations, known=known)
    for line in ann.report:
        print(line)
    print(ann.summary())
    return len(ann.rejected)


@command("validate")
def main(cfg: DictConfig) -> int:
    return 1 if validate(cfg.labels, cfg.shards) else 0


if __name__ == "__main__":
    main()
