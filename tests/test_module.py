from __future__ import annotations

import lightning as L
import pytest
import torch

from introdet.training.data import IntroDataModule
from introdet.training.module import IntroDetector


def _module(**kw):
    args = dict(window=20, d_model=32, depth=1, heads=2, ffn_dim=64)
    args.update(kw)
    return IntroDetector(**args)


def _batch(B=4, T=20):
    labels = torch.randint(0, 2, (B, T))
    labels[:, -3:] = -1
    return {
        "feats": torch.randn(B, T, 512),
        "labels": labels,
        "mask": labels >= 0,
        "episode": ["e"] * B,
        "start": torch.zeros(B, dtype=torch.long),
    }


def test_finite_loss_and_metric_keys():
    m = _module()
    assert torch.isfinite(m.training_step(_batch(), 0))
    keys = (
        set(m.train_scores.keys(keep_base=False))
        | set(m.val_scores.keys())
        | set(m.test_scores.keys())
    )
    want = {
        f"{s}/{n}"
        for s in ("train", "val", "test")
        for n in ("accuracy", "precision", "recall", "f1")
    }
    assert keys == want


def test_metrics_on_hand_computed_case():
    m = _module()
    # 6 real seconds: predictions (logit sign) 1 1 0 0 1 0 vs labels 1 0 0 1 1 0; two padded
    logits = torch.tensor([[5.0, 5.0, -5.0, -5.0, 5.0, -5.0, 5.0, 5.0]])
    labels = torch.tensor([[1, 0, 0, 1, 1, 0, -1, -1]])
    m.test_scores.update(logits, labels)
    got = {k.split("/")[1]: float(v) for k, v in m.test_scores.compute().items()}
    # TP 2, FP 1, FN 1, TN 2: padding ignored
    assert got["precision"] == pytest.approx(2 / 3) and got["recall"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3) and got["accuracy"] == pytest.approx(4 / 6)


def test_padding_excluded_from_loss():
    m = _module().eval()
    b = _batch()
    loss1 = m._step(b, "val")[0]
    b["feats"][:, -3:] = 1e3  # padded positions: changing them cannot change the loss...
    b["labels"][:, -3:] = -1
    loss2 = m._step(b, "val")[0]
    torch.testing.assert_close(
        loss1, loss2, atol=1e-5, rtol=1e-5
    )  # ...padding is masked in attention


def test_checkpoint_loads_weights_only(tmp_path, feature_set):
    shards, labels = feature_set
    dm = IntroDataModule(
        str(shards),
        str(labels),
        window=20,
        stride=10,
        batch_size=4,
        max_seconds=None,
        val_fraction=0.34,
        test_fraction=0.0,
    )
    dm.prepare_encoder()
    model = _module(encoder=dm.encoder)
    trainer = L.Trainer(
        max_epochs=1,
        limit_train_batches=2,
        limit_val_batches=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        default_root_dir=tmp_path,
    )
    trainer.fit(model, datamodule=dm)
    path = tmp_path / "m.ckpt"
    trainer.save_checkpoint(path)
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["hyper_parameters"]["encoder"]["model_name"] == "introdet-tiny"
    loaded = IntroDetector.load_from_checkpoint(path, weights_only=True)
    x = torch.randn(1, 20, 512)
    torch.testing.assert_close(loaded.eval()(x), model.eval()(x))


def test_recurrence_widens_input():
    from introdet.detection.recurrence import N_CHANNELS

    m = _module(recurrence=True)
    assert m(torch.randn(2, 20, 512 + N_CHANNELS)).shape == (2, 20)


def test_episode_probabilities_stitch_tiled_windows():
    import numpy as np

    from introdet.training.data import Track, WindowDataset

    torch.manual_seed(0)
    m = _module().eval()
    feats = np.random.default_rng(0).normal(size=(50, 512)).astype(np.float16)
    ds = WindowDataset([Track("ep", feats, np.zeros(50, np.int64))], 20, 20, tile=True)
    got = m.episode_probabilities({"ep": feats}, batch_size=2)["ep"]
    assert got.shape == (50,)
    with torch.inference_mode():  # the last window holds seconds 40..49 and 10 of padding
        last = torch.sigmoid(m(ds[2]["feats"][None], ds[2]["mask"][None]))[0, :10]
    np.testing.assert_allclose(got[40:], last.numpy(), atol=1e-6)
