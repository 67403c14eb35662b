"""The one entry layer: every introdet command is a Hydra application made by ``command``.

A command is a function ``fn(cfg) -> int | float | None`` plus a primary config in ``conf/``.
``command`` gives it Hydra's command line (``key=value`` overrides checked against the config,
``--help`` from the config's ``hydra.help``), and turns introdet's own errors into one
``error: ...`` line on stderr with exit code 2. An int result is the exit code; a float (the
training objective) is returned to Hydra's sweepers. Tracebacks are left for bugs.
"""

from __future__ import annotations

import errno
import functools
import logging
import sys
from collections.abc import Callable, Mapping, Sequence

import hydra
from hydra.errors import InstantiationException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from introdet import CONF_DIR
from introdet.errors import IntrodetError, printable

log = logging.getLogger(__name__)

Task = Callable[[DictConfig], "int | float | None"]

EXIT_ERROR = 2  # the run could not go on (bad input, setting or file); 1 = some items failed


def report(error: BaseException) -> None:
    """One line for the user: the message names the file or key and the reason."""
    print(f"error: {printable(str(error))}", file=sys.stderr, flush=True)


def _printable_records() -> None:
    """Every log message leaves with its control characters escaped (file names in warnings)."""
    make = logging.getLogRecordFactory()
    if getattr(make, "printable", False):
        return

    def record(*args, **kwargs) -> logging.LogRecord:
        rec = make(*args, **kwargs)
        message = rec.getMessage()
        if not message.isprintable():
            rec.msg, rec.args = printable(message), None
        return rec

    record.printable = True
    logging.setLogRecordFactory(record)


def quiet_third_parties() -> None:
    """introdet's own INFO lines, and only warnings from libraries that log on the root logger
    (open_clip's "Parsing model identifier..."); ``hydra.verbose=true`` keeps everything."""
    root = logging.getLogger()
    if root.getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("introdet").setLevel(logging.INFO)
        root.setLevel(logging.WARNING)


# what a full disk, a quota or a file size limit raise
WRITE_ERRNOS = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS)


def _written(error: OSError, cfg: DictConfig) -> str:
    """The file a failed write names, else the folder the command writes to."""
    named = error.filename2 or error.filename
    if named:
        return str(named)
    folder = OmegaConf.select(cfg, "out") or OmegaConf.select(cfg, "paths.output_dir")
    return f"a file in {folder}" if folder else "an output file"


def guarded(fn: Task) -> Task:
    """Run ``fn``; an IntrodetError exits 2 with one line, an int result becomes the exit code."""

    @functools.wraps(fn)
    def run(cfg: DictConfig):
        quiet_third_parties()
        _printable_records()
        logging.raiseExceptions = False  # a log file on a full disk: no traceback per line
        # file names that are not UTF-8 on disk print as \udcXX, not as a crash
        for stream in (sys.stdout, sys.stderr):
            if hasattr(stream, "reconfigure"):
                stream.reconfigure(errors="backslashreplace")
        try:
            result = fn(cfg)
        except IntrodetError as e:
            report(e)
            sys.exit(EXIT_ERROR)
        except InstantiationException as e:  # Hydra wraps what a config's _target_ raised
            if not isinstance(e.__cause__, IntrodetError):
                raise
            report(e.__cause__)
            sys.exit(EXIT_ERROR)
        except MissingMandatoryValue as e:  # a ??? key the command line did not set
            report(f"{e.full_key}= is required (--help lists the keys)")
            sys.exit(EXIT_ERROR)
        except OSError as e:  # a full disk under a library's writer (torch.save, ONNX, logs)
            if e.errno not in WRITE_ERRNOS:
                raise
            report(f"{_written(e, cfg)}: cannot write ({e.strerror}); earlier files are kept")
            sys.exit(EXIT_ERROR)
        if isinstance(result, int) and not isinstance(result, bool) and result != 0:
            sys.exit(result)
        return result

    return run


def renamed(args: Sequence[str], renames: Mapping[str, str]) -> list[str]:
    """The command line with old names as the new, each with a warning, so that users'
    scripts keep working for a while. ``renames`` maps an old key (``max_others``), a group's
    prefix (``recurring.``) or a whole ``key=value`` (``method=recurrence``) to its new name."""
    out = []
    for arg in args:
        sign = arg[: len(arg) - len(arg.lstrip("+~"))]
        key, eq, value = arg[len(sign) :].partition("=")
        new = arg
        for old, now in renames.items():
            if "=" in old and f"{key}={value}" == old:
                new = sign + now
            elif old.endswith(".") and key.startswith(old):
                new = sign + now + key[len(old) :] + eq + value
            elif key == old and eq:
                new = sign + now + eq + value
            if new != arg:
                print(f"warning: {arg} is now {new} (the old name will go)", file=sys.stderr)
                break
        out.append(new)
    return out


def command(
    config_name: str, renames: Mapping[str, str] | None = None
) -> Callable[[Task], Callable[[], None]]:
    """Decorator: ``fn(cfg)`` -> a console-script ``main()`` reading ``conf/<config_name>.yaml``;
    ``renames``: old names on the command line taken as the new (``renamed``)."""

    def wrap(fn: Task) -> Callable[[], None]:
        app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=config_name)(
            guarded(fn)
        )

        @functools.wraps(fn)
        def main() -> None:
            import introdet.config  # noqa: F401  (typed config nodes must be stored before Hydra composes)

            if renames:
                sys.argv[1:] = renamed(sys.argv[1:], renames)
            app()

        main.task = fn  # the plain function, for tests and for callers that already hold a cfg
        return main

    return wrap
