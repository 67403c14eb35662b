"""Seeded demo TV library: real encoded episodes with known intros, label files and a truth file.

``make_library(out, seed, size)`` writes::

    out/videos/<Series folder>/<episode id>.<ext>    mp4/H.264, mkv/HEVC, webm/VP9, avi/MPEG-4
    out/videos/<Series folder>/Season 1/..., .../Specials/...   a series with a special
    out/train_labels.json  out/test_labels.json      the real labels format (whole seconds)
    out/truth.json                                    exact intro times, frames, distractors

Every episode is a chain of scenes (a noisy gradient background with a few moving shapes, cut
every few seconds). The intro of a series is rendered from the series' seeds only, so its pixels
are identical in every episode; everything else is drawn from the episode's seeds, except the
recurring non-intro material recorded as ``distractors`` (a studio logo, a "previously on" recap
of the previous episode, black gaps, a recurring set). ``introdet.demo.traps`` adds the traps
of real seasons: an intro without recurring sound, a re-recorded theme, a PAL copy, mixed frame
rates, a dub beside the original sound, a byte-identical copy, a special, lines over the theme,
a "next time on" preview.

Transition rule: a fade-in intro starts at the first frame of the fade (already 1/12 lit); a
fade-to-black intro ends at the first frame after the black one, so the black frame is intro.
Truth times are the presentation timestamps of the files as written (read back after
encoding), so ``start`` is the pts of the first intro frame and ``end`` the pts of the first
frame after it. Label times are the nearest whole second, ``floor(t + 0.5)``.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import av
import numpy as np
from omegaconf import DictConfig

from introdet.atomic import atomic_write_text
from introdet.cli import command
from introdet.demo import render
from introdet.demo.library_plan import plan_library
from introdet.demo.plan import Episode
from introdet.demo.series import CODEC_OPTIONS, PROFILES, Profile
from introdet.demo.traps import SERIES_STYLES, chapter_marks
from introdet.demo.videofile import add_chapters, write_video
from introdet.errors import ConfigError, LibraryError

SLIP = 60  # the labels' known typing slip: the start minute one too high
WORKERS = 2
# a dubbed series' two audio streams; a dubbed release plays its dub by default
DUB = {"language": "rus", "title": "Дубляж", "default": True, "dub": True}
ORIGINAL = {"language": "eng", "title": "Original", "default": False, "dub": False}


# --- files ---------------------------------------------------------------------------------


def encode_episode(ep: Episode, out: str) -> list[float]:
    """Write one episode (temp name, then rename); return its frames' pts in seconds."""
    sd = ep.series
    final = Path(out) / ep.path
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.stem}.tmp{final.suffix}")
    bare = final.with_name(f".{final.stem}.bare{final.suffix}")
    opts = dict(CODEC_OPTIONS[sd.codec])
    try:
        # video alone first, then its packets copied beside the encoded soundtrack(s)
        write_video(bare, render.render_episode(ep), float(ep.fps), sd.codec, options=opts)
        codec = "libopus" if sd.ext == "webm" else "aac"  # WebM takes no AAC
        rate = 48000 if codec == "libopus" else 22050
        wave = render.episode_audio(ep, rate)
        if ep.dub_first is None:
            add_soundtrack(bare, tmp, codec, wave, rate)
        else:
            tracks = [(render.episode_audio(ep, rate, dub=True), DUB), (wave, ORIGINAL)]
            tracks = tracks if ep.dub_first else tracks[::-1]
            add_soundtrack(bare, tmp, codec, [w for w, _ in tracks], rate, [t for _, t in tracks])
        times = frame_times(tmp)
        if len(times) != ep.n_frames:
            raise LibraryError(f"{final}: wrote {ep.n_frames} frames, reads back {len(times)}")
        if ep.chapters:
            end_of = [*times, times[-1] + 1 / float(ep.fps)]
            marks = [(end_of[a], end_of[b], t) for a, b, t in chapter_marks(ep)]
            os.replace(add_chapters(tmp, bare, marks), tmp)
        os.replace(tmp, final)
    finally:
        bare.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)
    return times


