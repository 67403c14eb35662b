"""A checkpoint -> detector.onnx: ``python -m introdet.export_onnx ckpt=PATH out=DIR
[opset=17]``, for ``predict ckpt=detector.onnx`` (onnxruntime, no torch model code)."""

from __future__ import annotations

from pathlib import Path

from omegaconf import DictConfig

from introdet.checks import TEXT, check_values, whole
from introdet.cli import command
from introdet.detection.onnx_runtime import export_detector


@command("export_onnx")
def main(cfg: DictConfig) -> int:
    # 14: the first with the attention's operators; 20: the TorchScript exporter's last
    check_values("", cfg, {"opset": whole(14, 20), "ckpt": TEXT, "out": TEXT})
    path = export_detector(cfg.ckpt, Path(cfg.out) / "detector.onnx", cfg.opset)
    print(f"{path}  {path.stat().st_size / 2**20:.2f} MiB")
    return 0


if __name__ == "__main__":
    main()
