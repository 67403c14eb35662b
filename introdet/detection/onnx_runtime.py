"""ONNX export of the detector, and its onnxruntime stand-in at prediction time."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from introdet.atomic import atomic_write_bytes
from introdet.detection.channels import recurrence_kind
from introdet.detection.checkpoint import Checkpoint, read_checkpoint
from introdet.errors import OnnxModelError

KIND_KEY = "introdet_kind"  # metadata key telling a detector file from an encoder file
# ONNX has no checksums of its own: flipped bytes in a weight would load and predict otherwise
DIGEST_KEY = "introdet_graph_sha256"
POSTPROCESS_META = "introdet_postprocess"  # the checkpoint's tuned post-processing (or null)
SOURCE_META = "introdet_checkpoint_sha256"  # the checkpoint it was exported from
_BATCH = 2  # example batch for tracing; the batch axis is exported as dynamic


# --------------------------------------------------------------------------------------- export


class _DetectorGraph(nn.Module):
    """IntroTransformer with IntroDetector's mask contract: mask True = a real second."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, feats: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.net(feats, pad=~mask)  # [B, W] logits


def export_detector(ckpt: Checkpoint | str | Path, path: str | Path, opset: int = 17) -> Path:
    """Write the temporal model as ONNX: feats float32 [B, W, F] + mask bool [B, W] (True =
    real second) -> logits [B, W]. B is dynamic, W is the checkpoint's window. Every
    hyperparameter is stored JSON-encoded under its own name in the model's metadata_props,
    with the tuned post-processing and the checkpoint's digest."""
    if not isinstance(ckpt, Checkpoint):
        ckpt = read_checkpoint(ckpt)
    net, hp = ckpt.model(), ckpt.hparams
    W = int(hp["window"])
    # season channels widen the input past feature_dim; the positional table does not
    in_dim = int(net.inp.in_features) if isinstance(net.inp, nn.Linear) else int(net.pos.shape[-1])
    feats = torch.zeros(_BATCH, W, in_dim)  # [B, W, F]
    mask = torch.ones(_BATCH, W, dtype=torch.bool)  # [B, W]
    meta = {
        KIND_KEY: "detector",
        **{k: json.dumps(v) for k, v in hp.items()},
        POSTPROCESS_META: json.dumps(ckpt.postprocess),
        SOURCE_META: ckpt.sha256,
    }
    return _export(
        _DetectorGraph(net),
        (feats, mask),
        path,
        inputs=["feats", "mask"],
        output="logits",
        meta=meta,
        opset=opset,
    )


def _export(
    graph: nn.Module,
    args: tuple[torch.Tensor, ...],
    path: str | Path,
    inputs: list[str],
    output: str,
    meta: dict[str, str],
    opset: int,
) -> Path:
    buf = io.BytesIO()
    dynamic = {name: {0: "batch"} for name in [*inputs, output]}
    with _frozen(graph), _no_fastpath(), warnings.catch_warnings():
        # expected: the legacy exporter's deprecation note, and IntroTransformer's
        # window-length assert, which only constant-folds the (fixed) window
        warnings.simplefilter("ignore", DeprecationWarning)
        warnings.simplefilter("ignore", torch.jit.TracerWarning)
        # dynamo=False: the TorchScript exporter handles nn.TransformerEncoder and open_clip's
        # MultiheadAttention without graph breaks
        torch.onnx.export(
            graph,
            args,
            buf,
            dynamo=False,
            input_names=inputs,
            output_names=[output],
            dynamic_axes=dynamic,
            opset_version=opset,
            do_constant_folding=True,
        )
    proto = onnx.load_from_string(buf.getvalue())
    for key, value in meta.items():
        proto.metadata_props.add(key=key, value=value)
    proto.metadata_props.add(key=DIGEST_KEY, value=_graph_digest(proto))
    onnx.checker.check_model(proto)
    return atomic_write_bytes(path, proto.SerializeToString())


@contextlib.contextmanager
def _frozen(module: nn.Module) -> Iterator[None]:
    """Eval mode and no grad for the export, then every submodule's mode as it was."""
    # the exporter restores the *root's* mode onto all children: a wrapper in train mode
    # would leave the caller's model with dropout switched on
    modes = {m: m.training for m in module.modules()}
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes.items():
            m.training = training


