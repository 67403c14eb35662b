"""Files cut short (an interrupted copy) whose headers hide the cut: no row may be lost silently.

The rule of the hostile corpus: a cut file's rows equal the uncut file's where it has them,
never outnumber them, and where there are fewer, one warning says so. Two cuts once lost rows
silently: an MPEG-4 Part 2 AVI cut to 80 % of its bytes (FFmpeg shrinks a cut AVI's duration to
the share of bytes present, so the missing second looked like no second at all) and an MPEG-TS
file cut to half (no header says how long it was; only its last, broken frame shows the cut).
"""

from __future__ import annotations

import logging
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.media.sampling import frames_per_second
from tests import badfiles

# (encoder, suffix, fraction of the bytes kept): the two silent losses, and cuts that keep the
# frame at 4 s (there every row must stay)
CUTS = [
    ("mpeg4", ".avi", 0.8),
    ("libx264", ".ts", 0.5),
    ("mpeg4", ".avi", 0.95),
    ("libx264", ".ts", 0.9),
]
DECODES = ("needed", "all", "keyframes")
# one thread, and frame threading: its delay decodes past the last sample, up to the cut frame
THREADS = (1, 8)


@pytest.fixture(scope="module")
def uncut(tmp_path_factory) -> dict[str, Path]:
    """The sound 5-s clips (10 fps, a keyframe a second) that the cuts are made from."""
    d = tmp_path_factory.mktemp("uncut")
    return {
        suffix: badfiles.good(d / f"uncut{suffix}", seed=1, codec=codec)
        for codec, suffix in {(c, s) for c, s, _ in CUTS}
    }


def _cut(src: Path, d: Path, fraction: float) -> Path:
    data = src.read_bytes()
    path = d / f"cut{round(fraction * 1000)}{src.suffix}"
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def _sampled(path: Path, decode: str, threads: int, caplog) -> tuple[list[np.ndarray], list[str]]:
    """The rows of ``path`` and the warnings that name it."""
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        sampled = frames_per_second(path, size=32, decode=decode, threads=threads)
        rows = [f for _, f in sampled]
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    return rows, [m for m in said if str(path) in m]


def _whole_frames_end(path: Path) -> float:
    """Seconds from the first frame to the end of the last frame that decodes whole (PyAV
    alone, 10 fps): where the file's own pictures stop."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [f.pts for f in container.decode(stream) if not f.is_corrupt]
        return float((max(pts) - stream.start_time) * stream.time_base) + 1 / badfiles.FPS


@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("decode", DECODES)
@pytest.mark.parametrize(("codec", "suffix", "fraction"), CUTS, ids=lambda v: str(v))
def test_a_cut_file_keeps_its_rows_or_says_it_lost_some(
    tmp_path, caplog, uncut, codec, suffix, fraction, decode, threads
):
    want, said = _sampled(uncut[suffix], decode, threads, caplog)
    assert len(want) == badfiles.SECONDS and not said, said
    cut = _cut(uncut[suffix], tmp_path, fraction)
    rows, said = _sampled(cut, decode, threads, caplog)
    assert 1 <= len(rows) <= len(want)
    for k, (a, b) in enumerate(zip(rows, want, strict=False)):
        assert np.array_equal(a, b), f"row {k} differs from the uncut file's"
    # a row is kept exactly where the cut file still has the frame on screen at its time
    assert len(rows) == min(len(want), int(_whole_frames_end(cut)) + 1)
    if len(rows) < len(want):
        assert len(said) == 1, said  # one line, not one per cause
        assert "truncated?" in said[0]


@pytest.mark.parametrize(("suffix", "fraction"), [(".avi", 0.8), (".ts", 0.5)])
def test_the_silent_cuts_really_lose_the_last_seconds(tmp_path, uncut, suffix, fraction):
    """The two cuts above exercise the warning: the frame at 4 s (or 3 s) is gone from them."""
    assert _whole_frames_end(_cut(uncut[suffix], tmp_path, fraction)) < badfiles.SECONDS - 1
