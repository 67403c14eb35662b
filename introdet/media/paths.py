"""Episode ids and keys as paths: where a video sits in the library, and a name that cannot
climb out of the folder it is joined to."""

from __future__ import annotations

from pathlib import Path, PurePosixPath

from introdet.errors import UnsafeIdError


def id_path(episode: str) -> PurePosixPath:
    """An episode id or key as a relative path that stays inside the folder it is joined to
    (ids come from file names, but also from manifests and labels files anyone can edit)."""
    parts = episode.split("/")
    if (
        not episode
        or "\0" in episode
        or episode.startswith("/")
        or any(part in ("", ".", "..") for part in parts)
    ):
        raise UnsafeIdError(f"episode id {episode!r} cannot be used as a path inside a folder")
    return PurePosixPath(episode)


def relative_key(path: Path, root: Path) -> str:
    """``Show A/Season 1/Episode 1``: ``path`` relative to ``root``, without its suffix; the
    file's stem when it is not under ``root``."""
    try:
        rel = path.relative_to(root)
    except ValueError:
        return path.stem
    return rel.with_suffix("").as_posix() if rel.parts else path.stem
