"""Hostile media that would make the decoder allocate or read without bound (#27, items 2 and
10): a sound header claiming 1 Hz, a file followed by gigabytes of zeros, pictures no decoder
should be asked to allocate. Each is one clear line, bounded in memory and bytes read."""

from __future__ import annotations

import dataclasses
import os
import resource
import struct
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
from introdet.media import container_end as container_end_module
from introdet.media.container_end import SLACK, container_end
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
    sound = decode_audio(path)
    assert len(sound.samples) == 2 * sound.rate
    said = [r.getMessage() for r in caplog.records]
    assert len(said) == 1 and said[0].startswith(f"{path}: only the first 2 s of its sound")
    caplog.clear()
    assert len(decode_audio(path, max_seconds=1.0).samples) == sound.rate  # asked: no warning
    assert not caplog.records


# --- a tail of zeros -----------------------------------------------------------------------


def _read_everything(path: Path):
    """What the pipeline reads of a video: probe, its whole sound, one frame a second."""
    info = dataclasses.replace(probe(path), path="")
    sound = decode_audio(path)
    pictures = list(frames_per_second(path))
    return info, sound, pictures


def _bytes_to_read_everything(path: Path) -> tuple[int, tuple]:
    """Bytes read by ``_read_everything(path)``, and what it read."""
    before = _bytes_read()
    got = _read_everything(path)
    return _bytes_read() - before, got


def _assert_same(got, want) -> None:
    assert got[0] == want[0]
    assert np.array_equal(got[1].samples, want[1].samples) and got[1].start == want[1].start
    assert [k for k, _ in got[2]] == [k for k, _ in want[2]]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got[2], want[2], strict=True))


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
    _assert_same(got, want)
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


# --- junk after the container's end -------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "codec", "where"),
    [(".mkv", "libx264", "its Matroska segment ends"),
     (".webm", "libvpx-vp9", "its Matroska segment ends"),
     (".mp4", "libx264", "its last MP4 box ends"),  # FFmpeg stops at the junk: the warning
     (".avi", "mpeg4", "its last AVI RIFF chunk ends")],
)  # fmt: skip
def test_random_bytes_after_the_container_are_not_read(tmp_path, caplog, suffix, codec, where):
    clean = write_video(tmp_path / f"clean{suffix}", badfiles.frames(50, 0), fps=10,
                        codec=codec, audio=True)  # fmt: skip
    junky = badfiles.junk_tailed(clean, tmp_path / f"E1{suffix}", 64 * MiB)
    _read_everything(clean)  # imports done and the clean file in the page cache
    clean_bytes, want = _bytes_to_read_everything(clean)
    caplog.clear()
    junk_bytes, got = _bytes_to_read_everything(junky)
    # unbounded: ~450 MiB (Matroska, AVI: each pass that reaches the end reads all the junk)
    assert junk_bytes - clean_bytes < 2 * MiB
    _assert_same(got, want)
    said = f"{junky}: 67.1 MB after {where} are not its data; read up to byte"
    assert [r.getMessage() for r in caplog.records] == [f"{said} {clean.stat().st_size}"]
    junky.unlink()


def test_a_matroska_segment_of_unknown_size_is_read_whole(tmp_path, caplog):
    clean = write_video(tmp_path / "clean.mkv", badfiles.frames(30, 2), fps=10, audio=True)
    live = badfiles.unknown_segment_size(clean, tmp_path / "live.mkv")
    junky = badfiles.junk_tailed(live, tmp_path / "E2.mkv", 2 * MiB, seed=1)
    assert container_end(junky) is None
    _, want = _bytes_to_read_everything(clean)
    caplog.clear()
    read, got = _bytes_to_read_everything(junky)
    assert read > junky.stat().st_size  # nothing says where the segment ends: all is read
    _assert_same(got, want)
    assert not [r for r in caplog.records if "not its data" in r.getMessage()]


def _clip(tmp_path: Path, suffix: str) -> bytes:
    codec = "mpeg4" if suffix == ".avi" else "libx264"
    path = write_video(tmp_path / f"c{suffix}", badfiles.frames(20, 3), fps=10, codec=codec,
                       audio=True)  # fmt: skip
    return path.read_bytes()


