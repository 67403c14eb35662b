from __future__ import annotations

import pytest
import torch

from introdet.detection.model import IntroTransformer


def _net(**kw):
    torch.manual_seed(0)
    args = dict(feature_dim=16, max_len=10, d_model=16, depth=2, heads=2, ffn_dim=32, dropout=0.0)
    args["head"] = "shared"
    args.update(kw)
    return IntroTransformer(**args).eval()


def test_output_shape():
    assert _net()(torch.randn(3, 10, 16)).shape == (3, 10)
    assert _net(feature_dim=20)(torch.randn(2, 7, 20)).shape == (2, 7)


def test_padding_cannot_change_real_positions():
    net, x = _net(), torch.randn(2, 10, 16)
    pad = torch.zeros(2, 10, dtype=torch.bool)
    pad[:, 6:] = True
    a = net(x, pad)
    x2 = x.clone()
    x2[:, 6:] = torch.randn(2, 4, 16) * 100
    torch.testing.assert_close(net(x2, pad)[:, :6], a[:, :6])


def test_positional_rows_differ():
    out = _net()(torch.zeros(1, 10, 16))  # zeros in: only position tells seconds apart
    assert out.std() > 0


def test_window_longer_than_max_len_raises():
    with pytest.raises(AssertionError, match="max_len"):
        _net()(torch.randn(1, 11, 16))


def test_per_position_heads():
    net = _net(head="per_position")
    assert net(torch.randn(2, 10, 16)).shape == (2, 10)
    with pytest.raises(ValueError, match="per_position"):
        _net(head="bogus")
