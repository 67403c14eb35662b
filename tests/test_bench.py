"""Smoke tests of benchmarks/ on tiny inputs: figures of the right shape, never timings."""

from __future__ import annotations

import shutil

import pytest
import torch

from benchmarks import bench, predicting, sampling, training, videos
from introdet.media.probe import probe
from introdet.media.sampling import frames_per_second, keyframes
from introdet.training.module import IntroDetector
from tests.commands import help_text, run_command

TINY = {"feature_dim": 32, "d_model": 32, "depth": 1, "heads": 2, "ffn_dim": 64}
IDENTITY = {"model_name": "introdet-tiny", "pretrained": None, "embed_dim": 32}


def test_loop_clip_repeats_the_clip_with_continuous_time(tmp_path):
    # 2 s at 10 fps with a keyframe every 10 frames, looped to >= 5 s: 3 copies = 6 s
    clip = videos.make_clip(tmp_path / "clip.mp4", height=48, seconds=2, fps=10, gop=10)
    long = videos.loop_clip(clip, tmp_path / "long.mp4", seconds=5)
    assert probe(long).duration == pytest.approx(6.0)
    assert [t for t, _ in keyframes(long, size=None)] == pytest.approx([0, 1, 2, 3, 4, 5])
    assert [k for k, _ in frames_per_second(long, size=16)] == list(range(6))


def test_make_clip_is_cached_and_the_cache_ignores_itself(tmp_path):
    cache = tmp_path / "cache"
    path = videos.make_clip(cache / "c.mp4", height=48, seconds=1, fps=10, gop=10)
    mtime = path.stat().st_mtime_ns
    assert videos.make_clip(cache / "c.mp4", height=48, seconds=1).stat().st_mtime_ns == mtime
    assert (cache / ".gitignore").read_text().splitlines()[-1] == "*"
    assert not list(cache.glob(".*.tmp*"))


def test_bench_sampler_counts_one_frame_per_second(tmp_path):
    res = sampling.bench_sampler(heights=(48,), seconds=2, repeats=1, size=32, cache=tmp_path)
    by_method = {r["method"]: r for r in res["rows"]}
    expected = 7 if shutil.which("ffmpeg") else 6
    assert len(by_method) == expected
    for name, row in by_method.items():
        # a 2 s clip with its GOP of 50 frames at 25 fps: 1 keyframe, else 2 samples
        assert row["frames"] == (1 if name == "introdet keyframes()" else 2), name
        assert row["video_s_per_s"] > 0
    assert by_method["introdet frames_per_second"]["x_vs_pyav"] > 0
    assert by_method["PyAV decode-all loop"]["x_vs_pyav"] is None


def test_make_checkpoint_loads_with_weights_only(tmp_path):
    path = predicting.make_checkpoint(tmp_path / "m.ckpt", IDENTITY, **TINY)
    model = IntroDetector.load_from_checkpoint(path, weights_only=True)
    assert model.hparams.encoder == IDENTITY
    assert model.hparams.depth == 1
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert all(torch.equal(v, saved[k]) for k, v in model.state_dict().items())


def test_bench_train_measures_then_skips_what_exceeds_the_budget():
    # any real step takes longer than the budget: batch 2 times only its warm-up step, and
    # batch 4 is skipped by extrapolation
    res = training.bench_train(
        batches=(4, 2),
        precisions=("fp32",),
        devices=["cpu"],
        steps=1,
        budget_s=1e-6,
        hparams=TINY,
        isolate=False,
    )
    ran, skipped = res["rows"]
    assert (ran["batch"], ran["steps"], skipped["batch"], skipped["steps"]) == (2, 0, 4, None)
    assert ran["windows_per_s"] == pytest.approx(2 / ran["step_s"], rel=1e-9)
    params = sum(p.numel() for p in IntroDetector(**TINY).parameters())
    assert ran["tflop_per_s"] == pytest.approx(6 * params * 2 * 60 / ran["step_s"] / 1e12, rel=1e-9)
    assert ran["peak_mem_mb"] > 0
    assert ran["mfu"] == "n/a"  # no MFU without a known peak


