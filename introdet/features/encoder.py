"""open_clip wrapper: RGB frames -> [T, 512] float16 unit vectors."""

from __future__ import annotations

import contextlib
import copy
import functools
import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np
import open_clip
import torch
import torch.nn.functional as F
from open_clip import factory as open_clip_factory

from introdet.checks import check_values, one_of, whole
from introdet.device import resolve_device
from introdet.errors import CheckpointError, FramesError
from introdet.features.encoder_config import EncoderConfig
from introdet.features.identity import same_encoder
from introdet.features.weights import locate_weights

log = logging.getLogger(__name__)

ENCODER_RULES = {
    "batch_size": whole(1, 65536),
    "precision": one_of("fp32", "bf16", "fp16", "auto"),
    "seed": whole(),
}

TINY_MODEL = "introdet-tiny"
# ViT-B-32's interface (embed_dim 512, the same tokenizer) at a size that builds in milliseconds;
# 2 heads of width 32 in both towers.
_TINY_CONFIG = {
    "embed_dim": 512,
    "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "head_width": 32, "patch_size": 16},
    "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 1},
}
_DTYPES = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
_PRECISIONS = (*_DTYPES, "auto")
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo flags of x86 bf16 hardware


def register_tiny_model() -> None:
    """Make TINY_MODEL known to open_clip (idempotent)."""
    # open_clip only scans JSON files; writing its registry avoids a temp file in every process
    open_clip_factory._MODEL_CONFIGS.setdefault(TINY_MODEL, copy.deepcopy(_TINY_CONFIG))


register_tiny_model()


