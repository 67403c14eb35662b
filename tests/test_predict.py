"""predict end to end: real video files -> tiny encoder -> tiny trained model -> player files."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from introdet.demo.videofile import write_video
from introdet.features.encoder import ClipEncoder
from introdet.features.extraction import extract
from introdet.features.shards import ShardError
from introdet.media.sampling import SamplerConfig
from introdet.outputs.export import read_record
from introdet.outputs.layout import record_files
from introdet.predict import predict
from introdet.train import train
from tests.commands import output
from tests.conftest import compose_cfg, make_feature_set, train_overrides

INTRO = (6, 14)  # seconds
FPS = 4


def _scene(rng: np.random.Generator) -> np.ndarray:
    """A gradient with a block: varied content (random noise all looks alike to CLIP)."""
    t = np.linspace(0, 1, 48)[:, None, None]
    img = rng.integers(0, 255, 3) * (1 - t) + rng.integers(0, 255, 3) * t
    img = np.broadcast_to(img, (48, 64, 3)).copy()
    y, x = rng.integers(0, 32, 2)
    img[y : y + 16, x : x + 16] = rng.integers(0, 255, 3)
    return img.astype(np.uint8)


def _episode(seed: int, intro: bool = True) -> list[np.ndarray]:
    logo = np.zeros((48, 64, 3), np.uint8)
    logo[:, :, 0], logo[12:36, 16:48] = 220, (30, 200, 250)
    rng = np.random.default_rng(seed)
    scenes = [_scene(rng) for _ in range(15)]  # a new scene every 2 s
    return [
        logo if intro and INTRO[0] <= k / FPS < INTRO[1] else scenes[int(k / FPS // 2)]
        for k in range(30 * FPS)
    ]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("predict")
    lib = root / "train_lib" / "Logo Show"
    labels = {}
    for i in range(4):
        write_video(lib / f"logo_e{i}.mp4", _episode(i), fps=FPS)
        labels[f"logo_e{i}"] = {"start": f"0:00:{INTRO[0]:02d}", "end": f"0:00:{INTRO[1]:02d}"}
    (root / "labels.json").write_text(json.dumps(labels))
    encoder = ClipEncoder("introdet-tiny", pretrained=None)
    extract(root / "train_lib", root / "shards", encoder, SamplerConfig(fps=1.0), progress=False)
    out = root / "run"
    overrides = train_overrides(
        root / "shards",
        root / "labels.json",
        out,
        "trainer.max_epochs=30",
        "data.val_fraction=0.0",
        "data.test_fraction=0.0",
        "data.split_by=episode",
    )
    train(compose_cfg("train", overrides))
    new = root / "new"
    write_video(new / "Logo Show" / "logo_new1.mkv", _episode(11), fps=FPS, codec="libx265")
    write_video(new / "Logo Show" / "logo_new2.webm", _episode(12), fps=FPS, codec="libvpx-vp9")
    write_video(new / "Logo Show" / "logo_none.mp4", _episode(13, intro=False), fps=FPS)
    (new / "Logo Show" / "broken.mp4").write_bytes(b"\x00" * 1000)
    return root, out / "checkpoints" / "last.ckpt", new


def _cfg(ckpt, input, out, *extra):
    return compose_cfg(
        "predict",
        [
            f"ckpt={ckpt}",
            f"input={input}",
            f"out={out}",
            "progress=false",
            "refine.enabled=false",
            *extra,
        ],
    )


def test_predict_writes_every_format_and_reports_bad_files(trained, tmp_path, capsys):
    root, ckpt, new = trained
    cfg = _cfg(ckpt, new, tmp_path, "formats=[json,edl,ffmetadata,vtt]")
    assert predict(cfg) == 1  # a file failed: the exit code says so
    stdout = capsys.readouterr().out
    assert "broken.mp4" in stdout and "FAILED" in stdout
    for ep in ("logo_new1", "logo_new2", "logo_none"):
        for suffix in (".json", ".edl", ".ffmetadata", ".chapters.vtt"):
            assert output(tmp_path, ep, suffix).is_file(), (ep, suffix)
    assert (tmp_path / "intros.csv").read_text().count("\n") == 4
    for ep in ("logo_new1", "logo_new2"):
        rec = read_record(output(tmp_path, ep))
        assert rec["intro"] is not None, ep
        assert (
            abs(rec["intro"]["start"] - INTRO[0]) <= 1 and abs(rec["intro"]["end"] - INTRO[1]) <= 1
        )
        assert len(rec["probabilities"]) == 30 and "RANDOM" in rec["encoder"]
        edl = (output(tmp_path, ep, ".edl")).read_text().split()
        assert [float(edl[0]), float(edl[1]), edl[2]] == [
            rec["intro"]["start"],
            rec["intro"]["end"],
            "3",
        ]
    assert read_record(output(tmp_path, "logo_none"))["intro"] is None


def test_predict_from_shards_and_refuses_other_encoder(trained, tmp_path):
    root, ckpt, _ = trained
    assert predict(_cfg(ckpt, root / "shards", tmp_path)) == 0
    assert len(list(tmp_path.rglob("logo_e*.json"))) == 4
    real = {
        "model_name": "ViT-B-32",
        "pretrained": "openai",
        "embed_dim": 512,
        "random_weights": False,
    }
    other, _ = make_feature_set(tmp_path / "other", n_series=1, identity=real)
    with pytest.raises(ShardError, match="expected introdet-tiny"):
        predict(_cfg(ckpt, other, tmp_path / "o"))


def test_recurrence_baseline_needs_no_checkpoint(trained, tmp_path):
    root, _, _ = trained
    cfg = _cfg("null", root / "shards", tmp_path, "method=clip")
    assert predict(cfg) == 0
    rec = read_record(output(tmp_path, "logo_e0"))
    assert rec["mode"] == "clip" and rec["intro"] is not None
    assert abs(rec["intro"]["start"] - INTRO[0]) <= 1 and abs(rec["intro"]["end"] - INTRO[1]) <= 1


def test_missing_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.ckpt"):
        predict(_cfg(tmp_path / "nope.ckpt", tmp_path, tmp_path / "o"))


def test_onnx_runtime_matches_torch(trained, tmp_path):
    root, ckpt, _ = trained
    assert predict(_cfg(ckpt, root / "shards", tmp_path / "t")) == 0
    assert predict(_cfg(ckpt, root / "shards", tmp_path / "o", "runtime=onnx")) == 0
    assert len(list((tmp_path / "o" / "onnx").glob("last-*.onnx"))) == 1
    for ep in ("logo_e0", "logo_e3"):
        a = read_record(output(tmp_path / "t", ep))
        b = read_record(output(tmp_path / "o", ep))
        np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-3)
        assert a["intro"] == b["intro"]


def test_onnx_export_of_one_checkpoint_never_serves_another(trained, tmp_path):
    root, ckpt, _ = trained
    other = torch.load(ckpt, map_location="cpu", weights_only=True)
    other["state_dict"] = {k: v * 0.5 if v.is_floating_point() else v
                           for k, v in other["state_dict"].items()}  # fmt: skip
    (tmp_path / "b").mkdir()
    torch.save(other, tmp_path / "b" / "last.ckpt")  # same file name, newer, other weights
    out = tmp_path / "o"
    assert predict(_cfg(ckpt, root / "shards", out, "runtime=onnx")) == 0
    assert predict(_cfg(tmp_path / "b" / "last.ckpt", root / "shards", out, "runtime=onnx")) == 0
    assert predict(_cfg(tmp_path / "b" / "last.ckpt", root / "shards", tmp_path / "t")) == 0
    assert len(list((out / "onnx").glob("last-*.onnx"))) == 2
    a = read_record(output(out, "logo_e0"))["probabilities"]
    b = read_record(output(tmp_path / "t", "logo_e0"))["probabilities"]
    np.testing.assert_allclose(a, b, atol=1e-3)


def test_refined_boundaries_keep_the_coarse_ones(trained, tmp_path):
    _, ckpt, new = trained
    cfg = compose_cfg(
        "predict", [f"ckpt={ckpt}", f"input={new}", f"out={tmp_path}", "progress=false"]
    )
    predict(cfg)
    intro = read_record(output(tmp_path, "logo_new1"))["intro"]
    assert {"coarse_start", "coarse_end", "refined"} <= intro.keys()
    # the logo is cut in at exactly 6 s and out at 14 s (frame boundaries of the 4-fps video)
    assert intro["refined"] is True
    assert intro["start"] == pytest.approx(INTRO[0], abs=0.125)
    assert intro["end"] == pytest.approx(INTRO[1], abs=0.125)


def test_season_mode_is_automatic_for_several_episodes_of_a_series(trained, tmp_path, caplog):
    import logging

    root, _, new = trained
    out = tmp_path / "run"
    overrides = train_overrides(
        root / "shards",
        root / "labels.json",
        out,
        "trainer.max_epochs=2",
        "data.val_fraction=0.0",
        "data.test_fraction=0.0",
        "data.split_by=episode",
        "data.recurrence=true",
    )
    train(compose_cfg("train", overrides))
    lone = tmp_path / "lone" / "Other Show"
    write_video(lone / "other_e1.mp4", _episode(21), fps=FPS)
    ckpt = out / "checkpoints" / "last.ckpt"
    with caplog.at_level(logging.INFO, logger="introdet"):
        assert predict(_cfg(ckpt, new, tmp_path / "season")) == 1  # broken.mp4 still fails
    assert "season mode: series 'Logo Show', 3 episodes" in caplog.text
    assert {read_record(p)["mode"] for _, p in record_files(tmp_path / "season")} == {"season"}
    assert predict(_cfg(ckpt, tmp_path / "lone", tmp_path / "single")) == 0
    assert read_record(output(tmp_path / "single", "other_e1"))["mode"] == "single"


def test_coarse_to_fine_finds_the_same_intro(trained, tmp_path):
    _, ckpt, new = trained
    assert predict(_cfg(ckpt, new, tmp_path / "exact")) == 1  # broken.mp4
    assert predict(_cfg(ckpt, new, tmp_path / "coarse", "coarse.enabled=true")) == 1
    for ep in ("logo_new1", "logo_new2"):
        exact = read_record(output(tmp_path / "exact", ep))
        coarse = read_record(output(tmp_path / "coarse", ep))
        assert coarse["intro"]["start"] == exact["intro"]["start"]
        assert coarse["intro"]["end"] == exact["intro"]["end"]
        info = coarse["coarse_to_fine"]
        a, b = info["exact_rows"]
        assert a <= INTRO[0] - 1 and b >= INTRO[1]  # the boundaries were sampled exactly
        assert info["keyframes"] < 30 and len(coarse["probabilities"]) == 30
    assert read_record(output(tmp_path / "coarse", "logo_none"))["intro"] is None
    procs = _cfg(ckpt, new, tmp_path / "p", "coarse.enabled=true", "decoders=2", "processes=true")
    assert predict(procs) == 1  # decoder processes: same records, broken.mp4 still reported
    for ep in ("logo_new1", "logo_new2", "logo_none"):
        a = read_record(output(tmp_path / "coarse", ep))
        b = read_record(output(tmp_path / "p", ep))
        assert a["intro"] == b["intro"] and a["probabilities"] == b["probabilities"]
    with pytest.raises(ValueError, match="needs videos"):
        predict(_cfg(ckpt, tmp_path / "exact" / ".shards", tmp_path / "x", "coarse.enabled=true"))


def test_scoring_again_replaces_the_intro():
    from introdet.detection.episodes import Episode, find_intro
    from introdet.detection.postprocess import PostprocessConfig
    from introdet.features.shards import ShardMeta

    meta = ShardMeta("e", "s", "e.mp4", "h", 30.0, 30, 1.0, 0.0, {"embed_dim": 4})
    ep = Episode(meta, np.zeros((30, 4), np.float16))
    ep.probs = np.where((np.arange(30) >= 6) & (np.arange(30) < 14), 0.9, 0.05)
    find_intro(ep, PostprocessConfig())
    assert (ep.intro.start, ep.intro.end) == (6, 14)
    ep.probs = np.full(30, 0.05)  # the fine pass found nothing after all
    find_intro(ep, PostprocessConfig())
    assert ep.intro is None and ep.other_intros == []


def test_a_postprocess_key_given_on_the_command_line_wins_over_the_tuned_one(trained, tmp_path):
    from introdet.predict import main as predict_main
    from tests.commands import run_command

    _, ckpt, new = trained
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    shutil.copy(ckpt, run / "checkpoints" / "last.ckpt")
    tuned = {"smooth": 1, "threshold": 0.3, "max_gap": 0, "min_seconds": 1, "keep": "best"}
    (run / "postprocess.json").write_text(json.dumps(tuned))
    args = [f"ckpt={run / 'checkpoints' / 'last.ckpt'}", f"input={new}", "progress=false"]
    assert run_command(predict_main, *args, f"out={tmp_path / 'a'}") == 1  # broken.mp4
    assert (
        run_command(predict_main, *args, f"out={tmp_path / 'b'}", "postprocess.threshold=0.99") == 1
    )
    a = read_record(output(tmp_path / "a", "logo_new1"))["provenance"]["postprocess"]
    b = read_record(output(tmp_path / "b", "logo_new1"))["provenance"]["postprocess"]
    assert a["threshold"] == 0.3 and b["threshold"] == 0.99  # given beats tuned
    assert {k: b[k] for k in tuned if k != "threshold"} == {
        k: tuned[k] for k in tuned if k != "threshold"
    }


def test_a_checkpoint_copied_alone_predicts_with_its_tuned_postprocessing(trained, tmp_path):
    """The tuning travels inside the checkpoint (written there as training writes it), not in
    a postprocess.json two folders up that a copy leaves behind."""
    from introdet.predict import main as predict_main
    from introdet.training.callbacks import store_postprocess
    from tests.commands import run_command

    _, ckpt, new = trained
    alone = tmp_path / "elsewhere" / "model.ckpt"
    alone.parent.mkdir()
    shutil.copy(ckpt, alone)
    tuned = {"smooth": 1, "threshold": 0.35, "max_gap": 0, "min_seconds": 1, "keep": "best"}
    store_postprocess(alone, tuned)
    args = [f"ckpt={alone}", f"input={new}", "progress=false", f"out={tmp_path / 'o'}"]
    assert run_command(predict_main, *args) == 1  # broken.mp4
    used = read_record(output(tmp_path / "o", "logo_new1"))["provenance"]["postprocess"]
    assert {k: used[k] for k in tuned} == tuned
    assert run_command(predict_main, *args[:-1], f"out={tmp_path / 'p'}",
                       "tuned_postprocess=false") == 1  # fmt: skip
    plain = read_record(output(tmp_path / "p", "logo_new1"))["provenance"]["postprocess"]
    assert plain["threshold"] == 0.5  # postprocess.* as configured


def test_prediction_does_not_import_lightning(tmp_path):
    """The plain network is built from the checkpoint's hyper-parameters: predict.py loads no
    Lightning (seconds of start-up, and a training dependency at prediction time)."""
    code = "import sys, introdet.predict; print('lightning' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
