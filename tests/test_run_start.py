"""A training's start and end as a newcomer meets them: trainer=auto on any machine, trainer=gpu
without a GPU, a run that fails at start-up, Ctrl-C, and the folder lock a run leaves."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import introdet.atomic
from introdet.atomic import LOCK_NAME, folder_lock
from introdet.errors import FolderInUse
from introdet.train import auto_precision, main, make_trainer, train
from introdet.training.interruption import Progress, interrupted
from tests.commands import run_command
from tests.conftest import compose_cfg, train_overrides

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "WANDB_MODE": "disabled", "HF_HUB_OFFLINE": "1"}


def _in_hydra_run_dir(overrides: list[str], run_dir: Path) -> list[str]:
    """The command line of a user's run: its folder is Hydra's run folder, which Hydra
    creates before the training code runs."""
    return [o for o in overrides if not o.startswith("paths.output_dir=")] + [
        f"hydra.run.dir={run_dir}"
    ]


# --- trainer=auto ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("cuda", "capability", "accelerator", "precision"),
    [
        (True, (8, 0), "auto", "bf16-mixed"),  # Ampere and newer: trainer=gpu's precision
        (True, (9, 0), "gpu", "bf16-mixed"),
        (True, (7, 5), "auto", "32-true"),  # no native bf16
        (True, (8, 0), "cpu", "32-true"),  # debug=default puts an auto trainer on the CPU
        (False, None, "auto", "32-true"),
    ],
)
def test_auto_precision_is_bf16_only_on_a_gpu_that_has_it(
    monkeypatch, cuda, capability, accelerator, precision
):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: capability)
    assert auto_precision(accelerator) == precision


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the machine without a GPU")
def test_trainer_auto_trains_on_the_cpu_of_a_machine_without_gpu(tmp_path, feature_set):
    shards, labels = feature_set
    cfg = compose_cfg("train", train_overrides(shards, labels, tmp_path / "run", "trainer=auto"))
    assert (cfg.trainer.accelerator, cfg.trainer.precision) == ("auto", "auto")
    trainer = make_trainer(cfg.trainer, logger=False)
    assert type(trainer.accelerator).__name__ == "CPUAccelerator"
    assert trainer.precision == "32-true"


# --- trainer=gpu without a GPU, and start-up failures ------------------------------------


def test_trainer_gpu_without_a_gpu_is_one_line_and_leaves_no_folder(
    tmp_path, feature_set, monkeypatch, capfd
):
    """Was "No supported gpu backend found!" after "starting a new run", and the run's
    folder (.hydra, train.log, .lock) left behind."""
    from lightning.pytorch.accelerators import CUDAAccelerator, MPSAccelerator

    for kind in (CUDAAccelerator, MPSAccelerator):  # this machine, seen as one without a GPU
        monkeypatch.setattr(kind, "is_available", staticmethod(lambda: False))
    shards, labels = feature_set
    run_dir = tmp_path / "runs" / "mine"
    args = _in_hydra_run_dir(train_overrides(shards, labels, tmp_path, "trainer=gpu"), run_dir)
    assert run_command(main, *args) == 2
    captured = capfd.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: trainer.accelerator=gpu: this machine"), err
    assert "trainer=auto" in err[0] and "starting a new run" not in captured.out + captured.err
    assert not run_dir.exists()


def test_a_run_that_fails_at_start_up_takes_its_new_folder_away(tmp_path, feature_set, capfd):
    shards, _ = feature_set
    labels = tmp_path / "labels.json"
    labels.write_text("{}")  # no training episode: the data module refuses it
    run_dir = tmp_path / "runs" / "new"
    args = _in_hydra_run_dir(train_overrides(shards, labels, tmp_path), run_dir)
    assert run_command(main, *args) == 2
    assert "no training episode left" in capfd.readouterr().err
    assert not run_dir.exists()


def test_a_failed_start_keeps_an_earlier_run_s_folder(tmp_path, feature_set, capfd):
    shards, _ = feature_set
    labels = tmp_path / "labels.json"
    labels.write_text("{}")
    earlier = tmp_path / "runs" / "earlier"  # an earlier run's, with no checkpoint in it
    earlier.mkdir(parents=True)
    (earlier / "notes.txt").write_text("mine")
    args = _in_hydra_run_dir(train_overrides(shards, labels, tmp_path), earlier)
    assert run_command(main, *args) == 2
    assert (earlier / "notes.txt").read_text() == "mine"
    assert not (earlier / LOCK_NAME).exists()
    capfd.readouterr()


def test_a_failed_start_keeps_a_folder_with_checkpoints(tmp_path, feature_set, capfd):
    """A resumed run that stops at start-up (here: another model shape) keeps everything."""
    shards, labels = feature_set
    run_dir = tmp_path / "runs" / "trained"
    args = _in_hydra_run_dir(train_overrides(shards, labels, tmp_path), run_dir)
    assert run_command(main, *args) == 0
    before = sorted(p.name for p in (run_dir / "checkpoints").iterdir())
    assert run_command(main, *args, "model.depth=2") == 2
    assert "model shape differs" in capfd.readouterr().err
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == before


def test_a_bad_value_in_a_direct_call_creates_no_folder(tmp_path, feature_set):
    from introdet.errors import ConfigError

    shards, labels = feature_set
    out = tmp_path / "run"
    with pytest.raises(ConfigError, match="seed"):
        train(compose_cfg("train", train_overrides(shards, labels, out, "seed=-1")))
    assert not out.exists()


# --- the folder lock ---------------------------------------------------------------------


def test_a_finished_run_leaves_no_lock_file(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out, "test_after_fit=false")))
    assert (out / "checkpoints" / "last.ckpt").is_file()
    assert not (out / LOCK_NAME).exists()


def test_the_lock_file_goes_when_its_job_ends_even_on_an_error(tmp_path):
    with pytest.raises(RuntimeError), folder_lock(tmp_path, "training"):
        assert (tmp_path / LOCK_NAME).read_text() == str(os.getpid())
        raise RuntimeError("boom")
    assert not (tmp_path / LOCK_NAME).exists()
    with folder_lock(tmp_path, "training"):  # and the folder can be locked again
        pass


def test_a_job_that_opened_the_lock_file_as_its_holder_ended_does_not_share_the_folder(
    tmp_path, monkeypatch
):
    """The lock file is removed when its job ends: a job B that opened the file just before
    that, and locks it just after, holds a lock on a file no longer in the folder; it must
    take the one there now, or a job C would lock a new file beside B's and both would run."""
    first = folder_lock(tmp_path, "training")
    first.__enter__()
    real_open = open
    calls = []

    def open_as_first_ends(path, *args, **kwargs):
        handle = real_open(path, *args, **kwargs)
        calls.append(path)
        if len(calls) == 1:  # B has the file open: the first job ends now
            first.__exit__(None, None, None)
        return handle

    monkeypatch.setattr(introdet.atomic, "open", open_as_first_ends, raising=False)
    with folder_lock(tmp_path, "training"):  # B
        monkeypatch.setattr(introdet.atomic, "open", real_open, raising=False)
        assert (tmp_path / LOCK_NAME).read_text() == str(os.getpid())
        with pytest.raises(FolderInUse), folder_lock(tmp_path, "training"):  # C
            pass
    assert len(calls) == 2  # B tried again on the file in the folder


