"""Tests for introdet.detection.onnx_runtime and introdet.export_onnx: tiny models, on the CPU."""

from __future__ import annotations

import hashlib
from pathlib import Path

import lightning as L
import onnx
import pytest
import torch

from introdet.detection.checkpoint import POSTPROCESS_KEY
from introdet.detection.onnx_runtime import OnnxDetector, OnnxModelError, export_detector
from introdet.detection.recurrence import N_CHANNELS
from introdet.export_onnx import main
from introdet.features.encoder import TINY_MODEL, ClipEncoder
from introdet.training.module import IntroDetector
from tests.commands import help_text, run_command

W = 20
TINY = {"window": W, "d_model": 32, "depth": 1, "heads": 2, "ffn_dim": 64}


def _detector(seed: int = 0, **kwargs) -> IntroDetector:
    torch.manual_seed(seed)
    return IntroDetector(**TINY, **kwargs).eval()


def _inputs(batch: int, dim: int = 512, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    feats = torch.randn(batch, W, dim, generator=g)  # [B, W, F]
    mask = torch.ones(batch, W, dtype=torch.bool)  # [B, W]
    mask[0, W - 7 :] = False  # an episode's tail
    if batch > 1:
        mask[1, :3] = False  # padding in front
    return feats, mask


def _saved(model: IntroDetector, path: Path, **more) -> Path:
    """``model`` as a checkpoint file with the keys a Trainer's has that prediction reads."""
    torch.save(
        {
            "state_dict": model.state_dict(),
            "hyper_parameters": dict(model.hparams),
            "pytorch-lightning_version": L.__version__,
            **more,
        },
        path,
    )
    return path


@pytest.fixture(scope="module")
def clip() -> ClipEncoder:
    return ClipEncoder(TINY_MODEL, pretrained=None)


@pytest.fixture(scope="module")
def detector(clip: ClipEncoder) -> IntroDetector:
    return _detector(encoder=clip.identity)


@pytest.fixture(scope="module")
def detector_onnx(detector: IntroDetector, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("det")
    return export_detector(_saved(detector, folder / "tiny.ckpt"), folder / "detector.onnx")


@pytest.mark.parametrize("batch", [1, 3, 5])  # the export traced batch 2
def test_detector_matches_pytorch(detector, detector_onnx, batch):
    feats, mask = _inputs(batch, seed=batch)
    with torch.inference_mode():
        expected = detector(feats, mask)  # [B, W]
    got = OnnxDetector(detector_onnx)(feats, mask)
    assert got.shape == (batch, W)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=0)


def test_detector_padding_cannot_change_real_seconds(detector_onnx):
    model = OnnxDetector(detector_onnx)
    feats, mask = _inputs(3)
    before = model(feats, mask)
    feats[~mask] = 1e3  # garbage in the padded seconds only
    after = model(feats, mask)
    torch.testing.assert_close(after[mask], before[mask], atol=1e-5, rtol=0)
    assert not torch.allclose(after[~mask], before[~mask])  # padded outputs did see the change


def test_detector_takes_numpy_and_no_mask(detector_onnx):
    model = OnnxDetector(detector_onnx)
    feats, _ = _inputs(2)
    all_real = torch.ones(2, W, dtype=torch.bool)
    torch.testing.assert_close(model(feats.numpy()), model(feats, all_real))


def test_season_detector_with_per_position_head(tmp_path):
    model = _detector(seed=1, recurrence=True, head="per_position")
    path = export_detector(_saved(model, tmp_path / "season.ckpt"), tmp_path / "season.onnx")
    feats, mask = _inputs(3, dim=512 + N_CHANNELS)
    with torch.inference_mode():
        expected = model(feats, mask)
    onnx_model = OnnxDetector(path)
    assert onnx_model.recurrence == "clip"  # true: the older spelling of clip
    assert onnx_model.input_dim == 512 + N_CHANNELS
    torch.testing.assert_close(onnx_model(feats, mask), expected, atol=1e-4, rtol=0)


def test_detector_metadata_round_trips(detector_onnx, clip):
    model = OnnxDetector(detector_onnx)
    assert model.hparams.window == W
    assert model.hparams.feature_dim == 512
    assert model.hparams.recurrence == "off"
    assert model.hparams.encoder == clip.identity
    assert model.device == torch.device("cpu") and model.window == W
    props = {p.key: p.value for p in onnx.load(detector_onnx).metadata_props}
    assert props["window"] == str(W)  # readable by any ONNX tool, not only by introdet


def test_export_carries_what_prediction_needs(tmp_path):
    """The tuned post-processing, the season settings and the checkpoint's identity travel
    inside the .onnx file: copied alone, it predicts as its checkpoint does."""
    tuned = {"threshold": 0.7, "smooth": 3}
    season = {"min_seconds": 6.0, "max_others": 4}
    ckpt = _saved(_detector(recurrence="season", season=season), tmp_path / "s.ckpt",
                  **{POSTPROCESS_KEY: tuned})  # fmt: skip
    model = OnnxDetector(export_detector(ckpt, tmp_path / "s.onnx"))
    assert model.postprocess == tuned and model.season == season
    assert model.recurrence == "season"
    assert model.sha256 == hashlib.sha256(ckpt.read_bytes()).hexdigest()
    plain = OnnxDetector(export_detector(_saved(_detector(), tmp_path / "p.ckpt"),
                                         tmp_path / "p.onnx"))  # fmt: skip
    assert plain.postprocess is None and plain.season is None


def test_detector_rejects_bad_shapes(detector_onnx):
    model = OnnxDetector(detector_onnx)
    with pytest.raises(OnnxModelError, match=r"detector\.onnx.*\[B, 20, 512\]"):
        model(torch.zeros(1, W // 2, 512))
    with pytest.raises(OnnxModelError, match="mask"):
        model(torch.zeros(2, W, 512), torch.ones(1, W, dtype=torch.bool))


def test_wrong_or_broken_files_are_clear_errors(detector_onnx, tmp_path):
    foreign = onnx.load(detector_onnx)
    del foreign.metadata_props[:]
    onnx.save(foreign, tmp_path / "foreign.onnx")
    with pytest.raises(OnnxModelError, match="foreign.onnx: expected an introdet detector"):
        OnnxDetector(tmp_path / "foreign.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(OnnxModelError, match="junk.onnx: not a loadable ONNX model"):
        OnnxDetector(junk)
    with pytest.raises(OnnxModelError, match="missing.onnx: ONNX file not found"):
        OnnxDetector(tmp_path / "missing.onnx")


def test_flipped_bytes_in_the_weights_are_refused(detector_onnx, tmp_path):
    """ONNX has no checksums: a flipped byte inside a weight loaded and predicted otherwise."""
    data = bytearray(detector_onnx.read_bytes())
    weights = max(onnx.load(detector_onnx).graph.initializer, key=lambda t: len(t.raw_data))
    at = data.find(weights.raw_data) + len(weights.raw_data) // 2
    data[at] ^= 0x40
    damaged = tmp_path / "detector.onnx"
    damaged.write_bytes(bytes(data))
    with pytest.raises(OnnxModelError, match="detector.onnx: damaged: its graph fails"):
        OnnxDetector(damaged)
    OnnxDetector(detector_onnx)  # the undamaged file still loads


def test_cli_writes_the_detector(detector, tmp_path, capsys):
    ckpt = _saved(detector, tmp_path / "tiny.ckpt")
    out = tmp_path / "onnx"
    assert run_command(main, f"ckpt={ckpt}", f"out={out}") == 0
    assert str(out / "detector.onnx") in capsys.readouterr().out
    assert sorted(p.name for p in out.iterdir()) == ["detector.onnx"]
    feats, mask = _inputs(2)
    with torch.inference_mode():
        expected = detector(feats, mask)
    torch.testing.assert_close(
        OnnxDetector(out / "detector.onnx")(feats, mask), expected, atol=1e-4, rtol=0
    )


def test_cli_usage_errors(tmp_path, capsys):
    assert run_command(main, f"out={tmp_path}") == 2  # a required key is missing
    assert "error: ckpt= is required" in capsys.readouterr().err
    assert run_command(main, "ckpt=a", f"out={tmp_path}", "colour=red") == 2
    assert "error: unknown key 'colour'" in capsys.readouterr().err
    assert run_command(main, f"ckpt={tmp_path / 'none.ckpt'}", f"out={tmp_path}") == 2
    assert "none.ckpt: checkpoint not found" in capsys.readouterr().err
    assert run_command(main, "ckpt=a", f"out={tmp_path}", "opset=abc") == 2
    assert "opset must be a whole number in [14, 20], got 'abc'" in capsys.readouterr().err


def test_cli_help(capsys):
    text = help_text(main, capsys)
    for key in ("ckpt", "out", "opset"):
        assert f"\n  {key} " in text
