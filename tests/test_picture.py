"""Picture hashes and thumbnails: stable through re-encoding and resizing, far apart for other
scenes, flat frames flagged; frames are encoded and decoded for real with PyAV."""

from __future__ import annotations

import av
import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import FramesError
from introdet.features.fingerprints import held_picture_print, picture_print
from introdet.features.picture import (
    cosine,
    flat_frames,
    gray_resize,
    hamming,
    picture_hash,
    thumbnails,
)


def scene(seed: int, h: int = 180, w: int = 320) -> np.ndarray:
    """A seeded scene: a coloured gradient with a few rectangles and discs, uint8 [h, w, 3]."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w] / np.array([h, w])[:, None, None]
    angle = rng.uniform(0, 2 * np.pi)
    ramp = np.cos(angle) * x + np.sin(angle) * y  # [h, w]
    img = rng.uniform(40, 215, 3) * (0.5 + 0.5 * ramp[..., None])  # [h, w, 3]
    for _ in range(4):
        cy, cx, r = rng.uniform(0.1, 0.9), rng.uniform(0.1, 0.9), rng.uniform(0.05, 0.25)
        inside = (y - cy) ** 2 + ((x - cx) * w / h) ** 2 < r**2
        img[inside] = rng.uniform(0, 255, 3)
        y0, x0 = rng.uniform(0, 0.7, 2)
        img[int(y0 * h) : int((y0 + 0.3) * h), int(x0 * w) : int((x0 + 0.2) * w)] = rng.uniform(
            0, 255, 3
        )
    return np.clip(img, 0, 255).astype(np.uint8)


def decode(path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


@pytest.fixture(scope="module")
def reencoded(tmp_path_factory):
    """Ten scenes as made, and decoded from H.264 at 320x180 and from VP9 at 160x90."""
    tmp = tmp_path_factory.mktemp("pictures")
    frames = np.stack([scene(s) for s in range(10)])  # [10, 180, 320, 3]
    small = np.stack([scene(s, 90, 160) for s in range(10)])  # [10, 90, 160, 3]
    h264 = decode(write_video(tmp / "a.mp4", frames, fps=1.0, options={"crf": "32"}))
    vp9 = decode(write_video(tmp / "b.webm", small, fps=1.0, codec="libvpx-vp9"))
    return frames, h264, vp9


def test_reencoded_and_resized_frames_hash_close(reencoded):
    frames, h264, vp9 = reencoded
    original = picture_hash(frames)
    assert original.dtype == np.uint64 and original.shape == (10,)
    assert hamming(original, picture_hash(h264)).max() <= 6
    assert hamming(original, picture_hash(vp9)).max() <= 8


def test_different_scenes_hash_far_apart(reencoded):
    hashes = picture_hash(reencoded[0])
    pairs = hamming(hashes[:, None], hashes[None, :])  # [10, 10]
    off = pairs[~np.eye(10, dtype=bool)]
    assert off.min() >= 14, off.min()
    assert 24 <= off.mean() <= 40, off.mean()


def test_text_over_the_frame_moves_few_bits():
    frames = np.stack([scene(s) for s in range(10)])
    captioned = frames.copy()  # a white subtitle line: 2-px strokes and a bar through them
    captioned[:, 150:170, 60:260:8] = 255
    captioned[:, 150:170, 61:260:8] = 255
    captioned[:, 159:161, 60:260] = 255
    moved = hamming(picture_hash(frames), picture_hash(captioned))
    assert moved.max() <= 14 and moved.mean() <= 8, moved
    others = hamming(picture_hash(frames)[:, None], picture_hash(captioned)[None, :])
    assert others[~np.eye(10, dtype=bool)].min() > moved.max()  # still nearest its own frame


def test_thumbnails_unit_norm_and_cosine(reencoded):
    frames, h264, _ = reencoded
    t, t2 = thumbnails(frames), thumbnails(h264)
    assert t.dtype == np.float16 and t.shape == (10, 144)
    assert np.allclose(np.linalg.norm(t.astype(np.float32), axis=1), 1, atol=1e-2)
    assert cosine(t, t2).min() > 0.95
    assert cosine(t[:, None], t[None, :])[~np.eye(10, dtype=bool)].max() < 0.9


def test_flat_frames_flagged():
    frames = np.stack([np.zeros((90, 160, 3), np.uint8), np.full((90, 160, 3), 200, np.uint8)])
    frames = np.concatenate([frames, scene(3, 90, 160)[None]])
    assert flat_frames(frames).tolist() == [True, True, False]
    assert np.all(thumbnails(frames)[:2] == 0)


def test_gray_resize_averages_areas():
    frames = np.zeros((1, 4, 6, 3), np.uint8)
    frames[0, :, :3] = 90  # left half grey, right half black
    small = gray_resize(frames, 2, 2)
    assert np.allclose(small[0], [[90, 0], [90, 0]], atol=0.1)
    tiny = gray_resize(frames, 8, 8)  # upsampling: every bin still one pixel at least
    assert tiny.shape == (1, 8, 8) and np.isfinite(tiny).all()


def test_hamming_counts_bits():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 2**63, 50, dtype=np.uint64)
    b = rng.integers(0, 2**63, 50, dtype=np.uint64)
    expected = [bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b, strict=True)]
    assert hamming(a, b).tolist() == expected


def test_bad_frames_raise():
    with pytest.raises(FramesError):
        picture_hash(np.zeros((2, 8, 8), np.uint8))
    with pytest.raises(FramesError):
        thumbnails(np.zeros((2, 8, 8, 3), np.float32))


def test_a_held_picture_print_is_the_decoded_one(tmp_path):
    """Edge windows read every frame once (held for refinement): sample k is still the frame
    on screen at start + k / fps, as ``picture_print`` decodes it."""
    frames = [scene(i // 5, 72, 128) for i in range(100)]  # a new scene every 0.2 s
    path = write_video(tmp_path / "v.mp4", frames, fps=25.0)
    held = held_picture_print(path, 8.0, 1.3, 3.1, thumbs=True)
    decoded = picture_print(path, fps=8.0, start=1.3, max_seconds=1.8, thumbs=True)
    assert len(held.hashes) == 15 and held.start == 1.3
    assert np.array_equal(held.hashes, decoded.hashes)
    assert np.allclose(held.thumbs, decoded.thumbs)
    late = held_picture_print(path, 8.0, 3.5, 6.0)  # none after the last frame (3.96 s)
    assert len(late.hashes) == 4
