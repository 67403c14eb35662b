"""introdet's errors: one base class, so that every command reports them the same way.

An ``IntrodetError`` is a problem with the user's input, files or configuration, never a bug: the
commands print it as one ``error:`` line (its message names the file or key and the reason) and
exit with code 2. Each class also keeps the builtin base callers may already catch.
``printable`` makes any message safe for a terminal.
"""

from __future__ import annotations

import errno
import os

EXIT_INTERRUPTED = 130  # Ctrl-C, as shells report it (128 + SIGINT)
# what a full disk, a quota, a file size limit or a read-only file system raise: every later
# write fails too, so a run stops at the first
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def printable(text: str) -> str:
    """``text`` with control characters (an escape sequence or a bell in a file name, which a
    terminal would obey) written as escapes; line breaks and tabs stay."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() or c in "\n\t" else ascii(c)[1:-1] for c in text)


class IntrodetError(Exception):
    """Base class: a problem with an input, a file or a setting, described for the user."""


class ConfigError(IntrodetError, ValueError):
    """A configuration value is missing, unknown or out of range; the message names the key."""


class MediaError(IntrodetError, ValueError):
    """A media file that cannot be read; the message starts with the file path, then why."""

    def __init__(self, path: str | os.PathLike, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path, self.reason = str(path), reason

    def __reduce__(self):  # pickled by worker processes: rebuild from (path, reason)
        return (type(self), (self.path, self.reason))


class VideoError(MediaError):
    """A video stream that cannot be read."""


class InputNotFound(IntrodetError, FileNotFoundError):
    """An input file or folder that does not exist; the message names the path."""


class WorkerCrashed(IntrodetError, RuntimeError):
    """The process working on an item died (FFmpeg crashed on it, or it was killed)."""


class FramesError(IntrodetError, ValueError):
    """Frames handed to an encoder are not uint8 RGB [N, H, W, 3]."""


class WeightsUnavailable(IntrodetError, RuntimeError):
    """The requested CLIP weights are neither on this machine nor downloadable right now."""


class CheckpointError(IntrodetError, ValueError):
    """A checkpoint or weights file that cannot be loaded (missing, damaged, of another kind)."""


class CheckpointNotFound(CheckpointError, FileNotFoundError):
    """No file where a checkpoint was named."""


class CheckpointMismatch(CheckpointError):
    """A checkpoint belongs to another model shape or encoder than the config asks for."""


class ShardError(IntrodetError, ValueError):
    """A shard or its manifest is missing, damaged, or disagrees with what the reader expects."""


class ShardWriteError(IntrodetError, OSError):
    """The shard folder cannot take a shard (disk full, quota, permissions): the run stops,
    since every later episode would fail the same way; the shards written so far stay."""


class OutputWriteError(IntrodetError, OSError):
    """An output file cannot be written (disk full, quota, permissions): the run stops, since
    every later episode would fail the same way; the episodes written so far stay whole."""


class UnsafeIdError(IntrodetError, ValueError):
    """An episode id or key would name a path outside the folder it is joined to."""


class AnnotationError(IntrodetError, ValueError):
    """The labels file as a whole cannot be used (missing, not JSON, not an object)."""


class RecurrenceError(IntrodetError, ValueError):
    """An episode's feature array cannot be compared (wrong shape, width or values)."""


class OnnxModelError(IntrodetError, ValueError):
    """An ONNX file is missing, unreadable, of the wrong kind, or fed inputs of the wrong shape."""


class RecordError(IntrodetError, ValueError):
    """An episode record is malformed, or a record file cannot be read back."""


class EvaluationError(IntrodetError, ValueError):
    """A prediction record or an evaluation input is missing, damaged or inconsistent."""


class LibraryError(IntrodetError, ValueError):
    """Bad demo-library arguments, or a written file that does not read back as planned."""


class BenchError(IntrodetError, ValueError):
    """A benchmark input (video, option) is unusable; the message names the file or option."""


class AudioError(MediaError):
    """An audio track that cannot be read."""


class MatchingError(IntrodetError, ValueError):
    """Fingerprint sequences that cannot be compared (wrong dtype, shape or mask length)."""


class OutOfDeviceMemory(IntrodetError, ValueError):
    """The accelerator ran out of memory even one window at a time: the CPU is the way out."""


class FolderInUse(IntrodetError, RuntimeError):
    """Another process works in the folder this one would write (a second training of one run)."""


class UsersFile(IntrodetError, FileExistsError):
    """A file introdet did not write is where one of its outputs would go (``out=`` the
    library, a sidecar beside a video): it is never replaced; ``filename`` names it."""
