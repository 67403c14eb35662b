"""CLI: a checkpoint -> detector.onnx + encoder.onnx (python -m introdet.export_onnx ckpt= out=)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from introdet.detection.onnx_runtime import export_detector, export_encoder
from introdet.errors import WeightsUnavailable
from introdet.features.encoder import encoder_from_identity

USAGE = (
    "usage: python -m introdet.export_onnx ckpt=PATH out=DIR "
    "[encoder_pretrained=TAG_OR_FILE] [opset=17]"
)
_KEYS = ("ckpt", "out", "encoder_pretrained", "opset")


def export_checkpoint(
    ckpt: str | Path, out: str | Path, encoder_pretrained: str | None = None, opset: int = 17
) -> tuple[Path, Path]:
    """Export a checkpoint's detector and the encoder its features came from.

    The checkpoint records only the encoder's identity (a file name for local weights):
    ``encoder_pretrained`` says where those weights are.
    """
    from introdet.training.module import (
        IntroDetector,  # Lightning is slow to import: only when needed
    )

    ckpt, out = Path(ckpt), Path(out)
    if not ckpt.is_file():
        raise ValueError(f"{ckpt}: checkpoint not found (ckpt=)")
    model = IntroDetector.load_from_checkpoint(ckpt, map_location="cpu", weights_only=True)
    identity = model.hparams.encoder
    if not identity:
        raise ValueError(f"{ckpt}: records no encoder identity, so encoder.onnx cannot be built")
    # build the encoder first: a missing weights file should fail before anything is written
    kwargs = {} if encoder_pretrained is None else {"pretrained": encoder_pretrained}
    encoder = encoder_from_identity(identity, **kwargs)
    detector_path = export_detector(model, out / "detector.onnx", opset)
    encoder_path = export_encoder(encoder, out / "encoder.onnx", opset)
    return detector_path, encoder_path


def main(argv: Sequence[str] | None = None) -> int:
    args: dict[str, str] = {}
    for token in sys.argv[1:] if argv is None else argv:
        key, eq, value = token.partition("=")
        if not eq or key not in _KEYS:
            print(f"bad argument {token!r}\n{USAGE}", file=sys.stderr)
            return 2
        args[key] = value
    if "ckpt" not in args or "out" not in args or not args.get("opset", "17").isdigit():
        print(USAGE, file=sys.stderr)
        return 2
    try:
        paths = export_checkpoint(
            args["ckpt"], args["out"], args.get("encoder_pretrained"), int(args.get("opset", 17))
        )
    except (ValueError, WeightsUnavailable) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in paths:
        print(f"{path}  {path.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
