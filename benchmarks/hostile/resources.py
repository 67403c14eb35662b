"""Kind 12, files that lie about their size (issue #27, items 2 and 10): a video whose header
claims an audio sample rate of 1 Hz, 0, a denormal, a huge or a negative one, or NaN (the
Matroska ``SamplingFrequency`` double patched, with PCM, AAC and FLAC sound and WebM's Opus; the
rate of a QuickTime ``sowt`` and an MP4 ``mp4a`` sample entry), or a picture of 65535 x 65535
(Matroska ``PixelWidth`` / ``PixelHeight``, an MP4's ``tkhd`` and ``avc1``), beside good
episodes, predicted under an address-space limit (``prlimit --as``); and a sound episode
followed by gigabytes of zeros (sparse, or written), random junk, or a second copy of itself.

Handled means: no run out of memory or killed: exit 0 or 1, the lying file named (a ``FAILED``
line when it failed, at most a few lines naming it) or, taken without a word, predicted as the
true episode is (its record's duration and rows the episode's), the good episodes' records
written.
With a tail: the run ends long before it could read it all and reads bounded bytes (the
command's own ``rchar`` from /proc/<pid>/io at its exit, at most the clean run's plus 64 MiB),
and every record equals the clean library's (intro, probabilities, duration).
"""

from __future__ import annotations

import os
import struct
import subprocess
import tempfile
import time
from functools import partial
from pathlib import Path

import numpy as np

from benchmarks.hostile.assets import Assets
from benchmarks.hostile.case import Case, Ctx
from benchmarks.hostile.outcome import (
    ENV,
    PREDICT,
    ROOT,
    Check,
    Run,
    Verdict,
    _text,
    kill_group,
    same_intervals,
    verdict,
)
from benchmarks.hostile.round3 import ALL, as_limit, check_writers, demo, failed_naming, sane, says

AS_LIMIT = 6_000_000_000  # bytes of address space: a normal predict needs some 3.5 GB
GB = 1 << 30


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args], check=True, timeout=120,
                   capture_output=True)  # fmt: skip


def _patch(data: bytearray, find: bytes, new: bytes, at: int = 0, not_after: int | None = None,
           what: str = "") -> bytearray:  # fmt: skip
    i = data.find(find)
    while i > 0 and not_after is not None and data[i - 1] == not_after:
        i = data.find(find, i + 1)
    if i < 0:
        raise RuntimeError(f"{what}: {find.hex()} not in the file")
    data[i + at : i + at + len(new)] = new
    return data


# --- item 2: headers that claim an absurd sound or picture ----------------------------------


def sound_liar(ctx: Ctx, dst: Path, codec: str, rate: float) -> Path:
    """A demo episode remuxed (``codec``: its sound re-encoded) and its header's sample rate
    set to ``rate``."""
    a = ctx.assets
    src = demo(a, "n1" if codec == "opus" else "v1")
    if codec in ("pcm_mkv", "flac", "pcm_mov", "aac_mp4"):
        c = {"pcm_mkv": "pcm_s16le", "flac": "flac", "pcm_mov": "pcm_s16le", "aac_mp4": "copy"}
        _ffmpeg("-i", str(src), "-map", "0", "-c:v", "copy", "-c:a", c[codec], str(dst))
    else:
        dst.write_bytes(src.read_bytes())
    data = bytearray(dst.read_bytes())
    if dst.suffix in (".mkv", ".webm"):
        real = 48000.0 if codec == "opus" else 22050.0
        _patch(data, b"\xb5\x88" + struct.pack(">d", real), struct.pack(">d", rate), 2, 0x78,
               "SamplingFrequency")  # fmt: skip
    else:  # the sample entry's 16.16 rate: 28 bytes after its type
        entry = b"sowt" if codec == "pcm_mov" else b"mp4a"
        fixed = struct.pack(">I", int(rate * 65536) & 0xFFFFFFFF)
        _patch(data, entry, fixed, 28, None, entry.decode())
    dst.write_bytes(bytes(data))
    return dst


