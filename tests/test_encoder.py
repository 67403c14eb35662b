"""Tests for introdet.features.encoder (the tiny random CLIP on CPU, precision) and
introdet.features.weights (weight resolution without network)."""

from __future__ import annotations

import socket
from pathlib import Path

import huggingface_hub
import numpy as np
import open_clip
import pytest
import torch
from hydra.utils import instantiate
from open_clip.transform import PreprocessCfg, image_transform_v2
from PIL import Image

from introdet.errors import CheckpointError, FramesError, WeightsUnavailable
from introdet.features.encoder import (
    TINY_MODEL,
    ClipEncoder,
    auto_precision,
    cpu_has_native_bf16,
    encoder_from_identity,
    native_bf16,
)
from introdet.features.encoder_config import EncoderConfig
from introdet.features.identity import same_encoder
from tests.conftest import compose_cfg


def _frames(n: int, h: int = 64, w: int = 64, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, h, w, 3), dtype=np.uint8)


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = a.astype(np.float32), b.astype(np.float32)
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.fixture(scope="module")
def tiny() -> ClipEncoder:
    return ClipEncoder(TINY_MODEL, pretrained=None)


@pytest.fixture
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    return tmp_path / "hf" / "hub"


def test_tiny_gives_float16_unit_vectors(tiny: ClipEncoder) -> None:
    feats = tiny.embed(_frames(7))
    assert feats.shape == (7, 512)
    assert feats.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert (tiny.embed_dim, tiny.image_size) == (512, 64)


def test_same_seed_same_weights_other_seed_differs(tiny: ClipEncoder) -> None:
    frames = _frames(3)
    again = ClipEncoder(TINY_MODEL, pretrained=None)
    np.testing.assert_array_equal(again.embed(frames), tiny.embed(frames))
    other = ClipEncoder(TINY_MODEL, pretrained=None, seed=1)
    assert np.abs(other.embed(frames) - tiny.embed(frames)).max() > 1e-2


def test_seed_does_not_touch_global_rng() -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    ClipEncoder(TINY_MODEL, pretrained=None, seed=7)
    assert torch.equal(torch.rand(3), expected)


def test_different_images_differ_identical_images_agree(tiny: ClipEncoder) -> None:
    black = np.zeros((1, 64, 64, 3), np.uint8)
    white = np.full((1, 64, 64, 3), 255, np.uint8)
    noise = _frames(1)
    frames = np.concatenate([black, white, noise, black, noise])
    feats = tiny.embed(frames)
    # equal up to float rounding: a row's position in the batch may change the GEMM blocking
    np.testing.assert_allclose(feats[3], feats[0], atol=1e-3)
    np.testing.assert_allclose(feats[4], feats[2], atol=1e-3)
    for i, j in [(0, 1), (0, 2), (1, 2)]:
        assert np.abs(feats[i].astype(np.float32) - feats[j]).max() > 1e-2, (i, j)


@pytest.mark.parametrize("pretrained", [None, "random"])
def test_random_weights_are_labelled(pretrained: str | None) -> None:
    enc = ClipEncoder(TINY_MODEL, pretrained=pretrained)
    assert "RANDOM" in enc.name
    assert enc.identity == {
        "model_name": TINY_MODEL,
        "pretrained": None,
        "embed_dim": 512,
        "image_size": 64,
        "random_weights": True,
    }


def test_model_is_frozen_and_in_eval_mode(tiny: ClipEncoder) -> None:
    assert not tiny.model.training
    assert not any(p.requires_grad for p in tiny.model.parameters())


def test_wide_frame_is_center_cropped(tiny: ClipEncoder) -> None:
    # the short side already is 64, so CLIP preprocessing only crops the middle 64 columns
    middle = _frames(2, seed=1)
    wide = _frames(2, 64, 128, seed=2)
    wide[:, :, 32:96] = middle
    np.testing.assert_allclose(tiny.embed(wide), tiny.embed(middle), atol=1e-3)


