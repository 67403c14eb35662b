"""Extraction over a folder of real (tiny) video files with the tiny random-weight encoder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from introdet.demo.videofile import write_video
from introdet.errors import ConfigError
from introdet.features.encoder import ClipEncoder
from introdet.features.extraction import extract
from introdet.features.shards import load_features, read_manifest
from introdet.media.library import find_videos, series_of, take_shard
from introdet.media.sampling import SamplerConfig

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
SAMPLER = SamplerConfig(fps=1.0)


def _frames(n: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture(scope="module")
def library(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("lib")
    write_video(root / "Harbor" / "Season 1" / "harbor_e1.mp4", _frames(40, 1), fps=10, audio=True)
    write_video(
        root / "Harbor" / "Season 1" / "harbor_e2.mkv", _frames(30, 2), fps=10, codec="libx265"
    )
    write_video(root / "Dunes" / "dunes_e1.webm", _frames(25, 3), fps=10, codec="libvpx-vp9")
    (root / "Dunes" / "zero.mp4").write_bytes(b"")
    (root / "Dunes" / "text.mkv").write_text("this is not a video")
    (root / "Dunes" / "folder.mp4").mkdir()  # a directory named like a video
    with av.open(str(root / "Dunes" / "audio_only.mp4"), "w") as c:  # no video stream
        s = c.add_stream("aac", rate=22050)
        for i in range(10):
            f = av.AudioFrame.from_ndarray(
                np.zeros((1, 1024), np.float32), format="fltp", layout="mono"
            )
            f.sample_rate, f.pts = 22050, i * 1024
            for p in s.encode(f):
                c.mux(p)
        for p in s.encode():
            c.mux(p)
    return root


@pytest.fixture(scope="module")
def encoder() -> ClipEncoder:
    return ClipEncoder("introdet-tiny", pretrained=None)


def test_find_and_series(library):
    names = [p.name for p in find_videos(library)]
    assert "folder.mp4" not in names and len(names) == 6
    assert series_of(library / "Harbor" / "Season 1" / "harbor_e1.mp4", library) == "Harbor"
    assert series_of(library / "Dunes" / "dunes_e1.webm", library) == "Dunes"


def test_extract_good_report_bad_then_skip(library, encoder, tmp_path):
    out = tmp_path / "shards"
    s = extract(library, out, encoder, SAMPLER, progress=False)
    assert sorted(s.done) == ["dunes_e1", "harbor_e1", "harbor_e2"]
    failed = {Path(p).name: why for p, why in s.failed}
    assert set(failed) == {"zero.mp4", "text.mkv", "audio_only.mp4"}
    assert all(why for why in failed.values())
    assert "video" in failed["audio_only.mp4"].lower()
    metas = read_manifest(out)
    assert metas["harbor_e1"].n_seconds == 4 and metas["harbor_e1"].series == "Harbor"
    assert metas["harbor_e1"].encoder["random_weights"] is True
    feats = load_features(out, "harbor_e1")
    assert feats.shape == (4, 512)
    np.testing.assert_allclose(np.linalg.norm(feats.astype(np.float32), axis=1), 1, atol=1e-2)

    mtimes = {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}
    again = extract(library, out, encoder, SAMPLER, progress=False)
    assert sorted(again.skipped) == sorted(s.done) and not again.done
    assert mtimes == {p.name: p.stat().st_mtime_ns for p in out.glob("*.npy")}


def _dead_pid() -> int:
    """The pid of a process that has finished."""
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def test_interrupted_run_resumes(library, encoder, tmp_path):
    out = tmp_path / "shards"
    extract(library / "Harbor", out, encoder, SAMPLER, progress=False)
    done_before = (out / "harbor_e1.npy").stat().st_mtime_ns
    # a kill between the feature write and the metadata write leaves an orphan .npy
    (out / "harbor_e2.json").unlink()
    os.utime(out / "harbor_e2.npy", (1, 1))  # long ago: no job is about to write its .json
    gone = _dead_pid()
    (out / f".dunes_e1.npy.{gone}.abc.tmp").write_bytes(b"partial")
    s = extract(library, out, encoder, SAMPLER, progress=False)
    assert sorted(s.done) == ["dunes_e1", "harbor_e2"] and s.skipped == ["harbor_e1"]
    assert (out / "harbor_e1.npy").stat().st_mtime_ns == done_before
    assert not list(out.glob(".*.tmp"))


def test_changed_source_or_sampler_is_redone(library, encoder, tmp_path):
    out = tmp_path / "shards"
    extract(library / "Dunes", out, encoder, SAMPLER, progress=False)
    full = read_manifest(out)["dunes_e1"].n_seconds
    s = extract(library / "Dunes", out, encoder, SamplerConfig(max_seconds=1), progress=False)
    assert s.done == ["dunes_e1"] and read_manifest(out)["dunes_e1"].n_seconds < full
    # decode mode and thread count change the speed, not the frames: nothing to redo
    faster = SamplerConfig(max_seconds=1, decode="all", threads=1)
    s = extract(library / "Dunes", out, encoder, faster, progress=False)
    assert s.done == [] and s.skipped == ["dunes_e1"]
    coarse = SamplerConfig(max_seconds=1, decode="keyframes")
    s = extract(library / "Dunes", out, encoder, coarse, progress=False)
    assert s.done == ["dunes_e1"]  # keyframes stand in for other frames: not the same features
    write_video(out.parent / "lib" / "dunes_e1.webm", _frames(25, 3), fps=10, codec="libvpx")
    s = extract(out.parent / "lib", out, encoder, SamplerConfig(max_seconds=1), progress=False)
    assert s.done == ["dunes_e1"]  # same id, other content: extracted again


def test_shards_partition_the_library(library):
    files = find_videos(library)
    parts = [take_shard(files, f"{i}/3") for i in range(3)]
    assert sorted(sum(parts, [])) == files
    assert sum(len(p) for p in parts) == len(files)
    with pytest.raises(ConfigError, match="i/n"):
        take_shard(files, "3/3")


def test_cli_reports_and_exit_code(library, tmp_path):
    cmd = [
        sys.executable,
        "-m",
        "introdet.extract",
        f"input={library}",
        f"out={tmp_path}/s",
        "encoder=tiny",
        "progress=false",
    ]
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert r.returncode == 1, r.stderr  # some files failed
    assert "extracted 3" in r.stdout and "FAILED" in r.stdout and "zero.mp4" in r.stdout
    assert "RANDOM-WEIGHTS" in r.stdout
    r = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True)
    assert "skipped 3" in r.stdout


def test_decoder_processes_give_the_same_shards(library, encoder, tmp_path):
    threads = extract(library, tmp_path / "t", encoder, SAMPLER, decoders=2, progress=False)
    procs = extract(
        library, tmp_path / "p", encoder, SAMPLER, decoders=2, progress=False, processes=True
    )
    assert sorted(procs.done) == sorted(threads.done)
    assert sorted(procs.failed) == sorted(threads.failed)  # same files, same reasons
    for ep in threads.done:
        np.testing.assert_array_equal(
            load_features(tmp_path / "p", ep), load_features(tmp_path / "t", ep)
        )


@pytest.mark.parametrize(
    ("override", "key"),
    [("sampler.fps=0", "sampler.fps"), ("sampler.decode=foo", "sampler.decode"),
     ("sampler.max_seconds=0", "sampler.max_seconds"), ("shard=3/3", "shard")],
)  # fmt: skip
def test_cli_bad_setting_stops_at_start(library, tmp_path, override, key):
    cmd = [sys.executable, "-m", "introdet.extract", f"input={library}", f"out={tmp_path}/s"]
    r = subprocess.run(
        [*cmd, "encoder=tiny", "progress=false", override],
        cwd=ROOT, env=ENV, capture_output=True, text=True,
    )  # fmt: skip
    assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
    lines = [x for x in r.stderr.splitlines() if x.startswith("error: ")]
    assert len(lines) == 1 and key in lines[0], r.stderr
    assert not (tmp_path / "s" / "manifest.jsonl").exists()  # stopped before any file


def test_the_scan_is_15_minutes_or_40_percent_whichever_is_longer():
    from introdet.media.probe import scan_end

    cfg = SamplerConfig()
    keys = {"max_seconds": cfg.max_seconds, "min_fraction": cfg.min_fraction}
    assert scan_end(2700.0, **keys) == 1080.0  # a 45-minute episode: 40 % of it
    assert scan_end(1320.0, **keys) == 900.0  # 22 minutes: the first 15
    assert scan_end(300.0, **keys) == 300.0  # shorter than both: all of it
    assert scan_end(2700.0, fraction=0.25, **keys) == 675.0  # fraction still caps it


def test_a_longer_default_scan_keeps_the_shards_of_short_episodes(library, encoder, tmp_path):
    out = tmp_path / "shards"
    old = SamplerConfig(fps=1.0, max_seconds=600.0, min_fraction=None)
    first = extract(library / "Harbor", out, encoder, old, progress=False)
    again = extract(library / "Harbor", out, encoder, SamplerConfig(fps=1.0), progress=False)
    assert again.done == [] and sorted(again.skipped) == sorted(first.done)  # same frames
    shorter = extract(
        library / "Harbor", out, encoder, SamplerConfig(max_seconds=2.0), progress=False
    )
    assert sorted(shorter.done) == sorted(first.done)  # now the scan ends inside the clips


def test_files_passed_over_are_named_once(encoder, tmp_path):
    """An ``.mp3`` and a ``.txt`` beside the episodes: named in the summary, once; the run
    does not fail for them."""
    lib = tmp_path / "lib"
    write_video(lib / "Show" / "show_e1.mp4", _frames(20, 4), fps=10)
    (lib / "Show" / "theme.mp3").write_bytes(b"ID3")
    (lib / "notes.txt").write_text("to watch")
    s = extract(lib, tmp_path / "shards", encoder, SAMPLER, progress=False)
    assert s.done == ["show_e1"] and not s.failed
    line = "passed over 2 files, not video by their suffix: Show/theme.mp3, notes.txt"
    assert s.notes == [line]
    assert s.format().count("passed over") == 1
