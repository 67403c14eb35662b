"""Make the bad inputs of the reliability tests (damaged, odd or hostile files) in a folder."""

from __future__ import annotations

import os
import shutil
import struct
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from introdet.demo.videofile import write_video

H, W = 48, 64  # frame size of the small clips
FPS = 10
SECONDS = 5  # length of a good clip: [0, 5) s, k = 0..4 at 1 sample per second


def frames(n: int, seed: int, h: int = H, w: int = W) -> list[np.ndarray]:
    """Noise frames with a per-frame offset: every frame differs, so damage shows."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def good(path: Path, seed: int = 0, codec: str = "libx264") -> Path:
    """A sound 5 s clip at 10 fps, a keyframe every second (damage stays local)."""
    return write_video(path, frames(SECONDS * FPS, seed), fps=FPS, codec=codec, gop=FPS)


def zero_bytes(folder: Path) -> Path:
    path = folder / "zero.mp4"
    path.write_bytes(b"")
    return path


def text_as_video(folder: Path) -> Path:
    path = folder / "notes.mp4"
    path.write_text("these are my notes, not a video\n" * 20)
    return path


def truncated(folder: Path, suffix: str, fraction: float) -> Path:
    """A good clip cut to its first ``fraction`` of bytes (an interrupted download or copy)."""
    path = folder / f"cut{round(fraction * 100)}_{suffix[1:]}{suffix}"  # ids unique per suffix
    good(path, seed=1)
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * fraction)])
    return path


def flipped_bytes(folder: Path, n: int = 64, seed: int = 0) -> Path:
    """A good Matroska clip with ``n`` random bytes inverted in the middle third of the file."""
    path = good(folder / "flipped.mkv", seed=2)
    data = bytearray(path.read_bytes())
    rng = np.random.default_rng(seed)
    for i in rng.integers(len(data) // 3, 2 * len(data) // 3, n):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def audio_only(folder: Path) -> Path:
    path = folder / "podcast.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("aac", rate=22050)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 22050, i * 1024
            c.mux(s.encode(f))
        c.mux(s.encode())
    return path


def garbage_packets(folder: Path, seed: int = 0) -> Path:
    """A valid Matroska container with an H.264 stream whose every packet is random bytes."""
    source = good(folder / ".source.mp4", seed=3)
    path = folder / "garbage.mkv"
    rng = np.random.default_rng(seed)
    with av.open(str(source)) as src, av.open(str(path), "w") as dst:
        ins = src.streams.video[0]
        out = dst.add_stream_from_template(ins)
        for packet in src.demux(ins):
            if packet.size == 0:
                continue
            junk = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
            junk.pts, junk.dts, junk.time_base = packet.pts, packet.dts, packet.time_base
            junk.is_keyframe = packet.is_keyframe
            junk.stream = out
            dst.mux(junk)
    source.unlink()
    return path


def very_short(folder: Path) -> Path:
    """5 frames at 25 fps: 0.2 s, less than one sampling period."""
    return write_video(folder / "blink.mp4", frames(5, 4), fps=25)


def huge_frames(folder: Path) -> Path:
    """Two 3840x2160 frames (flat colours: noise at 4K would only slow the encoder)."""
    a = np.full((2160, 3840, 3), (200, 30, 90), np.uint8)
    b = np.full((2160, 3840, 3), (20, 180, 60), np.uint8)
    return write_video(folder / "uhd.mp4", [a, b], fps=1, options={"preset": "ultrafast"})


def rotated(folder: Path, degrees: int = 90) -> Path:
    """A clip whose display matrix turns the picture ``degrees`` counter-clockwise."""
    return write_video(folder / "phone.mp4", frames(SECONDS * FPS, 5), fps=FPS, rotation=degrees)


def variable_rate(folder: Path) -> Path:
    """Frames at irregular times (screen recordings, phones): last frame shown at 4.5 s."""
    times = [0.0, 0.1, 0.15, 0.9, 1.0, 2.2, 2.25, 2.3, 3.7, 4.5]
    return write_video(folder / "vfr.mkv", frames(len(times), 6), fps=FPS, times=times)


def raw_h264(folder: Path) -> Path:
    """An Annex B elementary stream: no container, no timestamps, no duration anywhere."""
    return write_video(folder / "raw.h264", frames(SECONDS * FPS, 7), fps=FPS, gop=FPS)


def wrong_duration(folder: Path, claimed: float = 60.0) -> Path:
    """A Matroska clip whose Segment Info Duration and video DURATION tag say ``claimed`` s
    instead of 5 s."""
    path = good(folder / "liar.mkv", seed=8)
    data = bytearray(path.read_bytes())
    # Duration element: ID 0x4489, size 0x88 (8-byte float), in TimestampScale units (1 ms)
    at = data.find(b"\x44\x89\x88")
    if at < 0:
        raise AssertionError(f"{path}: no 8-byte Duration element to rewrite")
    data[at + 3 : at + 11] = struct.pack(">d", claimed * 1000)
    # the track's DURATION tag, a string of fixed width
    tag = b"00:00:05.000000000"
    at = data.find(tag)
    if at < 0:
        raise AssertionError(f"{path}: no DURATION tag {tag!r} to rewrite")
    m, s = divmod(claimed, 60)
    data[at : at + len(tag)] = f"00:{int(m):02d}:{s:012.9f}".encode()
    path.write_bytes(bytes(data))
    return path


def unicode_name(folder: Path) -> Path:
    return good(folder / "Эпизод 1 (final).mkv", seed=9)


def symlink_loop(folder: Path) -> Path:
    """A link from inside the folder back to the folder itself: a naive walk never ends."""
    link = folder / "loop"
    os.symlink(folder, link, target_is_directory=True)
    return link


def dangling_link(folder: Path) -> Path:
    """A link named like a video that points at itself (os.stat fails with ELOOP)."""
    link = folder / "self.mp4"
    os.symlink(link.name, link)
    return link


def directory_named_like_video(folder: Path) -> Path:
    path = folder / "dir.mp4"
    path.mkdir()
    (path / "readme.txt").write_text("a folder, not a video")
    return path


# name -> maker; each maker puts exactly one bad input into the folder it is given
CORPUS: dict[str, Callable[[Path], Path]] = {
    "zero_bytes": zero_bytes,
    "text_as_mp4": text_as_video,
    "truncated_mkv_10": lambda d: truncated(d, ".mkv", 0.1),
    "truncated_mkv_50": lambda d: truncated(d, ".mkv", 0.5),
    "truncated_mkv_90": lambda d: truncated(d, ".mkv", 0.9),
    "truncated_mp4_10": lambda d: truncated(d, ".mp4", 0.1),
    "truncated_mp4_50": lambda d: truncated(d, ".mp4", 0.5),
    "truncated_mp4_90": lambda d: truncated(d, ".mp4", 0.9),
    "flipped_bytes": flipped_bytes,
    "audio_only": audio_only,
    "garbage_packets": garbage_packets,
    "very_short": very_short,
    "huge_frames": huge_frames,
    "rotated": rotated,
    "variable_rate": variable_rate,
    "raw_h264": raw_h264,
    "wrong_duration": wrong_duration,
    "unicode_name": unicode_name,
    "symlink_loop": symlink_loop,
    "self_link": dangling_link,
    "directory_named_mp4": directory_named_like_video,
}


# --- inputs that would make the decoder allocate or read without bound (test_media_limits) ---


def pcm_clip(path: Path, seconds: int = SECONDS, rate: int = 48000) -> Path:
    """A Matroska clip: H.264 pictures at FPS and a 440-Hz tone, mono 16-bit PCM at ``rate``."""
    with av.open(str(path), "w") as c:
        video = c.add_stream("libx264", rate=FPS)
        video.width, video.height, video.pix_fmt = W, H, "yuv420p"
        sound = c.add_stream("pcm_s16le", rate=rate)
        sound.layout = "mono"
        for i, pixels in enumerate(frames(seconds * FPS, 10)):
            f = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, FPS)
            c.mux(video.encode(f))
        c.mux(video.encode())
        t = np.arange(seconds * rate) / rate
        tone = (np.sin(2 * np.pi * 440 * t) * 8000).astype(np.int16)
        for k in range(0, len(tone), 1024):
            f = av.AudioFrame.from_ndarray(tone[None, k : k + 1024], format="s16", layout="mono")
            f.sample_rate, f.pts, f.time_base = rate, k, Fraction(1, rate)
            c.mux(sound.encode(f))
        c.mux(sound.encode())
    return path


def lying_sample_rate(folder: Path, hz: float = 1.0) -> Path:
    """``pcm_clip`` whose Matroska header says its sound has ``hz`` samples a second (the data
    stays 48 kHz): resampled as it claims, each packet would become ~11 million samples."""
    path = pcm_clip(folder / "onehz.mkv")
    data = bytearray(path.read_bytes())
    # SamplingFrequency: ID 0xB5, size 0x88 (8-byte float)
    at = data.find(b"\xb5\x88" + struct.pack(">d", 48000.0))
    if at < 0:
        raise AssertionError(f"{path}: no 8-byte SamplingFrequency element to rewrite")
    data[at + 2 : at + 10] = struct.pack(">d", hz)
    path.write_bytes(bytes(data))
    return path


def zero_tailed(source: Path, dest: Path, zeros: int, sparse: bool) -> Path:
    """A copy of ``source`` followed by ``zeros`` zero bytes: a hole (``sparse``: what a
    preallocated download not finished leaves) or zeros written out."""
    shutil.copyfile(source, dest)
    if sparse:
        os.truncate(dest, dest.stat().st_size + zeros)
        return dest
    with open(dest, "ab") as f:
        for done in range(0, zeros, 1 << 20):
            f.write(bytes(min(1 << 20, zeros - done)))
    return dest


def wide_picture(folder: Path) -> Path:
    """Three 20000x16 pictures (VP9; x264 stops at 16384): a side over MAX_SIDE."""
    return write_video(folder / "wide.mkv", frames(3, 11, h=16, w=20000), fps=1,
                       codec="libvpx-vp9")  # fmt: skip


def stretched_pixels(folder: Path) -> Path:
    """128x96 pictures whose pixels are 96 times as wide as tall: shown 12288x96 (FFmpeg
    takes sample aspect ratios up to the picture's height)."""
    path = folder / "stretched.mp4"
    with av.open(str(path), "w") as c:
        s = c.add_stream("libx264", rate=FPS)
        s.width, s.height, s.pix_fmt = 128, 96, "yuv420p"
        s.codec_context.sample_aspect_ratio = Fraction(96, 1)
        for i, pixels in enumerate(frames(FPS, 12, h=96, w=128)):
            f = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            f.pts = i
            c.mux(s.encode(f))
        c.mux(s.encode())
    return path


def junk_tailed(source: Path, dest: Path, n: int, seed: int = 0) -> Path:
    """A copy of ``source`` followed by ``n`` random bytes (junk after the container's end)."""
    shutil.copyfile(source, dest)
    rng = np.random.default_rng(seed)
    with open(dest, "ab") as f:
        for done in range(0, n, 1 << 20):
            f.write(rng.integers(0, 256, min(1 << 20, n - done), dtype=np.uint8).tobytes())
    return dest


def unknown_segment_size(source: Path, dest: Path) -> Path:
    """A copy of the Matroska file ``source`` whose Segment size is unknown (all ones), as a
    live recording writes it: nothing says where the segment ends."""
    data = bytearray(source.read_bytes())
    at = data.find(b"\x18\x53\x80\x67\x01")  # the Segment ID, an 8-byte size (FFmpeg's)
    if at < 0:
        raise AssertionError(f"{source}: no Segment with an 8-byte size to rewrite")
    data[at + 4 : at + 12] = b"\x01" + b"\xff" * 7
    dest.write_bytes(bytes(data))
    return dest