def add_soundtrack(
    src: Path,
    dst: Path,
    codec: str,
    wave: np.ndarray | Sequence[np.ndarray],
    rate: int,
    tags: Sequence[dict] = (),
) -> None:
    """Copy ``src``'s video packets into ``dst`` beside ``wave`` (mono float32 [S] at ``rate``
    Hz, or one such per audio stream, in stream order) encoded with ``codec``; nothing of the
    picture is re-encoded. ``tags`` per stream: ``language``, ``title``, ``default``."""
    waves = [wave] if isinstance(wave, np.ndarray) else list(wave)
    with av.open(str(src)) as inp, av.open(str(dst), "w") as out:
        vin = inp.streams.video[0]
        vout = out.add_stream_from_template(vin)
        packets = []
        for k, w in enumerate(waves):
            aout = out.add_stream(codec, rate=rate, layout="mono")
            if k < len(tags):
                _tag(aout, tags[k])
            packets += [(p, aout) for p in _encode_audio(aout, w, rate)]
        packets.sort(key=lambda pa: _when(pa[0]) or 0.0)  # stable: each stream keeps its order
        queue = iter(packets)
        pending = next(queue, None)
        for p in inp.demux(vin):  # video in its own order, audio slipped in by time
            if not p.size:  # the demuxer's end-of-stream marker
                continue
            t = _when(p)
            while pending is not None and (t is None or _when(pending[0]) <= t + 1.0):
                pending[0].stream = pending[1]
                out.mux(pending[0])
                pending = next(queue, None)
            p.stream = vout
            out.mux(p)
        for rest, stream in ([pending] if pending is not None else []) + list(queue):
            rest.stream = stream
            out.mux(rest)


def _encode_audio(aout, wave: np.ndarray, rate: int) -> list[av.Packet]:
    """Every packet of ``wave`` encoded by the (not yet opened) stream ``aout``."""
    aout.codec_context.open()  # frame_size is only known once open
    step = aout.codec_context.frame_size or 960
    fmt = aout.codec_context.format.name
    if fmt.startswith("s16"):
        wave = np.round(wave * 32767).astype(np.int16)
    packets = []
    for i in range(0, len(wave), step):
        chunk = wave[i : i + step]
        chunk = np.pad(chunk, (0, step - len(chunk)))[None, :]
        frame = av.AudioFrame.from_ndarray(chunk, format=fmt, layout="mono")
        frame.sample_rate, frame.pts = rate, i
        packets += list(aout.encode(frame))
    return packets + list(aout.encode())


def _tag(stream, tag: dict) -> None:
    """Language and title in the stream's metadata; the default (and dub) disposition."""
    for key in ("language", "title"):
        if tag.get(key):
            stream.metadata[key] = tag[key]
    flags = av.stream.Disposition(0)
    if tag.get("default"):
        flags |= av.stream.Disposition.default
    if tag.get("dub"):
        flags |= av.stream.Disposition.dub
    stream.disposition = flags


def _when(packet: av.Packet) -> float | None:
    """A packet's decoding time in seconds (its presentation time where it has no dts)."""
    t = packet.dts if packet.dts is not None else packet.pts
    return None if t is None else float(t * packet.time_base)


def frame_times(path: str | Path) -> list[float]:
    """Presentation times (seconds) of every video frame, in display order, from the packets."""
    try:
        with av.open(str(path)) as c:
            stream = c.streams.video[0]
            pts = sorted(p.pts for p in c.demux(stream) if p.pts is not None and p.size)
            return [float(p * stream.time_base) for p in pts]
    except (av.FFmpegError, IndexError) as e:
        raise LibraryError(f"{path}: cannot read back the video stream ({e})") from e


def _nearest_second(t: float) -> int:
    return math.floor(t + 0.5)


