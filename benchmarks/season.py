"""Season mode's speed: ``predict.py`` with no checkpoint over a season of long 1080p episodes.

Each episode loops the cached H.264 test clip to ``minutes`` (stream copy) beside a soundtrack
of its own: seeded speech-like dialogue, the season's theme after a cold open of its own length,
and an end theme over the last minute. Timed: the whole command in a fresh process (imports,
probing, sound fingerprints of the scan and the tail, matching, the season decision,
frame-accurate refinement, writing the records), per episode; then again over the same
``out=`` (a re-run over an unchanged library). Beside it, the decode floor: PyAV demuxing and
decoding the same stretches of sound (the first scan and tail season mode hears, and the whole
ones of the episodes it heard again), nothing else, two episodes at once as the library's
workers run, and the ratio of the two.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.videos import CACHE, long_video
from introdet.evaluation.results import prediction_files

ROOT = Path(__file__).resolve().parents[1]  # the checkout: predict.py lives there

RATE = 48000  # Hz, mono AAC: what the soundtrack is encoded at
THEME = 45.0  # seconds of intro
END_THEME = 60.0


def _soundtrack(seconds: float, cold_open: float, episode: int) -> np.ndarray:
    """float32 [S]: dialogue (a seeded minute, looped), theme at ``cold_open``, end theme."""
    from introdet.demo.sound import Sound, render

    one = Fraction(1)  # render() counts frames: one frame per second here
    talk = render(Sound("dialogue", (7, episode)), 0, 60, one, RATE)
    wave = np.resize(talk, round(seconds * RATE)).astype(np.float32)
    theme = render(Sound("theme", (7, 0, 20)), 0, int(THEME), one, RATE)
    a = round(cold_open * RATE)
    wave[a : a + len(theme)] = theme
    end = render(Sound("end_theme", (7, 0, 30)), 0, int(END_THEME), one, RATE)
    wave[len(wave) - len(end) :] = end
    return wave


def season_library(cache: Path, minutes: float, episodes: int, height: int) -> tuple[Path, dict]:
    """The benchmark season (kept in the cache): its folder and the true intros."""
    from introdet.demo.make_library import add_soundtrack

    video = long_video(cache, height, minutes, 60)
    folder = cache / f"season_{height}p_{minutes:g}min_x{episodes}" / "Bench Show"
    truth = {}
    for k in range(episodes):
        cold = 30.0 + 37.0 * (k % 8)  # cold opens of their own length, within the scan
        path = folder / f"bench_s01e{k + 1:02d}.mp4"
        truth[path.stem] = (cold, cold + THEME)
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.stem}.tmp.mp4")
            add_soundtrack(video, tmp, "aac", _soundtrack(minutes * 60, cold, k), RATE)
            os.replace(tmp, path)
    return folder.parent, truth


def _decode(path: str, scans: list[tuple[float, float, float]]) -> None:
    """Demux and decode the sound season mode heard of one file: for each (scan, fraction,
    tail), its first ``max(scan, fraction * duration)`` s and its last ``tail`` s (one stretch
    where they meet)."""
    import av

    for scan, fraction, tail in scans:
        with av.open(path) as c:
            stream = c.streams.audio[0]
            duration = float(c.duration / av.time_base)
            head = max(scan, fraction * duration)
            for frame in c.decode(stream):
                if frame.time is not None and frame.time >= head:
                    break
            if duration > head + tail:
                c.seek(int((duration - tail) / stream.time_base), stream=stream)
                for _ in c.decode(stream):
                    pass


def heard(out: Path, folder: Path) -> dict[str, list[tuple[float, float, float]]]:
    """What season mode heard of each video of ``folder``: its first scan and tail, and the
    whole ones where it heard an episode again (their prints in ``out/.prints/.wider``)."""
    from introdet.detection.season import SeasonConfig
    from introdet.features.print_store import PrintScan
    from introdet.features.sources import PRINT_CACHE, WIDER

    first = PrintScan.first(SeasonConfig())
    out_scans = {}
    for path in sorted(folder.rglob("*.mp4")):
        key = path.relative_to(folder).with_suffix("")
        scans = [(first.scan, first.fraction, first.tail)]
        again = out / PRINT_CACHE / WIDER / f"{key}.json"
        if again.is_file():
            p = json.loads(again.read_text())["prints"]
            scans.append((p["scan"], p["fraction"], p["tail"]))
        out_scans[str(path)] = scans
    return out_scans


def decode_floor(scans: dict[str, list[tuple[float, float, float]]], workers: int = 2) -> float:
    """Seconds of wall time to decode the stretches of sound ``scans`` name, nothing else."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        list(pool.map(_decode, list(scans), list(scans.values())))
    return time.perf_counter() - t0


def drop_page_cache() -> None:
    """Empty Linux's page cache (root only), so that the next run reads the videos from disk."""
    os.sync()
    try:
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
    except OSError as e:
        raise SystemExit(f"cold=true: cannot drop the page cache ({e}); run as root") from e


def bench_season(
    minutes: float = 45, episodes: int = 8, height: int = 1080, cache: str | Path = CACHE,
    cold: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Seconds per episode of training-free season mode, and how close its intros came;
    ``cold``: the page cache emptied before the first run and the floor (the re-run reads
    the prints kept in out/, warm)."""
    cache = Path(cache)
    t0 = time.perf_counter()
    folder, truth = season_library(cache, minutes, episodes, height)
    made = time.perf_counter() - t0
    out = cache / "season_out"
    shutil.rmtree(out, ignore_errors=True)  # a kept run's prints would make this one a re-run
    cmd = [sys.executable, str(ROOT / "predict.py"), f"input={folder}", f"out={out}"]
    if cold:
        drop_page_cache()
    t0 = time.perf_counter()
    subprocess.run([*cmd, "progress=false"], check=True, capture_output=True, cwd=ROOT)
    wall = time.perf_counter() - t0
    t0 = time.perf_counter()
    subprocess.run([*cmd, "progress=false"], check=True, capture_output=True, cwd=ROOT)
    again = time.perf_counter() - t0
    scans = heard(out, folder)
    if cold:
        drop_page_cache()
    floor = decode_floor(scans)
    errors = []
    records = prediction_files(out, truth)  # out/ mirrors the season folder
    for ep, (start, end) in truth.items():
        intro = json.loads(records[ep].read_text())["intro"]
        errors.append(max(abs(intro["start"] - start), abs(intro["end"] - end)) if intro else None)
    found = [e for e in errors if e is not None]
    row = {
        "cache": "cold" if cold else "warm",
        "episodes": episodes,
        "minutes": minutes,
        "height": height,
        "wall_s": round(wall, 1),
        "s_per_episode": round(wall / episodes, 2),
        "episodes_per_min": round(60 * episodes / wall, 1),
        "floor_s_per_episode": round(floor / episodes, 2),
        "x_floor": round(wall / floor, 1),
        "rerun_s_per_episode": round(again / episodes, 3),
        "heard_again": sum(len(v) > 1 for v in scans.values()),
        "intros_found": f"{len(found)}/{episodes}",
        "max_boundary_error_s": round(max(found), 2) if found else None,
    }
    notes = [f"season made (or read from the cache) in {made:.0f} s", " ".join(cmd)]
    return {"rows": [row], "notes": notes}
