"""introdet: find the intro of TV-series episodes from 1-fps CLIP features."""

__version__ = "0.1.0"
