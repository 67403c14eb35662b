"""The encoder's config node, apart from the encoder so that storing it imports no torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class EncoderConfig:
    """``encoder.*`` of extract: the keys are ClipEncoder's, these are its defaults.

    ``pretrained``: an open_clip tag (laion2b_s34b_b79k, openai) or a local checkpoint file
    (machines without internet); null or "random" for random weights."""

    _target_: str = "introdet.features.encoder.ClipEncoder"
    model_name: str | None = "ViT-B-32"  # null (predict): the checkpoint's encoder
    pretrained: str | None = "laion2b_s34b_b79k"
    device: str = "auto"  # auto: cuda, then mps, then cpu | cpu | cuda | cuda:N | mps
    precision: str = "fp32"  # fp32 | bf16 | fp16 (CUDA) | auto (bf16 where the hardware has it)
    batch_size: int = 64
    channels_last: bool = True
    compile: bool = False
    seed: int = 0  # random init (pretrained=null): the same seed gives the same weights anywhere
