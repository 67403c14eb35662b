"""Training-free season mode over a prediction run's input: each season decided from its
episodes' fingerprints, or from the videos' own chapters where they answer for a whole season
(nothing decoded then)."""

from __future__ import annotations

from pathlib import Path

from introdet.detection.chapter_names import chapters_answer
from introdet.detection.episodes import Episode, season_episodes
from introdet.detection.season import SeasonConfig
from introdet.detection.season_store import SeasonStore
from introdet.features.extraction import Summary
from introdet.features.print_store import PrintScan
from introdet.features.shards import MANIFEST
from introdet.features.sources import Inputs, load_prints, widen


def season_mode(inputs: Inputs, cache: Path, cfg: SeasonConfig) -> tuple[list[Episode], Summary]:
    """The episodes of ``inputs`` and what was done to them; fingerprints kept in ``cache``.
    Every episode is heard over its first scan; the season decides which need more."""
    whole = PrintScan.of(cfg)
    # a shard folder holds the prints extract made, over the whole scan
    scan = whole if (inputs.path / MANIFEST).is_file() else PrintScan.first(cfg)
    found, summary, picture, told = load_prints(inputs, cache, scan, chapters_answer)
    wider = widen(cache, cfg) if scan != whole else None
    return season_episodes(found, picture, cfg, summary, told, SeasonStore(cache), wider), summary
