"""Measure the audio and picture fingerprints (see docs/fingerprints.md).

    python -m benchmarks.fingerprints audio [seasons=4] [episodes=4] [overlay_db=-12]
    python -m benchmarks.fingerprints pictures lib=/tmp/prints-lib [fps=2]
    python -m benchmarks.fingerprints timing
    python -m benchmarks.fingerprints decimated lib=/tmp/demo-lib

``audio``: seeded seasons (one theme per season, cold opens of random length, the episodes
encoded as AAC/44.1 kHz/stereo, Opus/48 kHz/mono at -6 dB, MP3/44.1 kHz), fingerprinted for each
(hop, window) variant; every pair of one season must share the theme, pairs of two seasons
nothing; ``overlay_db`` mixes each episode's own dialogue over its theme. ``pictures``: the
demo library's episodes hashed at ``fps`` frames a second, every pair of one series matched,
each match named by what it overlaps in truth.json. ``timing``: two 10-minute tracks sharing a
60-s theme, printed and matched. ``decimated``: each season of a demo library decided from its
sound alone with the decimated prints and with prints resampled by libswresample (version 2).
"""

from __future__ import annotations

import itertools
import json
import sys
import tempfile
import time
from pathlib import Path

import av
import numpy as np

from introdet.detection.fusion import SeasonSources, season_findings
from introdet.detection.matching import audio_times, match_audio, match_pictures
from introdet.detection.season import SeasonConfig
from introdet.features.audio import RATE, audio_fingerprint, decode_audio, fingerprint
from introdet.features.fingerprints import EpisodePrints
from introdet.features.picture import flat_frames, picture_hash
from tests.test_audio import (
    dialogue_wave,
    episode_wave,
    resampled_print,
    theme_wave,
    write_audio,
)

VARIANTS = [(0.1, 0.4), (0.1, 0.6), (0.05, 0.3), (0.05, 0.4), (0.05, 0.6)]  # (hop, window)
CODECS = [("aac", "mp4", 44100, "stereo", 0.0), ("libopus", "webm", 48000, "mono", -6.0),
          ("libmp3lame", "mp3", 44100, "stereo", 0.0)]  # fmt: skip


def make_seasons(tmp: Path, seasons: int, episodes: int, overlay_db: float | None, seed: int = 0):
    """Encoded episodes: [(season, theme start, theme length, samples [S], audio start, rate)].

    ``overlay_db``: each episode's own dialogue mixed over its theme at this level (None: none).
    """
    rng = np.random.default_rng(seed)
    out = []
    for s, e in itertools.product(range(seasons), range(episodes)):
        codec, ext, rate, layout, gain = CODECS[(s + e) % len(CODECS)]
        length = 20.0 + 5 * s
        before = float(rng.uniform(2.0, 25.0))
        theme = theme_wave(length, 100 + s, rate)
        if overlay_db is not None:
            theme = theme + 10 ** (overlay_db / 20) * dialogue_wave(length, 500 + 10 * s + e, rate)
        wave = episode_wave(theme, before, 10.0, 1000 * s + e, rate)
        path = write_audio(tmp / f"s{s}e{e}.{ext}", wave, rate, codec, layout, gain)
        sound = decode_audio(path)
        out.append((s, before, length, sound.samples, sound.start, sound.rate))
    return out


