"""Tests for introdet.media (probe, sampling, packets) over tiny real videos written with PyAV."""

from __future__ import annotations

import logging
import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import VideoError
from introdet.media.held_frames import HeldFrames
from introdet.media.probe import probe
from introdet.media.sampling import (
    center_crop,
    frames_between,
    frames_per_second,
    keyframes,
    resized_shape,
    rotate_upright,
)

FPS = 25  # every fixture: 5.0 s at 25 fps, frame i shown at i / 25 s
N = 125


def coded_frame(second: int, sub: int, h: int = 48, w: int = 64) -> np.ndarray:
    """Left half gray 20 * second + 10, right half gray 10 * sub + 5: survives any codec."""
    a = np.empty((h, w, 3), np.uint8)
    a[:, : w // 2] = 20 * second + 10
    a[:, w // 2 :] = 10 * sub + 5
    return a


def read_code(a: np.ndarray) -> tuple[int, int]:
    """(second, sub) back from a frame of any size, away from the edge between the halves."""
    w = a.shape[1]
    left = float(a[:, w // 8 : 3 * w // 8].mean())
    right = float(a[:, 5 * w // 8 : 7 * w // 8].mean())
    return round((left - 10) / 20), round((right - 5) / 10)


def frame_code(i: int) -> tuple[int, int]:
    """Code of CFR frame i: its second and its index within that second."""
    return i // FPS, i % FPS


def cfr_frames(n: int = N, h: int = 48, w: int = 64) -> list[np.ndarray]:
    return [coded_frame(*frame_code(i), h=h, w=w) for i in range(n)]


def shown_at(t: float) -> int:
    """Index of the CFR frame on screen at t seconds (pts i / 25 <= t)."""
    return math.floor(round(t * FPS, 9))


@pytest.fixture(scope="module")
def videos(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("videos")
    frames = cfr_frames()
    specs = {
        "h264": ("a.mp4", "libx264", {"audio": True}),
        "hevc": ("b.mkv", "libx265", {}),
        "vp9": ("c.webm", "libvpx-vp9", {}),
        "vp8": ("d.webm", "libvpx", {}),
        "mpeg4": ("e.avi", "mpeg4", {}),
        "av1": ("f.mkv", "libsvtav1", {"options": {"svtav1-params": "log-level=0"}}),
        "mp4_start": ("g.mp4", "libx264", {"start": 2.0}),
        "mkv_start": ("h.mkv", "libx264", {"start": 2.0}),
        # a keyframe exactly every second: no scene-cut keyframes in between
        "gop25": ("i.mp4", "libx264", {"gop": 25, "options": {"sc_threshold": "0"}}),
    }
    out = {}
    for key, (name, codec, kw) in specs.items():
        out[key] = write_video(d / name, frames, fps=FPS, codec=codec, **kw)
    return out


CODECS = ["h264", "hevc", "vp9", "vp8", "mpeg4", "av1"]
CODEC_NAMES = {"h264": "h264", "hevc": "hevc", "vp9": "vp9", "vp8": "vp8", "mpeg4": "mpeg4"}


@pytest.mark.parametrize("key", CODECS)
def test_every_codec_gives_one_frame_per_second(videos: dict[str, Path], key: str) -> None:
    got = list(frames_per_second(videos[key]))
    # 5.0 s, last frame at 4.96 s: seconds 0..4, and second k shows frame 25 k
    assert [k for k, _ in got] == [0, 1, 2, 3, 4]
    for k, frame in got:
        assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
        assert read_code(frame) == (k, 0)


@pytest.mark.parametrize("key", CODECS)
def test_probe(videos: dict[str, Path], key: str) -> None:
    info = probe(videos[key])
    assert info.duration == pytest.approx(5.0, abs=0.02)
    assert (info.width, info.height, info.rotation, info.start_time) == (64, 48, 0, 0.0)
    assert info.has_audio == (key == "h264")
    if key in CODEC_NAMES:
        assert info.codec == CODEC_NAMES[key]
    if key != "mpeg4":  # AVI stores a millisecond time base as its frame rate
        assert info.fps == pytest.approx(FPS)


@pytest.mark.parametrize("key", ["mp4_start", "mkv_start"])
def test_nonzero_start_time(videos: dict[str, Path], key: str) -> None:
    info = probe(videos[key])
    assert info.start_time == pytest.approx(2.0)
    assert info.duration == pytest.approx(5.0, abs=0.02)  # Matroska's header says 7.0
    got = [(k, read_code(f)) for k, f in frames_per_second(videos[key], size=None)]
    assert got == [(k, (k, 0)) for k in range(5)]


def test_start_offset_picks_the_frame_on_screen(videos: dict[str, Path]) -> None:
    # t = 1.3 + k falls between frames: frame 25 k + 32 (pts 1.28 + k) is on screen
    got = [(k, read_code(f)) for k, f in frames_per_second(videos["hevc"], start=1.3, size=32)]
    assert got == [(k, frame_code(shown_at(1.3 + k))) for k in range(4)]  # 4.3 < 5 <= 5.3
    assert [c for _, c in got] == [(1, 7), (2, 7), (3, 7), (4, 7)]


def test_fps_above_one(videos: dict[str, Path]) -> None:
    got = [(k, read_code(f)) for k, f in frames_per_second(videos["vp9"], fps=2.0, size=None)]
    # t = 0, 0.5, ..., 4.5: at 0.5 s frame 12 (0.48 s) is still on screen
    assert got == [(k, frame_code(shown_at(k / 2))) for k in range(10)]


@pytest.mark.parametrize(
    ("kwargs", "times"),
    [
        ({"max_seconds": 3}, [0, 1, 2]),
        ({"fraction": 0.5}, [0, 1, 2]),  # scan_end 2.5
        ({"start": 2.4, "max_seconds": 1.5}, [2.4, 3.4]),  # scan_end 3.9
        ({"start": 4.0}, [4.0]),
        ({"start": 6.0}, []),
    ],
)
def test_scan_limits(videos: dict[str, Path], kwargs: dict, times: list[float]) -> None:
    got = [(k, read_code(f)) for k, f in frames_per_second(videos["h264"], size=32, **kwargs)]
    assert got == [(k, frame_code(shown_at(t))) for k, t in enumerate(times)]


def test_variable_frame_rate(tmp_path: Path) -> None:
    times = [0.0, 0.5, 0.7, 2.3, 2.9, 3.0, 3.04, 4.6, 4.96]
    path = write_video(
        tmp_path / "vfr.mp4", [coded_frame(0, i) for i in range(len(times))], times=times
    )
    got = [(k, read_code(f)[1]) for k, f in frames_per_second(path, size=None)]
    # the last frame shown at each second; 0.7 s stays on screen through 1 s and 2 s
    expected = [(k, max(i for i, t in enumerate(times) if t <= k)) for k in range(5)]
    assert expected == [(0, 0), (1, 2), (2, 2), (3, 5), (4, 6)]
    assert got == expected


def test_odd_frame_size(tmp_path: Path) -> None:
    path = write_video(tmp_path / "odd.mp4", cfr_frames(50, h=38, w=66), fps=FPS)
    info = probe(path)
    assert (info.width, info.height) == (66, 38)
    cropped = [f for _, f in frames_per_second(path)]
    assert [f.shape for f in cropped] == [(224, 224, 3)] * 2
    wide = [f for _, f in frames_per_second(path, crop=False)]
    assert wide[0].shape == (224, int(224 * 66 / 38), 3)  # shortest side 224, aspect kept
    native = [f for _, f in frames_per_second(path, size=None)]
    assert native[1].shape == (38, 66, 3)
    assert [read_code(f) for f in cropped + wide + native] == [(0, 0), (1, 0)] * 3


def write_rotated(path: Path, degrees: int) -> Path:
    """64x48 clip with a white top-left quadrant and a display matrix turning it ``degrees``."""
    a = np.zeros((48, 64, 3), np.uint8)
    a[:24, :32] = 255
    return write_video(path, [a] * 30, fps=FPS, rotation=degrees)


def test_rotation_metadata_is_applied(tmp_path: Path) -> None:
    path = write_rotated(tmp_path / "rot.mp4", 90)
    info = probe(path)
    assert (info.rotation, info.width, info.height) == (90, 48, 64)
    got = list(frames_per_second(path, size=None))
    assert [k for k, _ in got] == [0, 1]  # 30 frames at 25 fps: 1.2 s
    frame = got[0][1]
    assert frame.shape == (64, 48, 3)
    # turning 90 degrees counter-clockwise carries the top-left corner to the bottom-left
    quadrants = {
        "top_left": frame[:32, :24].mean(),
        "top_right": frame[:32, 24:].mean(),
        "bottom_left": frame[32:, :24].mean(),
        "bottom_right": frame[32:, 24:].mean(),
    }
    assert max(quadrants, key=quadrants.get) == "bottom_left"
    assert quadrants["bottom_left"] > 200 and quadrants["top_left"] < 50


def test_rotate_upright_and_crop_helpers() -> None:
    a = np.arange(6).reshape(2, 3)
    assert rotate_upright(a, 0).tolist() == a.tolist()
    assert rotate_upright(a, 90).tolist() == [[2, 5], [1, 4], [0, 3]]
    assert rotate_upright(a, 180).tolist() == [[5, 4, 3], [2, 1, 0]]
    assert rotate_upright(a, 270).tolist() == rotate_upright(a, -90).tolist()
    assert rotate_upright(a, 270).tolist() == [[3, 0], [4, 1], [5, 2]]
    b = np.arange(5 * 8).reshape(5, 8)
    assert center_crop(b, 3).tolist() == b[1:4, 2:5].tolist()  # round(1.0), round(2.5) = 2
    assert resized_shape(1920, 1080, 224) == (398, 224)
    assert resized_shape(38, 66, 224) == (224, 389)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("missing.mp4", None, "no such file"),
        ("empty.mp4", b"", "empty file"),
        ("text.mp4", b"this is not a video\n" * 50, "not a readable media file"),
    ],
)
def test_probe_rejects_bad_files(
    tmp_path: Path, name: str, content: bytes | None, reason: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(VideoError, match=reason) as err:
        probe(path)
    assert str(err.value).startswith(str(path))
    with pytest.raises(VideoError):  # the sampler fails the same way, on first use
        next(frames_per_second(path))


def test_audio_only_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "tone.m4a"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=22050)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), "fltp", "mono")
            f.sample_rate, f.pts = 22050, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode())
    with pytest.raises(VideoError, match="no video stream") as err:
        probe(path)
    assert str(err.value).startswith(str(path)) and "audio" in str(err.value)


@pytest.fixture(scope="module")
def noisy(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The 5 s clip with a noise band between the code halves, so frames cost real bytes."""
    rng = np.random.default_rng(0)
    frames = cfr_frames()
    for f in frames:
        f[:, 24:40] = rng.integers(0, 256, (48, 16, 3))  # outside what read_code looks at
    d = tmp_path_factory.mktemp("noisy")
    return {s: write_video(d / f"noisy{s}", frames, fps=FPS, gop=25) for s in (".mkv", ".mp4")}


def test_truncated_file_keeps_frames_before_the_damage(
    noisy: dict[str, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data = noisy[".mkv"].read_bytes()
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(data[: len(data) // 2])
    with caplog.at_level(logging.WARNING, logger="introdet.media"):
        got = [(k, read_code(f)) for k, f in frames_per_second(cut, size=None)]
    assert 1 <= len(got) < 5  # the header still says 5 s
    assert got == [(k, (k, 0)) for k in range(len(got))]
    assert any(r.getMessage().startswith(str(cut)) for r in caplog.records)


def test_truncated_mp4_without_index_is_a_clear_error(
    noisy: dict[str, Path], tmp_path: Path
) -> None:
    data = noisy[".mp4"].read_bytes()  # moov (the index) is written last: the cut loses it
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(VideoError, match="not a readable media file") as err:
        probe(cut)
    assert str(err.value).startswith(str(cut))


@pytest.mark.parametrize("decode", ["all", "needed"])
@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_damage_mid_file_is_skipped(
    noisy: dict[str, Path],
    tmp_path: Path,
    suffix: str,
    decode: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    data = bytearray(noisy[suffix].read_bytes())
    at = len(data) * 4 // 10  # inside second 2, before the keyframe at 3 s
    data[at : at + 100] = np.random.default_rng(1).integers(0, 256, 100, np.uint8).tobytes()
    path = tmp_path / f"damaged{suffix}"
    path.write_bytes(bytes(data))
    with caplog.at_level(logging.WARNING, logger="introdet.media"):
        got = [(k, read_code(f)) for k, f in frames_per_second(path, size=None, decode=decode)]
    assert [k for k, _ in got] == [0, 1, 2, 3, 4]
    # before the damage, and from the next keyframe on, the pictures are exact
    assert [got[k] for k in (0, 1, 3, 4)] == [(k, (k, 0)) for k in (0, 1, 3, 4)]
    if decode == "all":  # "needed" may never decode the damaged frames: no sample needs them
        assert any(r.getMessage().startswith(f"{path}: corrupt") for r in caplog.records)


def test_stream_without_timestamps(tmp_path: Path) -> None:
    path = write_video(tmp_path / "raw.h264", cfr_frames(), fps=FPS)  # Annex B: no pts, no index
    info = probe(path)
    assert info.duration == pytest.approx(5.0) and info.start_time == 0.0  # 125 frames / 25
    got = [(k, read_code(f)) for k, f in frames_per_second(path, size=None, start=1.3)]
    assert got == [(k, frame_code(shown_at(1.3 + k))) for k in range(4)]
    spans = [read_code(f) for _, f in frames_between(path, 1.5, 1.62, size=None)]
    assert spans == [frame_code(i) for i in (38, 39, 40)]


def test_sample_aspect_ratio_gives_display_size(tmp_path: Path) -> None:
    path = tmp_path / "anamorphic.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 32, 48, "yuv420p"
        s.codec_context.sample_aspect_ratio = Fraction(2, 1)  # pixels twice as wide as tall
        for i in range(FPS):
            f = av.VideoFrame.from_ndarray(coded_frame(0, 3, h=48, w=32), format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    info = probe(path)
    assert (info.width, info.height) == (64, 48)
    ((_, frame),) = frames_per_second(path, size=48, crop=False)
    assert frame.shape == (48, 64, 3) and read_code(frame) == (0, 3)


def test_skip_nonref_is_at_most_a_few_frames_early(videos: dict[str, Path]) -> None:
    got = [(k, read_code(f)) for k, f in frames_per_second(videos["h264"], skip_nonref=True)]
    assert [k for k, _ in got] == [0, 1, 2, 3, 4]
    for k, (second, sub) in got:
        index = second * FPS + sub
        assert 0 <= k * FPS - index <= 3  # x264 runs at most 3 B-frames


def test_threads_do_not_change_the_result(videos: dict[str, Path]) -> None:
    one = [f for _, f in frames_per_second(videos["h264"], threads=1, size=32)]
    auto = [f for _, f in frames_per_second(videos["h264"], threads=0, size=32)]
    assert len(one) == 5 and all(np.array_equal(a, b) for a, b in zip(one, auto, strict=True))


def test_keyframes(videos: dict[str, Path]) -> None:
    got = [(t, read_code(f)) for t, f in keyframes(videos["gop25"], size=32)]
    assert got == [(pytest.approx(float(s)), (s, 0)) for s in range(5)]
    assert [t for t, _ in keyframes(videos["gop25"], max_seconds=2.5)] == pytest.approx([0, 1, 2])


@pytest.mark.parametrize("key", ["h264", "hevc", "mkv_start"])
@pytest.mark.parametrize(("t0", "t1"), [(1.5, 2.3), (2.0, 2.2), (0.0, 0.1), (4.9, 9.0)])
def test_frames_between(videos: dict[str, Path], key: str, t0: float, t1: float) -> None:
    got = list(frames_between(videos[key], t0, t1))
    # frames i with t0 <= i / 25 < t1, in exact rationals
    lo, hi = Fraction(str(t0)), Fraction(str(t1))
    want = [i for i in range(N) if lo <= Fraction(i, FPS) < hi]
    assert [t for t, _ in got] == pytest.approx([i / FPS for i in want])
    assert [read_code(f) for _, f in got] == [frame_code(i) for i in want]
    assert all(f.shape == (64, int(64 * 64 / 48), 3) for _, f in got)  # shortest side 64


def test_frames_between_by_hand(videos: dict[str, Path]) -> None:
    # [1.5, 2.3) at 25 fps: frames 38 (1.52 s) .. 57 (2.28 s); 58 (2.32 s) is out
    got = [(t, read_code(f)) for t, f in frames_between(videos["hevc"], 1.5, 2.3, size=None)]
    assert len(got) == 20
    assert got[0] == (pytest.approx(1.52), (1, 13)) and got[-1] == (pytest.approx(2.28), (2, 7))


@pytest.fixture(scope="module")
def gops(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """12 s clips with many short GOPs (not aligned to seconds), B-frames and moving noise."""
    d = tmp_path_factory.mktemp("gops")
    rng = np.random.default_rng(0)
    n = 12 * FPS
    noise = rng.integers(0, 6, size=(n, 48, 64, 3), dtype=np.uint8)
    frames = [np.clip(f + noise[i], 0, 255).astype(np.uint8) for i, f in enumerate(cfr_frames(n))]
    x264 = {"sc_threshold": "0", "bf": "3"}
    specs = {
        "h264_mp4": ("a.mp4", "libx264", 22, x264),
        "h264_mkv": ("b.mkv", "libx264", 17, x264),
        "h264_ts": ("c.ts", "libx264", 30, x264),
        # open GOPs: B-frames after a keyframe refer to the GOP before it
        "h264_open": ("d.mkv", "libx264", 20, {**x264, "x264-params": "open-gop=1"}),
        "hevc": ("e.mkv", "libx265", 24, {"x265-params": "log-level=error:keyint=24:bframes=4"}),
        "vp9": ("f.webm", "libvpx-vp9", 19, {}),
        "vp8": ("g.webm", "libvpx", 26, {}),
        "av1": ("h.mkv", "libsvtav1", 32, {"svtav1-params": "log-level=0"}),
        "mpeg2": ("i.ts", "mpeg2video", 15, {"bf": "2", "b": "2M"}),
    }
    return {
        key: write_video(d / name, frames, fps=FPS, codec=codec, gop=gop, options=opts)
        for key, (name, codec, gop, opts) in specs.items()
    }


@pytest.mark.parametrize(
    "key", ["h264_mp4", "h264_mkv", "h264_ts", "h264_open", "hevc", "vp9", "vp8", "av1", "mpeg2"]
)
@pytest.mark.parametrize(
    "kwargs",
    [
        {},
        {"start": 1.3},
        {"fps": 0.35, "start": 0.5},
        {"fps": 3.0},
        {"start": 4.7, "max_seconds": 4},
    ],
)
def test_decoding_only_needed_packets_changes_no_frame(
    gops: dict[str, Path], key: str, kwargs: dict
) -> None:
    def sample(decode: str) -> list[tuple[int, np.ndarray]]:
        return list(frames_per_second(gops[key], size=None, decode=decode, **kwargs))

    needed, full = sample("needed"), sample("all")
    assert [k for k, _ in needed] == [k for k, _ in full] and len(full) > 2
    for (k, a), (_, b) in zip(needed, full, strict=True):
        assert np.array_equal(a, b), f"{key} sample {k} differs"
        t = kwargs.get("start", 0.0) + k / kwargs.get("fps", 1.0)
        assert read_code(a) == frame_code(shown_at(t))


def test_decoding_only_needed_packets_with_skip_nonref_and_vfr(
    gops: dict[str, Path], tmp_path: Path
) -> None:
    path = gops["h264_mkv"]
    for threads in (1, 0):
        a = list(frames_per_second(path, size=32, skip_nonref=True, threads=threads))
        b = list(frames_per_second(path, size=32, skip_nonref=True, decode="all", threads=threads))
        assert len(a) == 12
        assert all(np.array_equal(x, y) for (_, x), (_, y) in zip(a, b, strict=True))
    times = [0.0, 0.5, 0.7, 2.3, 2.9, 3.0, 3.04, 4.6, 4.96, 6.5, 8.0, 8.01]
    vfr = write_video(
        tmp_path / "vfr.mkv", [coded_frame(0, i) for i in range(len(times))], times=times, gop=3
    )
    got = [read_code(f)[1] for _, f in frames_per_second(vfr, size=None)]
    assert got == [max(i for i, t in enumerate(times) if t <= k) for k in range(9)]
    assert got == [read_code(f)[1] for _, f in frames_per_second(vfr, size=None, decode="all")]


def test_decode_mode_is_checked(gops: dict[str, Path]) -> None:
    with pytest.raises(ValueError, match="decode"):
        next(frames_per_second(gops["vp8"], decode="some"))


def test_video_error_survives_pickling() -> None:
    import pickle

    err = pickle.loads(pickle.dumps(VideoError("/lib/a.mkv", "no video stream")))
    assert (err.path, err.reason, str(err)) == (
        "/lib/a.mkv",
        "no video stream",
        "/lib/a.mkv: no video stream",
    )


@pytest.mark.parametrize(
    "key", ["h264_mp4", "h264_ts", "h264_open", "hevc", "vp9", "vp8", "av1", "mpeg2"]
)
@pytest.mark.parametrize("kwargs", [{}, {"start": 1.3}, {"fps": 3.0, "max_seconds": 5}])
def test_keyframe_sampling_gives_the_last_keyframe_shown(
    gops: dict[str, Path], key: str, kwargs: dict
) -> None:
    keys = list(keyframes(gops[key], size=None))
    assert len(keys) >= 3
    got = list(frames_per_second(gops[key], size=None, decode="keyframes", **kwargs))
    assert len(got) == len(list(frames_per_second(gops[key], size=None, **kwargs)))
    for k, frame in got:
        t = kwargs.get("start", 0.0) + k / kwargs.get("fps", 1.0)
        want = max((kt for kt in keys if kt[0] <= t + 1e-9), key=lambda kt: kt[0])[1]
        assert np.array_equal(frame, want), f"{key} sample {k} at {t} s"


def test_audio_running_past_the_video_is_not_truncation(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = write_video(tmp_path / "tail.mkv", cfr_frames(), fps=FPS, audio=True, audio_tail=4.0)
    with av.open(str(path)) as c:
        assert c.duration / 1e6 > 8.5  # the container's duration covers the audio
    with caplog.at_level(logging.WARNING, logger="introdet.media"):
        info = probe(path)
        got = [k for k, _ in frames_per_second(path, size=32)]
    assert info.duration == pytest.approx(5.0, abs=0.02) and got == [0, 1, 2, 3, 4]
    assert not caplog.records  # Matroska's per-track DURATION tag gives the video's own end


@pytest.mark.parametrize("key", ["vp9", "h264_open", "hevc"])
def test_over_long_gops_stream_with_the_same_frames(
    gops: dict[str, Path], key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from introdet.media import packets

    expected = {
        d: list(frames_per_second(gops[key], size=None, decode=d)) for d in ("needed", "keyframes")
    }
    monkeypatch.setattr(packets.Plan, "MAX_GOP_PACKETS", 5)  # every GOP here is longer: streamed
    for decode, want in expected.items():
        got = list(frames_per_second(gops[key], size=None, decode=decode))
        assert len(got) == len(want) == 12
        assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(got, want, strict=True)), decode


# --- frames held between readers ------------------------------------------------------------


def test_held_frames_are_frames_between_decoded_once(videos: dict[str, Path]) -> None:
    path, held = videos["gop25"], HeldFrames()
    first = held.between(path, 1.5, 2.3)
    want = list(frames_between(path, 1.5, 2.3))
    assert [t for t, _ in first] == [t for t, _ in want]
    assert all(np.array_equal(a, b) for (_, a), (_, b) in zip(first, want, strict=True))
    inside = held.between(path, 1.6, 2.0)  # held: the very arrays, not decoded again
    assert [read_code(f) for _, f in inside] == [frame_code(i) for i in range(40, 50)]
    assert all(any(f is g for _, g in first) for _, f in inside)
    wider = held.between(path, 2.0, 3.0)  # overlapping: decoded again as one stretch
    assert [read_code(f) for _, f in wider] == [frame_code(i) for i in range(50, 75)]
    (stretches,) = held.held.values()
    assert [(s.t0, s.t1) for s in stretches] == [(1.5, 3.0)]


def test_held_frames_follow_a_replaced_file_and_keep_to_their_budget(tmp_path: Path) -> None:
    path = write_video(tmp_path / "v.mp4", cfr_frames(50), fps=FPS)
    held = HeldFrames()
    assert read_code(held.between(path, 1.0, 1.1)[0][1]) == (1, 0)
    write_video(path, cfr_frames(60)[::-1], fps=FPS)  # another video under the same name
    assert read_code(held.between(path, 1.0, 1.1)[0][1]) == frame_code(59 - 25)
    assert probe(path).duration == pytest.approx(2.4)
    write_video(path, cfr_frames(75), fps=FPS)
    assert probe(path).duration == pytest.approx(3.0)  # what a file says is kept while it is
    small = HeldFrames(budget=1)  # unchanged, not after
    small.between(path, 0.0, 0.5)
    assert not small.held  # over the budget: nothing held, the frames still returned
