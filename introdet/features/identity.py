"""Which image encoder made a set of features: its readable name, and whether two may mix.

An identity is the dict ``ClipEncoder.identity`` records in every shard, checkpoint and export
(model_name, pretrained, embed_dim, image_size, random_weights).
"""

from __future__ import annotations

MIXABLE_KEYS = ("model_name", "pretrained", "embed_dim")


def encoder_name(identity: dict) -> str:
    """Readable encoder name; features from random weights say so in the name itself."""
    if identity.get("random_weights"):
        return f"{identity['model_name']}/RANDOM-WEIGHTS"
    return f"{identity['model_name']}/{identity.get('pretrained')}"


def same_encoder(a: dict, b: dict) -> bool:
    """True when features from encoders ``a`` and ``b`` may be mixed."""
    return all(a.get(k) == b.get(k) for k in MIXABLE_KEYS)