def _hms(s: int) -> str:
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def _truth_row(ep: Episode, times: list[float]) -> dict:
    bounds, i = [], 0
    for scene, tag in ep.scenes:
        bounds.append((i, i + scene.n, tag))
        i += scene.n
    end_of = times + [round(times[-1] + 1 / float(ep.fps), 6)]  # one past the last frame
    intro = [(a, b) for a, b, tag in bounds if tag == "intro"]
    row = {
        "series": ep.series.folder,
        "split": ep.split,
        "seen": ep.seen,
        "path": ep.path,
        "name": ep.name,
        "codec": ep.series.codec,
        "fps": float(ep.fps),
        "duration": end_of[-1],
        "n_frames": len(times),
        "intro": None,
        "credits": None,
        "opening": ep.opening,
        "style": style_of(ep.series) + ep.traps,
        "gain_db": round(20 * math.log10(ep.gain), 2),
        "distractors": [],
    }
    if intro:
        a, b = intro[0][0], intro[-1][1]
        row["intro"] = {
            "start": end_of[a],
            "end": end_of[b],
            "start_frame": a,
            "end_frame": b,
            "start_transition": ep.series.start_transition,
            "end_transition": ep.series.end_transition,
        }
    credits = [(a, b) for a, b, tag in bounds if tag == "credits"]
    if credits:
        a, b = credits[0][0], credits[-1][1]
        row["credits"] = {"start": end_of[a], "end": end_of[b], "start_frame": a, "end_frame": b}
    for a, b, tag in _merge_runs(bounds):
        if tag not in (None, "intro", "credits"):
            row["distractors"].append({"kind": tag, "start": end_of[a], "end": end_of[b]})
    if ep.dub_first is not None:
        order = (DUB, ORIGINAL) if ep.dub_first else (ORIGINAL, DUB)
        row["audio_streams"] = [dict(t) for t in order]
    if ep.copy_of:
        row["copy_of"] = ep.copy_of
    if ep.chapters:
        row["chapters"] = [[end_of[a], end_of[b], t] for a, b, t in chapter_marks(ep)]
    return row


def style_of(sd) -> list[str]:
    """The traps a series sets for a detector, by name (its truth row's ``style``, before the
    traps of the episode alone: a PAL copy, a re-recorded theme, a special...)."""
    flags = ("cold_open", "logo", "recap", "recurring_set", "intro_at_zero", "cut_short",
             "two_openings", "text_over_intro", "long_credits", *SERIES_STYLES)  # fmt: skip
    return [sd.intro] + [f for f in flags if getattr(sd, f)]


def _first_appearances(episodes: Sequence[Episode], rows: dict[str, dict]) -> None:
    """``first_appearance`` on every row with an intro: whether its opening (of the series'
    openings) plays there first in its season, in broadcast order; a copy's is its original's."""
    seasons: dict[tuple[str, str], list[Episode]] = {}
    for ep in episodes:
        if not ep.copy_of:
            seasons.setdefault((ep.series.folder, ep.season_dir), []).append(ep)
    for season in seasons.values():
        heard: set[int] = set()
        for ep in sorted(season, key=lambda e: e.number):
            row = rows[ep.id]
            if row["intro"] is not None:
                row["first_appearance"] = ep.opening not in heard
                heard.add(ep.opening)
    for ep in episodes:
        if ep.copy_of and rows[ep.id]["intro"] is not None:
            rows[ep.id]["first_appearance"] = rows[ep.copy_of]["first_appearance"]


def _merge_runs(bounds: list[tuple[int, int, str | None]]) -> list[tuple[int, int, str | None]]:
    """Adjacent scenes with one tag as one span (a recap is several shots)."""
    out: list[tuple[int, int, str | None]] = []
    for a, b, tag in bounds:
        if out and out[-1][2] == tag and out[-1][1] == a:
            out[-1] = (out[-1][0], b, tag)
        else:
            out.append((a, b, tag))
    return out


def _labels(truth: dict, seed: int, prof: Profile) -> tuple[dict, dict]:
    rng = np.random.default_rng([seed, 998])
    eps = truth["episodes"]
    # the slip needs start + 60 > end, i.e. an intro that rounds to under a minute
    can_slip = sorted(
        k
        for k, e in eps.items()
        if e["split"] == "train"
        and not e.get("copy_of")  # a copy's row stays its original's
        and e["intro"]
        and 1 <= _nearest_second(e["intro"]["end"]) - _nearest_second(e["intro"]["start"]) < SLIP
    )
    n = min(len(can_slip), int(rng.integers(prof.n_slips[0], prof.n_slips[1] + 1)))
    slipped = {can_slip[int(i)] for i in rng.choice(len(can_slip), n, replace=False)}
    files: dict[str, dict] = {"train": {}, "test": {}}
    for k, e in sorted(eps.items()):
        e["slipped"] = k in slipped
        start = end = None
        if e["intro"]:
            s = _nearest_second(e["intro"]["start"]) + (SLIP if k in slipped else 0)
            start, end = _hms(s), _hms(_nearest_second(e["intro"]["end"]))
        files[e["split"]][k] = {"name": e["name"], "url": "", "start": start, "end": end}
    return files["train"], files["test"]


