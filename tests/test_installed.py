"""introdet as users install it: a wheel (``pip install .``, not ``-e``) in a fresh venv, run
from a folder outside the checkout; and an editable install, which reads the checkout's conf/.

The builds run on a copy of the checkout (its top-level files and the folders the packages come
from): setuptools writes ``build/`` and ``*.egg-info`` beside the sources, and neither may land
in the checkout, nor may two runs share them. The venvs see the running interpreter's packages
(torch, ...) through a .pth line, so nothing is downloaded: a folder a .pth line adds is on
sys.path, but its own .pth files (the checkout's editable finder among them) are not run, so
introdet comes only from what was installed into the venv. pip installs into them as
``pip --python VENV_PYTHON``: the same pip, without copying pip into each venv.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import introdet
from introdet.demo.make_library import make_library
from introdet.outputs.export import read_record
from tests.commands import output

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: tomli (a dependency of pytest there)
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SETUPTOOLS = PYPROJECT["tool"]["setuptools"]
SCRIPTS = sorted(PYPROJECT["project"]["scripts"])
SEASON = ("northwind_s01e01", "northwind_s01e02")  # the tiny library's pair sharing an intro


def test_pyproject_lists_every_package_of_introdet():
    """The packages are listed (conf/ maps to introdet.conf, which discovery cannot do): a new
    folder of introdet/ with an __init__.py must be listed too, or the wheel leaves it out."""
    found = {
        ".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "introdet").rglob("__init__.py")
    }
    listed = set(SETUPTOOLS["packages"])
    assert found - listed == set(), "add them to [tool.setuptools] packages in pyproject.toml"
    assert listed - found == {"introdet.conf"}, "listed in pyproject.toml, absent from introdet/"
    assert SETUPTOOLS["package-dir"] == {"introdet.conf": "conf"}


def test_from_the_checkout_hydra_reads_the_checkouts_own_conf():
    """Run from the checkout (or an editable install of it), an edit to conf/ counts at once."""
    assert Path(introdet.__file__).resolve().parent == ROOT / "introdet"
    assert Path(introdet.CONF_DIR) == ROOT / "conf"


def _env() -> dict[str, str]:
    """The environment of every command here: nothing that would put the checkout (or a user's
    own site-packages) on the venv's path, and offline."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", WANDB_MODE="disabled", PYTHONNOUSERSITE="1")
    return env


