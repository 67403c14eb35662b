"""Where an episode's outputs go, and how they are found again.

A library is kept as a tree (``Show A/Season 1/Episode 1.mkv``), and two shows may both have
an ``Episode 1``: outputs are keyed by the video's path relative to the input folder, so
``out/`` mirrors the input tree (``out/Show A/Season 1/Episode 1.json``). With ``sidecars``
the player files go beside each video instead (``Episode 1.edl`` next to ``Episode 1.mkv``),
where Kodi looks for them; the JSON records stay in ``out/``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from introdet.features.shards import MANIFEST
from introdet.media.paths import id_path
from introdet.outputs.export import SUFFIX


def common_root(paths: Sequence[Path]) -> Path | None:
    """The deepest folder holding every path (None for none)."""
    if not paths:
        return None
    return Path(os.path.commonpath([p.parent for p in paths]))


@dataclass(frozen=True)
class Layout:
    """``out``: the output folder; ``sidecars``: the player files beside each video."""

    out: Path
    sidecars: bool = False

    def base(self, key: str, source: str | Path | None, fmt: str = "json") -> Path:
        """The path, less the format's suffix, of an episode's file in format ``fmt``: the
        JSON record always in ``out/`` (the tree the next run and other tools read), the
        player formats beside the video with ``sidecars``."""
        if self.sidecars and source and fmt != "json":
            video = Path(source)
            return video.parent / video.stem
        return self.out / id_path(key)

    def paths(self, key: str, source: str | Path | None, formats: Sequence[str]) -> dict:
        """format -> the file it is written to."""
        return {f: Path(f"{self.base(key, source, f)}{SUFFIX[f]}") for f in dict.fromkeys(formats)}

    def chapters_copy(self, key: str, source: str | Path) -> Path:
        """Where the copy of a video with chapters goes: always under ``out/`` (a player
        must not find two videos beside each other)."""
        return self.out / f"{id_path(key)}{Path(source).suffix}"


def record_files(folder: str | Path) -> Iterator[tuple[str, Path]]:
    """``(key, path)`` of every JSON file under ``folder`` that may be an episode record, in
    path order: hidden folders (logs, caches) and feature-shard folders (they hold a
    ``manifest.jsonl``) are passed over."""
    folder = Path(folder)
    shard_dirs: dict[Path, bool] = {}
    for path in sorted(folder.rglob("*.json")):
        rel = path.relative_to(folder)
        if any(part.startswith(".") for part in rel.parts[:-1]):
            continue
        if shard_dirs.setdefault(path.parent, (path.parent / MANIFEST).is_file()):
            continue
        yield rel.with_suffix("").as_posix(), path
