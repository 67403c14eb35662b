"""Training end to end on tiny shards: checkpoints, resume, refusal to mix, sweeps."""

from __future__ import annotations

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from introdet.detection.checkpoint import POSTPROCESS_KEY
from introdet.detection.postprocess import PostprocessConfig
from introdet.errors import CheckpointError
from introdet.train import CheckpointMismatch, format_metrics, train
from introdet.training.tune import GRID
from tests.conftest import TINY_IDENTITY, compose_cfg, make_feature_set, train_overrides

ROOT = Path(__file__).resolve().parents[1]


def test_fit_then_resume_to_more_epochs(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    f1 = train(compose_cfg("train", train_overrides(shards, labels, out)))
    last = out / "checkpoints" / "last.ckpt"
    assert last.is_file() and 0.0 <= f1 <= 1.0
    assert (out / "test_episodes.json").is_file() and (out / "plots" / "test_pr.png").stat().st_size
    tuned = json.loads((out / "postprocess.json").read_text())  # chosen on validation episodes
    assert PostprocessConfig(**tuned).threshold in GRID["threshold"]
    first = torch.load(last, weights_only=True)
    assert first[POSTPROCESS_KEY] == tuned  # inside the checkpoint: a copy of it predicts alike
    steps = first["global_step"]
    assert steps > 0
    first_weights = first["state_dict"]["net.pos"].clone()

    # same command with more epochs: continues from epoch 1, not from scratch
    train(compose_cfg("train", train_overrides(shards, labels, out, "trainer.max_epochs=2")))
    ckpt = torch.load(last, weights_only=True)
    assert ckpt["epoch"] == first["epoch"] + 1 and ckpt["global_step"] == 2 * steps
    assert not torch.equal(ckpt["state_dict"]["net.pos"], first_weights)
    assert [p.name for p in (out / "csv").glob("metrics*.csv")] == ["metrics.csv"]
    epochs = {int(r["epoch"]) for r in csv_rows(out) if r.get("val/f1")}
    assert epochs == {0, 1}  # one history: the first attempt's rows are kept


def csv_rows(out: Path) -> list[dict]:
    with open(out / "csv" / "metrics.csv") as f:
        return list(csv.DictReader(f))


def assert_each_metric_once(out: Path) -> None:
    seen = [(r["step"], k) for r in csv_rows(out) for k, v in r.items() if v]
    seen = [(step, k) for step, k in seen if k not in ("step", "epoch")]
    assert seen and len(seen) == len(set(seen)), "a (step, metric) pair logged twice"


def test_finished_run_is_reported_not_run_again(tmp_path, feature_set, capsys):
    shards, labels = feature_set
    out = tmp_path / "run"
    f1 = train(compose_cfg("train", train_overrides(shards, labels, out)))
    last = out / "checkpoints" / "last.ckpt"

    # every file but the run's lock, which each start of train.py takes
    def stamps() -> dict:
        files = [p for p in out.rglob("*") if p.is_file() and p.name != ".lock"]
        return {p: p.stat().st_mtime_ns for p in files}

    files = stamps()
    capsys.readouterr()

    again = train(compose_cfg("train", train_overrides(shards, labels, out)))
    said = capsys.readouterr().out
    assert again == pytest.approx(f1)
    assert "run dev is finished (1 epochs, best checkpoint: " in said and "retest=true" in said
    assert str(out / "checkpoints" / "epoch=0-val_f1=") in said
    assert stamps() == files

    # retest: the best checkpoint is tested again, nothing is trained
    report = out / "test_episodes.json"
    retested = train(compose_cfg("train", train_overrides(shards, labels, out, "retest=true")))
    assert retested == pytest.approx(f1)
    assert report.stat().st_mtime_ns != files[report]
    assert last.stat().st_mtime_ns == files[last]
    assert_each_metric_once(out)


def test_resume_refuses_other_architecture(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out)))
    with pytest.raises(CheckpointMismatch, match="depth"):
        train(compose_cfg("train", train_overrides(shards, labels, out, "model.depth=2")))


def test_resume_refuses_other_encoder(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out)))
    real = {
        **TINY_IDENTITY,
        "model_name": "ViT-B-32",
        "pretrained": "openai",
        "random_weights": False,
    }
    other, other_labels = make_feature_set(tmp_path / "real", identity=real)
    with pytest.raises(CheckpointMismatch, match="mix encoders"):
        train(compose_cfg("train", train_overrides(other, other_labels, out)))


