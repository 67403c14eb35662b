"""Hostile media that would make the decoder allocate or read without bound (#27, items 2 and
10): a sound header claiming 1 Hz, a file followed by gigabytes of zeros, pictures no decoder
should be asked to allocate. Each is one clear line, bounded in memory and bytes read."""

from __future__ import annotations

import dataclasses
import os
import resource
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import AudioError, VideoError
from introdet.features.audio import decode_audio
from introdet.media import container
from introdet.media.probe import probe
from introdet.media.sampling import frames_per_second
from introdet.media.zero_tail import MARGIN, MIN_TAIL, ZeroTail, zero_tail
from tests import badfiles

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
MiB = 1 << 20


def _address_space(limit: int):
    """A preexec_fn capping the child's address space: a regression fails with MemoryError
    instead of taking the machine's memory."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return cap


def _bytes_read() -> int:
    """Bytes this process has read so far (Linux: /proc/self/io's rchar, every read call)."""
    try:
        with open("/proc/self/io") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("rchar:"))
    except OSError:
        pytest.skip("no /proc/self/io here: bytes read cannot be counted")


# --- a sample rate no track has ------------------------------------------------------------


def test_a_one_hz_sound_header_is_refused_before_resampling(tmp_path):
    bad = badfiles.lying_sample_rate(tmp_path)
    script = textwrap.dedent("""
        import sys
        from introdet.errors import AudioError
        from introdet.features.audio import decode_audio
        try:
            decode_audio(sys.argv[1])
            print("decoded")
        except AudioError as e:
            print(e)
    """)
    run = subprocess.run([sys.executable, "-c", script, str(bad)], capture_output=True,
                         text=True, env=ENV, cwd=ROOT, timeout=120,
                         preexec_fn=_address_space(3 << 30))  # fmt: skip
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip() == f"{bad}: implausible audio sample rate 1 Hz (a damaged header?)"


def test_predict_goes_on_past_a_one_hz_sound_on_its_pictures(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    bad = badfiles.lying_sample_rate(lib)
    badfiles.pcm_clip(lib / "good.mkv")
    cmd = [sys.executable, str(ROOT / "predict.py"), f"input={lib}", f"out={tmp_path / 'o'}",
           "progress=false"]  # fmt: skip
    # 4 GB: what importing torch maps, and far below what the 1-Hz track would take
    run = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=300,
                         preexec_fn=_address_space(4 << 30))  # fmt: skip
    said = run.stdout + run.stderr
    # the sound is refused, the episode goes on as one without sound does: on its pictures
    assert run.returncode == 0 and "Traceback" not in said, said[-3000:]
    warned = [line for line in said.splitlines() if "implausible" in line]
    assert warned == [f"warning: {bad}: implausible audio sample rate 1 Hz (a damaged header?); "
                      "its pictures alone are compared"]  # fmt: skip
    assert f"{bad}: no sound to hear: its pictures are compared" in said
    assert (tmp_path / "o" / "good.json").is_file()
    assert (tmp_path / "o" / "onehz.json").is_file()


def test_decoding_stops_at_the_longest_sound_with_a_warning(tmp_path, monkeypatch, caplog):
    path = badfiles.pcm_clip(tmp_path / "tone.mkv")
    monkeypatch.setattr("introdet.features.audio.MAX_AUDIO_SECONDS", 2.0)
    samples, _ = decode_audio(path, rate=8000)
    assert len(samples) == 16000
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{path}: only the first 2 s of its sound")
    caplog.clear()
    assert len(decode_audio(path, max_seconds=1.0, rate=8000)[0]) == 8000  # asked: no warning
    assert not caplog.records


# --- a tail of zeros -----------------------------------------------------------------------


def _read_everything(path: Path):
    """What the pipeline reads of a video: probe, its whole sound, one frame a second."""
    info = dataclasses.replace(probe(path), path="")
    sound = decode_audio(path)
    pictures = list(frames_per_second(path))
    return info, sound, pictures


@pytest.mark.parametrize(
    ("suffix", "sparse", "zeros", "said"),
    [(".mkv", True, 2 << 30, "2.1 GB"), (".mkv", False, 128 * MiB, "134.2 MB"),
     (".ts", True, 1 << 30, "1.1 GB")],  # MPEG-TS: junk over 64 KiB at the end is an error
)  # fmt: skip
def test_a_tail_of_zeros_is_not_read(tmp_path, caplog, suffix, sparse, zeros, said):
    clean = write_video(tmp_path / f"clean{suffix}", badfiles.frames(50, 0), fps=10, audio=True)
    tailed = badfiles.zero_tailed(clean, tmp_path / f"E1{suffix}", zeros, sparse)
    _read_everything(clean)  # imports done and the clean file in the page cache
    before = _bytes_read()
    want = _read_everything(clean)
    clean_bytes = _bytes_read() - before
    caplog.clear()
    before = _bytes_read()
    got = _read_everything(tailed)
    # the zeros are probed (at most 16 MiB read to check them) and MARGIN kept per open
    assert _bytes_read() - before - clean_bytes < 32 * MiB
    assert got[0] == want[0]
    assert np.array_equal(got[1][0], want[1][0]) and got[1][1] == want[1][1]
    assert [k for k, _ in got[2]] == [k for k, _ in want[2]]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got[2], want[2], strict=True))
    end = len(clean.read_bytes().rstrip(b"\0")) + MARGIN
    assert [r.getMessage() for r in caplog.records] == [
        f"{tailed}: its last {said} are zeros (a download not finished?); read up to byte {end}"
    ]
    tailed.unlink()


