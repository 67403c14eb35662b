"""Kind 1, video inputs: one bad, odd or hostile item in a folder beside the sound 5-s clip
(``good.mp4``), then ``extract`` and ``predict`` (the tiny trained checkpoint, the shards of the
extract run as its cache) on that folder.

Handled means (docs/reliability.md, "Inputs tried"): the good clip is extracted in full (5 rows,
equal to its features extracted alone) and predicted; the bad item is done, warned, failed (a
``FAILED <path>: <reason>`` line) or ignored as its entry allows, and when it is extracted its
rows are sane (and equal to the uncut file's where one exists); exit code 1 exactly when a file
failed; every extracted episode has a whole record in every format and a row in intros.csv;
nothing raw printed; the input folder untouched; no marker file of a shell-looking name.
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.hostile.assets import ALL_FORMATS, FORMATS, Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import (
    EXTRACT,
    PREDICT,
    ROOT,
    SUFFIXES,
    Check,
    Run,
    Verdict,
    check_shards,
    csv_rows,
    listing,
    named,
    run,
    temp_files,
    verdict,
)
from tests import badfiles

GOOD = "good"
DONE, WARNED, FAILED, IGNORED = "done", "warned", "failed", "ignored"
ANY = frozenset({DONE, WARNED, FAILED, IGNORED})


@dataclass
class Expect:
    """What the bad item may become (docs/reliability.md outcomes) and how its rows check."""

    allowed: frozenset[str]
    rows: tuple[int, int] | None = None  # inclusive bounds on its rows when extracted
    ref: str | None = None  # clip whose features its rows must equal ("good" or a clip name)
    match: str = "all"  # all: every row (the last may differ when warned) | ends | none
    done_n: int | None = None  # how many episodes besides the good one must be extracted
    short_needs_warning: bool = False  # fewer rows than the reference without a warning: wrong
    default_cache: bool = False  # predict with its default feature cache (<out>/shards)
    note: str = ""


def E(*allowed: str, **kw) -> Expect:
    return Expect(frozenset(allowed), **kw)


# --- makers: each puts its item(s) into the folder ------------------------------------------


def _ffmpeg(*args: str) -> None:
    cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", *args]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def random_bytes(d: Path, name: str, n: int, head: bytes = b"", seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    return _write(d / name, head + rng.integers(0, 256, n, dtype=np.uint8).tobytes())


def copy_of(clip: Path, d: Path, name: str) -> Path:
    dst = d / name
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(clip, dst)
    return dst


def truncated(src: Path, d: Path, name: str, fraction: float) -> Path:
    data = src.read_bytes()
    return _write(d / name, data[: int(len(data) * fraction)])


def flipped(src: Path, d: Path, name: str, n: int, lo: float, hi: float, seed: int) -> Path:
    data = bytearray(src.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.integers(int(len(data) * lo), int(len(data) * hi), n):
        data[i] ^= 0xFF
    return _write(d / name, bytes(data))


def clip(codec: str = "libx264", seed: int = 1, **kw) -> Callable[[Path], Path]:
    """A maker of a sound 5-s clip at ``path`` (seed 1: the uncut files)."""
    return lambda path: badfiles.good(path, seed=seed, codec=codec, **kw)


def faststart(path: Path) -> Path:
    src = badfiles.good(path.with_name("fs_src.mp4"), seed=1)
    _ffmpeg("-i", str(src), "-c", "copy", "-movflags", "+faststart", str(path))
    src.unlink()
    return path


def mpegts(path: Path) -> Path:
    src = badfiles.good(path.with_name("ts_src.mp4"), seed=1)
    _ffmpeg("-i", str(src), "-c", "copy", "-f", "mpegts", str(path))
    src.unlink()
    return path


def liar_source(path: Path) -> Path:
    return badfiles.good(path, seed=8)


def lying_header(d: Path, a: Assets, claimed: float) -> Path:
    """badfiles.wrong_duration's edit with any claim (the header says ``claimed`` s)."""
    src = a.clip("liar.mkv", liar_source)
    path = copy_of(src, d, f"liar{claimed:g}.mkv")
    data = bytearray(path.read_bytes())
    at = data.find(b"\x44\x89\x88")
    data[at + 3 : at + 11] = struct.pack(">d", claimed * 1000)
    tag = b"00:00:05.000000000"
    at = data.find(tag)
    m, s = divmod(claimed, 60)
    h, m = divmod(int(m), 60)
    data[at : at + len(tag)] = f"{h:02d}:{m:02d}:{s:012.9f}".encode()[: len(tag)]
    return _write(path, bytes(data))


