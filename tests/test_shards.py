from __future__ import annotations

import os
import subprocess

import numpy as np
import pytest

from introdet.features.shards import (
    ShardError,
    ShardMeta,
    check_consistent,
    encoder_name,
    is_complete,
    load_features,
    read_manifest,
    remove_orphans,
    write_manifest,
    write_shard,
)
from tests.conftest import TINY_IDENTITY


def _meta(ep: str, identity=TINY_IDENTITY, fps=1.0) -> ShardMeta:
    return ShardMeta(ep, "S", f"/v/{ep}.mkv", "h", 12.5, 0, fps, 0.0, dict(identity))


def test_round_trip(tmp_path):
    feats = np.random.default_rng(0).normal(size=(13, 512)).astype(np.float32)
    write_shard(tmp_path, _meta("a"), feats)
    write_manifest(tmp_path)
    metas = read_manifest(tmp_path)
    assert list(metas) == ["a"] and metas["a"].n_seconds == 13 and metas["a"].embed_dim == 512
    got = load_features(tmp_path, "a")
    assert got.dtype == np.float16 and got.shape == (13, 512)
    np.testing.assert_allclose(got, feats.astype(np.float16))
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*"))


def test_orphan_npy_is_not_complete(tmp_path):
    write_shard(tmp_path, _meta("a"), np.zeros((3, 512)))
    (tmp_path / "b.npy").write_bytes(b"half")  # killed between the two writes
    assert is_complete(tmp_path, "a") and not is_complete(tmp_path, "b")
    assert list(read_manifest(tmp_path)) == ["a"]  # no manifest.jsonl: scanned from .json files
    assert remove_orphans(tmp_path) == []  # fresh: another job may be about to write b.json
    os.utime(tmp_path / "b.npy", (1, 1))
    assert [p.name for p in remove_orphans(tmp_path)] == ["b.npy"]


def test_temp_files_of_a_live_writer_are_spared(tmp_path):
    # shard=0/2 and shard=1/2 on one folder: the second job's start-up clean-up must not take
    # the first job's file in flight; a killed writer's file goes
    finished = subprocess.Popen(["true"])
    finished.wait()
    live = tmp_path / f".a.npy.{os.getpid()}.x1y2.tmp"
    dead = tmp_path / f".b.npy.{finished.pid}.x3y4.tmp"
    for p in (live, dead):
        p.write_bytes(b"partial")
    assert remove_orphans(tmp_path) == [dead]
    assert live.is_file()


def test_random_weights_are_named(tmp_path):
    assert "RANDOM" in encoder_name(TINY_IDENTITY)
    real = {
        **TINY_IDENTITY,
        "model_name": "ViT-B-32",
        "pretrained": "laion2b_s34b_b79k",
        "random_weights": False,
    }
    assert encoder_name(real) == "ViT-B-32/laion2b_s34b_b79k"


def test_mixed_encoders_refused(tmp_path):
    other = {**TINY_IDENTITY, "model_name": "ViT-B-32", "random_weights": False}
    metas = [_meta("a"), _meta("b", other)]
    with pytest.raises(ShardError, match="different encoders"):
        check_consistent(metas, where="x")


def test_dim_and_fps_checked():
    with pytest.raises(ShardError, match="embed_dim 512"):
        check_consistent([_meta("a")], embed_dim=768)
    with pytest.raises(ShardError, match="fps"):
        check_consistent([_meta("a"), _meta("b", fps=2.0)])
    with pytest.raises(ShardError, match="expected ViT"):
        check_consistent([_meta("a")], encoder="ViT-B-32/openai")
    assert check_consistent([_meta("a")], embed_dim=512, fps=1.0)["model_name"] == "introdet-tiny"


def test_bad_manifest_names_file(tmp_path):
    (tmp_path / "manifest.jsonl").write_text('{"episode": "a"}\n')
    with pytest.raises(ShardError, match="manifest.jsonl:1"):
        read_manifest(tmp_path)
    with pytest.raises(ShardError, match="does not exist"):
        read_manifest(tmp_path / "nope")


def test_a_shard_share_with_no_video_is_not_a_failure(tmp_path, capsys):
    """``shard=i/n`` on a small library can leave share i empty: that job has nothing to do,
    it has not failed (a folder with no video at all still exits 1)."""
    import zlib

    from introdet.extract import main
    from tests import badfiles
    from tests.commands import run_command

    video = badfiles.good(tmp_path / "lib" / "e1.mp4")
    empty = 1 - zlib.crc32(video.name.encode()) % 2  # the share e1.mp4 is not in
    args = ["encoder=tiny", "progress=false", f"input={video.parent}", f"out={tmp_path / 's'}"]
    assert run_command(main, *args, f"shard={empty}/2") == 0
    assert f"shard {empty}/2 holds none of its videos" in capsys.readouterr().out
    (tmp_path / "none").mkdir()
    assert run_command(main, *args[:2], f"input={tmp_path / 'none'}", f"out={tmp_path / 't'}") == 1