def _run(cmd: list, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(c) for c in cmd],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _ok(r: subprocess.CompletedProcess) -> str:
    assert r.returncode == 0, (
        f"exit {r.returncode}: {r.args}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    )
    return r.stdout


def _source_copy(dst: Path) -> Path:
    """The checkout's top-level files and the folders its packages come from (introdet/,
    conf/), without caches or build leftovers."""
    dst.mkdir(parents=True)
    for path in ROOT.iterdir():
        if path.is_file():
            shutil.copy2(path, dst / path.name)
    roots = {SETUPTOOLS["package-dir"].get(p, p.replace(".", "/")) for p in SETUPTOOLS["packages"]}
    for name in sorted({r.split("/")[0] for r in roots}):
        ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
        shutil.copytree(ROOT / name, dst / name, ignore=ignore)
    return dst


def _venv(path: Path) -> tuple[Path, Path, Path]:
    """A fresh venv (no pip) that sees the running interpreter's packages through a .pth file:
    (its python, its site-packages, its scripts folder)."""
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", path], cwd=path.parent))
    python = path / "bin" / "python"
    code = "import json, sysconfig; print(json.dumps(sysconfig.get_paths()))"
    paths = json.loads(_ok(_run([python, "-c", code], cwd=path.parent)))
    site = Path(paths["purelib"])
    ours = sysconfig.get_paths()
    deps = dict.fromkeys([ours["purelib"], ours["platlib"]])  # torch, hydra, ... (once each)
    (site / "introdet-test-deps.pth").write_text("".join(f"{p}\n" for p in deps))
    return python, site, Path(paths["scripts"])


def _pip(python: Path, *args) -> list:
    return [sys.executable, "-m", "pip", "--python", python, "--disable-pip-version-check", *args]


def _where(python: Path, cwd: Path) -> tuple[Path, Path]:
    """Where ``import introdet`` resolves in that interpreter, and its CONF_DIR."""
    code = "import introdet; print(introdet.__file__); print(introdet.CONF_DIR)"
    file, conf = _ok(_run([python, "-c", code], cwd=cwd)).splitlines()[-2:]
    return Path(file), Path(conf)


@pytest.mark.slow
def test_the_wheel_installed_in_a_fresh_venv_runs_every_command_outside_the_checkout(tmp_path):
    src = _source_copy(tmp_path / "src")
    build = ["wheel", "--no-deps", "--no-build-isolation", "--no-cache-dir", "-w", "wheels", src]
    _ok(_run([sys.executable, "-m", "pip", "--disable-pip-version-check", *build], cwd=tmp_path))
    (wheel,) = (tmp_path / "wheels").glob("introdet-*.whl")

    # every file of introdet/ (modules, the review app's static files, the record's schema)
    # and every Hydra config of conf/, as introdet/conf; nothing else at the top level
    names = set(zipfile.ZipFile(wheel).namelist())
    package = {
        p.relative_to(src).as_posix()
        for p in (src / "introdet").rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    conf = {f"introdet/{p.relative_to(src).as_posix()}" for p in (src / "conf").rglob("*.yaml")}
    assert "introdet/review/static/index.html" in package
    assert "introdet/outputs/record.schema.json" in package
    assert "introdet/conf/predict.yaml" in conf and "introdet/conf/trainer/cpu.yaml" in conf
    assert (package | conf) - names == set()
    version = PYPROJECT["project"]["version"]
    assert {n.split("/")[0] for n in names} == {"introdet", f"introdet-{version}.dist-info"}

    python, site, scripts = _venv(tmp_path / "venv")
    _ok(_run(_pip(python, "install", "--no-deps", "--no-index", wheel), cwd=tmp_path))
    file, conf_dir = _where(python, tmp_path)
    assert file == site / "introdet" / "__init__.py"  # not the checkout
    assert conf_dir == site / "introdet" / "conf"

    # from a folder outside the checkout: every console script's help (all at once, while the
    # library is written), then season mode over two episodes of a series
    work = tmp_path / "work"
    work.mkdir()
    pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
    helps = {
        name: subprocess.Popen([scripts / name, "--help"], cwd=work, env=_env(), **pipes)
        for name in SCRIPTS
    }
    try:
        truth = make_library(tmp_path / "library", seed=0, size="tiny")
        for name, proc in helps.items():
            out, err = proc.communicate(timeout=300)
            assert proc.returncode == 0, f"{name} --help: exit {proc.returncode}\n{out}\n{err}"
            assert "usage" in out.lower(), f"{name} --help printed no help:\n{out}"
            assert "Compose your configuration" not in out  # Hydra's generic page: conf lost
    finally:
        for proc in helps.values():
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    season = work / "videos" / "Northwind"
    season.mkdir(parents=True)
    for eid in SEASON:
        shutil.copy(tmp_path / "library" / truth["episodes"][eid]["path"], season)
    predict = [scripts / "introdet-predict", "input=videos", "out=intros", "progress=false"]
    _ok(_run(predict, cwd=work))
    for eid in SEASON:
        rec = read_record(output(work / "intros", eid))
        assert rec["mode"] == "season"
        intro = truth["episodes"][eid]["intro"]
        assert rec["intro"]["start"] == pytest.approx(intro["start"], abs=0.5), eid
        assert rec["intro"]["end"] == pytest.approx(intro["end"], abs=0.5), eid
    assert (work / "intros" / "intros.csv").is_file()


@pytest.mark.slow  # 4 s idle, 9 s on a busy 2-core machine: a pip install either way
def test_an_editable_install_reads_the_checkouts_conf_as_it_is_edited(tmp_path):
    """pip install -e: introdet and its conf/ stay where they are; an edit counts at once."""
    src = _source_copy(tmp_path / "src")
    python, _, scripts = _venv(tmp_path / "venv")
    install = ["install", "--no-deps", "--no-index", "--no-build-isolation", "-e", src]
    _ok(_run(_pip(python, *install), cwd=tmp_path))
    file, conf_dir = _where(python, tmp_path)
    assert file == src / "introdet" / "__init__.py"
    assert conf_dir == src / "conf"

    validate = src / "conf" / "validate.yaml"
    text = validate.read_text(encoding="utf-8")
    assert "check a labels file" in text
    validate.write_text(text.replace("check a labels file", "EDITED: check a labels file"))
    out = _ok(_run([scripts / "introdet-validate", "--help"], cwd=tmp_path))
    assert "introdet.validate: EDITED: check a labels file" in out  # no reinstall needed
