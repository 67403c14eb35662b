"""The command line as the user typed it, made into what Hydra parses: old names taken as the
new, paths quoted whatever characters they hold, and the mistakes Hydra would answer in its
own words (a bare argument, an unknown key) answered in one line of ours.
"""

from __future__ import annotations

import difflib
import re
import sys
from collections.abc import Mapping, Sequence

from introdet.errors import ConfigError

# keys whose value is a file or folder: quoted for Hydra, so that "Show (2019)", "a=b", "[x]",
# quotes, "#", "~" or "${" in a name reach the command as typed
PATH_KEYS = frozenset({
    "input", "out", "ckpt", "labels", "shards", "annotations", "train_annotations", "truth",
    "predictions", "only", "ckpt_path", "paths.data_dir", "paths.output_dir", "data.shard_dir",
    "data.train_labels", "data.val_labels", "data.test_labels", "encoder.pretrained",
    "hydra.run.dir", "hydra.sweep.dir",
})  # fmt: skip
# of those, the keys under which Hydra puts the run's log folder
LOG_DIR_KEYS = frozenset({"out", "hydra.run.dir", "hydra.sweep.dir"})
# of those, the keys that also take a list or a mapping, written [..] or {..}
STRUCTURED = frozenset({"only", "predictions"})
# Hydra's flags that take the next argument as their value
FLAGS_WITH_VALUE = frozenset({
    "--cfg", "-c", "--package", "-p", "--config-path", "-cp", "--config-name", "-cn",
    "--config-dir", "-cd", "--info", "-i", "--experimental-rerun",
})  # fmt: skip


def prepared(args: Sequence[str], renames: Mapping[str, str] | None = None) -> list[str]:
    """``args`` (``sys.argv[1:]``) for Hydra; a bare argument is a ``ConfigError``."""
    out, takes_value = [], False
    for arg in args:
        if takes_value or arg.startswith("-"):
            takes_value = arg in FLAGS_WITH_VALUE
            out.append(arg)
            continue
        if "=" not in arg:
            raise ConfigError(f"{arg}: settings are key=value (a folder or a video: "
                              f"input={arg}; --help lists the keys)")  # fmt: skip
        out.append(quoted(renamed(arg, renames or {})))
    return out


def renamed(arg: str, renames: Mapping[str, str]) -> str:
    """``arg`` with an old name as the new, and a warning, so that users' scripts keep working
    for a while. ``renames`` maps an old key (``max_others``), a group's prefix
    (``recurring.``) or a whole ``key=value`` (``method=recurrence``) to its new name."""
    sign = arg[: len(arg) - len(arg.lstrip("+~"))]
    key, eq, value = arg[len(sign) :].partition("=")
    for old, now in renames.items():
        new = arg
        if "=" in old and f"{key}={value}" == old:
            new = sign + now
        elif old.endswith(".") and key.startswith(old):
            new = sign + now + key[len(old) :] + eq + value
        elif key == old and eq:
            new = sign + now + eq + value
        if new != arg:
            print(f"warning: {arg} is now {new} (the old name will go)", file=sys.stderr)
            return new
    return arg


def quoted(arg: str) -> str:
    """``key=value`` with a path ``value`` quoted for Hydra's grammar (already quoted, a list
    or a mapping where the key takes one, or a sweep after -m: left as it is)."""
    key, _, value = arg.partition("=")
    if key.lstrip("+~") not in PATH_KEYS or not value or value[0] in "'\"":
        return arg
    if key in STRUCTURED and value[0] in "[{":
        return arg
    if key in LOG_DIR_KEYS and "${" in value:
        # Hydra writes the run's log folder back into its config, where "${" is read again
        raise ConfigError(f"{arg}: a folder whose path holds '${{' cannot hold the run's logs "
                          "(Hydra reads it as a variable): give another folder")  # fmt: skip
    # Hydra unescapes a backslash only before a quote (the closing one included); OmegaConf
    # reads "\${" as a literal "${" and "\\" before it as one backslash
    text = re.sub(r"(\\+)(?='|$)", lambda m: m.group(1) * 2, value)
    text = re.sub(r"(\\*)\$\{", lambda m: m.group(1) * 2 + "\\${", text.replace("'", "\\'"))
    return f"{key}='{text}'"


def unknown_key(message: str, known: Sequence[str]) -> str | None:
    """One line for Hydra's "Key 'x' is not in struct" (or "Could not override 'x'"), with the
    nearest known key; None for another message."""
    found = re.search(r"Could not override '([^']+)'", message) or re.search(
        r"Key '([^']+)' is not in struct", message
    )
    if found is None:
        return None
    key = found.group(1)
    near = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
    hint = f" (did you mean '{near[0]}'?)" if near else " (--help lists the keys)"
    return f"unknown key '{key}'{hint}"


def all_keys(cfg, prefix: str = "") -> list[str]:
    """Every key of a composed config, dotted (``postprocess.threshold``)."""
    from omegaconf import DictConfig

    keys = []
    for k, v in cfg.items_ex(resolve=False) if isinstance(cfg, DictConfig) else []:
        name = f"{prefix}{k}"
        keys.append(name)
        if isinstance(v, DictConfig) and k != "hydra":
            keys += all_keys(v, f"{name}.")
    return keys