def test_resized_constant_frame_matches(tiny: ClipEncoder) -> None:
    # resizing a flat colour keeps it flat, so any frame size must give the same features
    colour = np.array([200, 30, 90], np.uint8)
    small = np.broadcast_to(colour, (1, 64, 64, 3)).copy()
    large = np.broadcast_to(colour, (1, 96, 160, 3)).copy()
    np.testing.assert_allclose(tiny.embed(large), tiny.embed(small), atol=2e-3)


def test_resize_of_real_image_stays_close(tiny: ClipEncoder) -> None:
    # a smooth image upscaled 2x and brought back by the encoder is nearly the original
    y, x = np.mgrid[0:64, 0:64] / 63.0
    img = (np.stack([x, y, (x + y) / 2], -1) * 255).astype(np.uint8)[None]  # [1, 64, 64, 3]
    big = img.repeat(2, axis=1).repeat(2, axis=2)  # [1, 128, 128, 3]
    assert _cos(tiny.embed(big), tiny.embed(img))[0] > 0.99


def _open_clip_reference(enc: ClipEncoder, frames: np.ndarray) -> np.ndarray:
    """open_clip's own PIL preprocessing + encode_image, in fp32."""
    cfg = PreprocessCfg(**open_clip.get_model_preprocess_cfg(enc.model))
    preprocess = image_transform_v2(cfg, is_train=False)
    x = torch.stack([preprocess(Image.fromarray(f)) for f in frames])  # [N, 3, S, S]
    with torch.inference_mode():
        return enc.model.encode_image(x, normalize=True).numpy()


