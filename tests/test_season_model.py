"""Fingerprints in the shards and the season channels of the learned model, on the tiny demo
library (real files with soundtracks and every trap)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest

import introdet
from introdet.demo.make_library import make_library
from introdet.detection.channels import (
    AVAILABLE,
    N_SEASON,
    SEASON_KINDS,
    SUPPORT,
    Rows,
    extra_channels,
    recurrence_kind,
    season_evidence,
    snap_to_season,
)
from introdet.detection.checkpoint import read_checkpoint
from introdet.detection.postprocess import Segment
from introdet.detection.recurrence import N_CHANNELS
from introdet.detection.season import SeasonConfig
from introdet.errors import ConfigError, ShardError
from introdet.features.encoder import ClipEncoder
from introdet.features.extraction import extract
from introdet.features.fingerprints import EpisodePrints
from introdet.features.print_store import (
    PrintScan,
    is_current,
    read_prints,
    shard_prints,
    write_prints,
)
from introdet.features.shards import read_manifest, read_meta, write_manifest, write_meta
from introdet.media.sampling import SamplerConfig
from introdet.outputs.layout import record_files
from introdet.predict import predict
from introdet.training.data import IntroDataModule
from tests.commands import output
from tests.conftest import compose_cfg

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")
SCAN = PrintScan.of(SeasonConfig())


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> tuple[Path, dict, Path]:
    """The tiny library and its shards (CLIP features and prints)."""
    out = tmp_path_factory.mktemp("season-model")
    truth = make_library(out / "library", seed=0, size="tiny")
    enc = ClipEncoder("introdet-tiny", pretrained=None)
    summary = extract(out / "library" / "videos", out / "shards", enc, SamplerConfig(),
                      progress=False, prints=SCAN)  # fmt: skip
    assert not summary.failed
    return out / "library", truth, out / "shards"


def test_extraction_stores_prints_beside_the_features(library):
    _, truth, shards = library
    for eid in truth["episodes"]:
        meta = read_meta(shards / f"{eid}.json")
        assert is_current(meta.extra["prints"], SCAN)
        prints, picture = read_prints(shards, eid, meta.extra["prints"])
        assert prints.audio is not None and len(prints.audio) > 100  # 0.05-s codes
        assert prints.duration == pytest.approx(meta.duration, abs=0.1)
        assert picture is not None and len(picture.hashes) == meta.n_seconds  # one a row


def test_a_shard_without_prints_is_topped_up_without_running_clip(library, tmp_path):
    lib, truth, shards = library
    eid = sorted(truth["episodes"])[0]
    copy = tmp_path / "shards"
    copy.mkdir()
    for suffix in (".npy", ".json"):  # an older shard: features, no prints
        (copy / f"{eid}{suffix}").write_bytes((shards / f"{eid}{suffix}").read_bytes())
    meta = read_meta(copy / f"{eid}.json")
    del meta.extra["prints"]
    write_meta(copy, meta)
    with pytest.raises(ShardError, match=f"{eid}.prints.npz: no fingerprints"):
        shard_prints(copy, [meta])
    os.utime(copy / f"{eid}.npy", ns=(1, 1))
    video = lib / truth["episodes"][eid]["path"]
    summary = extract(video, copy, _RefusingEncoder(), SamplerConfig(), progress=False,
                      prints=SCAN)  # fmt: skip
    assert summary.skipped == [eid] and not summary.failed
    assert (copy / f"{eid}.npy").stat().st_mtime_ns == 1  # the features were left alone
    (prints,), _ = shard_prints(copy, [read_meta(copy / f"{eid}.json")])
    stored, _ = read_prints(shards, eid, read_meta(shards / f"{eid}.json").extra["prints"])
    assert np.array_equal(prints.audio.codes, stored.audio.codes)


class _RefusingEncoder:
    """An encoder with the tiny one's identity that fails the test if asked to encode."""

    def __init__(self) -> None:
        real = ClipEncoder("introdet-tiny", pretrained=None)
        self.identity, self.image_size, self.name = real.identity, real.image_size, real.name

    def embed(self, frames):
        raise AssertionError("CLIP ran on a shard whose features were up to date")


def test_prints_of_another_version_or_scan_are_not_current(tmp_path):
    prints = EpisodePrints(10.0, None)
    record = write_prints(tmp_path, "e", prints, None, SCAN)
    assert is_current(record, SCAN)
    assert not is_current(record, PrintScan(600.0, SCAN.fraction, SCAN.tail))
    assert not is_current({**record, "version": 0}, SCAN)
    assert not is_current(None, SCAN)
    back, picture = read_prints(tmp_path, "e", record)
    assert back.audio is None and picture is None and back.duration == 10.0
    (tmp_path / "e.prints.npz").write_bytes(b"not a zip")
    with pytest.raises(ShardError, match="e.prints.npz: unreadable fingerprints"):
        read_prints(tmp_path, "e", record)


