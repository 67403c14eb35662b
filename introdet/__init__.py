"""introdet: find the intro of TV-series episodes from 1-fps CLIP features."""

__version__ = "0.1.0"

from pathlib import Path as _Path

_HERE = _Path(__file__).resolve().parent

# Hydra's config folder as an absolute path: console scripts have no caller file that a
# relative config_path could start from. Installed (pip install .), the checkout's conf/ ships
# inside the package as introdet/conf (pyproject.toml maps it); run from the checkout or an
# editable install, it is the checkout's own conf/ beside this folder, so edits count at once.
CONF_DIR = str(_HERE / "conf" if (_HERE / "conf").is_dir() else _HERE.parent / "conf")
