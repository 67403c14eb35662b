"""A run's episodes as records and player files: where each goes, what an earlier run left
there, and the writing: a file that already holds what would be written is left as it is, one
introdet did not write is never replaced (``owners``), each file written is noted in out/'s
ledger, and what no video or setting wants any more is taken back (``tidy``)."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from introdet.atomic import too_long
from introdet.detection.episodes import Episode
from introdet.errors import (
    WRITE_ERRNOS,
    ConfigError,
    MediaError,
    OutputWriteError,
    RecordError,
    UsersFile,
)
from introdet.features.print_store import SUFFIX as PRINTS_SUFFIX
from introdet.features.shards import MANIFEST
from introdet.features.sources import PRINT_CACHE
from introdet.media.library import OUTPUT_MARK
from introdet.media.paths import id_path, relative_key
from introdet.outputs.chapters import apply_chapters
from introdet.outputs.edl import EDL_ACTION, edl_actions
from introdet.outputs.export import (
    FORMATS,
    episode_record,
    read_record,
    render,
    write_csv,
    write_files,
)
from introdet.outputs.layout import Layout, common_root
from introdet.outputs.ledger import (
    VIDEO_HASH,
    Entry,
    Ledger,
    file_hash,
    norm,
    source_entry,
    text_hash,
)
from introdet.outputs.owners import Owner, copy_of, is_record, is_summary, owner, rendered_from
from introdet.outputs.segments import episode_segments
from introdet.outputs.tidy import Wanted, tidy
from introdet.outputs.timeline import TYPES, check_types, for_players

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outputs:
    """Where the records go and in which formats."""

    out: Path
    formats: tuple[str, ...] = ()  # besides json: edl, ffmetadata, vtt
    sidecars: bool = False  # beside each video, else out/ mirroring the input tree
    edl_action: object = EDL_ACTION  # one action, or one per type (outputs.edl.edl_actions)
    chapters: str = "none"  # apply: a copy of each video with chapters in out/
    types: tuple[str, ...] = TYPES  # the segment types the player files show

    @classmethod
    def checked(cls, out, formats, sidecars, edl_action, chapters, types) -> Outputs:
        """The settings of predict, each checked: ConfigError names the key that cannot work."""
        unknown = [f for f in formats if f not in FORMATS]
        if unknown:
            raise ConfigError(f"formats: unknown {unknown}; known: {sorted(FORMATS)}")
        return cls(Path(out), tuple(formats), bool(sidecars), edl_actions(edl_action), chapters,
                   check_types(types))  # fmt: skip

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
        old = _earlier_record(layout.paths(e.key, e.meta.source, ["json"])["json"])
        if old and old.get("source_hash") == e.meta.source_hash:
            e.previous = old  # else damaged, of another schema or another file: made anew


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
    more["segments"] = episode_segments(e)
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
    scope: Path | None = None,
) -> list[dict]:
    """Each episode's record in every asked format, and ``out/intros.csv`` (a job of
    ``shard=i/n``: ``out/intros-i-of-n.csv``, so that no two jobs write one file);
    ``provenance`` says what made them, with the ``season`` settings for a record season mode
    decided. An episode whose files cannot be written (a read-only season folder beside
    ``sidecars=true``, a path too long, a user's file in the way) goes to ``failed`` and the
    others are written; a full disk stops all. Last, what introdet wrote before and no longer
    wants is removed (``tidy``; ``scope``: the run's input, where a video gone takes its
    outputs with it)."""
    records = []
    (how.out / OUTPUT_MARK).touch()  # a scan of a library that holds out/ passes it over
    ledger = Ledger(how.out)
    known = ledger.read()
    kept: dict[str, set[Path]] = {}
    for e in episodes:
        rec = record_of(e, provenance | ({"season": season} if e.mode == "season" else {}))
        # read before this run writes its own: that one names this video, and would make
        # any file at the chapters copy's path look like introdet's
        old = _earlier_record(how.layout.paths(e.key, e.meta.source, ["json"])["json"])
        try:
            files = _write_episode(e, rec, old, how, ledger, known)
        except (OutputWriteError, UsersFile) as err:
            if failed is None or err.errno in WRITE_ERRNOS:
                raise
            failed.append((str(err.filename), err.strerror or str(err)))
            continue
        if how.chapters == "apply":
            files |= _chapters_copy(e, rec, old, how, ledger, known)
        kept[str(norm(e.meta.source))] = files
        records.append(rec)
    _write_summary(records, how, shard, ledger, known)
    taken = {str(norm(e.meta.source)) for e in episodes}
    shards = scope is not None and (scope / MANIFEST).is_file()  # its videos may be anywhere
    tidy(ledger, Wanted(kept, taken, None if shards else scope))
    return records


def _write_episode(
    e: Episode, rec: dict, old: dict | None, how: Outputs, ledger: Ledger,
    known: dict[Path, Entry],
) -> set[Path]:  # fmt: skip
    """The episode's files in every asked format (none of them, if one cannot be: a user's
    file where it would go, a path too long); ``old``: the record there before this run; the
    paths its outputs are now."""
    paths = how.layout.paths(e.key, e.meta.source, ["json", *how.formats])
    _check_lengths(e, how, paths.values())
    texts = {f: render(rec, f, how.edl_action, how.types) for f in paths}
    todo, adopted = {}, []
    for f, path in paths.items():
        ours = is_record if f == "json" else rendered_from(old, f)
        whose = owner(path, texts[f], known.get(norm(path)), ours)
        if whose is Owner.USERS:
            # the episode counts as failed (exit code 1): a script or a scheduled run must
            # see that its outputs are not where it asked, and a user decide whose file wins
            raise UsersFile(errno.EEXIST, "a file introdet did not write is there: left as it "
                            f"is, and this episode's files not written ({_elsewhere(path, how)})",
                            str(path))  # fmt: skip
        if whose is Owner.SAME:
            # noted anew unless the ledger has it as this video's: a video replaced by one of
            # the same name (E2.mkv by E2.mp4) shares its sidecars' paths, and the entry of the
            # one gone would take them with it
            entry = known.get(norm(path))
            noted = entry is not None and entry.hash == text_hash(texts[f])
            adopted += [] if noted and entry.source == str(norm(e.meta.source)) else [f]
        else:
            todo[f] = path
    write_files(todo, rec, how.edl_action, how.types)
    ledger.add(source_entry(paths[f], text_hash(texts[f]), e.meta.source)
               for f in [*todo, *adopted])  # fmt: skip
    return {norm(p) for p in paths.values()}


def _elsewhere(path: Path, how: Outputs) -> str:
    """What puts an episode's file elsewhere than ``path``."""
    if norm(path).is_relative_to(norm(how.out)):
        return "give another out="
    return "sidecars=false puts them in out= instead"  # beside the video: comskip's .edl