def test_season_channels_mark_intro_credits_logo_and_recap_where_they_are(library):
    lib, truth, shards = library
    metas = read_manifest(shards)
    by_series: dict[str, list] = {}
    for eid in sorted(metas):
        by_series.setdefault(truth["episodes"][eid]["series"], []).append(metas[eid])
    seen = set()
    for group in by_series.values():
        prints, picture_of = shard_prints(shards, group)
        rows = [Rows(m.start, m.fps, m.n_seconds) for m in group]
        ev = season_evidence(prints, picture_of, rows, SeasonConfig())
        for m, x, r in zip(group, ev.channels, ev.results, strict=True):
            assert x.shape == (m.n_seconds, N_SEASON) and x.dtype == np.float32
            assert (x[:, AVAILABLE] == 1).all() and x.min() >= 0 and x.max() <= 1
            for kind in ("intro", "credits"):
                found = getattr(r, kind)
                col = 2 + SEASON_KINDS.index(kind)
                if found is None or found.start >= m.n_seconds:
                    continue
                inside = x[int(found.start) + 1 : int(found.end) - 1, col]
                assert (inside == 1).all(), (m.episode, kind)
                assert (x[int(found.start) + 1 : int(found.end) - 1, SUPPORT] > 0).all()
                seen.add(kind)
            e = truth["episodes"][m.episode]
            for d in e.get("distractors", []):
                if d["kind"] in ("studio_logo", "recap") and d["end"] <= m.n_seconds:
                    mid = int((d["start"] + d["end"]) / 2)
                    assert x[mid, 2 + SEASON_KINDS.index("intro")] == 0, (m.episode, d)
    assert seen == {"intro", "credits"}


def test_a_lone_episode_has_no_season_channels():
    rows = [Rows(0.0, 1.0, 30)]
    ev = season_evidence([EpisodePrints(30.0, None)], lambda k: None, rows, SeasonConfig())
    assert ev.channels[0].shape == (30, N_SEASON) and not ev.channels[0].any()
    assert ev.results[0].intro is None


def test_recurrence_kinds_and_their_widths():
    assert recurrence_kind(True) == "clip" and recurrence_kind(False) == "off"
    assert recurrence_kind("season") == "season"
    assert extra_channels("off") == 0 and extra_channels(True) == N_CHANNELS
    assert extra_channels("season") == N_SEASON
    with pytest.raises(ConfigError, match="data.recurrence must be one of"):
        recurrence_kind("sound")


def test_the_model_intro_takes_the_sound_edges_only_when_both_name_one_stretch():
    model, sound = Segment(10.0, 40.0, 0.9), Segment(10.35, 39.62, 1.0)
    assert snap_to_season(model, sound) == Segment(10.35, 39.62, 0.9)
    assert snap_to_season(model, Segment(120.0, 150.0, 1.0)) == model  # credits elsewhere
    assert snap_to_season(model, None) == model and snap_to_season(None, sound) is None


def test_the_data_module_appends_season_channels_from_the_whole_season(library, tmp_path):
    lib, truth, shards = library
    dm = IntroDataModule(str(shards), str(lib / "train_labels.json"),
                         test_labels=str(lib / "test_labels.json"), split_by="episode",
                         val_fraction=0.0, window=20, stride=10, max_seconds=None,
                         feature_dim=read_meta(next(shards.glob("*.json"))).embed_dim,
                         recurrence="season")  # fmt: skip
    dm.setup()
    assert dm.input_dim == dm.hparams.feature_dim + N_SEASON
    for split in ("train", "test"):
        for t in dm.tracks[split]:
            assert t.feats.shape[1] == dm.input_dim
            extra = t.feats[:, -N_SEASON:].astype(np.float32)
            # test episodes are compared with the training ones too: never alone
            assert (extra[:, AVAILABLE] == 1).all(), t.name
            intro = np.flatnonzero(t.labels == 1)
            if intro.size and extra[:, 2].any():  # labels are whole seconds: overlap
                assert extra[intro, 2].max() > 0.5, t.name


