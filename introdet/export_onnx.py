"""A checkpoint -> detector.onnx + encoder.onnx: ``python -m introdet.export_onnx ckpt=PATH
out=DIR [encoder_pretrained=TAG_OR_FILE] [opset=17]``."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from introdet.checks import TEXT, check_values, whole
from introdet.cli import command
from introdet.detection.onnx_runtime import export_detector, export_encoder
from introdet.errors import CheckpointError
from introdet.features.encoder import encoder_from_identity


def export_checkpoint(
    ckpt: str | Path, out: str | Path, encoder_pretrained: str | None = None, opset: int = 17
) -> tuple[Path, Path]:
    """Export a checkpoint's detector and the encoder its features came from.

    The checkpoint records only the encoder's identity (a file name for local weights):
    ``encoder_pretrained`` says where those weights are.
    """
    from introdet.training.module import load_module  # Lightning is slow to import

    ckpt, out = Path(ckpt), Path(out)
    if not ckpt.is_file():
        raise CheckpointError(f"{ckpt}: checkpoint not found (ckpt=)")
    model = load_module(ckpt)
    identity = model.hparams.encoder
    if not identity:
        raise CheckpointError(
            f"{ckpt}: records no encoder identity, so encoder.onnx cannot be built"
        )
    # build the encoder first: a missing weights file should fail before anything is written
    kwargs = {} if encoder_pretrained is None else {"pretrained": encoder_pretrained}
    encoder = encoder_from_identity(identity, **kwargs)
    detector_path = export_detector(model, out / "detector.onnx", opset)
    encoder_path = export_encoder(encoder, out / "encoder.onnx", opset)
    return detector_path, encoder_path


@command("export_onnx")
def main(cfg: DictConfig) -> int:
    # 14: the first with the attention's operators; 20: the TorchScript exporter's last
    check_values("", cfg, {"opset": whole(14, 20), "ckpt": TEXT, "out": TEXT})
    pretrained = None if cfg.encoder_pretrained is None else str(cfg.encoder_pretrained)
    for path in export_checkpoint(cfg.ckpt, cfg.out, pretrained, cfg.opset):
        print(f"{path}  {path.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    main()