def audio(seasons: int = 4, episodes: int = 4, overlay_db: float | None = None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        eps = make_seasons(Path(tmp), seasons, episodes, overlay_db)
    print(f"{len(eps)} episodes, {seasons} seasons; pairs: same season "
          f"{sum(a[0] == b[0] for a, b in itertools.combinations(eps, 2))}, other "
          f"{sum(a[0] != b[0] for a, b in itertools.combinations(eps, 2))}")  # fmt: skip
    print(
        "hop   window  found  start bias  |err| med/p90/max  <=0.1s  len|err| max  BER in  "
        "false  ms/pair"
    )
    for hop, window in VARIANTS:
        prints = [fingerprint(x[3], x[5], hop, window, x[4]) for x in eps]
        errs, lens, bers, found, false, spent = [], [], [], 0, 0, 0.0
        for (i, x), (j, y) in itertools.combinations(enumerate(eps), 2):
            t0 = time.perf_counter()
            matches = match_audio(prints[i], prints[j])
            spent += time.perf_counter() - t0
            if x[0] != y[0]:
                false += len(matches)
                continue
            if not matches:
                continue
            found += 1
            sa, ea, sb, _ = audio_times(matches[0], prints[i], prints[j])
            length = ea - sa
            errs += [sa - x[1], sb - y[1]]
            lens.append(abs(length - x[2]))
            bers.append(matches[0].ber)
        same = sum(x[0] == y[0] for x, y in itertools.combinations(eps, 2))
        bias, e = np.mean(errs), np.abs(errs)
        n_pairs = len(eps) * (len(eps) - 1) // 2
        print(f"{hop:<5} {window:<7} {found}/{same}  {bias:+.3f}       {np.median(e):.3f}/"
              f"{np.quantile(e, 0.9):.3f}/{e.max():.3f}  {np.mean(e <= 0.1):.2f}    "
              f"{max(lens):.3f}         "
              f"{np.mean(bers):.3f}   {false}"
              f"      {1000 * spent / n_pairs:.1f}")  # fmt: skip


def sample_frames(path: Path, fps: float) -> np.ndarray:
    """Frames nearest every 1/fps seconds: uint8 [T, H, W, 3] (decodes the whole file)."""
    picked, next_t = [], 0.0
    with av.open(str(path)) as c:
        for frame in c.decode(video=0):
            if frame.time is not None and frame.time + 1e-6 >= next_t:
                picked.append(frame.to_ndarray(format="rgb24"))
                next_t += 1.0 / fps
    return np.stack(picked)


def _label(row: dict, t0: float, t1: float) -> str:
    spans = [("intro", row["intro"]["start"], row["intro"]["end"])] if row["intro"] else []
    spans += [(d["kind"], d["start"], d["end"]) for d in row["distractors"]]
    best = max(spans, key=lambda s: min(t1, s[2]) - max(t0, s[1]), default=None)
    if best is None or min(t1, best[2]) - max(t0, best[1]) <= 0:
        return "other"
    return best[0]


def pictures(lib: str, fps: float = 2.0) -> None:
    truth = json.loads((Path(lib) / "truth.json").read_text(encoding="utf-8"))["episodes"]
    prints = {}
    for key, row in truth.items():
        frames = sample_frames(Path(lib) / row["path"], fps)
        prints[key] = (picture_hash(frames), flat_frames(frames))
    kinds: dict[str, int] = {}
    intro_pairs, intro_found, starts = 0, 0, []
    for (ka, ra), (kb, rb) in itertools.combinations(truth.items(), 2):
        if ra["series"] != rb["series"]:
            kinds["other series"] = kinds.get("other series", 0) + len(
                match_pictures(
                    prints[ka][0],
                    prints[kb][0],
                    prints[ka][1],
                    prints[kb][1],
                    min_length=int(2 * fps),
                )  # fmt: skip
            )
            continue
        both = ra["intro"] is not None and rb["intro"] is not None
        intro_pairs += both
        ms = match_pictures(prints[ka][0], prints[kb][0], prints[ka][1], prints[kb][1],
                            min_length=int(2 * fps))  # fmt: skip
        hit = False
        for m in ms:
            t0, t1 = m.start_a / fps, (m.start_a + m.length) / fps
            kind = _label(ra, t0, t1)
            kinds[kind] = kinds.get(kind, 0) + 1
            if kind == "intro" and both and not hit:
                hit = True
                starts += [
                    abs(t0 - ra["intro"]["start"]),
                    abs(m.start_b / fps - rb["intro"]["start"]),
                ]
        intro_found += hit
    s = np.array(starts) if starts else np.zeros(1)
    print(f"picture hash at {fps} fps: intro found in {intro_found}/{intro_pairs} pairs with "
          f"an intro in both; start |err| median {np.median(s):.2f} s, "
          f"max {s.max():.2f} s")  # fmt: skip
    print("matches by what they overlap in A:", dict(sorted(kinds.items())))


def timing() -> None:
    theme = theme_wave(60.0, 5, RATE)
    wave_a = episode_wave(theme, 95.0, 445.0, 1, RATE)  # [600 s * RATE]
    wave_b = episode_wave(theme, 240.0, 300.0, 2, RATE)
    t0 = time.perf_counter()
    a, b = fingerprint(wave_a), fingerprint(wave_b)
    t1 = time.perf_counter()
    for _ in range(3):
        found = match_audio(a, b)
    t2 = time.perf_counter()
    shared = [(round(sa, 2), round(sb, 2), round(ea - sa, 2))
              for sa, ea, sb, _ in (audio_times(m, a, b) for m in found)]  # fmt: skip
    print(f"{len(a)} x {len(b)} codes (hop {a.hop:.4f} s): printing both {t1 - t0:.2f} s, "
          f"matching {(t2 - t1) / 3 * 1000:.0f} ms; shared (start A, start B, length): {shared}"
          " (truth: 95.0, 240.0, 60.0)")  # fmt: skip


def decimated(lib: str) -> None:
    """Each season of a demo library decided from its sound alone (no pictures), once from the
    decimated prints and once from prints of libswresample's 11025 Hz: how far apart."""
    lib_path = Path(lib)
    truth = json.loads((lib_path / "truth.json").read_text())
    series: dict[str, list[dict]] = {}
    for e in truth["episodes"].values():
        series.setdefault(e["series"], []).append(e)
    both, apart, worst = 0, [], 0.0
    for members in series.values():
        paths = [lib_path / e["path"] for e in members]
        fast = [EpisodePrints(e["duration"], audio_fingerprint(p)) for e, p in
                zip(members, paths, strict=True)]  # fmt: skip
        slow = [resampled_print(p, e["duration"]) for e, p in zip(members, paths, strict=True)]
        a, b = (season_findings(SeasonSources(x, lambda k: None), SeasonConfig()).results
                for x in (fast, slow))  # fmt: skip
        for e, x, y in zip(members, a, b, strict=True):
            for kind in ("intro", "credits"):
                s, t = getattr(x, kind), getattr(y, kind)
                if s is None or t is None:
                    apart += [(e["path"], kind, s, t)] if (s is None) != (t is None) else []
                    continue
                both, d = both + 1, max(abs(s.start - t.start), abs(s.end - t.end))
                worst = max(worst, d)
                apart += [(e["path"], kind, round(d, 3))] if d > 0.05 else []
    print(f"{lib}: {both} intros and credits found both ways, the largest difference "
          f"{worst:.3f} s; found one way only or more than 0.05 s apart: {len(apart)}")
    for x in apart:
        print("  ", x)


def main(argv: list[str]) -> None:
    args = dict(a.split("=", 1) for a in argv[1:])
    if argv[0] == "timing":
        timing()
    elif argv[0] == "decimated":
        decimated(args["lib"])
    elif argv[0] == "audio":
        overlay = args.get("overlay_db")
        audio(int(args.get("seasons", 4)), int(args.get("episodes", 4)),
              None if overlay is None else float(overlay))  # fmt: skip
    else:
        pictures(args["lib"], float(args.get("fps", 2.0)))


if __name__ == "__main__":
    main(sys.argv[1:])
