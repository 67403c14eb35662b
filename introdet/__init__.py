"""introdet: find the intro of TV-series episodes from 1-fps CLIP features."""

__version__ = "0.1.0"

from pathlib import Path as _Path

# Hydra's config folder as an absolute path: console scripts have no caller file that a
# relative config_path could start from
CONF_DIR = str(_Path(__file__).resolve().parents[1] / "conf")