def _mp4_box(kind: bytes, body: bytes, large: bool = False) -> bytes:
    if large:
        return struct.pack(">I4sQ", 1, kind, 16 + len(body)) + body
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _shrunk_segment(mkv: bytes) -> bytes:
    """``mkv`` whose Segment size ends it where its first Cluster starts (a wrong size)."""
    at = mkv.find(b"\x18\x53\x80\x67\x01") + 12
    size = mkv.find(b"\x1f\x43\xb6\x75") - at
    return mkv[: at - 7] + size.to_bytes(7, "big") + mkv[at:]


JUNK = _data(3000, seed=5)


@pytest.mark.parametrize(
    ("suffix", "make", "end"),
    [
        (".mkv", lambda c: c + JUNK, len),  # its segment, then junk
        (".mkv", lambda c: c, None),  # nothing after it
        (".mkv", lambda c: c[: len(c) // 2] + JUNK, None),  # cut short: its segment runs on
        (".mkv", lambda c: c + c + JUNK, None),  # a second segment
        (".mkv", lambda c: _shrunk_segment(c) + JUNK, None),  # its size ends it too soon
        (".mp4", lambda c: c + JUNK, len),
        (".mp4", lambda c: c[: len(c) // 2] + JUNK, None),  # cut short: a box runs past
        (".mp4", lambda c: c[:-100], None),  # moov cut short
        (".mp4", lambda c: c + b"\0" * 3000, len),  # zeros: no box
        (".mp4", lambda c: (c + _mp4_box(b"mdat", JUNK, large=True) + _mp4_box(b"free", b"")
                            + JUNK), lambda c: len(c) + 16 + len(JUNK) + 8),  # 64-bit size
        (".mp4", lambda c: c + b"\0\0\0\0mdat" + JUNK, None),  # a box to the end of the file
        (".mp4", lambda c: b"\0\0\0\4ftyp" + JUNK, None),  # no box at all: no MP4
        (".avi", lambda c: c + JUNK, len),
        (".avi", lambda c: c[: len(c) // 2] + JUNK, None),  # cut short
        (".avi", lambda c: c + b"RIFF" + struct.pack("<I", 3004) + b"AVIX" + JUNK + JUNK,
         lambda c: len(c) + 3012),  # an OpenDML extension, then junk
        (".avi", lambda c: c + b"idx1" + struct.pack("<I", 16) + JUNK, None),  # a chunk past
    ],
    ids=["mkv", "mkv_alone", "mkv_cut", "mkv_twice", "mkv_wrong_size", "mp4", "mp4_cut",
         "mp4_moov_cut", "mp4_zeros", "mp4_largesize", "mp4_to_eof", "mp4_none", "avi",
         "avi_cut", "avix", "avi_index_after"],
)  # fmt: skip
def test_container_end_is_where_the_structure_says_and_never_cuts_data(
    tmp_path, monkeypatch, suffix, make, end
):
    monkeypatch.setattr(container_end_module, "SLACK", 0)  # small files, a few bytes of junk
    clip = _clip(tmp_path, suffix)
    path = tmp_path / f"f{suffix}"
    path.write_bytes(make(clip))
    found = container_end(path)
    if end is None:
        assert found is None
    else:
        assert found is not None and found.data_end == end(clip)
        assert found.size == path.stat().st_size


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_a_32_bit_size_that_may_have_wrapped_is_no_end(tmp_path, suffix):
    """Over 4 GiB after the last box or RIFF chunk with a 32-bit size: a writer without 64-bit
    sizes may have wrapped it, what follows is no sure junk (a hole: nothing written)."""
    clip = _clip(tmp_path, suffix)
    path = tmp_path / f"f{suffix}"
    path.write_bytes(clip)
    os.truncate(path, len(clip) + (4 << 30))
    assert container_end(path) is None
    os.truncate(path, len(clip) + (4 << 30) - 4 * MiB)  # the last chunk: under 4 GiB before
    assert container_end(path).data_end == len(clip)


def test_a_few_bytes_after_the_container_are_read_without_a_word(tmp_path):
    clip = _clip(tmp_path, ".mkv")
    path = tmp_path / "f.mkv"
    path.write_bytes(clip + _data(SLACK, seed=6))
    assert container_end(path) is None
    path.write_bytes(clip + _data(SLACK + 1, seed=6))
    assert container_end(path).junk == SLACK + 1


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