def picture_liar(ctx: Ctx, dst: Path, w: int, h: int) -> Path:
    """A 320x256 encode of a demo episode whose header claims ``w`` x ``h``."""
    a = ctx.assets
    _ffmpeg("-i", str(demo(a, "v1")), "-map", "0", "-vf", "scale=320:256", "-c:v", "libx264",
            "-preset", "ultrafast", "-c:a", "copy", str(dst))  # fmt: skip
    data = bytearray(dst.read_bytes())
    if dst.suffix == ".mkv":  # two-byte sizes: PixelWidth 320, PixelHeight 256
        _patch(data, b"\xb0\x82\x01\x40", struct.pack(">H", w), 2, 0x54, "PixelWidth")
        _patch(data, b"\xba\x82\x01\x00", struct.pack(">H", h), 2, 0x54, "PixelHeight")
    else:  # avc1 sample entry (16-bit, 32 bytes after its type) and tkhd (16.16, its end)
        _patch(data, b"avc1", struct.pack(">HH", w, h), 28, None, "avc1")
        tk = data.find(b"tkhd")
        size = struct.unpack(">I", data[tk - 4 : tk])[0]
        end = tk - 4 + size
        data[end - 8 : end] = struct.pack(">II", w << 16, h << 16)
    dst.write_bytes(bytes(data))
    return dst


def liar(ctx: Ctx, make, name: str, ckpt: bool = False) -> Verdict:
    a = ctx.assets
    ck = Check()
    lib = ctx.dir / "L"
    season = lib / "Vandal" / "Season 1"
    season.mkdir(parents=True)
    bad = make(ctx, season / name)
    good = season / "Vandal - S01E02.mkv"
    good.write_bytes(demo(a, "v2").read_bytes())
    clip = lib / "Clips" / "good.mp4"
    clip.parent.mkdir()
    clip.write_bytes(a.good.read_bytes())
    out = ctx.dir / "out"
    cmd = [*PREDICT, *([f"ckpt={a.ckpt_a}"] if ckpt else []), f"input={lib}", f"out={out}", ALL]
    r, _ = run_io(ck, cmd, 240, preexec=as_limit(AS_LIMIT), prefix=f"prlimit --as={AS_LIMIT} -- ")
    if r.rc is not None and r.rc < 0:
        ck.fail(f"predict killed by signal {-r.rc} (out of memory?)")
    if not sane(ck, r, (0, 1)):
        return verdict(ck, r)
    lines = [ln for ln in r.text.splitlines() if says(ln, str(bad)) or says(ln, bad.name)]
    if r.rc == 1:
        ck.ok(bool(failed_naming(r, str(bad))), f"exit 1 without a FAILED line naming {bad.name}")
        others = [ln for ln in r.failed_lines() if not says(ln, bad.name)]
        ck.ok(not others, f"good episodes failed: {others[:2]}")
    ck.ok(len(lines) <= 3, f"{len(lines)} lines name {bad.name} (want one, or a few)")
    for m in ("MemoryError", "Cannot allocate memory", "std::bad_alloc"):
        ck.ok(m not in r.text, f"{m} in the output")
    recs = check_writers(ck, out)
    srcs = {os.path.realpath(rec.get("source", "")) for rec in recs.values()}
    mine = [rec for rec in recs.values() if os.path.realpath(rec.get("source", "")) ==
            os.path.realpath(bad)]  # fmt: skip
    if not lines:  # taken without a word: only when the lie changed nothing
        real = _duration(demo(a, "n1" if bad.suffix == ".webm" else "v1"))
        ck.ok(bool(mine), f"{bad.name}: neither named nor predicted")
        for rec in mine:
            ck.ok(abs(rec["duration"] - real) < 0.5, f"{bad.name} predicted without a word, "
                  f"its duration {rec['duration']} s (the episode's {real:.2f} s)")  # fmt: skip
            n = len(rec.get("probabilities", []))
            ck.ok(abs(n - real) <= 2, f"{bad.name} predicted without a word: {n} probabilities "
                  f"for {real:.1f} s")  # fmt: skip
        ck.note("the lying file was predicted without a word, as the clean episode")
    for p in (good, clip):
        ck.ok(os.path.realpath(p) in srcs, f"the good episode {p.name} has no record")
    ck.note(f"{r.seconds:.0f} s")
    return verdict(ck, r)


def _duration(path: Path) -> float:
    cmd = ["ffprobe", "-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0"]
    r = subprocess.run([*cmd, str(path)], capture_output=True, text=True, timeout=30)
    return float(r.stdout.strip())


