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
from introdet.features.sources import Inputs, load_prints


def season_mode(inputs: Inputs, cache: Path, cfg: SeasonConfig) -> tuple[list[Episode], Summary]:
    """The episodes of ``inputs`` and what was done to them; fingerprints kept in ``cache``."""
    found, summary, picture, told = load_prints(inputs, cache, PrintScan.of(cfg), chapters_answer)
    return season_episodes(found, picture, cfg, summary, told, SeasonStore(cache)), summary
