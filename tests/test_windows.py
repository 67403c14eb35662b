"""Window tiling, stitching and batched scoring (introdet.detection.windows)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from introdet.detection.windows import score_windows, stitch_windows, tile_starts, window_starts


def test_paper_window_count():
    assert len(window_starts(2068, 60, 5)) == 402  # the seed protocol's figure
    assert window_starts(60, 60, 5) == [0] and window_starts(10, 60, 5) == [0]
    assert window_starts(70, 60, 5, offset=3) == [3, 8]


def test_stitch_windows_hand_computed():
    # length 6, windows of 4 at starts 0 and 2 (overlap on seconds 2, 3) and 4 (padded past 6)
    window_probs = np.array(
        [
            [0.1, 0.2, 0.3, 0.4],
            [0.5, 0.7, 0.9, 1.0],
            [0.2, 0.6, 0.99, 0.99],  # the last two positions are seconds 6, 7: padding
        ]
    )
    out = stitch_windows(window_probs, [0, 2, 4], 6)
    expected = [0.1, 0.2, (0.3 + 0.5) / 2, (0.4 + 0.7) / 2, (0.9 + 0.2) / 2, (1.0 + 0.6) / 2]
    np.testing.assert_allclose(out, expected)
    assert out.shape == (6,)


def test_stitch_windows_valid_mask_and_uncovered():
    window_probs = np.array([[0.2, 0.4, 0.6], [0.8, 0.8, 0.8]])
    valid = np.array([[True, True, True], [True, False, False]])
    out = stitch_windows(window_probs, [0, 2], 7, valid=valid)
    # second 2: (0.6 + 0.8) / 2; seconds 3, 4 masked; 5, 6 covered by no window
    np.testing.assert_allclose(out, [0.2, 0.4, 0.7, 0.0, 0.0, 0.0, 0.0])


def test_tile_starts_examples():
    assert tile_starts(10, 60, 30) == [0]
    assert tile_starts(60, 60, 30) == [0]
    assert tile_starts(61, 60, 30) == [0, 30]
    assert tile_starts(150, 60, 30) == [0, 30, 60, 90]  # 90 + 60 == 150
    assert tile_starts(151, 60, 60) == [0, 60, 120]  # the last one overhangs
    with pytest.raises(ValueError, match="uncovered"):
        tile_starts(100, 10, 11)


@given(
    length=st.integers(0, 400),
    window=st.integers(1, 80),
    data=st.data(),
)
def test_tile_starts_cover_every_second(length: int, window: int, data: st.DataObject):
    stride = data.draw(st.integers(1, window))
    starts = tile_starts(length, window, stride)
    cover = np.zeros(max(length, 1), dtype=int)
    for s in starts:
        cover[s : s + window] += 1
    assert (cover[:length] >= 1).all()
    assert starts == sorted(set(starts)) and starts[0] == 0
    assert all(s < max(length, 1) for s in starts)  # no window made only of padding
    assert all(b - a == stride for a, b in zip(starts, starts[1:], strict=False))
    if stride == window:
        assert (cover[:length] == 1).all()


@given(length=st.integers(1, 200), window=st.integers(1, 40), data=st.data())
def test_tile_then_stitch_round_trips(length: int, window: int, data: st.DataObject):
    stride = data.draw(st.integers(1, window))
    truth = np.random.default_rng(length).random(length)  # [length]
    starts = tile_starts(length, window, stride)
    padded = np.concatenate([truth, np.full(window, 9.0)])  # padding values must never leak
    windows = np.stack([padded[s : s + window] for s in starts])  # [N, window]
    np.testing.assert_allclose(stitch_windows(windows, starts, length), truth)


def _net(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """A stand-in model: each second's logit is its first feature; padding must not matter."""
    assert x.dtype == torch.float32 and mask.dtype == torch.bool and x.shape[:2] == mask.shape
    return torch.where(mask, x[..., 0], torch.full_like(x[..., 0], 50.0))  # [B, W]


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_score_windows_returns_each_episodes_seconds(batch_size):
    rng = np.random.default_rng(0)
    feats = [rng.normal(size=(n, 4)).astype(np.float16) for n in (5, 47, 20, 0)]
    got = score_windows(_net, feats, window=20, stride=7, batch_size=batch_size)
    assert [len(p) for p in got] == [5, 47, 20, 0]
    for f, p in zip(feats, got, strict=True):
        expect = 1 / (1 + np.exp(-f[:, 0].astype(np.float64)))
        np.testing.assert_allclose(p, expect, rtol=1e-6)


def test_score_windows_clamps_stride_to_window():
    feats = [np.zeros((50, 2), np.float32)]
    calls = []

    def net(x, mask):
        calls.append(len(x))
        return torch.zeros(mask.shape)

    (p,) = score_windows(net, feats, window=20, stride=30, batch_size=64)
    assert calls == [len(tile_starts(50, 20, 20))] and np.allclose(p, 0.5)
