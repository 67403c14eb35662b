"""Atomic file writes: a reader sees the old file or the whole new one, never a partial one;
a lock for a folder only one job may write at a time, and lines appended to a file that
several jobs append to at once; whether a path is too long for the system to write."""

from __future__ import annotations

import contextlib
import fcntl
import io
import os
import re
import tempfile
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from introdet.errors import FolderInUse

_UMASK_LOCK = threading.Lock()
TEMP_SUFFIX = ".tmp"
LOCK_NAME = ".lock"  # held by the job writing the folder (training runs)
_TEMP_PID = re.compile(r"\.(\d+)\.[^.]+\.tmp$")
# what an atomic write puts around a file's name while it writes: ".<name>.<pid>.<8>.tmp", a
# pid of up to 7 digits (Linux's largest pid_max is 4194304) and mkstemp's 8 random letters
TEMP_EXTRA = len("." + "." + "1234567" + "." + "abcdefgh" + TEMP_SUFFIX)
NAME_MAX = 255  # bytes of one name in a folder (ext4, XFS, Btrfs, APFS, NTFS through Linux)


def _path_max() -> int:
    try:
        return os.pathconf("/", "PC_PATH_MAX")  # 4096 on Linux, 1024 on macOS
    except (OSError, ValueError):
        return 4096


PATH_MAX = _path_max()  # the bytes a path given to the system may hold, its closing NUL included


def file_mode() -> int:
    """The mode a plain ``open()`` would give a new file: 0o666 less the process's umask (0644
    under 022), so a media server running as another user can read what we write."""
    with _UMASK_LOCK:  # umask can only be read by setting it: no other thread may see 0
        mask = os.umask(0o022)
        os.umask(mask)
    return 0o666 & ~mask


def atomic_write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to a temp file beside ``path``, fsync it, then rename over ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # same directory: os.replace is only atomic within one file system
    # the pid in the name: a clean-up by another process spares a temp file still being written
    fd, tmp = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=TEMP_SUFFIX
    )
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fchmod(f.fileno(), file_mode())  # mkstemp makes 0600 files
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.filename is None:  # a failed write names no file: name the one being written
            raise OSError(e.errno, e.strerror, str(path)) from e
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """UTF-8 text; a file name that was not UTF-8 on disk (its bytes kept as lone surrogates by
    Python) is written as ``\\udcXX``, which JSON reads back as the same name."""
    return atomic_write_bytes(path, text.encode("utf-8", errors="backslashreplace"))


def atomic_save_npy(path: str | Path, array: np.ndarray) -> Path:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return atomic_write_bytes(path, buf.getvalue())


def too_long(path: str | Path) -> str | None:
    """Why ``path`` cannot be written atomically, measured with its temp file's name (the
    system refuses a path of PATH_MAX bytes or more, or a name over NAME_MAX, with
    ENAMETOOLONG); None when it can. A library whose paths fit may overflow under out=."""
    path = Path(path)
    size = len(os.fsencode(str(path))) + TEMP_EXTRA
    if size >= PATH_MAX:
        return f"a path of {size} bytes while written (the system takes {PATH_MAX - 1})"
    longest = max(len(os.fsencode(p)) for p in (*path.parts[:-1], path.name + "x" * TEMP_EXTRA))
    if longest > NAME_MAX:
        return f"a name of {longest} bytes while written (a name holds {NAME_MAX})"
    return None


@contextlib.contextmanager
def locked_file(path: str | Path) -> Iterator[int]:
    """The file at ``path`` (made if missing) opened for appending and locked, waiting for any
    other holder: its descriptor. The lock only counts on the file that is still at ``path``
    once locked (one an atomic write replaced meanwhile is a new file: that one is taken)."""
    path = Path(path)
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(fd), os.stat(path)):
                break
        except FileNotFoundError:
            pass  # removed while we waited: open the one there now
        except BaseException:
            os.close(fd)
            raise
        os.close(fd)
    try:
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def append_locked(fd: int, text: str) -> None:
    """Append ``text`` to a file held by ``locked_file``; a line a killed writer left torn is
    closed first, so that this one is never glued to it."""
    data = text.encode("utf-8", errors="backslashreplace")
    size = os.fstat(fd).st_size
    if size and os.pread(fd, 1, size - 1) != b"\n":
        data = b"\n" + data
    while data:  # a regular file takes it all at once, unless a signal cuts the write short
        data = data[os.write(fd, data) :]


def append_text(path: str | Path, text: str) -> None:
    """``text`` appended to ``path`` under its lock: jobs appending at once lose no line."""
    with locked_file(path) as fd:
        append_locked(fd, text)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def abandoned_temp_files(paths: Iterable[Path]) -> list[Path]:
    """The temp files of atomic writes among ``paths`` whose writer is gone (killed before its
    rename); one whose process still runs, or whose name has no pid, is left alone."""
    out = []
    for p in paths:
        m = _TEMP_PID.search(p.name)
        if m and p.name.startswith(".") and not _alive(int(m.group(1))):
            out.append(p)
    return out


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``<folder>/.lock`` while a job writes the folder; a second job on the same folder
    stops at once with ``FolderInUse`` naming the first one's pid. The kernel drops the lock
    when its holder dies, so a killed job never leaves the folder locked; a job that ends
    removes the file (while still holding it), so a finished folder holds no ``.lock``."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_NAME
    handle = _lock_file(path, folder, what)
    try:
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        yield
    finally:
        # removed before the lock is let go: a job that opened this file meanwhile and locks it
        # now finds it gone from the folder, and takes the new one (_lock_file)
        path.unlink(missing_ok=True)
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _lock_file(path: Path, folder: Path, what: str) -> io.TextIOWrapper:
    """``path`` opened and locked; the lock only counts on the file that is still at ``path``
    once locked (its last holder removes it on the way out)."""
    while True:
        handle = open(path, "a+")  # noqa: SIM115  (held open while the job runs)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise FolderInUse(
                f"{folder}: another {what} works in this folder (pid {holder}); wait for it to "
                "end, or give this one another folder"
            ) from None
        except BaseException:
            handle.close()
            raise
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(handle.fileno()), current):
            return handle
        handle.close()  # a file its holder removed as it let go: try the one there now