# --- item 10: a sound episode followed by what it does not hold -----------------------------


def run_io(ck: Check, cmd: list[str], timeout: float, preexec=None, prefix: str = ""
           ) -> tuple[Run, int | None]:  # fmt: skip
    """Run ``cmd``; also the bytes it read (``rchar`` of /proc/<pid>/io, read while it is a
    zombie: its threads included)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=out, stderr=err,
                                stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=preexec)  # fmt: skip
        rchar, timed_out = None, False
        while True:
            if os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                try:
                    io = Path(f"/proc/{proc.pid}/io").read_text()
                    rchar = int(io.split("rchar:")[1].split()[0])
                except (OSError, IndexError, ValueError):
                    pass
                break
            if time.monotonic() - t0 > timeout:
                timed_out = True
                kill_group(proc.pid)
                break
            time.sleep(0.05)
        proc.wait()
        out.seek(0)
        err.seek(0)
        r = Run(cmd, proc.returncode, _text(out.read()), _text(err.read()),
                time.monotonic() - t0, timed_out, prefix)  # fmt: skip
    ck.add(r)
    return r, rchar


def clip30(path: Path) -> Path:
    """A sound 30-s Matroska clip (moving test pattern, a tone)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _ffmpeg("-f", "lavfi", "-i", "testsrc2=s=160x90:r=10:d=30", "-f", "lavfi", "-i",
            "sine=f=440:d=30", "-c:v", "libx264", "-preset", "ultrafast", "-g", "10",
            "-c:a", "aac", "-shortest", str(path))  # fmt: skip
    return path


def pad(path: Path, tail: str, seed: int) -> None:
    size = path.stat().st_size
    if tail.startswith("sparse"):  # truncate: a hole of zeros, no disk used
        os.truncate(path, size + {"sparse20g": 20 * GB, "sparse1t": 1024 * GB}[tail])
    elif tail == "zeros256m":
        with open(path, "ab") as f:
            block = bytes(1 << 20)
            for _ in range(256):
                f.write(block)
    elif tail == "random64m":
        rng = np.random.default_rng(seed)
        with open(path, "ab") as f:
            for _ in range(64):
                f.write(rng.integers(0, 256, 1 << 20, dtype=np.uint8).tobytes())
    else:  # itself again: a second header and segment after the first
        data = path.read_bytes()
        with open(path, "ab") as f:
            f.write(data)


def tail_case(ctx: Ctx, pair: tuple[str, str], suffix: str, tail: str, ckpt: bool = False
              ) -> Verdict:  # fmt: skip
    a = ctx.assets
    ck = Check()
    clean, padded = ctx.dir / "clean", ctx.dir / "padded"
    names = [f"Show - S01E0{i}{suffix}" for i in range(1, len(pair) + 1)]
    for lib in (clean, padded):
        season = lib / "Show" / "Season 1"
        season.mkdir(parents=True)
        for name, src in zip(names, pair, strict=True):
            if src == "clip30":
                clip = a.clip("clip30.mkv", clip30)
                (season / name).write_bytes(clip.read_bytes())
            else:
                (season / name).write_bytes(demo(a, src).read_bytes())
    victim = padded / "Show" / "Season 1" / names[-1]
    size = victim.stat().st_size
    pad(victim, tail, ctx.seed)
    base = [*PREDICT, *([f"ckpt={a.ckpt_a}"] if ckpt else []), ALL]
    ref, ref_io = run_io(ck, [*base, f"input={clean}", f"out={ctx.dir / 'out_clean'}"], 180)
    if not sane(ck, ref, (0,), "clean"):
        return verdict(ck, ref)
    r, got_io = run_io(ck, [*base, f"input={padded}", f"out={ctx.dir / 'out'}"], 180)
    try:
        if not sane(ck, r, (0,), "padded"):
            return verdict(ck, r)
        want = check_writers(ck, ctx.dir / "out_clean", what="clean")
        got = check_writers(ck, ctx.dir / "out", what="padded")
        for ep, rec in want.items():
            g = got.get(ep)
            if g is None:
                ck.fail(f"{ep}: no record beside the tail")
                continue
            ck.ok(same_intervals(g, rec), f"{ep}: intro or probabilities differ from the clean "
                  f"file's ({(g.get('intro') or {}).get('end')} vs "
                  f"{(rec.get('intro') or {}).get('end')})")  # fmt: skip
            ck.ok(
                abs(g["duration"] - rec["duration"]) < 0.05,
                f"{ep}: duration {g['duration']} s, the clean file's {rec['duration']} s",
            )
        if ref_io is None or got_io is None:
            ck.fail("could not read the command's rchar")
        else:
            bound = ref_io + 64 * (1 << 20)
            ck.ok(got_io <= bound, f"read {got_io / 2**20:.0f} MiB, the clean run "
                  f"{ref_io / 2**20:.0f} MiB (+64 MiB allowed; the tail is "
                  f"{(victim.stat().st_size - size) / 2**20:.0f} MiB)")  # fmt: skip
            ck.note(f"read {got_io / 2**20:.0f} MiB vs clean {ref_io / 2**20:.0f} MiB; "
                    f"{r.seconds:.0f} s vs {ref.seconds:.0f} s")  # fmt: skip
        ck.ok(r.seconds < ref.seconds + 60, f"{r.seconds:.0f} s, the clean run {ref.seconds:.0f} s")
    finally:
        if tail in ("zeros256m", "random64m"):
            victim.unlink(missing_ok=True)  # 64-256 MiB on disk: not kept
    return verdict(ck, r)