@pytest.mark.parametrize(("h", "w"), [(64, 64), (96, 144)])
def test_matches_open_clip_preprocessing(tiny: ClipEncoder, h: int, w: int) -> None:
    y, x = np.mgrid[0:h, 0:w]
    smooth = np.stack([x * 255 // w, y * 255 // h, (x + y) * 255 // (h + w)], -1)  # [H, W, 3]
    frames = np.stack([smooth, 255 - smooth]).astype(np.uint8)  # [2, H, W, 3]
    ours, ref = tiny.embed(frames), _open_clip_reference(tiny, frames)
    if (h, w) == (64, 64):  # no resize: only float rounding differs
        np.testing.assert_allclose(ours, ref, atol=2e-3)
    else:  # torch's antialiased bicubic vs PIL's on uint8
        assert (_cos(ours, ref) > 0.99).all()


def test_batch_boundaries_do_not_change_output(tiny: ClipEncoder) -> None:
    frames = _frames(5)
    one_batch = ClipEncoder(TINY_MODEL, pretrained=None, batch_size=8).embed(frames)
    split = ClipEncoder(TINY_MODEL, pretrained=None, batch_size=2).embed(frames)
    np.testing.assert_allclose(split, one_batch, atol=1e-3)


def test_channels_last_does_not_change_output(tiny: ClipEncoder) -> None:
    frames = _frames(3)
    plain = ClipEncoder(TINY_MODEL, pretrained=None, channels_last=False)
    np.testing.assert_allclose(plain.embed(frames), tiny.embed(frames), atol=1e-3)


def test_no_frames_give_empty_array(tiny: ClipEncoder) -> None:
    feats = tiny.embed(np.zeros((0, 64, 64, 3), np.uint8))
    assert feats.shape == (0, 512)
    assert feats.dtype == np.float16


@pytest.mark.parametrize(
    "frames",
    [
        np.zeros((2, 64, 64, 3), np.float32),
        np.zeros((64, 64, 3), np.uint8),
        np.zeros((2, 64, 64, 4), np.uint8),
    ],
)
def test_bad_frames_raise(tiny: ClipEncoder, frames: np.ndarray) -> None:
    with pytest.raises(FramesError, match=r"uint8 RGB \[N, H, W, 3\]"):
        tiny.embed(frames)


def test_bf16_on_cpu_is_close_to_fp32(tiny: ClipEncoder) -> None:
    frames = _frames(4)
    bf16 = ClipEncoder(TINY_MODEL, pretrained=None, precision="bf16")
    feats = bf16.embed(frames)
    assert feats.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1.0, atol=1e-2)
    assert (_cos(feats, tiny.embed(frames)) > 0.99).all()


def test_fp16_on_cpu_raises() -> None:
    with pytest.raises(ValueError, match="fp16 needs a CUDA device"):
        ClipEncoder(TINY_MODEL, pretrained=None, precision="fp16")


def test_unknown_precision_raises() -> None:
    with pytest.raises(ValueError, match="encoder.precision must be .fp32. or .bf16."):
        ClipEncoder(TINY_MODEL, pretrained=None, precision="fp8")


@pytest.mark.parametrize(
    ("device_type", "bf16_native", "expected"),
    [
        ("cpu", False, "fp32"),
        ("cpu", True, "bf16"),
        ("cuda", True, "bf16"),
        ("cuda", False, "fp32"),
        ("mps", True, "fp32"),
    ],
)
def test_auto_precision_decision(device_type: str, bf16_native: bool, expected: str) -> None:
    assert auto_precision(device_type, bf16_native) == expected


@pytest.mark.parametrize(
    ("capability", "flags", "expected"),
    [
        ("AVX2", {"avx2", "fma"}, False),  # e.g. an AVX2-only EPYC: bf16 is emulated
        ("AVX512", {"avx512f", "avx512bw"}, False),  # AVX-512 without its BF16 extension
        ("AVX512", {"avx512f", "avx512_bf16"}, True),
        ("AVX512", {"avx512f", "amx_bf16", "amx_tile"}, True),
        ("AVX512_BF16", set(), True),
        ("AMX", set(), True),
        ("DEFAULT", set(), False),
    ],
)
def test_cpu_native_bf16_from_capability(capability: str, flags: set, expected: bool) -> None:
    assert cpu_has_native_bf16(capability, flags) is expected


def test_auto_precision_on_this_cpu(tiny: ClipEncoder) -> None:
    enc = ClipEncoder(TINY_MODEL, pretrained=None, precision="auto")
    expected = "bf16" if native_bf16(torch.device("cpu")) else "fp32"
    assert enc.precision == expected
    assert enc.dtype == {"fp32": torch.float32, "bf16": torch.bfloat16}[expected]
    assert enc.model.visual.conv1.weight.dtype == enc.dtype
    frames = _frames(3)
    assert (_cos(enc.embed(frames), tiny.embed(frames)) > 0.99).all()


def test_config_defaults_are_the_encoder_defaults() -> None:
    cfg = compose_cfg("extract", ["input=x", "out=y"])
    assert dict(cfg.encoder) == {**EncoderConfig().__dict__, "model_name": "ViT-B-32"}
    assert cfg.encoder._target_ == f"{ClipEncoder.__module__}.{ClipEncoder.__qualname__}"


def test_tiny_config_builds_the_tiny_encoder(tiny: ClipEncoder) -> None:
    cfg = compose_cfg("extract", ["input=x", "out=y", "encoder=tiny"])
    enc = instantiate(cfg.encoder)
    assert isinstance(enc, ClipEncoder)
    assert (enc.identity, enc.batch_size, enc.precision) == (tiny.identity, 128, "fp32")
    frames = _frames(3)
    np.testing.assert_array_equal(enc.embed(frames), tiny.embed(frames))
    auto = compose_cfg("extract", ["input=x", "out=y", "encoder=tiny", "encoder.precision=auto"])
    assert instantiate(auto.encoder).precision == (
        "bf16" if native_bf16(torch.device("cpu")) else "fp32"
    )


def test_tag_offline_with_empty_cache_raises(
    empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsUnavailable) as err:
        ClipEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k")
    msg = str(err.value)
    assert "encoder.pretrained" in msg
    assert "ViT-B-32" in msg
    assert "laion2b_s34b_b79k" in msg


def test_tag_with_unreachable_hub_raises(
    empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # online mode but a hub address where nothing listens: the connection check must refuse
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    for var in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(WeightsUnavailable, match=f"127.0.0.1:{port}") as err:
        ClipEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k")
    assert "encoder.pretrained" in str(err.value)


def test_cached_tag_loads_offline(empty_hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a tag whose weights sit in the HF cache (as a first online run leaves them) loads offline
    source = ClipEncoder(TINY_MODEL, pretrained=None, seed=1)
    snapshot = empty_hf_cache / "models--introdet--tiny-test" / "snapshots" / ("a" * 40)
    snapshot.mkdir(parents=True)
    (snapshot.parents[1] / "refs").mkdir()
    (snapshot.parents[1] / "refs" / "main").write_text("a" * 40)
    torch.save(source.model.state_dict(), snapshot / "open_clip_pytorch_model.bin")
    registry = open_clip.pretrained._PRETRAINED
    monkeypatch.setitem(registry, TINY_MODEL, {"cached": {"hf_hub": "introdet/tiny-test/"}})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    enc = ClipEncoder(TINY_MODEL, pretrained="cached")
    frames = _frames(3)
    np.testing.assert_array_equal(enc.embed(frames), source.embed(frames))
    assert enc.name == f"{TINY_MODEL}/cached"
    assert enc.identity["pretrained"] == "cached"
    assert enc.identity["random_weights"] is False


def test_tag_weights_from_a_local_file_keep_the_tag(
    empty_hf_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # features extracted online with a tag; predicting offline with that tag's weights as a file
    source = ClipEncoder(TINY_MODEL, pretrained=None, seed=3)
    path = tmp_path / "open_clip_model.safetensors"
    _save(source.model, path)
    registry = open_clip.pretrained._PRETRAINED
    monkeypatch.setitem(registry, TINY_MODEL, {"hubtag": {"hf_hub": "introdet/not-cached/"}})
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    recorded = {**source.identity, "pretrained": "hubtag", "random_weights": False}
    with pytest.raises(WeightsUnavailable, match="hubtag"):
        encoder_from_identity(recorded)

    enc = encoder_from_identity(recorded, pretrained=str(path))
    frames = _frames(2)
    np.testing.assert_array_equal(enc.embed(frames), source.embed(frames))
    assert enc.identity["pretrained"] == "hubtag"
    assert enc.name == f"{TINY_MODEL}/hubtag"
    with pytest.raises(WeightsUnavailable, match="gone.bin"):
        ClipEncoder(TINY_MODEL, pretrained="hubtag", weights_file=str(tmp_path / "gone.bin"))


@pytest.mark.parametrize("model_name", [TINY_MODEL, "ViT-B-32"])
def test_missing_checkpoint_path_raises(tmp_path: Path, model_name: str) -> None:
    missing = tmp_path / "nowhere" / "open_clip_pytorch_model.bin"
    with pytest.raises(WeightsUnavailable, match="encoder.pretrained") as err:
        ClipEncoder(model_name, pretrained=str(missing))
    assert str(missing) in str(err.value)


def _save(model: torch.nn.Module, path: Path) -> None:
    if path.suffix == ".safetensors":
        safetensors_torch = pytest.importorskip("safetensors.torch")
        state = {k: v.contiguous() for k, v in model.state_dict().items()}
        safetensors_torch.save_file(state, str(path))
    else:
        torch.save(model.state_dict(), path)


@pytest.mark.parametrize("suffix", [".bin", ".safetensors"])
def test_local_checkpoint_file_loads(tiny: ClipEncoder, tmp_path: Path, suffix: str) -> None:
    # seed 1 weights, loaded by an encoder whose own random init would be seed 0
    source = ClipEncoder(TINY_MODEL, pretrained=None, seed=1)
    path = tmp_path / f"tiny{suffix}"
    _save(source.model, path)
    enc = ClipEncoder(TINY_MODEL, pretrained=str(path))
    frames = _frames(3)
    np.testing.assert_array_equal(enc.embed(frames), source.embed(frames))
    assert np.abs(enc.embed(frames) - tiny.embed(frames)).max() > 1e-2
    assert enc.identity["pretrained"] == path.name
    assert enc.identity["random_weights"] is False
    assert "RANDOM" not in enc.name
    assert path.name in enc.name


def test_unreadable_checkpoint_raises(tmp_path: Path) -> None:
    path = tmp_path / "broken.bin"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.bin"):
        ClipEncoder(TINY_MODEL, pretrained=str(path))


def test_identity_rebuilds_the_same_encoder(tiny: ClipEncoder, tmp_path: Path) -> None:
    frames = _frames(2)
    rebuilt = encoder_from_identity(dict(tiny.identity), batch_size=1)
    np.testing.assert_array_equal(rebuilt.embed(frames), tiny.embed(frames))

    path = tmp_path / "weights.bin"
    source = ClipEncoder(TINY_MODEL, pretrained=None, seed=2)
    torch.save(source.model.state_dict(), path)
    recorded = ClipEncoder(TINY_MODEL, pretrained=str(path)).identity
    with pytest.raises(WeightsUnavailable, match="weights.bin"):
        encoder_from_identity(recorded)  # only the file name is recorded
    again = encoder_from_identity(recorded, pretrained=str(path))
    np.testing.assert_array_equal(again.embed(frames), source.embed(frames))


def test_identity_mismatch_raises(tiny: ClipEncoder) -> None:
    with pytest.raises(ValueError, match="differs"):
        encoder_from_identity({**tiny.identity, "embed_dim": 768})
    with pytest.raises(ValueError, match="lacks"):
        encoder_from_identity({"model_name": TINY_MODEL})


def test_same_encoder() -> None:
    a = {"model_name": "ViT-B-32", "pretrained": "openai", "embed_dim": 512, "image_size": 224}
    assert same_encoder(a, {**a, "image_size": 336, "random_weights": False})
    assert not same_encoder(a, {**a, "model_name": "ViT-B-16"})
    assert not same_encoder(a, {**a, "pretrained": "laion2b_s34b_b79k"})
    assert not same_encoder(a, {**a, "pretrained": None})
    assert not same_encoder(a, {**a, "embed_dim": 768})


def test_vit_b32_random_weights_give_unit_vectors() -> None:
    enc = ClipEncoder("ViT-B-32", pretrained=None)
    assert (enc.image_size, enc.embed_dim) == (224, 512)
    assert "RANDOM" in enc.name
    feats = enc.embed(_frames(2, 96, 128))  # also goes through the resize path
    assert feats.shape == (2, 512)
    assert feats.dtype == np.float16
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1.0, atol=1e-2)


@pytest.mark.slow
def test_vit_b32_local_checkpoint_file_loads(tmp_path: Path) -> None:
    source = ClipEncoder("ViT-B-32", pretrained=None, seed=1)
    path = tmp_path / "open_clip_pytorch_model.bin"
    torch.save(source.model.state_dict(), path)
    enc = ClipEncoder("ViT-B-32", pretrained=str(path))
    frames = _frames(2, 224, 224)
    np.testing.assert_array_equal(enc.embed(frames), source.embed(frames))
    assert enc.identity["random_weights"] is False


@pytest.mark.weights
def test_pretrained_vit_b32_tells_colours_apart() -> None:
    # zero-shot: real weights match a flat red frame to "red" and a flat blue one to "blue"
    enc = ClipEncoder("ViT-B-32", pretrained="laion2b_s34b_b79k")
    frames = np.zeros((2, 224, 224, 3), np.uint8)
    frames[0, ..., 0] = 255
    frames[1, ..., 2] = 255
    image = torch.from_numpy(enc.embed(frames).astype(np.float32))  # [2, 512]
    tokens = open_clip.get_tokenizer("ViT-B-32")(["a plain red image", "a plain blue image"])
    with torch.inference_mode():
        text = enc.model.encode_text(tokens, normalize=True).float()  # [2, 512]
    assert (image @ text.T).argmax(dim=1).tolist() == [0, 1]
