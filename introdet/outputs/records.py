"""A run's episodes as records and player files: where each goes, what an earlier run left
there, and the writing (a record the same as the earlier run's is left as it is)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from introdet.detection.episodes import Episode
from introdet.errors import WRITE_ERRNOS, MediaError, OutputWriteError, RecordError
from introdet.features.shards import MANIFEST
from introdet.media.library import OUTPUT_MARK
from introdet.media.paths import relative_key
from introdet.outputs.chapters import apply_chapters
from introdet.outputs.export import episode_record, read_record, write_csv, write_files
from introdet.outputs.layout import Layout, common_root

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class Outputs:
    """Where the records go and in which formats."""

    out: Path
    formats: tuple[str, ...] = ()  # besides json: edl, ffmetadata, vtt
    sidecars: bool = False  # beside each video, else out/ mirroring the input tree
    edl_action: int = 3
    chapters: str = "none"  # apply: a copy of each video with chapters in out/

    @property
    def layout(self) -> Layout:
        return Layout(self.out, self.sidecars)


def output_root(src: Path, episodes: Sequence[Episode]) -> Path | None:
    """The folder the outputs mirror: the input's (a shard folder's: its videos' common one)."""
    if (src / MANIFEST).is_file():
        return common_root([Path(e.meta.source) for e in episodes])
    return src if src.is_dir() else src.parent


def find_previous(episodes: Sequence[Episode], layout: Layout, root: Path | None) -> None:
    """Each episode's key, and its record of an earlier run over the same file content."""
    for e in episodes:
        e.key = relative_key(Path(e.meta.source), root) if root else e.meta.episode
        path = layout.paths(e.key, e.meta.source, ["json"])["json"]
        try:
            old = read_record(path) if path.is_file() else None
        except RecordError:
            old = None  # damaged or of another schema: written anew
        if old and old.get("source_hash") == e.meta.source_hash:
            e.previous = old


def record_of(e: Episode, provenance: dict) -> dict:
    """The episode's record (``outputs/record.schema.json``)."""
    more: dict = {}
    if e.season is not None:
        more["season"] = e.season.evidence
        if e.season.credits is not None:
            more["credits"] = [round(e.season.credits.start, 3), round(e.season.credits.end, 3)]
    if e.other_intros:
        more["other_intros"] = e.other_intros
    if e.coarse_to_fine is not None:
        more["coarse_to_fine"] = e.coarse_to_fine
    if e.intro is not None and e.refined.get("video_fps"):
        more["video_fps"] = e.refined["video_fps"]  # errors in frames
    return episode_record(
        e.meta.episode,
        e.meta.source,
        e.meta.duration,
        e.meta.fps,
        e.encoder,
        e.intro,
        e.probs.tolist(),
        intro_extra=e.refined if e.intro else None,
        mode=e.mode,
        series=e.meta.series,
        key=e.key,
        source_hash=e.meta.source_hash,
        provenance=provenance,
        **more,
    )


def write_outputs(
    episodes: Sequence[Episode],
    how: Outputs,
    provenance: dict,
    season: dict,
    shard: tuple[int, int] | None = None,
    failed: list[tuple[str, str]] | None = None,
) -> list[dict]:
    """Each episode's record in every asked format, and ``out/intros.csv`` (a job of
    ``shard=i/n``: ``out/intros-i-of-n.csv``, so that no two jobs write one file);
    ``provenance`` says what made them, with the ``season`` settings for a record season mode
    decided. An episode whose files cannot be written (a read-only season folder beside
    ``sidecars=true``) goes to ``failed`` and the others are written; a full disk stops all."""
    records = []
    (how.out / OUTPUT_MARK).touch()  # a scan of a library that holds out/ passes it over
    for e in episodes:
        rec = record_of(e, provenance | ({"season": season} if e.mode == "season" else {}))
        paths = how.layout.paths(e.key, e.meta.source, ["json", *how.formats])
        if rec != e.previous or not all(p.is_file() for p in paths.values()):
            try:
                write_files(paths, rec, how.edl_action)
            except OutputWriteError as err:
                if failed is None or err.errno in WRITE_ERRNOS:
                    raise
                failed.append((str(err.filename), err.strerror or str(err)))
                continue
        if how.chapters == "apply":
            copy = how.layout.chapters_copy(e.key, e.meta.source)
            if copy.resolve() == Path(e.meta.source).resolve():  # out= at the video's place
                log.warning("%s: the copy with chapters would replace the video itself: not "
                            "written (give another out=)", e.meta.source)  # fmt: skip
                records.append(rec)
                continue
            try:
                apply_chapters(Path(e.meta.source), rec, copy)
            except MediaError as err:  # one video's container: the others still get theirs
                log.warning("%s", err)
        records.append(rec)
    csv = how.out / ("intros.csv" if shard is None else f"intros-{shard[0]}-of-{shard[1]}.csv")
    try:
        write_csv(records, csv)
    except OSError as err:
        why = f"cannot write {csv} ({err.strerror or err})"
        raise OutputWriteError(err.errno, why, str(csv)) from err
    return records