def cases(assets: Assets) -> list[Case]:
    out: list[Case] = []

    def add(name: str, fn, cost: float = 12) -> None:
        out.append(Case("resources", name, lambda ctx, fn=fn: fn(ctx), cost=cost))

    for codec, suffix, rates in (("pcm_mkv", ".mkv", (1.0, 0.0, 1e300, float("nan"), -22050.0)),
                                 ("aac", ".mkv", (1.0,)), ("flac", ".mkv", (1.0,)),
                                 ("opus", ".webm", (1e12,)), ("pcm_mov", ".mov", (1.0,)),
                                 ("aac_mp4", ".mp4", (1.0,))):  # fmt: skip
        for rate in rates:
            tag = {0.0: "0", 5e-324: "denormal", 1.0: "1", -22050.0: "negative"}.get(
                rate, "nan" if rate != rate else f"{rate:.0e}".replace("+", "")
            )
            make = partial(sound_liar, codec=codec, rate=rate)
            add(f"rate_{tag}_hz_{codec}", partial(liar, make=make, name=f"Vandal - S01E01{suffix}"))
    add(
        "rate_1_hz_pcm_mkv_model_mode",
        partial(
            liar,
            make=partial(sound_liar, codec="pcm_mkv", rate=1.0),
            name="Vandal - S01E01.mkv",
            ckpt=True,
        ),
    )
    for w, h, suffix in ((65535, 65535, ".mkv"), (0, 0, ".mkv"), (65535, 65535, ".mp4")):
        make = partial(picture_liar, w=w, h=h)
        add(
            f"picture_{w}x{h}_{suffix[1:]}",
            partial(liar, make=make, name=f"Vandal - S01E01{suffix}"),
        )
    add(
        "picture_65535x65535_mkv_model_mode",
        partial(
            liar,
            make=partial(picture_liar, w=65535, h=65535),
            name="Vandal - S01E01.mkv",
            ckpt=True,
        ),
    )
    for name, pair, suffix, tail, ckpt in (
        ("mkv_sparse_20g", ("v1", "v2"), ".mkv", "sparse20g", False),
        ("mkv_sparse_1t", ("v1", "v2"), ".mkv", "sparse1t", False),
        ("mkv_written_zeros_256m", ("v1", "v2"), ".mkv", "zeros256m", False),
        ("mkv_random_64m", ("v1", "v2"), ".mkv", "random64m", False),
        ("mkv_itself_again", ("v1", "v2"), ".mkv", "itself", False),
        ("webm_sparse_20g", ("n1", "n2"), ".webm", "sparse20g", False),
        ("mp4_sparse_20g", ("h1", "h2"), ".mp4", "sparse20g", False),
        ("avi_sparse_20g", ("q1", "q2"), ".avi", "sparse20g", False),
        ("clip30_random_64m_model", ("clip30",), ".mkv", "random64m", True),
    ):  # fmt: skip
        add(f"tail_{name}", partial(tail_case, pair=pair, suffix=suffix, tail=tail, ckpt=ckpt),
            cost=20)  # fmt: skip
    return out
