"""Season decisions kept for re-runs: a season whose videos, settings and introdet are what
they were is not decided again (no matching, no pictures decoded at its edges or its end).

One JSON file per season in the prints cache (``out/.prints/.seasons/``), named by a hash of
the series, holding the key it was decided under and each episode's decision as it went into
its record (chapters and end credits applied). The key is a hash of introdet's own code, the
season settings, and each episode's key, path and content hash in order: anything else and
the season is decided anew and the file replaced (atomically: two runs on one folder leave
one whole file or the other). A file that cannot be read is a season not kept.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path

from introdet.atomic import atomic_write_text
from introdet.detection.postprocess import Segment
from introdet.detection.season import SeasonConfig, SeasonEpisode

log = logging.getLogger(__name__)

FOLDER = ".seasons"
VERSION = 1
_SPANS = ("intro", "credits", "preview", "recap")


@dataclass(frozen=True)
class Decision:
    """A season's decision as season mode made it."""

    results: list[SeasonEpisode]
    warned: list[tuple[str, str]]  # (video, why): identical copies decided as one
    encoder: str


@dataclass(frozen=True)
class SeasonStore:
    cache: Path  # the prints cache of the run

    def get(self, series: str, members: list[tuple[str, str, str]], cfg: SeasonConfig):
        """The kept decision for ``members`` ((key, path, content hash) each, in order) under
        ``cfg``; None where there is none for exactly these."""
        path = self._path(series)
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
            if doc.get("key") != _key(members, cfg) or len(doc["results"]) != len(members):
                return None
            return Decision([_episode(d) for d in doc["results"]],
                            [(str(w[0]), str(w[1])) for w in doc["warned"]],
                            str(doc["encoder"]))  # fmt: skip
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError, TypeError, IndexError) as e:
            log.debug("%s: not read (%s): the season is decided anew", path, e)
            return None

    def keep(self, series: str, members: list[tuple[str, str, str]], cfg: SeasonConfig,
             decision: Decision) -> None:  # fmt: skip
        """Write the decision for the next run; one that cannot be written is left out (the
        next run decides again)."""
        doc = {"key": _key(members, cfg), "results": [_plain(r) for r in decision.results],
               "warned": decision.warned, "encoder": decision.encoder}  # fmt: skip
        try:
            text = json.dumps(doc, default=_number, allow_nan=False)
            atomic_write_text(self._path(series), text + "\n")
        except (OSError, TypeError, ValueError) as e:
            log.debug("season %r: its decision not kept (%s)", series, e)

    def _path(self, series: str) -> Path:
        name = hashlib.sha256(series.encode("utf-8", "surrogatepass")).hexdigest()[:32]
        return self.cache / FOLDER / f"{name}.json"


def _key(members: list[tuple[str, str, str]], cfg: SeasonConfig) -> str:
    what = {"version": VERSION, "code": _code(), "season": asdict(cfg), "members": members}
    return hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()


@cache
def _code() -> str:
    """A hash of introdet's own sources: another version, or a change to the code, decides
    every season anew."""
    root = Path(__file__).resolve().parents[1]
    h = hashlib.sha256()
    for p in sorted(root.rglob("*.py")):
        h.update(p.relative_to(root).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _number(value):
    """numpy's scalars as Python numbers (what the evidence may hold)."""
    return value.item()


def _plain(r: SeasonEpisode) -> dict:
    out: dict = {k: _span(getattr(r, k)) for k in _SPANS}
    out["commercials"] = [_span(c) for c in r.commercials]
    out["evidence"] = r.evidence
    return out


def _span(s: Segment | None) -> list[float] | None:
    return None if s is None else [float(s.start), float(s.end), float(s.score)]


def _episode(d: dict) -> SeasonEpisode:
    spans = {k: None if d[k] is None else _segment(d[k]) for k in _SPANS}
    return SeasonEpisode(**spans, commercials=[_segment(c) for c in d["commercials"]],
                         evidence=dict(d["evidence"]))  # fmt: skip


def _segment(x) -> Segment:
    start, end, score = (float(v) for v in x)
    return Segment(start, end, score)