# --- Ctrl-C ------------------------------------------------------------------------------


def _interrupted_training(tmp_path: Path, feature_set, *extra: str) -> subprocess.CompletedProcess:
    """python train.py on tiny shards, sent SIGINT (what Ctrl+C sends) at step 5 of 3 epochs
    of 7 steps, with last.ckpt every 2 steps."""
    shards, labels = feature_set
    args = train_overrides(shards, labels, tmp_path / "run", "trainer.max_epochs=3", *extra)
    cmd = [sys.executable, "train.py", *args, "callbacks.checkpoint_steps.every_n_train_steps=2",
           "+callbacks.sigint._target_=tests.interrupt.SigintAt", "+callbacks.sigint.step=5",
           f"hydra.run.dir={tmp_path / 'hydra'}"]  # fmt: skip
    return subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300)


def test_ctrl_c_in_training_says_how_the_run_goes_on(tmp_path, feature_set, caplog):
    """Was Lightning's "Detected KeyboardInterrupt, attempting graceful shutdown ..." and exit
    code 1, with no word about resuming."""
    caplog.set_level(logging.INFO, logger="introdet")
    r = _interrupted_training(tmp_path, feature_set)
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert r.returncode == 130, r.stderr[-3000:]
    lines = (r.stdout + r.stderr).splitlines()
    assert f"interrupted: the same command resumes from {last}" in lines, r.stderr[-3000:]
    assert "Traceback" not in r.stderr and "Detected KeyboardInterrupt" not in r.stderr
    assert signal.SIGINT.value == 2  # the exit code is 128 + SIGINT, as shells report it
    assert torch.load(last, weights_only=True)["global_step"] == 4  # saved at step 4
    assert not (tmp_path / "run" / LOCK_NAME).exists()

    shards, labels = feature_set
    out = tmp_path / "run"
    train(compose_cfg("train", train_overrides(shards, labels, out, "trainer.max_epochs=3")))
    assert f"resuming from {last}" in caplog.text
    assert torch.load(last, weights_only=True)["epoch"] == 3


def test_the_interrupted_line_for_each_stage(tmp_path, feature_set):
    shards, labels = feature_set
    out = tmp_path / "run"
    cfg = compose_cfg("train", train_overrides(shards, labels, out))
    assert interrupted(cfg, Progress("fit")) == (
        "interrupted: no checkpoint yet, the same command starts the run over"
    )
    (out / "checkpoints").mkdir(parents=True)
    (out / "checkpoints" / "last.ckpt").write_bytes(b"x")
    last = out / "checkpoints" / "last.ckpt"
    assert interrupted(cfg, Progress("fit")) == f"interrupted: the same command resumes from {last}"
    other = compose_cfg("train", train_overrides(shards, labels, out, "ckpt_path=null"))
    assert interrupted(other, Progress("fit")) == f"interrupted: ckpt_path=last resumes from {last}"
    assert "retest=true" in interrupted(cfg, Progress("test"))
