"""IntroTransformer: a window of per-second features -> one intro logit per second (plain torch)."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from introdet.checks import check_values, number, one_of, whole
from introdet.detection.channels import recurrence_kind
from introdet.errors import ConfigError


class IntroTransformer(nn.Module):
    """Learned positional embedding + transformer encoder + a linear head per second.

    With ``feature_dim == d_model`` the features enter unchanged, as in the paper; extra input
    channels (season mode) make ``feature_dim`` larger and add a linear projection.
    ``head="per_position"`` is the paper's variant with one linear head per window position.
    """

    def __init__(
        self,
        feature_dim: int,
        max_len: int,
        d_model: int,
        depth: int,
        heads: int,
        ffn_dim: int,
        dropout: float,
        head: str,
    ) -> None:  # no defaults: IntroDetector (the system) holds the paper's
        super().__init__()
        if head not in ("shared", "per_position"):
            raise ValueError(f"head must be 'shared' or 'per_position', got {head!r}")
        self.inp = nn.Linear(feature_dim, d_model) if feature_dim != d_model else nn.Identity()
        self.pos = nn.Parameter(0.02 * torch.randn(1, max_len, d_model))  # one row per second
        layer = nn.TransformerEncoderLayer(
            d_model, heads, ffn_dim, dropout, batch_first=True, norm_first=False
        )
        self.blocks = nn.TransformerEncoder(layer, depth, enable_nested_tensor=False)
        self.head_kind = head
        if head == "shared":
            self.out = nn.Linear(d_model, 1)
        else:  # [max_len, d_model] weights: position t has its own classifier
            self.out_w = nn.Parameter(torch.randn(max_len, d_model) / d_model**0.5)
            self.out_b = nn.Parameter(torch.zeros(max_len))

    def forward(self, x: torch.Tensor, pad: torch.Tensor | None = None) -> torch.Tensor:
        # x [B, T, F]; pad [B, T] True = padding
        T = x.shape[1]
        assert self.pos.shape[1] >= T, f"window {T} > max_len {self.pos.shape[1]}"
        h = self.inp(x) + self.pos[:, :T]  # [B, T, d_model]
        h = self.blocks(h, src_key_padding_mask=pad)
        if self.head_kind == "shared":
            return self.out(h).squeeze(-1)  # [B, T]
        return (h * self.out_w[:T]).sum(-1) + self.out_b[:T]  # [B, T]


MODEL_RULES = {
    "feature_dim": whole(1),
    "window": whole(1),
    "d_model": whole(1),
    "depth": whole(1),
    "heads": whole(1),
    "ffn_dim": whole(1),
    "dropout": number(0, 1, hi_open=True),
    "head": one_of("shared", "per_position"),
    "lr": number(0, 1, lo_open=True),
    "weight_decay": number(0),
    "optimizer": one_of("adam", "adamw"),
    "pos_weight": number(0, lo_open=True),
    "threshold": number(0, 1, lo_open=True, hi_open=True),
}


def check_model(hp: Mapping) -> None:
    """Every ``model.*`` value that cannot work stops the run here, naming the key and range."""
    check_values("model", hp, MODEL_RULES)
    if hp["d_model"] % hp["heads"]:
        raise ConfigError(
            f"model.heads must be a divisor of d_model ({hp['d_model']}), got {hp['heads']}"
        )
    recurrence_kind(hp["recurrence"])