class ClipEncoder:
    """An open_clip image tower in eval mode that turns frames into unit-length features."""

    def __init__(
        self,
        model_name: str = EncoderConfig.model_name,
        pretrained: str | None = EncoderConfig.pretrained,
        device: str = EncoderConfig.device,
        precision: str = EncoderConfig.precision,
        batch_size: int = EncoderConfig.batch_size,
        channels_last: bool = EncoderConfig.channels_last,
        compile: bool = EncoderConfig.compile,
        seed: int = EncoderConfig.seed,
        weights_file: str | None = None,
    ) -> None:
        """The keys and defaults are EncoderConfig's. ``weights_file``: a local file that holds
        the weights ``pretrained`` names (a hub tag on a machine without network); the identity
        keeps ``pretrained``."""
        register_tiny_model()
        self.device = torch.device(resolve_device(device))
        check_values("encoder", {"batch_size": batch_size, "precision": precision,
                                 "seed": seed}, ENCODER_RULES)  # fmt: skip
        self.precision = resolve_precision(precision, self.device)
        self.dtype = _check_precision(self.precision, self.device)
        self.batch_size = batch_size
        self.channels_last = channels_last
        if pretrained in ("random", ""):
            pretrained = None
        checkpoint, tag_cfg = locate_weights(model_name, pretrained, weights_file)
        self.model = _build_model(
            model_name, checkpoint, tag_cfg, self.device, self.precision, seed
        )
        if channels_last:
            self.model.visual.to(memory_format=torch.channels_last)
        if compile:
            self.model.visual.compile()  # in place: the module keeps its state-dict keys

        pre = open_clip.get_model_preprocess_cfg(self.model)
        self.image_size = _side(pre["size"])
        self.embed_dim = int(self.model.visual.output_dim)
        self._interpolation = pre.get("interpolation", "bicubic")
        self._resize_mode = pre.get("resize_mode", "shortest")
        self._mean = torch.tensor(pre["mean"], device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(pre["std"], device=self.device).view(1, 3, 1, 1)

        random_weights = checkpoint is None
        label = pretrained if tag_cfg or weights_file else None
        if not random_weights and label is None:
            label = Path(checkpoint).name
        self.identity: dict[str, Any] = {
            "model_name": model_name,
            "pretrained": label,
            "embed_dim": self.embed_dim,
            "image_size": self.image_size,
            "random_weights": random_weights,
        }
        self.name = f"{model_name}/{'RANDOM-WEIGHTS' if random_weights else label}"
        if random_weights and model_name != TINY_MODEL:
            log.warning(
                "%s has random weights (seed %d): its features mean nothing", self.name, seed
            )

    def embed(self, frames: np.ndarray) -> np.ndarray:
        """uint8 RGB frames [N, H, W, 3] -> float16 unit vectors [N, embed_dim] on the CPU."""
        frames, out = frames_and_output(frames, self.embed_dim)  # [N, H, W, 3], [N, D]
        if len(frames) == 0:
            return out
        i = 0
        with torch.inference_mode():
            while i < len(frames):
                try:
                    x = self._preprocess(frames[i : i + self.batch_size])  # [B, 3, S, S]
                    feats = self.model.encode_image(x)  # [B, D]
                except torch.OutOfMemoryError:
                    if self.batch_size == 1:
                        raise
                    # a shared GPU can lose memory mid-run: halve the batch, keep going
                    self.batch_size //= 2
                    torch.cuda.empty_cache()
                    log.warning(
                        "out of GPU memory: encoder batch size halved to %d", self.batch_size
                    )
                    continue
                # normalise in fp32: a bf16 norm leaves lengths off by up to ~1e-2
                out[i : i + len(x)] = F.normalize(feats.float(), dim=-1).cpu().numpy()
                i += len(x)
        return out

    def _preprocess(self, frames: np.ndarray) -> torch.Tensor:
        # ship uint8 (4x fewer bytes to a GPU), convert on the device
        x = torch.from_numpy(np.ascontiguousarray(frames)).to(self.device)  # [B, H, W, 3]
        x = x.permute(0, 3, 1, 2).float().div_(255)  # [B, 3, H, W]
        if x.shape[-2:] != (self.image_size, self.image_size):
            x = _resize_center_crop(x, self.image_size, self._interpolation, self._resize_mode)
        x = ((x - self._mean) / self._std).to(self.dtype)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x


def encoder_from_identity(identity: dict, **kwargs: Any) -> ClipEncoder:
    """Rebuild the encoder an identity (checkpoint / shard manifest) records.

    An identity names its weights (a hub tag or a file name), not where they are: pass
    ``pretrained=/path/to/file`` to load them from a local file (a machine without network, or a
    file that has moved). Raises ValueError if the rebuilt identity differs from ``identity``.
    """
    missing = {"model_name", "pretrained", "embed_dim"} - identity.keys()
    if missing:
        raise ValueError(f"encoder identity {identity} lacks {sorted(missing)}")
    recorded = None if identity.get("random_weights") else identity["pretrained"]
    given = kwargs.pop("pretrained", recorded)
    if (
        recorded is not None
        and given not in (None, recorded)
        and Path(given).expanduser().is_file()
    ):
        kwargs["weights_file"] = given  # the caller vouches that it holds the recorded weights
        given = recorded
    kwargs["pretrained"] = given
    encoder = ClipEncoder(model_name=identity["model_name"], **kwargs)
    if not same_encoder(encoder.identity, identity):
        raise ValueError(f"rebuilt encoder {encoder.identity} differs from recorded {identity}")
    return encoder


@contextlib.contextmanager
def _without_root_warnings(quiet: bool):
    """Hush open_clip's "no pretrained weights" root warning: introdet says the same once, in
    its own words (RANDOM weights), wherever the features go."""
    root = logging.getLogger()
    level = root.level
    if quiet:
        root.setLevel(logging.ERROR)
    try:
        yield
    finally:
        root.setLevel(level)


def resolve_precision(precision: str, device: torch.device) -> str:
    """``precision``, with "auto" made fp32 or bf16 by what ``device`` runs natively."""
    if precision != "auto":
        return precision
    chosen = auto_precision(device.type, native_bf16(device))
    log.info("encoder.precision=auto: %s on %s", chosen, device)
    return chosen


def auto_precision(device_type: str, bf16_native: bool) -> str:
    """bf16 on a CUDA or CPU device with native bf16 arithmetic, else fp32."""
    return "bf16" if device_type in ("cuda", "cpu") and bf16_native else "fp32"


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes in bf16 natively (emulated bf16 is slower than fp32)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_has_native_bf16(torch.backends.cpu.get_cpu_capability(), _cpu_flags())
    return False


def cpu_has_native_bf16(capability: str, flags: Collection[str]) -> bool:
    """From torch's CPU capability name and the /proc/cpuinfo flags: AVX512-BF16 or AMX."""
    name = capability.upper()
    return "BF16" in name or "AMX" in name or any(f in flags for f in _NATIVE_BF16_FLAGS)


@functools.cache
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:  # Linux; elsewhere torch's capability name decides
            lines = [line for line in f if line.startswith("flags")]
    except OSError:
        return frozenset()
    return frozenset(lines[0].split(":", 1)[1].split()) if lines else frozenset()


def _check_precision(precision: str, device: torch.device) -> torch.dtype:
    if precision not in _DTYPES:
        raise ValueError(f"precision must be one of {list(_PRECISIONS)}, got {precision!r}")
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision=fp16 needs a CUDA device (got {device}): CPU fp16 kernels are slow "
            "or missing; use precision=bf16 or fp32 on CPU"
        )
    if precision == "bf16" and device.type == "cpu" and not native_bf16(device):
        # measured: ViT-B-32 bf16 ran ~10x slower than fp32 on an AVX2-only EPYC
        log.warning("this CPU has no native bf16 (AVX512-BF16/AMX): bf16 will be slower than fp32")
    return _DTYPES[precision]


