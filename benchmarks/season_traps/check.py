"""Check a generated library against its truth with PyAV: ``python -m benchmarks.season_traps.check
DIR [series=Show,Show]``.

Why: the truth is only useful if it is what the files hold. Per file it checks the streams
(one video, the audio streams and default disposition intended, the sample rate), that every
video packet's time is ``k / fps`` and the last frame ends at the truth's duration. Per series
it compares two episodes: where the pictures recur, the first (and last) intro frame must match
across episodes while the frames just outside differ (the boundary is on the right frame); where
the sound recurs, the theme's audio must line up (cross-correlation lag, in ms).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

import av
import numpy as np

from benchmarks.season_traps import series as ser
from benchmarks.season_traps.pictures import Canvas
from benchmarks.season_traps.series import SERIES
from benchmarks.season_traps.timeline import master


def streams(path: Path, tr: dict) -> list[str]:
    problems = []
    with av.open(str(path)) as box:
        v, auds = box.streams.video, box.streams.audio
        if len(v) != 1 or len(auds) != tr["audio_streams"]:
            problems.append(
                f"{len(v)} video / {len(auds)} audio streams, wanted 1 / {tr['audio_streams']}"
            )
        for a in auds:
            if a.codec_context.sample_rate != tr["sample_rate"]:
                problems.append(f"audio rate {a.codec_context.sample_rate} != {tr['sample_rate']}")
        if len(auds) > 1:
            defaults = [
                i for i, a in enumerate(auds) if a.disposition & av.stream.Disposition.default
            ]
            if defaults != [tr["default_audio"]]:
                problems.append(f"default audio streams {defaults}, wanted [{tr['default_audio']}]")
        times = sorted(float(p.pts * p.time_base) for p in box.demux(v[0]) if p.pts is not None)
    fps = tr["fps"]
    err = max(abs(t - k / fps) for k, t in enumerate(times))
    end = times[-1] + 1 / fps
    if err > 0.0006 or abs(end - tr["duration"]) > 0.0006:
        problems.append(
            f"frame times off by up to {err * 1000:.2f} ms; ends {end:.4f} vs {tr['duration']:.4f}"
        )
    return problems


def frames_at(path: Path, times: list[float]) -> list[np.ndarray]:
    """Decoded frames (grey, float) whose start time is nearest each of ``times``."""
    want = {i: t for i, t in enumerate(times)}
    got: dict[int, tuple[float, np.ndarray]] = {}
    with av.open(str(path)) as box:
        for f in box.decode(video=0):
            for i, t in want.items():
                if abs(f.time - t) < 0.5 / float(box.streams.video[0].average_rate):
                    got[i] = (f.time, f.to_ndarray(format="gray").astype(np.float32))
    return [got[i][1] for i in range(len(times))]


def audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as box:
        sr = box.streams.audio[0].codec_context.sample_rate
        parts = [
            f.to_ndarray().mean(axis=0) if f.to_ndarray().ndim == 2 else f.to_ndarray()
            for f in box.decode(audio=0)
        ]
    return np.concatenate(parts).astype(np.float32), sr


def lag_ms(a: np.ndarray, b: np.ndarray, sr: int, max_lag=0.05) -> float:
    """Lag of b against a (ms) by FFT cross-correlation, searched within +-max_lag."""
    n = len(a) + len(b)
    xc = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)
    m = int(max_lag * sr)
    lags = np.concatenate([np.arange(0, m), np.arange(-m, 0)])
    vals = np.concatenate([xc[:m], xc[-m:]])
    return float(-lags[int(np.argmax(vals))] / sr * 1000)


def pair(lib: Path, a: dict, b: dict, s) -> list[str]:
    """Compare two episodes of one series at the intro boundaries."""
    out = []
    ia, ib = a["intro"], b["intro"]
    if s.intro_pictures != "episode":
        dt = 1 / a["fps"], 1 / b["fps"]
        fa = frames_at(lib / a["path"], [ia["start"] - dt[0], ia["start"], ia["end"] - dt[0]])
        fb = frames_at(lib / b["path"], [ib["start"] - dt[1], ib["start"], ib["end"] - dt[1]])
        d = [float(np.abs(x - y).mean()) for x, y in zip(fa, fb, strict=True)]
        out.append(
            f"pictures: before-intro diff {d[0]:5.1f}, first intro frame {d[1]:4.1f}, "
            f"last {d[2]:4.1f}"
        )
        if d[1] > 6 or d[2] > 6 or d[0] < 8:
            out.append("  !! intro frames do not line up")
    if s.intro_sound != "episode" and "pal_speedup" not in a["style"] + b["style"]:
        xa, sra = audio(lib / a["path"])
        xb, srb = audio(lib / b["path"])
        if sra == srb:
            w = int(3 * sra)
            seg_a = xa[int(ia["start"] * sra) + int(0.5 * sra) :][:w]
            seg_b = xb[int(ib["start"] * srb) + int(0.5 * srb) :][:w]
            out.append(f"sound: theme lag {lag_ms(seg_a, seg_b, sra):+.2f} ms")
    return out


def absolute(lib: Path, eid: str, tr: dict, doc: dict) -> str:
    """Lag of the decoded first audio stream against the generator's own mix (rebuilt from the
    seed), around the intro start (or the credits start): codec delay and placement together."""
    s = {x.name: x for x in SERIES}[tr["series"]]
    size = ser.SIZES[doc["size"]]
    cv = Canvas(size.width, size.height)
    k = int(eid.rsplit("E", 1)[1]) - 1
    plan = (
        ser.build_special(s, size, cv, doc["seed"])
        if "S00" in eid
        else ser.build(s, k, size, cv, doc["seed"])
    )
    ref = master(plan, 0)
    got, sr = audio(lib / tr["path"])
    at = (tr["intro"] or tr["credits"])["start"]
    lo = max(0, int((at - 0.5) * sr))
    w = int(3 * sr)
    lag = lag_ms(ref[lo : lo + w], got[lo : lo + w], sr)
    return f"audio vs generator mix at {at:.2f} s: lag {lag:+.2f} ms"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    root = Path(args[0])
    only = [x for a in args[1:] if a.startswith("series=") for x in a[7:].split(",")]
    truth = json.loads((root / "truth.json").read_text())["episodes"]
    lib = root / "library"
    bad = 0
    by_series = defaultdict(list)
    for eid, tr in sorted(truth.items()):
        if only and tr["series"] not in only:
            continue
        problems = streams(lib / tr["path"], tr)
        bad += bool(problems)
        print(f"{eid:<30} {'ok' if not problems else '; '.join(problems)}")
        if tr["intro"] and "Season" in tr["path"]:
            by_series[tr["series"]].append(tr)
    spec = {s.name: s for s in SERIES}
    for name, eps in by_series.items():
        if len(eps) >= 2:
            for line in pair(lib, eps[0], eps[1], spec[name]):
                print(f"{name:<16} E01 vs E02 {line}")
    doc = json.loads((root / "truth.json").read_text())
    firsts = {}
    for eid, tr in sorted(truth.items()):
        if (not only or tr["series"] in only) and (
            tr["series"] not in firsts or "pal_speedup" in tr["style"]
        ):
            firsts[eid if "pal_speedup" in tr["style"] else tr["series"]] = eid
    for eid in firsts.values():
        if "copy_of" not in truth[eid]:
            print(f"{eid:<30} {absolute(lib, eid, truth[eid], doc)}")
    print(f"{bad} files with stream or timing problems")
    return int(bad > 0)


if __name__ == "__main__":
    raise SystemExit(main())