@pytest.mark.slow
def test_multirun_puts_jobs_in_own_folders_and_resumes(tmp_path):
    shards, labels = make_feature_set(tmp_path)
    args = [a for a in train_overrides(shards, labels, tmp_path) if not a.startswith("paths.")]
    args = [a for a in args if not a.startswith(("trainer.max_epochs", "model.depth"))]
    cmd = [
        sys.executable,
        "train.py",
        "-m",
        "run_name=grid",
        "trainer.max_epochs=1,2",
        "model.depth=1,2",
        f"hydra.sweep.dir={tmp_path}/sweep",
        *args,
    ]
    env = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    jobs = sorted(p.name for p in (tmp_path / "sweep").iterdir() if p.is_dir())
    assert len(jobs) == 4 and all(
        (tmp_path / "sweep" / j / "checkpoints" / "last.ckpt").is_file() for j in jobs
    )
    ckpts = {p: p.stat().st_mtime_ns for p in (tmp_path / "sweep").rglob("*.ckpt")}
    again = subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True, text=True)
    assert again.stdout.count("is finished") == 4  # every finished job exits at once
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "sweep").rglob("*.ckpt")} == ckpts


@pytest.mark.parametrize("damage", ["cut", "empty_folder"])
def test_a_damaged_last_checkpoint_resumes_from_the_newest_good_one(
    damage, tmp_path, feature_set, caplog
):
    """A folder in last.ckpt's place restarted the run from scratch, then failed its first
    save; a cut-short one is what a kill while it was written leaves."""
    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out)))
    folder = out / "checkpoints"
    good = [p for p in folder.glob("*.ckpt") if p.name != "last.ckpt"]
    assert good  # the best checkpoint of epoch 0
    last = folder / "last.ckpt"
    if damage == "cut":
        last.write_bytes(last.read_bytes()[:500])  # killed while it was written
        # and the temp file of a write killed before its rename (pid 2**22 + 1: none alive)
        (folder / f".last.ckpt.{2**22 + 1}.abc.tmp").write_bytes(b"half")
    else:
        last.unlink()
        last.mkdir()
    train(compose_cfg("train", train_overrides(shards, labels, out, "trainer.max_epochs=2")))
    assert f"resuming from {good[0]}, the newest checkpoint that reads" in caplog.text
    assert torch.load(last, weights_only=True)["epoch"] == 2  # trained on; last.ckpt whole again
    assert not list(folder.glob(".*.tmp"))


def test_an_old_run_s_checkpoint_names_still_resume(tmp_path, model_ckpt, caplog):
    """Runs before epoch=3-val_f1=0.952.ckpt named their best epoch003-f10.952.ckpt: a
    damaged last.ckpt resumes from the newest of either name."""
    from introdet.train import resolve_ckpt

    folder = tmp_path / "run" / "checkpoints"
    folder.mkdir(parents=True)
    data = model_ckpt.read_bytes()
    for age, name in enumerate(["epoch=0-val_f1=0.500.ckpt", "epoch003-f10.952.ckpt"]):
        (folder / name).write_bytes(data)
        os.utime(folder / name, (1_000_000 + age, 1_000_000 + age))
    (folder / "last.ckpt").write_bytes(data[:500])
    found = resolve_ckpt("last", tmp_path / "run")
    assert found is not None and found.path.name == "epoch003-f10.952.ckpt"
    assert "the newest checkpoint that reads" in caplog.text


def test_a_folder_with_files_in_last_checkpoints_place_is_refused(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out)))
    last = out / "checkpoints" / "last.ckpt"
    last.unlink()
    last.mkdir()
    (last / "notes.txt").write_text("mine")
    with pytest.raises(CheckpointError, match="a folder holding files sits where"):
        train(compose_cfg("train", train_overrides(shards, labels, out, "trainer.max_epochs=2")))
    assert (last / "notes.txt").read_text() == "mine"  # not the run's to remove


@pytest.mark.parametrize("rows", ["{}", '{"nobody_s01e01": {"start": 1, "end": 5}}'])
def test_labels_that_leave_no_episode_are_one_line_naming_the_file(rows, tmp_path, feature_set,
                                                                   capfd):  # fmt: skip
    """Was a ValueError traceback from the data module's setup."""
    from introdet.train import main
    from tests.commands import run_command

    shards, _ = feature_set
    labels = tmp_path / "labels.json"
    labels.write_text(rows)
    overrides = train_overrides(shards, labels, tmp_path / "run", "test_after_fit=false")
    assert run_command(main, *overrides) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {labels}: no training episode left"), err


