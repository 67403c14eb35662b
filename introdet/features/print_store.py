"""Fingerprints kept in a shard folder beside the CLIP features: ``<episode>.prints.npz``.

The file holds the arrays (the sound's codes over the scan and the tail, the picture hashes of
the sampled frames); the episode's ``.json`` records how they were made under
``extra["prints"]`` (``PRINTS_VERSION``, the scan, the times of code 0). The ``.json`` is
written after the ``.npz``, so a complete shard never points at missing prints. A shard
without prints, or with prints of another version or scan, still loads: ``extract`` tops it
up (sound only, no CLIP), and readers that need prints say which shard lacks them.

Season mode without features keeps its prints the same way in ``<out>/.prints/`` (an entry
per episode: the ``.npz`` and a ``.json`` naming the file's content hash), so a second run
over a library decodes only the episodes that are new or changed.
"""

from __future__ import annotations

import errno
import io
import json
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from introdet.atomic import atomic_write_bytes, atomic_write_text
from introdet.errors import ShardError
from introdet.features.audio import AudioPrint
from introdet.features.fingerprints import (
    EpisodePrints,
    PicturePrint,
    episode_prints,
    picture_print,
)
from introdet.features.shards import ShardMeta, shard_file

PRINTS_VERSION = 3  # 3: decimated, not resampled; 2: band bits from 50 Hz; 1: Haitsma-Kalker
SUFFIX = ".prints.npz"


@dataclass(frozen=True)
class PrintScan:
    """What an episode's sound prints cover: ``scan`` s from 0:00 (or ``fraction`` of the
    episode, if longer) and the last ``tail`` s. Prints of another scan are made again."""

    scan: float | None
    fraction: float
    tail: float

    @classmethod
    def of(cls, season) -> PrintScan:
        """The scan of season mode's settings (``season.*``: scan, scan_fraction, tail)."""
        return cls(season.scan, float(season.scan_fraction), float(season.tail))

    @classmethod
    def first(cls, season) -> PrintScan:
        """What every episode is heard over first (``season.first_scan``, ``first_tail``)."""
        return cls.wider(season, season.first_scan is None, season.first_tail is None)

    @classmethod
    def wider(cls, season, head: bool, tail: bool) -> PrintScan:
        """The first scan with its head (``head``) or its tail (``tail``) the whole one's."""
        whole = cls.of(season)
        last = whole.tail if tail else min(whole.tail, float(season.first_tail))
        if head:
            return cls(whole.scan, whole.fraction, last)
        return cls(min(whole.scan, float(season.first_scan)), 0.0, last)

    def record(self) -> dict:
        return {"version": PRINTS_VERSION, "scan": self.scan, "fraction": self.fraction,
                "tail": self.tail}  # fmt: skip


def prints_path(shard_dir: str | Path, episode: str) -> Path:
    return shard_file(shard_dir, episode, SUFFIX)


def _audio_fields(name: str, p: AudioPrint | None, arrays: dict, info: dict) -> None:
    if p is None:
        info[name] = None
        return
    arrays[f"{name}_codes"], arrays[f"{name}_silent"] = p.codes, p.silent
    info[name] = {"hop": p.hop, "start": p.start, "window": p.window}


def write_prints(
    shard_dir: str | Path,
    episode: str,
    prints: EpisodePrints,
    picture: PicturePrint | None,
    scan: PrintScan,
) -> dict:
    """Write the arrays; return the record for the episode's ``extra["prints"]``."""
    arrays: dict[str, np.ndarray] = {}
    info = {**scan.record(), "duration": prints.duration, "head": prints.head, "fps": prints.fps}
    _audio_fields("audio", prints.audio, arrays, info)
    _audio_fields("tail_audio", prints.tail, arrays, info)
    if picture is None:
        info["picture"] = None
    else:
        arrays["picture_hashes"], arrays["picture_flat"] = picture.hashes, picture.flat
        info["picture"] = {"fps": picture.fps, "start": picture.start}
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    atomic_write_bytes(prints_path(shard_dir, episode), buf.getvalue())
    return info


def is_current(record: dict | None, scan: PrintScan) -> bool:
    """Whether a shard's ``extra["prints"]`` record has this version and scan."""
    return bool(record) and {k: record.get(k) for k in scan.record()} == scan.record()