def test_a_file_of_nothing_but_zeros_is_one_line(tmp_path):
    path = tmp_path / "E2.mkv"
    path.touch()
    os.truncate(path, 64 * MiB)
    with pytest.raises(VideoError) as err:
        probe(path)
    assert str(err.value) == (f"{path}: not a readable media file (all its 67.1 MB are zeros: "
                              "a download not started?)")  # fmt: skip
    with pytest.raises(AudioError, match="all its 67.1 MB are zeros"):
        decode_audio(path)


def _data(n: int, seed: int = 0) -> bytes:
    """``n`` random bytes, the last one not zero (where the data ends is then exact)."""
    data = bytearray(np.random.default_rng(seed).integers(0, 256, n, dtype=np.uint8).tobytes())
    data[-1] = 0xFF
    return bytes(data)


def _file(path: Path, *parts: bytes | int) -> Path:
    """A file of ``parts``: bytes as they are, an int that many zeros written out."""
    with open(path, "wb") as f:
        for part in parts:
            if isinstance(part, int):
                for done in range(0, part, MiB):
                    f.write(bytes(min(MiB, part - done)))
            else:
                f.write(part)
    return path


@pytest.mark.parametrize("head", [3 * MiB + 123, 1, 200 * 1024])
def test_zero_tail_finds_where_written_zeros_start(tmp_path, head):
    path = _file(tmp_path / "f", _data(head), 40 * MiB)
    size = head + 40 * MiB
    assert zero_tail(path) == ZeroTail(size, head, min(size, head + MARGIN))


def test_zero_tail_of_a_hole_reads_none_of_it(tmp_path):
    path = _file(tmp_path / "f", _data(3 * MiB))
    os.truncate(path, 3 << 30)
    before = _bytes_read()
    assert zero_tail(path) == ZeroTail(3 << 30, 3 * MiB, 3 * MiB + MARGIN)
    assert _bytes_read() - before < 2 * MiB


@pytest.mark.parametrize(
    "parts",
    [
        [_data(MiB), MIN_TAIL - MiB],  # zeros, but fewer than MIN_TAIL
        [_data(MiB), 40 * MiB, _data(2 * MiB, 1)],  # zeros in the middle only
        [_data(MiB), 32 * MiB, _data(2 * MiB, 1), 32 * MiB],  # data after a gap: not cut
    ],
    ids=["short", "middle", "gap"],
)
def test_zero_tail_never_cuts_data(tmp_path, parts):
    assert zero_tail(_file(tmp_path / "f", *parts)) is None


def test_a_short_zero_tail_is_read_as_it_is(tmp_path, caplog):
    clean = write_video(tmp_path / "clean.mkv", badfiles.frames(30, 1), fps=10, audio=True)
    padded = badfiles.zero_tailed(clean, tmp_path / "padded.mkv", MiB, sparse=False)
    assert probe(padded).duration == probe(clean).duration
    assert not caplog.records


def test_a_read_that_finds_no_packet_in_time_ends_in_one_line(tmp_path, monkeypatch):
    path = badfiles.pcm_clip(tmp_path / "tone.mkv")
    monkeypatch.setattr(container, "READ_TIMEOUT", 1e-9)  # every read is late
    with pytest.raises(AudioError, match=r"cannot decode the audio stream \(no data came within"):
        decode_audio(path)


# --- pictures no decoder should be asked to allocate ----------------------------------------


def test_a_picture_side_over_the_limit_is_refused(tmp_path):
    path = badfiles.wide_picture(tmp_path)
    with pytest.raises(VideoError, match="implausible picture size 20000x16") as err:
        probe(path)
    assert str(err.value).startswith(f"{path}: ")
    with pytest.raises(VideoError, match="implausible picture size"):
        next(frames_per_second(path))


def test_a_pixel_shape_no_screen_shows_is_refused(tmp_path):
    path = badfiles.stretched_pixels(tmp_path)
    with pytest.raises(VideoError, match=r"implausible pixel aspect ratio 96:1 \(128x96 "
                                         r"pictures shown 12288x96"):  # fmt: skip
        probe(path)


def test_8k_pictures_are_read(tmp_path):
    a = np.full((4320, 7680, 3), (200, 30, 90), np.uint8)
    path = write_video(tmp_path / "8k.mkv", [a, a], fps=1, options={"preset": "ultrafast"})
    info = probe(path)
    assert (info.width, info.height) == (7680, 4320)
    ((_, frame),) = frames_per_second(path, size=64, max_seconds=1.0)
    assert frame.shape == (64, 64, 3)