def _check_lengths(e: Episode, how: Outputs, paths: Iterable[Path]) -> None:
    """OutputWriteError naming the video when a file made for it would be too long a path:
    its outputs, and its prints kept in out/ (a deep library mirrored under a deep out= can
    overflow what the library itself fits in)."""
    prints = how.out / PRINT_CACHE / f"{id_path(e.key)}{PRINTS_SUFFIX}"
    copy = [how.layout.chapters_copy(e.key, e.meta.source)] if how.chapters == "apply" else []
    for path in [prints, *paths, *copy]:
        why = too_long(path)
        if why:
            where, fix = ("in out=", "give a shorter out=")
            if not norm(path).is_relative_to(norm(how.out)):
                where, fix = ("beside it", "sidecars=false, or a shorter path for the video")
            raise OutputWriteError(
                errno.ENAMETOOLONG,
                f"file name too long: {path.name} {where} would need {why}: {fix}",
                str(e.meta.source),
            )


def _earlier_record(path: Path) -> dict | None:
    """The record at ``path`` if it is an introdet record, whatever video it was made of: the
    player files of an output folder older than the ledger are known by it."""
    try:
        return read_record(path) if path.is_file() else None
    except (RecordError, OSError):  # OSError: a path too long (Path.is_file lets it through)
        return None


def _chapters_copy(
    e: Episode, rec: dict, old: dict | None, how: Outputs, ledger: Ledger,
    known: dict[Path, Entry],
) -> set[Path]:  # fmt: skip
    """The copy of the video with chapters, unless it would replace the video or a user's
    file (a warning, the record stays); the paths it is."""
    copy = how.layout.chapters_copy(e.key, e.meta.source)
    if copy.resolve() == Path(e.meta.source).resolve():  # out= at the video's place
        log.warning("%s: the copy with chapters would replace the video itself: not "
                    "written (give another out=)", e.meta.source)  # fmt: skip
        return set()
    # a copy the ledger does not know is a user's, unless the folder is older than the ledger
    # (nothing known) and its record there names this video
    ours = copy_of(None if known else old, e.meta.source)
    if owner(copy, None, known.get(norm(copy)), ours) is Owner.USERS:
        log.warning("%s: a file introdet did not write is there: the copy with chapters not "
                    "written (give another out=)", copy)  # fmt: skip
        return set()
    try:
        apply_chapters(Path(e.meta.source), for_players(rec, how.types), copy)
    except MediaError as err:  # one video's container: the others still get theirs
        log.warning("%s", err)
        return {norm(copy)}  # a copy made before stays, as a failed episode's files do
    ledger.add([source_entry(copy, file_hash(copy, VIDEO_HASH), e.meta.source)])
    return {norm(copy)}


def _write_summary(
    records: list[dict], how: Outputs, shard: tuple[int, int] | None, ledger: Ledger,
    known: dict[Path, Entry],
) -> None:  # fmt: skip
    """``intros.csv`` (``intros-i-of-n.csv`` for a shard job), unless a user's file is there."""
    csv = how.out / ("intros.csv" if shard is None else f"intros-{shard[0]}-of-{shard[1]}.csv")
    if owner(csv, "", known.get(norm(csv)), is_summary) is Owner.USERS:
        log.warning("%s: a file introdet did not write is there: the summary not written "
                    "(give another out=)", csv)  # fmt: skip
        return
    try:
        write_csv(records, csv)
    except OSError as err:
        why = f"cannot write {csv} ({err.strerror or err})"
        raise OutputWriteError(err.errno, why, str(csv)) from err
    ledger.add([source_entry(csv, file_hash(csv), None)])