def frames_and_output(frames: np.ndarray, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """The frames as a checked uint8 RGB [N, H, W, 3] array, and the float16 [N, dim] array
    their embeddings go to."""
    frames = np.asarray(frames)
    if len(frames) and (frames.dtype != np.uint8 or frames.ndim != 4 or frames.shape[-1] != 3):
        raise FramesError(
            f"frames must be uint8 RGB [N, H, W, 3], got {frames.dtype} {list(frames.shape)}"
        )
    return frames, np.empty((len(frames), dim), dtype=np.float16)


def _side(size: int | tuple[int, int] | list[int]) -> int:
    if isinstance(size, int):
        return size
    if size[0] != size[1]:
        raise ValueError(f"only square model inputs are supported, got {size}")
    return int(size[0])


def _resize_center_crop(x: torch.Tensor, size: int, interpolation: str, mode: str) -> torch.Tensor:
    """CLIP's Resize(size) + CenterCrop(size) on float [B, 3, H, W] in [0, 1]."""
    h, w = x.shape[-2:]
    if mode == "squash":
        nh = nw = size
    elif mode == "shortest":  # same rounding as torchvision's Resize(int)
        short, long = min(h, w), max(h, w)
        other = int(size * long / short)
        nh, nw = (size, other) if h <= w else (other, size)
    else:
        raise ValueError(f"resize_mode {mode!r} is not supported; resize frames to {size} first")
    x = F.interpolate(x, size=(nh, nw), mode=interpolation, align_corners=False, antialias=True)
    x = x.clamp_(0, 1)  # bicubic overshoots; PIL's uint8 output clips as well
    top, left = int(round((nh - size) / 2.0)), int(round((nw - size) / 2.0))
    return x[..., top : top + size, left : left + size]  # [B, 3, size, size]


def _build_model(
    model_name: str,
    checkpoint: str | None,
    tag_cfg: dict,
    device: torch.device,
    precision: str,
    seed: int,
) -> torch.nn.Module:
    kwargs: dict[str, Any] = {}
    if tag_cfg:
        keys = ("mean", "std", "interpolation", "resize_mode")
        kwargs["force_preprocess_cfg"] = {k: tag_cfg[k] for k in keys if k in tag_cfg}
        # open_clip only warns when a tag was trained with QuickGELU (e.g. 'openai'), and the
        # features of a GELU model with those weights are off
        kwargs["force_quick_gelu"] = bool(tag_cfg.get("quick_gelu", False))
    # random init happens on the CPU before the move, so one seed gives the same weights anywhere
    with torch.random.fork_rng(devices=[]), _without_root_warnings(checkpoint is None):
        torch.manual_seed(seed)
        try:
            model = open_clip.create_model(
                model_name, pretrained=checkpoint, precision=precision, device=device, **kwargs
            )
        except Exception as e:  # unpickling, safetensors and state-dict errors differ in type
            if checkpoint is None or isinstance(e, torch.OutOfMemoryError):
                raise
            raise CheckpointError(f"{checkpoint}: cannot load into {model_name}: {e}") from e
    if model_name == TINY_MODEL and checkpoint is None:
        # a random ViT maps every image near one direction (cosine ~0.98 between unrelated
        # frames), dominated by the class and position embeddings; without them the random
        # features keep images apart (cosine ~0.1-0.5), which the demo and tests rely on
        with torch.no_grad():
            model.visual.positional_embedding.zero_()
            model.visual.class_embedding.zero_()
    model.eval()  # open_clip returns train mode
    model.requires_grad_(False)
    return model