@pytest.mark.parametrize(
    "bad, says",
    [
        ("data.stride=-1", "data.stride must be a whole number >= 1"),
        ("data.max_seconds=0", "data.max_seconds must be a number in \\(0, 86400\\] or null"),
        ("data.max_seconds=-5", "data.max_seconds must be a number in \\(0, 86400\\] or null"),
        ("data.max_seconds=inf", "data.max_seconds must be a number in"),
        ("data.val_fraction=1.5", "data.val_fraction must be a number in \\[0, 1\\)"),
        ("data.batch_size=0", "data.batch_size must be a whole number >= 1"),
        ("data.window=2.5", "data.window must be a whole number >= 1, got 2.5"),
        ("data.window=abc", "data.window must be a whole number >= 1, got 'abc'"),
        ("data.random_offset=maybe", "data.random_offset must be true or false"),
        ("model.depth=0", "model.depth must be a whole number >= 1"),
        ("model.lr=-1", "model.lr must be a number in \\(0, 1\\]"),
        ("model.lr=abc", "model.lr must be a number in"),
        ("model.dropout=nan", "model.dropout must be a number in"),
        ("model.heads=3", "model.heads must be a divisor of d_model"),
        ("data.recurrence=sound", "data.recurrence must be one of"),
        ("trainer.max_epochs=-2", "trainer.max_epochs must be a whole number >= -1"),
        ("trainer.max_epochs=abc", "trainer.max_epochs must be a whole number"),
        ("trainer.gradient_clip_val=-1", "trainer.gradient_clip_val must be a number >= 0 or null"),
        ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps must be a whole number >= 1"),
        ("callbacks.checkpoint_steps.every_n_train_steps=-1", "every_n_train_steps must be a"),
        ("seed=abc", "seed must be a whole number"),
        ("objective=val/bogus", "objective must be 'val/f1' or"),
    ],
)
def test_a_bad_value_is_one_line_naming_its_key(tmp_path, feature_set, bad, says):
    from hydra.errors import InstantiationException

    from introdet.errors import ConfigError

    shards, labels = feature_set
    cfg = compose_cfg("train", train_overrides(shards, labels, tmp_path / "run", bad))
    with pytest.raises((ConfigError, InstantiationException)) as caught:
        train(cfg)
    error = (
        caught.value.__cause__ if isinstance(caught.value, InstantiationException) else caught.value
    )
    assert isinstance(error, ConfigError) and re.search(says, str(error))
    assert not (tmp_path / "run" / "checkpoints").exists()  # stopped before any training


def test_a_second_training_of_one_run_stops_at_once(tmp_path, feature_set):
    """Two trainings writing one run folder mixed their metrics.csv (a traceback) and raced for
    last.ckpt: the second now stops with one line naming the folder and the first's pid."""
    from introdet.atomic import folder_lock
    from introdet.errors import FolderInUse

    shards, labels = feature_set
    out = tmp_path / "run"
    cfg = compose_cfg("train", train_overrides(shards, labels, out))
    with folder_lock(out, "training"), pytest.raises(FolderInUse, match=f"pid {os.getpid()}"):
        train(cfg)
    assert not (out / "checkpoints").exists()
    train(cfg)  # the lock went with its holder
    assert (out / "checkpoints" / "last.ckpt").is_file()


def test_a_run_says_what_matters_and_its_log_keeps_the_results(tmp_path, feature_set):
    """No advertisement, no warning from inside Lightning, no bar in a pipe, not on a resume
    either; train.log ends with the results table the run printed."""
    shards, labels = feature_set
    out = tmp_path / "run"
    args = [a for a in train_overrides(shards, labels, out) if "progress_bar" not in a]
    args += [f"hydra.run.dir={out}"]
    said = []
    for more in ([], ["trainer.max_epochs=2"]):  # a new run, then the same run resumed
        done = subprocess.run([sys.executable, str(ROOT / "train.py"), *args, *more],
                              capture_output=True, text=True, cwd=tmp_path,
                              env=os.environ | {"HF_HUB_OFFLINE": "1"})  # fmt: skip
        assert done.returncode == 0, done.stderr[-2000:]
        said.append(done.stdout + done.stderr)
    for text in said:
        for noise in ("litlogger", "LeafSpec", "`weights_only` was not set", "is not empty", "━"):
            assert noise not in text, noise
    table = format_metrics({"val/f1": 0.0}).splitlines()[0]  # the table's header
    log = (out / "train.log").read_text()
    assert table in log and "best checkpoint:" in log
