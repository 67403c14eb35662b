"""``device=``: auto picks what this machine has; a device it lacks stops the run at once."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from introdet.device import resolve_device
from introdet.errors import ConfigError
from introdet.predict import predict
from tests.conftest import compose_cfg


def test_auto_takes_cuda_then_mps_then_cpu():
    mps = getattr(torch.backends, "mps", None)
    want = "cuda" if torch.cuda.is_available() else "mps" if mps and mps.is_available() else "cpu"
    assert resolve_device("auto") == want
    assert resolve_device("CPU") == "cpu"


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu"])
def test_unknown_devices_name_the_key(name):
    with pytest.raises(ConfigError, match="device="):
        resolve_device(name)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda_stops_predict_before_any_input_is_read(tmp_path):
    cfg = compose_cfg("predict", [f"input={tmp_path / 'missing'}", f"out={tmp_path}",
                                  "device=cuda", f"ckpt={tmp_path / 'missing.ckpt'}"])  # fmt: skip
    with pytest.raises(ConfigError, match="device=cuda: this machine has no CUDA device"):
        predict(cfg)  # not "no such file" for the input: the device is checked first


def test_season_mode_never_loads_torch(tmp_path):
    """No model runs in season mode: torch (1.5 s of start-up) is not imported at all."""
    import subprocess
    import sys

    from tests import badfiles

    for k in (1, 2):
        badfiles.good(tmp_path / "lib" / f"e{k}.mp4", seed=k)
    root = Path(__file__).resolve().parents[1]
    script = ("import runpy, sys; sys.argv = ['predict.py', *sys.argv[1:]]\n"
              "try:\n    runpy.run_path('predict.py', run_name='__main__')\n"
              "finally:\n    print('torch loaded:', 'torch' in sys.modules)")  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}
    run = subprocess.run([sys.executable, "-c", script, f"input={tmp_path / 'lib'}",
                          f"out={tmp_path / 'o'}", "progress=false"], capture_output=True,
                         text=True, cwd=root, timeout=300, env=env)  # fmt: skip
    assert "predicted 2 episodes (season mode)" in run.stdout, run.stdout + run.stderr
    assert "torch loaded: False" in run.stdout
