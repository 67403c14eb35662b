"""How the package depends on itself: the import-linter contracts (.importlinter), and the
size limits a reader can hold in mind (modules <= 450 lines, functions <= 60, the predict
command < 250)."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "introdet"


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_the_import_contracts_hold():
    """Layers (no stage imports a later one), no Lightning at prediction, no cycles."""
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    done = subprocess.run([lint, "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_modules_and_functions_stay_small(path):
    source = path.read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 450, f"{path}: over 450 lines"
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            length = node.end_lineno - node.lineno + 1
            assert length <= 60, f"{path}:{node.lineno} {node.name}: {length} lines"


def test_the_predict_command_reads_top_to_bottom():
    assert len((PACKAGE / "predict.py").read_text().splitlines()) < 250


def test_no_module_imports_a_private_name_of_another():
    found = []
    for path in _modules():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("introdet"):
                found += [f"{path.name}: {node.module}.{a.name}" for a in node.names
                          if a.name.startswith("_")]  # fmt: skip
    assert found == []
