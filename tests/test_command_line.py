"""The command line as users type it: paths with any characters, one-line answers to typos and
bare arguments, a --help that prints at once, Ctrl-C while a command loads."""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from introdet.command_line import prepared, quoted
from introdet.errors import ConfigError
from introdet.scripts import COMMANDS, help_page
from tests.commands import run_command

ROOT = Path(__file__).resolve().parents[1]
ENV = os.environ | {"HF_HUB_OFFLINE": "1", "WANDB_MODE": "disabled"}

# the names Plex and Jellyfin recommend, and every character Hydra's grammar gives a meaning
NAMES = ["Harbor (2019)", "a=b", "a,b", "[x]", "{x}", "it's", 'say "hi"', "#1", "~tmp",
         "${oops}", "back\\slash", "trail\\", "two  spaces", "ünïcode", "x\\'y", "\\${x}",
         "\\\\${x}", "${oc.env:HOME}"]  # fmt: skip


def _composed(*args: str) -> dict:
    from introdet.predict import main as predict_main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert run_command(predict_main, "--cfg", "job", "--resolve", *args) == 0
    return yaml.safe_load(out.getvalue())


@pytest.mark.parametrize("name", NAMES)
def test_a_path_reaches_the_command_as_typed(name, tmp_path):
    folder = f"{tmp_path}/{name}"
    out = f"{tmp_path}/out" if "${" in name else f"{folder}/out"  # see the test below
    cfg = _composed(f"input={folder}", f"out={out}", f"ckpt={folder}/m.ckpt")
    assert (cfg["input"], cfg["out"], cfg["ckpt"]) == (folder, out, f"{folder}/m.ckpt")


@pytest.mark.parametrize("name", ["${x}", "\\${x}", "${oc.env:HOME}"])
def test_an_out_holding_a_variable_sign_is_one_line(name, tmp_path, capsys):
    """Hydra writes the log folder under out= back into its config and reads it again."""
    from introdet.predict import main as predict_main

    out = f"{tmp_path}/{name}/out"
    assert run_command(predict_main, f"input={tmp_path}", f"out={out}") == 2
    err = capsys.readouterr().err
    assert err.splitlines() == [f"error: out={out}: a folder whose path holds '${{' cannot hold "
                                "the run's logs (Hydra reads it as a variable): give another "
                                "folder"]  # fmt: skip


def test_lists_sweeps_and_quoted_values_are_left_to_hydra():
    assert quoted("only=[a,b]") == "only=[a,b]"
    assert quoted("input='/x (1)'") == "input='/x (1)'"
    assert quoted("formats=[json,edl]") == "formats=[json,edl]"  # not a path key
    assert quoted("input=/x (1)") == "input='/x (1)'"
    flags = ["-m", "--cfg", "job", "shard=0/2,1/2"]
    assert prepared(flags) == flags
    with pytest.raises(ConfigError, match=r"/tmp/x: settings are key=value .*input=/tmp/x"):
        prepared(["/tmp/x", "out=o"])


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["formts=[json]"], "error: unknown key 'formts' (did you mean 'formats'?)"),
        (["postprocess.treshold=0.3"],
         "error: unknown key 'postprocess.treshold' (did you mean 'postprocess.threshold'?)"),
        (["/tmp/x"], "error: /tmp/x: settings are key=value (a folder or a video: input=/tmp/x"),
        (["encoder=tinny"], "error: encoder=tinny: no such option (options: "),
    ],
)
def test_mistakes_get_one_line_of_ours(args, said, tmp_path, capsys):
    from introdet.predict import main as predict_main

    assert run_command(predict_main, *args, "input=/x", f"out={tmp_path}") == 2
    err = capsys.readouterr().err
    lines = [x for x in err.splitlines() if x.strip()]
    assert len(lines) == 1 and lines[0].startswith(said), err
    assert "Hydra" not in err and "struct" not in err


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_help_is_hydras_page_without_importing_the_command(name, capsys):
    """The console scripts print --help from the config alone: the same page Hydra prints,
    without torch (seconds to import, over a minute on a loaded machine)."""
    module, config_name = COMMANDS[name]
    code = ("import sys; sys.argv = ['x', '--help']; from introdet.scripts import launch; "
            f"launch({name!r}); print('torch' in sys.modules)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV)
    assert done.returncode == 0, done.stderr
    page, _, imported = done.stdout.rstrip().rpartition("\n")
    assert imported == "False"
    main = __import__(module, fromlist=["main"]).main
    assert run_command(main, "--help") == 0
    assert page.strip() == capsys.readouterr().out.strip() == help_page(config_name).strip()


def test_ctrl_c_while_a_command_loads_is_one_line():
    proc = subprocess.Popen([sys.executable, str(ROOT / "predict.py"), "input=/x", "out=/y"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV,
                            cwd=ROOT)  # fmt: skip
    time.sleep(0.4)  # importing torch takes seconds
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and err.strip() == "interrupted"


def test_logs_hold_the_summary_and_no_progress_bars(tmp_path):
    """Output that is not a terminal gets no progress lines; the log file ends with the same
    summary the command printed."""
    import numpy as np

    from introdet.demo.videofile import write_video

    for k in (1, 2):
        frames = [np.full((32, 32, 3), (k * 40 + i) % 256, np.uint8) for i in range(40)]
        write_video(tmp_path / "lib" / "Show" / f"show_s01e0{k}.mp4", frames, fps=10, audio=True)
    out = tmp_path / "out"
    done = subprocess.run([sys.executable, str(ROOT / "predict.py"), f"input={tmp_path / 'lib'}",
                           f"out={out}"], capture_output=True, text=True, env=ENV)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "%|" not in done.stderr and "it/s" not in done.stderr  # no tqdm bar in a pipe
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("predicted 2 episodes")
    log = (out / ".logs" / "predict" / "predict.log").read_text()
    assert summary in log and "fingerprinted 2" in log


def test_an_out_that_is_a_file_is_one_line_before_any_work(tmp_path, capsys):
    """#27: Hydra's traceback while it made out/.logs/predict, exit 1."""
    from introdet.predict import main as predict_main

    taken = tmp_path / "a file"
    taken.write_text("mine")
    assert run_command(predict_main, f"input={tmp_path}", f"out={taken}") == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.strip().splitlines() == [
        f"error: {taken}/.logs/predict: cannot be made (Not a directory): out= and the run "
        "folder must be folders that can be written"
    ]
    assert taken.read_text() == "mine"
