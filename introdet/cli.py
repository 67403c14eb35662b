"""The one entry layer: every introdet command is a Hydra application made by ``command``.

A command is a function ``fn(cfg) -> int | float | None`` plus a primary config in ``conf/``.
``command`` gives it Hydra's command line (``key=value`` overrides checked against the config,
``--help`` from the config's ``hydra.help``), and turns introdet's own errors into one
``error: ...`` line on stderr with exit code 2. An int result is the exit code; a float (the
training objective) is returned to Hydra's sweepers. Tracebacks are left for bugs.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import sys
from collections.abc import Callable, Mapping

import hydra
from hydra.errors import (
    ConfigCompositionException,
    InstantiationException,
    MissingConfigException,
    OverrideParseException,
)
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import MissingMandatoryValue

from introdet import CONF_DIR
from introdet.command_line import all_keys, prepared, unknown_key
from introdet.errors import (
    EXIT_INTERRUPTED,
    WRITE_ERRNOS,
    ConfigError,
    IntrodetError,
    printable,
)

log = logging.getLogger(__name__)

Task = Callable[[DictConfig], "int | float | None"]

EXIT_ERROR = 2  # the run could not go on (bad input, setting or file); 1 = some items failed
# what Hydra raises for a command line or a config it cannot compose
HYDRA_REFUSALS = (ConfigCompositionException, OverrideParseException, MissingConfigException)


class ConsoleFormat(logging.Formatter):
    """A log line on the terminal: the message as it is, a warning or an error marked as such
    (the log file keeps times and sources: conf/hydra/job_logging/introdet.yaml)."""

    def format(self, record: logging.LogRecord) -> str:
        text = record.getMessage()
        if record.levelno >= logging.WARNING:
            text = f"{record.levelname.lower()}: {text}"
        if record.exc_info:
            text += "\n" + self.formatException(record.exc_info)
        return text


def say(text: str) -> None:
    """A command's result for the user (stdout), kept in the command's log file too."""
    print(text, flush=True)
    logging.getLogger("introdet.summary").info("%s", text)


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


def hydra_error(error: Exception, config_name: str) -> str:
    """One line for what Hydra refused: an unknown key with the nearest known one, else the
    first lines of Hydra's own message."""
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    message = str(error)
    if "not in struct" in message or "Could not override" in message:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=CONF_DIR, version_base="1.3"):
            keys = all_keys(compose(config_name))
        line = unknown_key(message, keys)
        if line:
            return line
    missing = re.search(r"Could not find '([^'/]+)/([^']+)'", message)
    if missing:  # a group's option that does not exist: the ones that do, from Hydra's list
        listed = message.partition("Available options")[2].partition("Config search path")[0]
        names = [x.strip() for x in listed.splitlines()[1:] if x.strip()]
        return f"{missing[1]}={missing[2]}: no such option (options: {', '.join(names)})"
    lines = [x.strip() for x in message.splitlines() if x.strip()]
    return "; ".join(lines[:2]) or type(error).__name__


def command(
    config_name: str, renames: Mapping[str, str] | None = None
) -> Callable[[Task], Callable[[], None]]:
    """Decorator: ``fn(cfg)`` -> a console-script ``main()`` reading ``conf/<config_name>.yaml``;
    ``renames``: old names on the command line taken as the new (``command_line.prepared``)."""

    def wrap(fn: Task) -> Callable[[], None]:
        app = hydra.main(version_base="1.3", config_path=CONF_DIR, config_name=config_name)(
            guarded(fn)
        )

        @functools.wraps(fn)
        def main() -> None:
            import introdet.config  # noqa: F401  (typed config nodes must be stored before Hydra composes)

            try:
                sys.argv[1:] = prepared(sys.argv[1:], renames)
            except ConfigError as e:
                report(e)
                sys.exit(EXIT_ERROR)
            os.environ["HYDRA_FULL_ERROR"] = "1"  # Hydra raises what it refuses: said in one line
            try:
                app()
            except HYDRA_REFUSALS as e:
                report(hydra_error(e, config_name))
                sys.exit(EXIT_ERROR)
            except KeyboardInterrupt:
                print("interrupted", file=sys.stderr, flush=True)
                sys.exit(EXIT_INTERRUPTED)
            except OSError as e:  # Hydra making the run's log folder: out= a file, read-only
                report(f"{e.filename}: cannot be made ({e.strerror}): out= and the run folder "
                       "must be folders that can be written" if e.filename else str(e))  # fmt: skip
                sys.exit(EXIT_ERROR)

        main.task = fn  # the plain function, for tests and for callers that already hold a cfg
        return main

    return wrap
