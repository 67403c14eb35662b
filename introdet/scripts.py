"""The console scripts, and the checkout's ``train.py`` and ``predict.py``: ``--help`` is printed
from the command's config without importing the command (torch and Lightning take seconds to
import, minutes on a loaded machine); anything else runs it. Ctrl-C while it loads is one line.
"""

from __future__ import annotations

import importlib
import sys
from functools import partial

from introdet import CONF_DIR
from introdet.errors import EXIT_INTERRUPTED

# console script -> (module whose ``main`` runs the command, its config in conf/)
COMMANDS = {
    "extract": ("introdet.extract", "extract"),
    "train": ("introdet.train", "train"),
    "predict": ("introdet.predict", "predict"),
    "evaluate": ("introdet.evaluate", "evaluate"),
    "validate": ("introdet.validate", "validate"),
    "export_onnx": ("introdet.export_onnx", "export_onnx"),
    "demo": ("introdet.demo.run", "demo"),
    "review": ("introdet.review.__main__", "review"),
}


def help_page(config_name: str) -> str:
    """The command's ``--help``: its config's ``hydra.help.template``, as Hydra prints it."""
    from omegaconf import OmegaConf  # after the check for --help: Ctrl-C from here is caught

    page = OmegaConf.load(f"{CONF_DIR}/{config_name}.yaml").hydra.help
    return str(page.template).replace("${hydra.help.app_name}", str(page.app_name))


def launch(name: str) -> None:
    """Run the console script ``name`` with ``sys.argv``."""
    module, config_name = COMMANDS[name]
    try:
        if sys.argv[1:] in (["--help"], ["-h"]):
            print(help_page(config_name))
            return
        main = importlib.import_module(module).main
    except KeyboardInterrupt:  # still importing torch: nothing started, nothing to say but this
        print("interrupted", file=sys.stderr)
        sys.exit(EXIT_INTERRUPTED)
    main()


# the console scripts of pyproject.toml
extract = partial(launch, "extract")
train = partial(launch, "train")
predict = partial(launch, "predict")
evaluate = partial(launch, "evaluate")
validate = partial(launch, "validate")
export_onnx = partial(launch, "export_onnx")
demo = partial(launch, "demo")
review = partial(launch, "review")