def read_prints(
    shard_dir: str | Path, episode: str, record: dict | None
) -> tuple[EpisodePrints, PicturePrint | None]:
    """The prints of a shard whose metadata carries ``record``; ShardError if it has none."""
    path = prints_path(shard_dir, episode)
    if not record or record.get("version") != PRINTS_VERSION:
        raise ShardError(
            f"{path}: no fingerprints of version {PRINTS_VERSION} in this shard "
            "(run `python -m introdet.extract` again: it adds them without running CLIP)"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise ShardError(f"{path}: unreadable fingerprints ({e})") from e

    def audio(name: str) -> AudioPrint | None:
        meta = record.get(name)
        if meta is None:
            return None
        try:
            return AudioPrint(arrays[f"{name}_codes"], arrays[f"{name}_silent"], **meta)
        except (KeyError, TypeError) as e:
            raise ShardError(f"{path}: fingerprint {name} incomplete ({e})") from e

    prints = EpisodePrints(record["duration"], audio("audio"), audio("tail_audio"),
                           record.get("head"), record.get("fps"))  # fmt: skip
    pic = record.get("picture")
    if pic is None or "picture_hashes" not in arrays:
        return prints, None
    return prints, PicturePrint(arrays["picture_hashes"], arrays["picture_flat"], **pic)


def shard_prints(
    shard_dir: str | Path, metas: Sequence[ShardMeta]
) -> tuple[list[EpisodePrints], Callable[[int], PicturePrint]]:
    """The stored prints of these shards, and the picture print of episode k on demand."""
    found = [read_prints(shard_dir, m.episode, m.extra.get("prints")) for m in metas]
    return [p for p, _ in found], pictures_of(metas, found)


def pictures_of(
    metas: Sequence[ShardMeta], found: Sequence[tuple[EpisodePrints, PicturePrint | None]]
) -> Callable[[int], PicturePrint]:
    """Episode k's picture print: the stored one, else its video sampled like its features
    (a shard topped up with sound only), else an empty one."""

    def picture_of(k: int) -> PicturePrint:
        prints, picture = found[k]
        if picture is not None:
            return picture
        m = metas[k]
        if Path(m.source).is_file():
            return picture_print(m.source, fps=m.fps, max_seconds=prints.head, crop=True)
        return PicturePrint(np.zeros(0, np.uint64), np.zeros(0, bool), m.fps, m.start)

    return picture_of


def resound_of(
    sources: Sequence[str | Path], scans: Sequence[PrintScan]
) -> Callable[[int, float], EpisodePrints | None]:
    """Episode k's sound heard again at another speed over the same ``scans[k]``, from its
    video ``sources[k]`` (None: the video is not there)."""

    def resound(k: int, speed: float) -> EpisodePrints | None:
        source, scan = Path(sources[k]), scans[k]
        if not source.is_file():
            return None
        return episode_prints(source, scan.scan, scan.fraction, scan.tail, speed)

    return resound


def cached_prints(
    folder: Path, episode: str, source_hash: str, scan: PrintScan
) -> tuple[EpisodePrints, PicturePrint | None] | None:
    """The prints season mode made of this file's content over this scan, if kept: the
    sound's, and the pictures' where they were compared."""
    meta = shard_file(folder, episode, ".json")
    try:
        entry = json.loads(meta.read_text(encoding="utf-8"))
        if entry["source_hash"] != source_hash or not is_current(entry["prints"], scan):
            return None
        return read_prints(folder, episode, entry["prints"])
    except (OSError, ValueError, KeyError, TypeError, ShardError):
        return None  # absent, stale or damaged: made again


def keep_prints(
    folder: Path, episode: str, source: str, source_hash: str, prints: EpisodePrints,
    scan: PrintScan, picture: PicturePrint | None = None,
) -> None:  # fmt: skip
    """Keep season mode's prints of one file (the ``.json``, written last, marks them whole).

    Prints whose path is too long for the system (a deep library mirrored under out=) are not
    kept: the episode's outputs sit beside them in out/, measured against the same limit, and
    the writing of the records fails that episode alone, with its reason (records.py)."""
    try:
        record = write_prints(folder, episode, prints, picture, scan)
        entry = {"source": source, "source_hash": source_hash, "prints": record}
        text = json.dumps(entry, ensure_ascii=False)
        atomic_write_text(shard_file(folder, episode, ".json"), text)
    except OSError as e:
        if e.errno != errno.ENAMETOOLONG:
            raise