def flat_frames(n: int, h: int, w: int) -> list[np.ndarray]:
    colours = [(200, 30, 90), (20, 180, 60), (40, 40, 220), (230, 230, 30), (10, 10, 10)]
    return [np.full((h, w, 3), colours[i % len(colours)], np.uint8) for i in range(n)]


def sized(d: Path, name: str, n: int, h: int, w: int, fps: float = 1) -> Path:
    from introdet.demo.videofile import write_video

    return write_video(d / name, flat_frames(n, h, w), fps=fps, options={"preset": "ultrafast"})


def noise(d: Path, name: str, n: int, fps: float = 10, **kw) -> Path:
    from introdet.demo.videofile import write_video

    return write_video(d / name, badfiles.frames(n, 11), fps=fps, **kw)


def many_streams(d: Path, a: Assets) -> Path:
    other = badfiles.good(d / ".other.mp4", seed=5)
    out = d / "streams.mkv"
    _ffmpeg("-i", str(a.good), "-i", str(other), "-f", "lavfi", "-i", "sine=d=5",
            "-f", "lavfi", "-i", "sine=f=880:d=5", "-map", "0:v", "-map", "1:v", "-map", "2:a",
            "-map", "3:a", "-c:v", "copy", "-c:a", "aac", str(out))  # fmt: skip
    other.unlink()
    return out


def audio_first(d: Path, a: Assets) -> Path:
    out = d / "audiofirst.mkv"
    _ffmpeg("-f", "lavfi", "-i", "sine=d=5", "-i", str(a.good), "-map", "0:a", "-map", "1:v",
            "-c:v", "copy", "-c:a", "aac", str(out))  # fmt: skip
    return out


def cover_first(d: Path, a: Assets) -> Path:
    """An MP4 whose first video stream is cover art (attached picture), the episode second."""
    png = d / ".cover.png"
    _ffmpeg("-f", "lavfi", "-i", "color=c=red:s=64x48", "-frames:v", "1", str(png))
    out = d / "cover.mp4"
    _ffmpeg("-i", str(png), "-i", str(a.good), "-map", "0", "-map", "1", "-c", "copy",
            "-disposition:v:0", "attached_pic", str(out))  # fmt: skip
    png.unlink()
    return out


def subtitles_only(d: Path) -> Path:
    srt = d / ".subs.srt"
    srt.write_text(
        "1\n00:00:00,000 --> 00:00:02,000\nhello\n\n2\n00:00:03,000 --> 00:00:04,000\nbye\n"
    )
    out = d / "subs.mkv"
    _ffmpeg("-i", str(srt), "-c:s", "srt", str(out))
    srt.unlink()
    return out


def reencoded(d: Path, a: Assets, name: str, *args: str) -> Path:
    out = d / name
    _ffmpeg("-i", str(a.good), *args, str(out))
    return out


def png_named(d: Path) -> Path:
    out = d / "picture.mkv"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48", "-frames:v", "1", "-c:v", "png", "-f",
            "image2", str(out))  # fmt: skip
    return out


def gif_named(d: Path) -> Path:
    out = d / "anim.mp4"
    _ffmpeg("-f", "lavfi", "-i", "testsrc=s=64x48:d=3:r=5", "-f", "gif", str(out))
    return out


def mp3_named(d: Path) -> Path:
    out = d / "song.mkv"
    _ffmpeg("-f", "lavfi", "-i", "sine=d=3", "-c:a", "aac", "-f", "adts", str(out))
    return out


def sparse(d: Path, name: str, size: int) -> Path:
    p = d / name
    with open(p, "wb") as f:
        f.truncate(size)
    return p


def link(d: Path, name: str, target: str | Path) -> Path:
    p = d / name
    os.symlink(target, p)
    return p


def fifo(d: Path, name: str) -> Path:
    p = d / name
    os.mkfifo(p)
    return p