def test_predict_with_a_season_model_records_the_season_and_snaps_to_it(library, tmp_path):
    lib, truth, shards = library
    from introdet.train import train

    dim = read_meta(next(shards.glob("*.json"))).embed_dim
    cfg = compose_cfg("train", [
        "experiment=demo_season", f"paths.data_dir={lib.parent}", f"data.shard_dir={shards}",
        f"paths.output_dir={tmp_path / 'run'}", f"data.feature_dim={dim}", "trainer.max_epochs=3",
        "data.val_fraction=0.0", "logger=csv",
    ])  # fmt: skip
    train(cfg)
    ckpt = tmp_path / "run" / "checkpoints" / "last.ckpt"
    learned = read_checkpoint(ckpt).season  # how its season channels were computed
    assert learned == asdict(SeasonConfig(max_others=learned["max_others"]))
    out = tmp_path / "o"
    pcfg = compose_cfg("predict", [f"ckpt={ckpt}", f"input={lib / 'videos'}", f"out={out}",
                                   f"shards={shards}", "progress=false"])  # fmt: skip
    assert predict(pcfg) == 0
    snapped = 0
    for eid, e in truth["episodes"].items():
        rec = json.loads((output(out, eid)).read_text())
        assert rec["mode"] == "season" and "recurring" in rec["season"]
        assert rec["credits"] == pytest.approx([e["credits"]["start"], e["credits"]["end"]],
                                               abs=0.5)  # fmt: skip
        intros = [x for x in rec["season"]["recurring"] if x[2] == "intro"]
        if rec["intro"] and intros:
            s, t = intros[0][:2]
            snapped += abs(rec["intro"]["start"] - s) < 0.6 and abs(rec["intro"]["end"] - t) < 0.6
    assert snapped >= 1
    # every record validates against the published schema and names what made it
    import hashlib

    import jsonschema

    schema = json.loads((Path(introdet.__file__).parent / "outputs/record.schema.json").read_text())
    digest = hashlib.sha256(ckpt.read_bytes()).hexdigest()
    for _, path in record_files(out):
        rec = json.loads(path.read_text())
        jsonschema.validate(rec, schema)
        trace = rec["provenance"]
        assert trace["method"] == "model" and trace["checkpoint"]["sha256"] == digest
        assert trace["checkpoint"]["path"] == str(ckpt.resolve())
        assert {"threshold", "min_seconds", "max_seconds"} <= set(trace["postprocess"])
        assert trace["season"]["scan"] == 900.0 and trace["sampler"]["max_seconds"] == 900.0
    # season channels asked to be computed otherwise: said, and done as asked
    args = [f"ckpt={ckpt}", f"input={lib / 'videos'}", f"shards={shards}", "progress=false",
            f"out={tmp_path / 'other'}", "season.min_seconds=1.2"]  # fmt: skip
    done = subprocess.run([sys.executable, "-m", "introdet.predict", *args], capture_output=True,
                          text=True, env=os.environ | {"HF_HUB_OFFLINE": "1"})  # fmt: skip
    assert done.returncode == 0, done.stderr
    said = done.stdout + done.stderr
    assert "learned its season channels with season.min_seconds=1.5" in said
    assert "computes them with 1.2" in said
    rec = json.loads(next(p for _, p in record_files(tmp_path / "other")).read_text())
    assert rec["provenance"]["season"]["min_seconds"] == 1.2
    coarse = compose_cfg("predict", [f"ckpt={ckpt}", f"input={lib / 'videos'}",
                                     f"out={tmp_path / 'c'}", "coarse.enabled=true"])  # fmt: skip
    with pytest.raises(ConfigError, match="coarse.enabled=true takes a single-episode model"):
        predict(coarse)


def test_season_mode_on_a_shard_folder_hears_the_stored_prints(library, tmp_path):
    lib, truth, shards = library
    for name, input in (("videos", lib / "videos"), ("shards", shards)):
        cfg = compose_cfg("predict", [f"input={input}", f"out={tmp_path / name}",
                                      "method=season", "progress=false"])  # fmt: skip
        assert predict(cfg) == 0
    for eid in truth["episodes"]:
        a, b = (json.loads(output(tmp_path / n, eid).read_text()) for n in ("videos", "shards"))
        # the shards' pictures are the CLIP rows (1 fps, centre square), the videos' 2 fps:
        # what was seen may differ by a sample
        ra, rb = a["season"]["recurring"], b["season"]["recurring"]
        assert [x[2:] for x in ra] == [x[2:] for x in rb], eid
        assert np.allclose([x[:2] for x in ra], [x[:2] for x in rb], atol=0.5), eid
        assert a["credits"] == b["credits"], eid
        assert (a["intro"] is None) == (b["intro"] is None), eid
        if a["intro"]:
            assert a["intro"]["start"] == pytest.approx(b["intro"]["start"], abs=0.05), eid


def test_season_mode_names_a_shard_without_prints_and_goes_on(library, tmp_path):
    lib, truth, shards = library
    copy = tmp_path / "shards"
    copy.mkdir()
    for p in shards.iterdir():
        if p.is_file():
            (copy / p.name).write_bytes(p.read_bytes())
    eid = sorted(truth["episodes"])[0]
    meta = read_meta(copy / f"{eid}.json")
    del meta.extra["prints"]
    write_meta(copy, meta)
    write_manifest(copy)
    cfg = compose_cfg("predict", [f"input={copy}", f"out={tmp_path / 'o'}", "method=season",
                                  "progress=false"])  # fmt: skip
    assert predict(cfg) == 1  # one input failed, named; the others are predicted
    assert not (output(tmp_path / "o", eid)).exists()
    assert len(list(record_files(tmp_path / "o"))) == len(truth["episodes"]) - 1