PREDICT = {
    "minutes": 0.05,  # 3 s, looped from a 1 s clip
    "height": 48,
    "clip_seconds": 1,
    "precision": "fp32",
    "model": "introdet-tiny",
    "model_hparams": {"d_model": 32, "depth": 1, "heads": 2, "ffn_dim": 64},
}


def test_bench_predict_runs_file_to_intro(tmp_path):
    modes = ("exact", "coarse")
    res = predicting.bench_predict(
        **PREDICT, scans=(2, None), cache=tmp_path, isolate=False, modes=modes
    )
    short, short_coarse, whole, whole_coarse = res["rows"]
    assert (short["sampling"], short_coarse["sampling"]) == ("exact 1 fps", "coarse to fine")
    assert whole_coarse["video_s_per_s"] == pytest.approx(3 / whole_coarse["wall_s"])
    assert short["video_s_per_s"] == pytest.approx(2 / short["wall_s"])
    assert whole["video_s_per_s"] == pytest.approx(3 / whole["wall_s"])
    assert (short["scan"], whole["scan"]) == ("first 2 s (default)", "whole episode")
    assert any("introdet-tiny" in n for n in res["notes"])


@pytest.mark.slow
def test_bench_predict_in_a_fresh_process(tmp_path):
    (row,) = predicting.bench_predict(**PREDICT, scans=(None,), cache=tmp_path, modes=("exact",))[
        "rows"
    ]
    assert row["process_s"] > row["wall_s"] > 0
    assert row["peak_rss_mb"] > 50  # torch alone takes more


def test_markdown_table_one_line_per_row():
    table = bench.markdown_table([{"a": 1, "b": None}, {"a": 2.5, "b": "x"}])
    assert table.splitlines() == ["| a | b |", "|---|---|", "| 1 |  |", "| 2.5 | x |"]


def test_cli_rejects_an_unknown_benchmark(capsys):
    assert run_command(bench.main, "run=[smapler]") == 2
    assert "smapler" in capsys.readouterr().err


def test_bench_train_times_the_requested_steps_within_budget():
    (row,) = training.bench_train(
        batches=(2,),
        precisions=("fp32",),
        devices=["cpu"],
        steps=2,
        budget_s=60,
        hparams=TINY,
        isolate=False,
    )["rows"]
    assert (row["steps"], row["precision"], row["device"]) == (2, "fp32", "cpu")
    assert row["windows_per_s"] == pytest.approx(2 / row["step_s"])


def test_bench_library_predicts_a_folder_with_decoder_processes(tmp_path):
    res = predicting.bench_library(
        episodes=2,
        scan=None,
        decoders=2,
        device="cpu",
        cache=tmp_path,
        isolate=False,
        modes=("exact", "coarse"),
        **PREDICT,
    )
    exact, coarse = res["rows"]
    assert (exact["sampling"], coarse["sampling"]) == ("exact 1 fps", "coarse to fine")
    assert exact["video_s_per_s"] == pytest.approx(2 * 3 / exact["wall_s"])
    assert exact["decoders"] == 2 and exact["device"] == "cpu fp32"
    assert len(list(tmp_path.glob("library_*/ep*.mp4"))) == 2


def test_bench_coarse_times_both_paths(tmp_path):
    args = {k: v for k, v in PREDICT.items() if k != "model_hparams"}
    res = predicting.bench_coarse(**args, scans=(2, None), fine_seconds=1, cache=tmp_path)
    short, whole = res["rows"]
    assert (short["rows"], whole["rows"]) == (2, 3)
    # the 1 s test clip looped has a keyframe a second at most: 1..3 encoded of 3 rows
    assert 1 <= whole["keyframes_encoded"] <= 3
    for row in (short, whole):
        assert row["coarse_to_fine_s"] == pytest.approx(row["coarse_pass_s"] + row["fine_pass_1s"])
        assert row["speedup"] == pytest.approx(row["exact_s"] / row["coarse_to_fine_s"])


def test_cli_help_lists_every_benchmark(capsys):
    text = help_text(bench.main, capsys)
    assert all(name in text for name in bench.BENCHMARKS)
    assert "\n  quick " in text and "\n  out " in text