def nested_dir(d: Path, a: Assets, name: str, inner: str) -> Path:
    p = d / name
    p.mkdir()
    copy_of(a.good, p, inner)
    return p


def locked(path: Path, mode: int = 0) -> Path:
    path.chmod(mode)
    return path


def deep(d: Path, a: Assets, levels: int) -> Path:
    p = d
    for i in range(levels):
        p = p / f"d{i}"
    return copy_of(a.good, p, "deep_ep.mp4")


MARK = "HOSTILE_PWNED"  # a name that would appear if a file name ran as a shell command


def makers(a: Assets) -> dict[str, tuple[Callable[[Path], object], Expect]]:
    g = lambda: a.good  # noqa: E731
    uncut = {
        "mkv": partial(a.clip, "uncut.mkv", clip()),
        "mp4": partial(a.clip, "uncut.mp4", clip()),
        "webm": partial(a.clip, "uncut.webm", clip("libvpx-vp9")),
        "avi": partial(a.clip, "uncut.avi", clip("mpeg4")),
        "fs": partial(a.clip, "faststart.mp4", faststart),
        "ts": partial(a.clip, "uncut.ts", mpegts),
    }
    refs = {"mkv": "uncut.mkv", "mp4": "uncut.mp4", "webm": "uncut.webm", "avi": "uncut.avi",
            "fs": "faststart.mp4", "ts": "uncut.ts"}  # fmt: skip
    ext = {"fs": "mp4"}
    m: dict[str, tuple[Callable[[Path], object], Expect]] = {
        # not media at all
        "zero_bytes": (badfiles.zero_bytes, E(FAILED)),
        "text_named_mp4": (badfiles.text_as_video, E(FAILED)),
        "random_1m_mkv": (lambda d: random_bytes(d, "rnd.mkv", 1 << 20, seed=1), E(FAILED)),
        "ftyp_then_random": (
            lambda d: random_bytes(
                d, "ftyp.mp4", 50000, b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2", 2
            ),
            E(FAILED),
        ),  # fmt: skip
        "ebml_then_random": (
            lambda d: random_bytes(
                d, "ebml.mkv", 50000, b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01", 3
            ),
            E(FAILED),
        ),
        "sparse_1g_mkv": (lambda d: sparse(d, "zeros.mkv", 1 << 30), E(FAILED)),
        # lying extensions
        "mkv_named_mp4": (
            lambda d: reencoded(d, a, "really_mkv.mp4", "-c", "copy", "-f", "matroska"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "mp4_named_avi": (
            lambda d: copy_of(g(), d, "really_mp4.avi"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "webm_named_mkv": (
            lambda d: copy_of(uncut["webm"](), d, "really_webm.mkv"),
            E(DONE, rows=(5, 5), ref="uncut.webm"),
        ),
        "png_named_mkv": (png_named, E(DONE, WARNED, FAILED, rows=(1, 1))),
        "gif_named_mp4": (gif_named, E(DONE, WARNED, FAILED, rows=(1, 4))),
        "aac_named_mkv": (mp3_named, E(FAILED)),
        # no picture
        "audio_only": (badfiles.audio_only, E(FAILED)),
        "subtitles_only": (subtitles_only, E(FAILED)),
        "garbage_packets": (badfiles.garbage_packets, E(FAILED)),
        # damaged: flipped bytes (middle third: the first and last second must stay exact)
        **{
            f"flipped_mkv_{n}_{s}": (
                partial(
                    lambda d, n, s: flipped(uncut["mkv"](), d, f"flip{n}.mkv", n, 1 / 3, 2 / 3, s),
                    n=n,
                    s=s,
                ),
                E(DONE, WARNED, FAILED, rows=(5, 5), ref="uncut.mkv", match="ends"),
            )
            for n, s in ((64, 0), (512, 2))
        },  # fmt: skip
        "flipped_mp4_64": (
            lambda d: flipped(uncut["mp4"](), d, "flip.mp4", 64, 1 / 3, 2 / 3, 4),
            E(DONE, WARNED, FAILED, rows=(5, 5), ref="uncut.mp4", match="ends"),
        ),
        "flipped_header_mkv": (
            lambda d: flipped(uncut["mkv"](), d, "fliphead.mkv", 8, 0, 0.01, 5),
            E(DONE, WARNED, FAILED, rows=(1, 5)),
        ),
        "flipped_header_mp4": (
            lambda d: flipped(uncut["mp4"](), d, "fliphead.mp4", 8, 0.97, 1, 6),
            E(DONE, WARNED, FAILED, rows=(1, 5)),
        ),
    }
    # truncated at many fractions (an interrupted copy or download)
    cuts = {"mkv": (0.05, 0.5, 0.9, 0.97), "mp4": (0.3, 0.999), "fs": (0.3, 0.9),
            "webm": (0.2, 0.5, 0.95), "avi": (0.2, 0.8, 0.95), "ts": (0.5, 0.9)}  # fmt: skip
    for kind, fractions in cuts.items():
        for f in fractions:
            suffix = ext.get(kind, kind)
            m[f"truncated_{kind}_{round(f * 1000):03d}"] = (
                partial(lambda d, k, f, s: truncated(uncut[k](), d, f"cut{round(f * 1000)}.{s}", f),
                        k=kind, f=f, s=suffix),
                E(DONE, WARNED, FAILED, rows=(1, 5), ref=refs[kind], short_needs_warning=True),
            )  # fmt: skip
    m |= {
        # odd but sound pictures
        "one_frame": (lambda d: noise(d, "one.mp4", 1), E(DONE, rows=(1, 1))),
        "very_short": (badfiles.very_short, E(DONE, rows=(1, 1))),
        "huge_4k": (badfiles.huge_frames, E(DONE, rows=(2, 2))),
        "huge_8k": (lambda d: sized(d, "uhd8k.mp4", 2, 4320, 7680), E(DONE, rows=(2, 2))),
        "wide_4096x16": (lambda d: sized(d, "wide.mp4", 5, 16, 4096), E(DONE, FAILED, rows=(5, 5))),
        "tiny_2x2": (lambda d: sized(d, "tiny.mp4", 5, 2, 2), E(DONE, FAILED, rows=(5, 5))),
        "rotated_90": (lambda d: badfiles.rotated(d, 90), E(DONE, rows=(5, 5))),
        "variable_rate": (badfiles.variable_rate, E(DONE, rows=(5, 5))),
        "vfr_gap_3600s": (
            lambda d: noise(d, "gap.mkv", 4, times=[0, 1, 2, 3600]),
            E(DONE, WARNED, FAILED, rows=(3, 1442)),
        ),
        "start_offset_10s": (
            lambda d: noise(d, "offset.mkv", 50, start=10.0),
            E(DONE, WARNED, rows=(5, 15)),
        ),
        "raw_h264": (badfiles.raw_h264, E(WARNED, DONE, rows=(1, 5))),
        "raw_hevc": (
            lambda d: noise(d, "raw.hevc", 50, codec="libx265"),
            E(WARNED, DONE, FAILED, rows=(1, 5)),
        ),
        "header_says_60s": (
            lambda d: lying_header(d, a, 60),
            E(WARNED, rows=(5, 5), ref="liar.mkv"),
        ),
        "header_says_1s": (
            lambda d: lying_header(d, a, 1),
            E(DONE, WARNED, rows=(5, 5), ref="liar.mkv"),
        ),
        "many_streams": (lambda d: many_streams(d, a), E(DONE, rows=(5, 5), ref=GOOD)),
        "audio_stream_first": (lambda d: audio_first(d, a), E(DONE, rows=(5, 5), ref=GOOD)),
        "cover_art_first": (lambda d: cover_first(d, a), E(DONE, rows=(5, 5), ref=GOOD)),
        "h264_10bit": (
            lambda d: reencoded(d, a, "tenbit.mkv", "-c:v", "libx264", "-pix_fmt", "yuv420p10le"),
            E(DONE, rows=(5, 5)),
        ),
        "hevc_mkv": (lambda d: noise(d, "hevc.mkv", 50, codec="libx265"), E(DONE, rows=(5, 5))),
        "mjpeg_avi": (
            lambda d: reencoded(d, a, "mjpeg.avi", "-c:v", "mjpeg"),
            E(DONE, rows=(5, 5)),
        ),
        # links, folders, special files
        "symlink_loop": (badfiles.symlink_loop, E(IGNORED)),
        "self_link": (badfiles.dangling_link, E(FAILED)),
        "broken_link": (lambda d: link(d, "gone.mp4", "/nonexistent/gone.mp4"), E(FAILED)),
        "link_cycle_two": (
            lambda d: (link(d, "a.mp4", "b.mp4"), link(d, "b.mp4", "a.mp4")),
            E(FAILED),
        ),
        "link_to_good": (lambda d: link(d, "linked.mp4", g()), E(DONE, rows=(5, 5), ref=GOOD)),
        "link_to_dev_zero": (lambda d: link(d, "zero.mkv", "/dev/zero"), E(IGNORED, FAILED)),
        "fifo_named_mp4": (lambda d: fifo(d, "pipe.mp4"), E(IGNORED, FAILED)),
        "directory_named_mkv": (badfiles.directory_named_like_video, E(IGNORED)),
        "directory_named_mkv_with_video": (
            lambda d: nested_dir(d, a, "season.mkv", "inner.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD, done_n=1),
        ),
        "chmod_000_file": (
            lambda d: locked(copy_of(g(), d, "locked.mp4")),
            E(
                DONE,
                FAILED,
                rows=(5, 5),
                ref=GOOD,
                note="run as root: permission bits do not stop reads",
            ),
        ),
        "deep_50_folders": (lambda d: deep(d, a, 50), E(DONE, rows=(5, 5), ref=GOOD)),
        # names
        "unicode_name": (badfiles.unicode_name, E(DONE, rows=(5, 5))),
        "non_utf8_name": (
            lambda d: copy_of(g(), d, os.fsdecode(b"ep \xff\xfe e1.mp4")),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "newline_in_name": (
            lambda d: copy_of(g(), d, "ep\nnew line.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "escape_in_bad_name": (lambda d: _write(d / "\x1b[31mred\x1b[0m\x07.mp4", b""), E(FAILED)),
        "escape_in_good_name": (
            lambda d: copy_of(g(), d, "\x1b]0;title\x07ep.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "leading_dash": (
            lambda d: copy_of(g(), d, "-rf --help.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "long_name_250": (
            lambda d: copy_of(g(), d, "a" * 250 + ".mp4"),
            E(DONE, FAILED, rows=(5, 5), ref=GOOD),
        ),
        "long_name_multibyte": (
            lambda d: copy_of(g(), d, "э" * 125 + ".mkv"),
            E(DONE, FAILED, rows=(5, 5), ref=GOOD),
        ),
        "shell_substitution": (
            lambda d: copy_of(g(), d, f"$(touch {MARK}_1).mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "shell_backticks": (
            lambda d: copy_of(g(), d, f"`touch {MARK}_2`;touch {MARK}_3.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "hydra_syntax_name": (
            lambda d: copy_of(g(), d, "a=b,c [d]{e}'f\"g ${oc.env:HOME}.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "hidden_file": (
            lambda d: copy_of(g(), d, ".hidden.mp4"),
            E(DONE, IGNORED, rows=(5, 5), ref=GOOD),
        ),
        "named_manifest": (
            lambda d: copy_of(g(), d, "manifest.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD),
        ),
        "folder_named_shards": (
            lambda d: copy_of(g(), d / "shards", "inshards.mp4"),
            E(DONE, rows=(5, 5), ref=GOOD, default_cache=True),
        ),
        "same_stem_two_folders": (
            lambda d: (copy_of(g(), d / "A", "twin.mp4"), copy_of(g(), d / "B", "twin.mp4")),
            E(DONE, rows=(5, 5), ref=GOOD, done_n=2),
        ),
        "same_stem_two_suffixes": (
            lambda d: (copy_of(g(), d, "pair.mp4"), reencoded(d, a, "pair.mkv", "-c", "copy")),
            E(DONE, FAILED, rows=(5, 5), ref=GOOD),
        ),
        "same_stem_as_good": (
            lambda d: reencoded(d, a, "good.mkv", "-c", "copy"),
            E(DONE, FAILED, rows=(5, 5), ref=GOOD),
        ),
    }
    return m


def _renamed(path: Path, name: str) -> Path:
    return path.rename(path.with_name(name))


# --- the case ------------------------------------------------------------------------------


def _outcomes(ext: Run, found: dict, folder: Path) -> tuple[set[str], dict[str, str]]:
    """What became of the items besides the good clip: their outcomes, and each extracted
    episode's warning (if any)."""
    warned = {}
    for line in ext.out.splitlines():
        line = line.strip()
        if line.startswith("WARNING"):
            body = line.removeprefix("WARNING").strip()
            for ep, (meta, _) in found.items():
                src = meta.get("source", "")
                if src and (body.startswith(src) or named(body, src)):
                    warned[ep] = body
    outs = set()
    if ext.failed_lines():
        outs.add(FAILED)
    for ep in found:
        if ep != GOOD:
            outs.add(WARNED if ep in warned else DONE)
    if not outs:
        outs.add(IGNORED)
    return outs, warned


def _markers() -> list[Path]:
    hits = []
    for where in (ROOT, Path("/tmp"), Path.cwd()):
        hits += list(where.glob(f"{MARK}*"))
    return hits


def check_case(ctx: Ctx, make: Callable[[Path], object], want: Expect) -> Verdict:
    a = ctx.assets
    ck = Check()
    folder = ctx.dir / "in"
    folder.mkdir()
    copy_of(a.good, folder, f"{GOOD}.mp4")
    make(folder)
    before = listing(folder)
    shards, pred = ctx.dir / "shards", ctx.dir / "pred"
    good_ref = a.good_ref[GOOD][1]
    ckpt = a.ckpt_a
    ref = None
    if want.ref and want.ref != GOOD:
        ref_entry = next(iter(a.clip_features(want.ref, _clip_builder(a, want.ref)).values()))
        ref = ref_entry[1]
    elif want.ref == GOOD:
        ref = good_ref

    ext = ck.add(run([*EXTRACT, f"input={folder}", f"out={shards}"], timeout=150))
    if ext.timed_out or ext.traceback():
        return verdict(ck, ext)
    found = check_shards(ck, shards, "extract")
    outs, warned = _outcomes(ext, found, folder)
    # the good clip: always, whole, and the same as alone
    g = found.get(GOOD)
    if g is None or g[1] is None:
        ck.fail("the good clip beside the bad item got no shard")
    elif g[1].shape != good_ref.shape or not np.allclose(
        g[1].astype(np.float32), good_ref.astype(np.float32), atol=1e-3
    ):
        ck.fail(f"the good clip's features differ from its features alone ({g[1].shape})")
    failed = ext.failed_lines()
    ck.exit(ext, 1 if failed else 0, "extract")
    if ext.rc == 2:
        ck.fail(f"extract stopped the batch: {(ext.errors() or [''])[0][:200]}")
    for line in failed:
        if not any(named(line, str(p)) for p in _items(folder)):
            ck.fail(f"a FAILED line names no file of the folder: {line[:160]!r}")
    bad_outs = outs - want.allowed
    ck.ok(not bad_outs, f"the bad item was {sorted(outs)}, documented {sorted(want.allowed)}")
    extracted = {ep: v for ep, v in found.items() if ep != GOOD}
    if want.done_n is not None:
        ck.ok(
            len(extracted) == want.done_n,
            f"{len(extracted)} episodes besides the good one extracted, want {want.done_n}",
        )
    for ep, (_, arr) in extracted.items():
        if arr is None:
            continue
        n = arr.shape[0]
        if want.rows and not want.rows[0] <= n <= want.rows[1]:
            ck.fail(f"{ep!r}: {n} rows, want {want.rows[0]}..{want.rows[1]}")
        if ref is not None and want.match != "none":
            _match(ck, ep, arr, ref, want, ep in warned)
    ck.no_raw_control(ext)

    cache = pred / ".shards" if want.default_cache else shards
    given = [] if want.default_cache else [f"shards={shards}"]
    pr = ck.add(run([*PREDICT, f"ckpt={ckpt}", f"input={folder}", f"out={pred}", *given,
                     ALL_FORMATS], timeout=150))  # fmt: skip
    if not (pr.timed_out or pr.traceback()):
        found = check_shards(ck, cache, "predict's cache")
        pfailed = pr.failed_lines()
        ck.exit(pr, 1 if pfailed else 0, "predict")
        if pr.rc == 2:
            ck.fail(f"predict stopped the batch: {(pr.errors() or [''])[0][:200]}")
        ck.ok(
            bool(pfailed) == bool(failed),
            f"predict reported {len(pfailed)} failed files, extract {len(failed)}",
        )
        for ep, (meta, arr) in found.items():
            src = Path(meta.get("source", ""))
            try:
                key = src.relative_to(folder).with_suffix("")
            except ValueError:
                key = Path(src.stem)
            rec_path = Path(f"{pred / key}.json")
            rec = _read(rec_path)
            if rec is None:
                ck.fail(f"predict: no whole record for extracted episode {ep!r} ({rec_path.name})")
                continue
            if arr is not None and len(rec.get("probabilities", [])) != arr.shape[0]:
                ck.fail(f"predict: {ep!r} record has {len(rec['probabilities'])} probabilities, "
                        f"the shard {arr.shape[0]} rows")  # fmt: skip
            for f in FORMATS:
                p = Path(f"{pred / key}{SUFFIXES[f]}")
                if not p.is_file():
                    ck.fail(f"predict: {ep!r} has no {f} file")
        rows = csv_rows(pred)
        n = len(found)
        ck.ok(rows is not None and len(rows) >= n, f"predict: intros.csv has "
              f"{None if rows is None else len(rows)} rows for {n} episodes")  # fmt: skip
        ck.ok(not temp_files(pred), "predict: temp files left")
        ck.no_raw_control(pr)
    after = listing(folder)
    changed = sorted(set(after) ^ set(before)) + sorted(
        k for k in set(after) & set(before) if after[k] != before[k]
    )
    if changed:
        ck.unsafe.append(f"the input folder changed: {changed[:3]}")
    marks = _markers() + list(ctx.dir.rglob(f"{MARK}*"))
    if marks:
        ck.unsafe.append(f"a file name ran as a shell command: {marks[:2]}")
        for p in marks:
            p.unlink(missing_ok=True)
    if want.note:
        ck.note(want.note)
    return verdict(ck, pr if ck.runs[-1] is pr else ext)


def _items(folder: Path) -> list[Path]:
    return [Path(dp) / n for dp, dns, fns in os.walk(folder) for n in dns + fns]


def _read(path: Path) -> dict | None:
    import json

    try:
        rec = json.loads(path.read_text(encoding="utf-8"))
        return rec if isinstance(rec, dict) and "probabilities" in rec else None
    except (OSError, ValueError):
        return None


def _match(ck: Check, ep: str, arr: np.ndarray, ref: np.ndarray, want: Expect, warned: bool):
    n = arr.shape[0]
    if n > ref.shape[0]:
        ck.fail(f"{ep!r}: {n} rows, more than the uncut file's {ref.shape[0]}")
        return
    a, b = arr.astype(np.float32), ref[:n].astype(np.float32)
    same = np.all(np.isclose(a, b, atol=1e-3), axis=1)  # [n] per row
    if want.match == "ends":
        rows = [0, n - 1] if n == ref.shape[0] else [0]
        bad = [i for i in rows if not same[i]]
    else:
        bad = [i for i in range(n) if not same[i] and not (warned and i == n - 1)]
    if bad:
        ck.fail(f"{ep!r}: rows {bad[:4]} differ from the uncut file's"
                + ("" if warned else " (no warning)"))  # fmt: skip
    if want.short_needs_warning and n < ref.shape[0] and not warned:
        ck.fail(f"{ep!r}: {n} of the uncut file's {ref.shape[0]} rows, without a warning")


def _clip_builder(a: Assets, name: str) -> Callable[[Path], Path]:
    return {
        "uncut.mkv": clip(), "uncut.mp4": clip(), "uncut.webm": clip("libvpx-vp9"),
        "uncut.avi": clip("mpeg4"), "faststart.mp4": faststart, "uncut.ts": mpegts,
        "liar.mkv": liar_source,
    }[name]  # fmt: skip


def cases(assets: Assets) -> list[Case]:
    out = []
    for name, (make, want) in makers(assets).items():
        fn = partial(check_case, make=make, want=want)
        out.append(Case("inputs", name, lambda ctx, fn=fn: fn(ctx), cost=14))
    return out