@contextlib.contextmanager
def _no_fastpath() -> Iterator[None]:
    # the fused eval kernels (aten::_transformer_encoder_layer_fwd, _native_multi_head_attention)
    # have no ONNX symbolic
    before = torch.backends.mha.get_fastpath_enabled()
    torch.backends.mha.set_fastpath_enabled(False)
    try:
        yield
    finally:
        torch.backends.mha.set_fastpath_enabled(before)


# -------------------------------------------------------------------------------------- runtime


def default_providers() -> list[str]:
    """CUDA when this onnxruntime build has it, with the CPU as the fallback."""
    available = ort.get_available_providers()
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def _graph_digest(proto: onnx.ModelProto) -> str:
    return hashlib.sha256(proto.graph.SerializeToString()).hexdigest()


def _checked_bytes(path: Path) -> bytes:
    """The file's bytes, refused when its graph (weights included) no longer matches the
    checksum its export wrote; files from elsewhere carry none and are taken as they are."""
    data = path.read_bytes()
    try:
        proto = onnx.load_from_string(data)
    except Exception as e:  # protobuf's DecodeError and onnx's own on damaged bytes
        raise OnnxModelError(f"{path}: not a loadable ONNX model ({e})") from e
    want = {p.key: p.value for p in proto.metadata_props}.get(DIGEST_KEY)
    if want is not None and want != _graph_digest(proto):
        raise OnnxModelError(f"{path}: damaged: its graph fails the checksum written at export")
    return data


def _session(
    path: str | Path, kind: str, providers: list[str] | None
) -> tuple[ort.InferenceSession, dict[str, str]]:
    path = Path(path)
    if not path.is_file():
        raise OnnxModelError(f"{path}: ONNX file not found")
    data = _checked_bytes(path)
    try:
        session = ort.InferenceSession(data, providers=providers or default_providers())
    except Exception as e:  # onnxruntime raises its own pybind types (InvalidProtobuf, Fail...)
        raise OnnxModelError(f"{path}: not a loadable ONNX model ({e})") from e
    del data
    meta = dict(session.get_modelmeta().custom_metadata_map)
    meta.pop(DIGEST_KEY, None)
    found = meta.get(KIND_KEY)
    if found != kind:
        what = f"an introdet {found}" if found else "not an introdet export"
        raise OnnxModelError(f"{path}: expected an introdet {kind} ONNX file, this is {what}")
    return session, meta


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _numpy(x: torch.Tensor | np.ndarray, dtype: type) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    return np.ascontiguousarray(x, dtype=dtype)


class OnnxDetector:
    """onnxruntime stand-in for IntroDetector at prediction time: same call, same hparams."""

    def __init__(self, path: str | Path, providers: list[str] | None = None) -> None:
        self.path = Path(path)
        self.session, meta = _session(self.path, "detector", providers)
        # a file exported from a checkpoint is known by the checkpoint's digest
        self.sha256 = meta.pop(SOURCE_META, None) or _file_digest(self.path)
        self.postprocess = json.loads(meta.pop(POSTPROCESS_META, "null"))
        self.hparams = SimpleNamespace(
            **{k: json.loads(v) for k, v in meta.items() if k != KIND_KEY}
        )
        shape = self.session.get_inputs()[0].shape  # ["batch", W, F]
        self.input_dim = int(shape[2])
        self.window = int(self.hparams.window)
        self.recurrence = recurrence_kind(self.hparams.recurrence)
        self.encoder = getattr(self.hparams, "encoder", None)
        self.season = getattr(self.hparams, "season", None)
        self.device = torch.device("cpu")  # onnxruntime takes and returns host arrays here

    def __call__(
        self, feats: torch.Tensor | np.ndarray, mask: torch.Tensor | np.ndarray | None = None
    ) -> torch.Tensor:
        """feats [B, W, F] + mask [B, W] (True = real second; None = all real) -> logits [B, W]."""
        x = _numpy(feats, np.float32)  # [B, W, F]
        W = self.hparams.window
        if x.ndim != 3 or x.shape[1:] != (W, self.input_dim):
            raise OnnxModelError(
                f"{self.path}: feats must be [B, {W}, {self.input_dim}], got {list(x.shape)}"
            )
        m = np.ones(x.shape[:2], bool) if mask is None else _numpy(mask, np.bool_)  # [B, W]
        if m.shape != x.shape[:2]:
            raise OnnxModelError(
                f"{self.path}: mask must be {list(x.shape[:2])} like feats, got {list(m.shape)}"
            )
        (logits,) = self.session.run(None, {"feats": x, "mask": m})
        return torch.from_numpy(logits)  # [B, W]