def _remove_stale(out: Path, keep: set[str]) -> None:
    """Delete videos an earlier run listed in truth.json that this library no longer has."""
    try:
        old = json.loads((out / "truth.json").read_text(encoding="utf-8"))["episodes"]
    except (OSError, ValueError, KeyError, TypeError):
        return
    for e in old.values():
        rel = e.get("path", "") if isinstance(e, dict) else ""
        if rel.startswith("videos/") and ".." not in rel and rel not in keep:
            (out / rel).unlink(missing_ok=True)


def _copy_file(src: Path, dst: Path) -> None:
    """``dst`` byte for byte ``src`` (temp name, then rename)."""
    tmp = dst.with_name(f".{dst.stem}.tmp{dst.suffix}")
    try:
        shutil.copyfile(src, tmp)
        os.replace(tmp, dst)
    finally:
        tmp.unlink(missing_ok=True)


def make_library(out: str | Path, seed: int = 0, size: str = "full") -> dict:
    """Write the demo library under ``out`` and return the truth dict (also in truth.json)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise LibraryError(f"{out}: exists and is not a directory")
    episodes = plan_library(seed, size)
    out.mkdir(parents=True, exist_ok=True)
    _remove_stale(out, {ep.path for ep in episodes})
    jobs = sorted(
        (ep for ep in episodes if not ep.copy_of),
        key=lambda ep: -ep.n_frames * ep.frame[0] * ep.frame[1],
    )
    with ProcessPoolExecutor(WORKERS) as pool:
        futures = {ep.id: pool.submit(encode_episode, ep, str(out)) for ep in jobs}
        times = {k: f.result() for k, f in futures.items()}
    for ep in episodes:
        if ep.copy_of:
            times[ep.id] = times[ep.copy_of]
            _copy_file(out / next(o.path for o in episodes if o.id == ep.copy_of), out / ep.path)
    truth = {
        "seed": seed,
        "size": size,
        "episodes": {ep.id: _truth_row(ep, times[ep.id]) for ep in episodes},
    }
    _first_appearances(episodes, truth["episodes"])
    train, test = _labels(truth, seed, PROFILES[size])
    for name, data in (("train_labels.json", train), ("test_labels.json", test)):
        atomic_write_text(out / name, json.dumps(data, ensure_ascii=False, indent=2) + "\n")
    atomic_write_text(out / "truth.json", json.dumps(truth, ensure_ascii=False, indent=2) + "\n")
    return truth


def _summary(truth: dict) -> list[str]:
    by_series: dict[str, list[dict]] = {}
    for e in truth["episodes"].values():
        by_series.setdefault(e["series"], []).append(e)
    lines = []
    for series, eps in by_series.items():
        n_train = sum(e["split"] == "train" for e in eps)
        intros = [e["intro"] for e in eps if e["intro"]]
        length = intros[0]["end"] - intros[0]["start"] if intros else 0.0
        starts = ", ".join(f"{i['start']:.2f}" for i in intros)
        kinds = sorted({d["kind"] for e in eps for d in e["distractors"]})
        styles = sorted({s for e in eps for s in e["style"]})
        lines.append(
            f"{series}: {len(eps)} episodes ({n_train} train, {len(eps) - n_train} test"
            f"{'' if eps[0]['seen'] else ', unseen series'}), {eps[0]['codec']} "
            f"{Path(eps[0]['path']).suffix[1:]} @ {eps[0]['fps']:.3f} fps, "
            f"{sum(e['duration'] for e in eps) / 60:.1f} min, intro {length:.2f} s "
            f"starting at [{starts}], {len(eps) - len(intros)} without; "
            f"distractors: {', '.join(kinds) or 'none'}; styles: {', '.join(styles)}"
        )
    return lines


def generate(cfg: DictConfig) -> int:
    """``python -m introdet.demo.make_library out=DIR [seed=0] [size=full|ci|tiny]``."""
    if isinstance(cfg.seed, bool) or not isinstance(cfg.seed, int):
        raise ConfigError(f"seed must be an integer, got {cfg.seed!r}")
    t0 = time.perf_counter()
    truth = make_library(cfg.out, cfg.seed, cfg.size)
    for line in _summary(truth):
        print(line)
    print(f"{len(truth['episodes'])} episodes in {time.perf_counter() - t0:.1f} s")
    for name in ("videos", "train_labels.json", "test_labels.json", "truth.json"):
        print(Path(cfg.out) / name)
    return 0


main = command("make_library")(generate)

if __name__ == "__main__":
    main()
