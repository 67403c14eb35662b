"""Coarse to fine over a real video: keyframe rows, the exact span, exact rows."""

from __future__ import annotations

import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import VideoError
from introdet.features.coarse import coarse_features, fine_rows, sample_exact, thin
from introdet.features.encoder import ClipEncoder
from introdet.media.sampling import SamplerConfig, frames_per_second

ONE_FPS = SamplerConfig(fps=1.0)  # one sample per second of video
FPS = 10  # 12 s, a keyframe every 3 s exactly, a new picture every second


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    rng = np.random.default_rng(0)
    looks = rng.integers(0, 255, size=(12, 3))
    frames = [np.broadcast_to(looks[i // FPS], (48, 64, 3)).astype(np.uint8) for i in range(120)]
    for i, f in enumerate(frames):  # a block moving within the second: no two frames alike
        f = frames[i] = f.copy()
        f[10:20, 4 * (i % FPS) : 4 * (i % FPS) + 8] = 255
    path = tmp_path_factory.mktemp("coarse") / "ep.mp4"
    return write_video(path, frames, fps=FPS, gop=30, options={"sc_threshold": "0"})


@pytest.fixture(scope="module")
def encoder():
    return ClipEncoder("introdet-tiny", pretrained=None)


def test_thin_keeps_one_keyframe_per_step():
    times = [0.0, 0.5, 1.0, 2.2, 2.4, 6.0]
    assert thin(times, 0.0) == list(range(6))
    assert thin(times, 2.0) == [0, 3, 5]


def test_coarse_rows_are_keyframe_features(video, encoder):
    exact = np.stack([f for _, f in frames_per_second(video, size=encoder.image_size)])
    c = coarse_features(video, encoder.embed, encoder.image_size, ONE_FPS)
    assert c.key_times.tolist() == [0.0, 3.0, 6.0, 9.0]
    assert c.rows.tolist() == [k // 3 for k in range(12)]
    want = encoder.embed(exact[[0, 3, 6, 9]])
    np.testing.assert_allclose(c.feats, want[c.rows], atol=2e-3)
    assert not c.exact.any()
    thinned = coarse_features(video, encoder.embed, encoder.image_size, ONE_FPS, step=5)
    assert thinned.key_times.tolist() == [0.0, 6.0]
    assert thinned.rows.tolist() == [0] * 6 + [1] * 6
    c4 = coarse_features(
        video, encoder.embed, encoder.image_size, SamplerConfig(start=4, max_seconds=7)
    )
    # row 0 (4 s) shows the keyframe of 3 s, rows 2 and 5 (6 s, 9 s) the next ones
    assert len(c4.feats) == 7 and c4.key_times.tolist() == [4.0, 6.0, 9.0]
    assert c4.rows.tolist() == [0, 0, 1, 1, 1, 2, 2]


def test_sparse_keyframes_are_sampled_exactly(video, encoder):
    exact = np.stack([f for _, f in frames_per_second(video, size=encoder.image_size)])
    c = coarse_features(video, encoder.embed, encoder.image_size, ONE_FPS, max_gap=2.0)
    assert c.exact.all() and len(c.feats) == 12  # a keyframe every 3 s > 2 s
    np.testing.assert_allclose(c.feats, encoder.embed(exact), atol=2e-3)


def test_fine_rows_reach_the_keyframes_around_the_margins(video, encoder):
    c = coarse_features(video, encoder.embed, encoder.image_size, ONE_FPS)
    assert fine_rows(c, 3.0, 6.0, ONE_FPS, margin=1.0) == (0, 10)
    assert fine_rows(c, 6.0, 9.0, ONE_FPS, margin=0.0) == (6, 10)
    assert fine_rows(c, 9.0, 12.0, ONE_FPS, margin=5.0) == (3, 12)  # clipped at the end


def test_exact_rows_equal_extracted_features(video, encoder):
    sampler = ONE_FPS
    exact = np.stack([f for _, f in frames_per_second(video, size=encoder.image_size)])
    want = encoder.embed(exact)
    c = coarse_features(video, encoder.embed, encoder.image_size, sampler)
    assert sample_exact(video, c, (4, 9), encoder.embed, encoder.image_size, sampler) == 5
    assert c.exact.tolist() == [4 <= k < 9 for k in range(12)]
    np.testing.assert_allclose(c.feats[4:9], want[4:9], atol=2e-3)
    assert not np.allclose(c.feats[1:3], want[1:3], atol=2e-3)  # coarse rows stay coarse


def test_unreadable_file_names_itself(tmp_path, encoder):
    bad = tmp_path / "bad.mkv"
    bad.write_bytes(b"\x1a" * 500)
    with pytest.raises(VideoError, match="bad.mkv"):
        coarse_features(bad, encoder.embed, encoder.image_size, SamplerConfig())
