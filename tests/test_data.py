from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from introdet.detection.windows import tile_starts
from introdet.features.shards import ShardError, ShardMeta, write_manifest, write_shard
from introdet.training.data import (
    IntroDataModule,
    Track,
    WindowDataset,
    balanced_track,
)
from tests.conftest import TINY_IDENTITY, make_feature_set


def test_balanced_track_pairs_intro_with_following_seconds():
    t1 = Track(
        "a",
        np.arange(100, dtype=np.float16)[:, None],
        np.r_[np.zeros(10), np.ones(20), np.zeros(70)].astype(np.int64),
    )
    t2 = Track(
        "b",
        np.arange(50, dtype=np.float16)[:, None],
        np.r_[np.zeros(40), np.ones(5), np.zeros(5)].astype(np.int64),
    )
    nointro = Track("c", np.zeros((50, 1), np.float16), np.zeros(50, np.int64))
    t = balanced_track([t1, t2, nointro], {})
    # a: 20 intro + 20 after; b: 5 intro + the 5 seconds that exist after it
    assert t.labels.tolist() == [1] * 20 + [0] * 20 + [1] * 5 + [0] * 5
    assert t.feats[:, 0].tolist() == list(range(10, 50)) + list(range(40, 50))


def test_tiling_scores_every_second_once_and_masks_padding():
    feats = np.random.default_rng(0).normal(size=(130, 4)).astype(np.float16)
    labels = (np.arange(130) % 7 == 0).astype(np.int64)
    ds = WindowDataset([Track("e", feats, labels)], window=60, stride=5, tile=True)
    assert [s for _, s in ds.index] == tile_starts(130, 60, 60) == [0, 60, 120]
    seen = np.zeros(130, int)
    for item in ds:
        m = item["mask"].numpy()
        s = int(item["start"])
        seen[s : s + m.sum()] += 1
        assert (item["labels"].numpy()[~m] == -1).all() and (item["labels"].numpy()[m] >= 0).all()
        np.testing.assert_array_equal(
            item["feats"].numpy()[m], feats[s : s + m.sum()].astype(np.float32)
        )
        assert (item["feats"].numpy()[~m] == 0).all()
        np.testing.assert_array_equal(item["labels"].numpy()[m], labels[s : s + m.sum()])
    assert (seen == 1).all()


def test_random_offset_stays_inside_episode():
    np.random.seed(0)
    t = Track("e", np.zeros((100, 2), np.float16), np.zeros(100, np.int64))
    ds = WindowDataset([t], window=60, stride=5, random_offset=True)
    starts = {int(ds[i]["start"]) for i in range(len(ds)) for _ in range(20)}
    assert max(starts) <= 40 and len(starts) > len(ds)  # shifted, never padded


def test_datamodule_episodes_splits_by_series(feature_set):
    shards, labels = feature_set
    dm = IntroDataModule(
        str(shards),
        str(labels),
        window=20,
        stride=10,
        max_seconds=None,
        val_fraction=0.34,
        test_fraction=0.34,
    )
    dm.setup()
    series = {k: {e.split("_")[0] for e in v} for k, v in dm.episode_sets.items()}
    assert all(len(v) == 1 for v in series.values())
    assert len(set.union(*series.values())) == 3
    batch = next(iter(dm.train_dataloader()))
    assert batch["feats"].shape == (8, 20, 512) and batch["labels"].shape == (8, 20)
    assert batch["mask"].dtype.is_floating_point is False
    test = list(dm.test_dataloader())
    n = sum(int(b["mask"].sum()) for b in test)
    assert n == 2 * 150  # two episodes, every second once
    assert dm.encoder["model_name"] == "introdet-tiny"


def test_datamodule_balanced_counts(feature_set):
    shards, labels = feature_set
    dm = IntroDataModule(
        str(shards),
        str(labels),
        mode="balanced",
        window=20,
        stride=5,
        val_fraction=0.0,
        test_fraction=0.0,
        max_seconds=None,
    )
    dm.setup()
    (track,) = dm.tracks["train"]
    assert len(track.labels) == 6 * 60 and track.labels.sum() == 6 * 30  # 30 s intro + 30 after
    assert len(dm.dataset("train")) == (360 - 20) // 5 + 1


def test_separate_test_file_and_overlap_warning(tmp_path, caplog):
    shards, labels = make_feature_set(tmp_path)
    doc = json.loads(labels.read_text())
    test = tmp_path / "test.json"
    test.write_text(json.dumps({k: doc[k] for k in list(doc)[:2]}))
    dm = IntroDataModule(
        str(shards),
        str(labels),
        test_labels=str(test),
        window=20,
        max_seconds=None,
        val_fraction=0.0,
    )
    with caplog.at_level(logging.WARNING):
        dm.setup()
    assert dm.episode_sets["test"] == sorted(list(doc)[:2])
    assert "several splits" in caplog.text


def test_embed_dim_mismatch_raises(tmp_path):
    meta = ShardMeta("a", "S", "a.mp4", "h", 10, 10, 1.0, 0.0, {**TINY_IDENTITY, "embed_dim": 768})
    write_shard(tmp_path, meta, np.zeros((10, 768)))
    write_manifest(tmp_path)
    (tmp_path / "l.json").write_text('{"a": {"start": 1, "end": 3}}')
    dm = IntroDataModule(str(tmp_path), str(tmp_path / "l.json"), feature_dim=512)
    with pytest.raises(ShardError, match="embed_dim 768"):
        dm.setup()


def test_recurrence_channels_appended(feature_set):
    from introdet.detection.recurrence import N_CHANNELS

    shards, labels = feature_set
    dm = IntroDataModule(
        str(shards),
        str(labels),
        window=20,
        max_seconds=None,
        recurrence=True,
        val_fraction=0.0,
        test_fraction=0.0,
    )
    dm.setup()
    assert dm.input_dim == 512 + N_CHANNELS
    t = dm.tracks["train"][0]
    assert t.feats.shape == (150, 512 + N_CHANNELS)
    assert (t.feats[:, 512] == 1).all()  # two episodes per series: information available
