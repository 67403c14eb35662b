"""``device=``: auto picks what this machine has; a device it lacks stops the run at once."""

from __future__ import annotations

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
    cfg = compose_cfg(
        "predict", [f"input={tmp_path / 'missing'}", f"out={tmp_path}", "device=cuda"]
    )
    with pytest.raises(ConfigError, match="device=cuda: this machine has no CUDA device"):
        predict(cfg)  # not "no such file" for the input: the device is checked first
