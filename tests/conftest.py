"""Shared fixtures: synthetic feature shards + labels, and Hydra composition outside @hydra.main."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hydra import compose, initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig

import introdet.config  # noqa: F401  (typed config nodes, as the commands store them)
from introdet.features.shards import ShardMeta, write_manifest, write_shard

CONF = Path(__file__).resolve().parents[1] / "conf"
TINY_IDENTITY = {
    "model_name": "introdet-tiny",
    "pretrained": None,
    "embed_dim": 512,
    "image_size": 64,
    "random_weights": True,
}


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def compose_cfg(name: str, overrides: list[str]):
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose(config_name=name, overrides=overrides, return_hydra_config=True)
    HydraConfig.instance().set_config(cfg)  # lets ${hydra:...} resolve outside @hydra.main
    return cfg


def make_feature_set(
    root: Path,
    n_series: int = 3,
    n_episodes: int = 2,
    seconds: int = 150,
    intro: tuple[int, int] = (10, 40),
    dim: int = 512,
    seed: int = 0,
    identity: dict | None = None,
) -> tuple[Path, Path]:
    """Shards whose intro seconds share a direction (learnable) plus a per-series pattern
    (recurring), and a labels file in the real format. Returns (shard_dir, labels_path)."""
    rng = np.random.default_rng(seed)
    shard_dir = root / "shards"
    intro_dir = rng.normal(size=dim)
    labels = {}
    for s in range(n_series):
        pattern = rng.normal(size=(intro[1] - intro[0], dim))
        for e in range(n_episodes):
            ep = f"show{s}_s01e{e + 1:02d}"
            feats = rng.normal(size=(seconds, dim))
            feats[intro[0] : intro[1]] = (
                pattern + 3 * intro_dir + 0.1 * rng.normal(size=pattern.shape)
            )
            feats /= np.linalg.norm(feats, axis=1, keepdims=True)
            meta = ShardMeta(
                episode=ep,
                series=f"Show {s}",
                source=f"/videos/{ep}.mp4",
                source_hash="x",
                duration=float(seconds),
                n_seconds=seconds,
                fps=1.0,
                start=0.0,
                encoder=identity or TINY_IDENTITY,
            )
            write_shard(shard_dir, meta, feats)
            labels[ep] = {
                "name": f"Show {s}. 1 сезон, {e + 1} серия",
                "url": "",
                "start": f"0:00:{intro[0]:02d}",
                "end": f"0:00:{intro[1]:02d}",
            }
    write_manifest(shard_dir)
    path = root / "labels.json"
    path.write_text(json.dumps(labels, ensure_ascii=False), encoding="utf-8")
    return shard_dir, path


@pytest.fixture(scope="session")
def feature_set(tmp_path_factory) -> tuple[Path, Path]:
    return make_feature_set(tmp_path_factory.mktemp("features"))


def train_overrides(shard_dir: Path, labels: Path, out: Path, *extra: str) -> list[str]:
    return [
        "data=tiny",
        f"data.shard_dir={shard_dir}",
        f"data.train_labels={labels}",
        "data.split_by=series",
        "data.val_fraction=0.34",
        "data.test_fraction=0.34",
        "trainer=cpu",
        "trainer.max_epochs=1",
        "trainer.enable_model_summary=false",
        "+trainer.enable_progress_bar=false",
        "model.d_model=32",
        "model.depth=1",
        "model.heads=2",
        "model.ffn_dim=64",
        "model.lr=1e-3",
        f"paths.output_dir={out}",
        *extra,
    ]


@pytest.fixture(scope="module")
def model_ckpt(tmp_path_factory) -> Path:
    """A tiny detector trained one epoch on synthetic shards of the tiny encoder: its quality
    does not matter here, only that predict can load it and run on the tiny encoder's features."""
    from introdet.train import train

    root = tmp_path_factory.mktemp("model")
    shards, labels = make_feature_set(root, seconds=60, intro=(5, 20))
    cfg = compose_cfg(
        "train", train_overrides(shards, labels, root / "run", "test_after_fit=false")
    )
    train(cfg)
    return root / "run" / "checkpoints" / "last.ckpt"
