"""Every config file composes, and what it builds is what its keys say."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hydra.utils import instantiate
from omegaconf import OmegaConf

from introdet.command_line import prepared
from tests.conftest import CONF, compose_cfg

EXPERIMENTS = sorted(p.stem for p in (CONF / "experiment").glob("*.yaml"))
SWEEPS = sorted(p.stem for p in (CONF / "sweep").glob("*.yaml"))
TRAINERS = sorted(p.stem for p in (CONF / "trainer").glob("*.yaml"))


def _base(tmp_path, feature_set):
    shards, labels = feature_set
    return [
        f"data.shard_dir={shards}",
        f"data.train_labels={labels}",
        f"paths.output_dir={tmp_path}",
    ]


@pytest.mark.parametrize("name", EXPERIMENTS)
def test_experiments_compose_and_instantiate(name, tmp_path, feature_set):
    cfg = compose_cfg("train", [f"experiment={name}", *_base(tmp_path, feature_set)])
    model = instantiate(cfg.model, _convert_="all")
    data = instantiate(cfg.data, _convert_="all")
    assert model.hparams.depth == cfg.model.depth and data.hparams.window == cfg.model.window
    assert cfg.run_name != "dev"  # an experiment names its run: its own folder


def test_paper_experiments_are_the_seed_setup(tmp_path, feature_set):
    for name, epochs in (("paper_20ep", 20), ("paper_40ep", 40)):
        cfg = compose_cfg("train", [f"experiment={name}", *_base(tmp_path, feature_set)])
        assert cfg.trainer.max_epochs == epochs and cfg.data.mode == "balanced"
        assert (cfg.data.window, cfg.data.stride, cfg.data.batch_size) == (60, 5, 8)
        assert (cfg.model.depth, cfg.model.heads, cfg.model.d_model, cfg.model.lr) == (
            16,
            16,
            512,
            5e-5,
        )


@pytest.mark.parametrize("name", SWEEPS)
def test_sweep_params_exist(name, tmp_path, feature_set):
    cfg = compose_cfg("train", [f"sweep={name}", *_base(tmp_path, feature_set)])
    assert cfg.hydra.mode.name == "MULTIRUN"
    for key in cfg.hydra.sweeper.params:
        assert OmegaConf.select(cfg, key) is not None, key


@pytest.mark.parametrize("name", TRAINERS)
def test_trainers_compose(name, tmp_path, feature_set):
    cfg = compose_cfg("train", [f"trainer={name}", *_base(tmp_path, feature_set)])
    assert cfg.trainer._target_ == "lightning.pytorch.Trainer"
    if name in ("cpu", "debug", "default"):
        instantiate(cfg.trainer, logger=False)


@pytest.mark.parametrize("logger", ["csv", "wandb"])
def test_loggers_build(logger, tmp_path, feature_set):
    from introdet.train import build_loggers, finish_wandb

    cfg = compose_cfg("train", [f"logger={logger}", *_base(tmp_path, feature_set)])
    (lg,) = build_loggers(cfg)
    assert type(lg).__name__.lower().startswith(logger)
    finish_wandb()


def test_callbacks_and_data_groups(tmp_path, feature_set):
    cfg = compose_cfg("train", ["data=balanced", "callbacks=none", *_base(tmp_path, feature_set)])
    assert cfg.data.mode == "balanced" and not cfg.callbacks
    cb = compose_cfg("train", _base(tmp_path, feature_set)).callbacks
    assert Path(cb.checkpoint.dirpath) == tmp_path / "checkpoints"


def _has_submitit() -> bool:
    try:
        return importlib.util.find_spec("hydra_plugins.hydra_submitit_launcher") is not None
    except ModuleNotFoundError:
        return False


@pytest.mark.skipif(
    not _has_submitit(), reason="extra 'sweep' (hydra-submitit-launcher) not installed"
)
@pytest.mark.parametrize("launcher", ["slurm", "gpu_isolated"])
def test_launchers_compose(launcher, tmp_path, feature_set):
    cfg = compose_cfg("train", [f"hydra/launcher={launcher}", *_base(tmp_path, feature_set)])
    assert "submitit" in cfg.hydra.launcher._target_
    # a library split by season over a cluster: predict.py -m shard=0/8,...,7/8
    cfg = compose_cfg("predict", [f"hydra/launcher={launcher}", "input=lib", f"out={tmp_path}",
                                  "shard=0/8"])  # fmt: skip
    assert "submitit" in cfg.hydra.launcher._target_ and cfg.shard == "0/8"


@pytest.mark.parametrize(
    ("module", "key"),
    [("introdet.train", "run_name"), ("introdet.predict", "ckpt"), ("introdet.extract", "out")],
)
def test_console_scripts_find_the_configs_from_anywhere(module, key, tmp_path):
    import subprocess
    import sys

    code = f"import sys; sys.argv = ['x', '--cfg', 'job']; from {module} import main; main()"
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"{key}:" in r.stdout


@pytest.mark.parametrize("debug", ["trainer=debug", "debug=default"])
def test_debug_budget_wins_over_experiments(debug, tmp_path, feature_set):
    for name in EXPERIMENTS:
        cfg = compose_cfg("train", [f"experiment={name}", debug, *_base(tmp_path, feature_set)])
        t = cfg.trainer
        assert (t.max_epochs, t.accelerator) == (1, "cpu"), name
        assert t.limit_train_batches == t.limit_val_batches == t.limit_test_batches == 2, name
    plain = compose_cfg("train", ["experiment=demo", *_base(tmp_path, feature_set)])
    assert plain.trainer.max_epochs == 24 and "limit_train_batches" not in plain.trainer


def test_train_help_lists_the_groups_and_keys():
    import subprocess
    import sys

    r = subprocess.run(
        [sys.executable, "train.py", "--help"],
        cwd=CONF.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
    )
    assert r.returncode == 0, r.stderr[-2000:]
    for word in ("experiment=", "sweep=", "debug=default", "retest", "run_name", "-m"):
        assert word in r.stdout, word


@pytest.mark.parametrize(
    "module",
    ["introdet.extract", "introdet.train", "introdet.predict", "introdet.evaluate",
     "introdet.validate", "introdet.export_onnx", "introdet.demo.run",
     "introdet.demo.make_library", "introdet.review"],
)  # fmt: skip
def test_every_command_runs_as_a_module_with_its_own_help(module, tmp_path):
    r = subprocess.run([sys.executable, "-m", module, "--help"], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Usage" in r.stdout or "usage" in r.stdout, r.stdout[:500]
    assert "Config groups" not in r.stdout and "== Config ==" not in r.stdout  # only its keys
    assert not list(tmp_path.iterdir())  # --help leaves nothing behind


def _encoder_choices() -> set[str]:
    """The options Hydra offers for encoder= (in its errors, and to a user's completion)."""
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra

    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        return set(GlobalHydra.instance().config_loader().get_group_options("encoder"))


def test_encoder_choices_are_encoders():
    """encoder= offered 'base' (the dataclass every encoder file extends) and 'checkpoint'
    (predict's default, the encoder a checkpoint records) beside the encoders."""
    assert _encoder_choices() == {"tiny", "vit_b32"}
    # predict still takes the checkpoint's encoder unless told otherwise
    assert compose_cfg("predict", ["input=x", "out=y"]).encoder.model_name is None
    assert compose_cfg("predict", ["input=x", "out=y", "encoder=tiny"]).encoder.model_name == (
        "introdet-tiny"
    )
    # what the encoder files extend still types them: a mistyped key is refused
    assert compose_cfg("extract", ["input=x", "out=y", "encoder=tiny"]).encoder.batch_size == 128
    with pytest.raises(Exception, match="encoder.bogus"):
        compose_cfg("extract", ["input=x", "out=y", "encoder.bogus=1"])
    predict = compose_cfg("predict", ["input=x", "out=y"])  # its default: the checkpoint's
    assert predict.encoder.model_name is None and predict.encoder.device == "auto"


def test_checkpoint_names_say_the_metric_and_pass_the_command_line(tmp_path, feature_set):
    """Were epoch003-f10.952.ckpt ("f10"?). Lightning's own {val/f1} would make a folder of
    "val"; the "=" of its names passes introdet's command line (quoted for Hydra)."""
    import torch
    from hydra.core.override_parser.overrides_parser import OverridesParser

    callback = instantiate(compose_cfg("train", _base(tmp_path, feature_set)).callbacks.checkpoint)
    path = Path(callback.format_checkpoint_name({"epoch": 3, "val/f1": torch.tensor(0.9521)}))
    assert path == tmp_path / "checkpoints" / "epoch=3-val_f1=0.952.ckpt"
    (arg,) = prepared([f"ckpt={path}"])  # predict's ckpt=, as the shell gives it
    parsed = OverridesParser.create().parse_override(arg)
    assert parsed.value() == str(path)
