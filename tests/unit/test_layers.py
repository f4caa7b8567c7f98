"""The layer check (import-linter, contracts in pyproject.toml) holds on the tree and
fails the build on a wrong import: a copy of the package with one upward import added is
refused, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LINT = Path(sys.executable).with_name("lint-imports")


def _lint(tree: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run([str(LINT), "--config", str(tree / "pyproject.toml"), "--no-cache"],
                          cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("layers")
    shutil.copytree(ROOT / "titan", root / "titan",
                    ignore=shutil.ignore_patterns("node_modules", "__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_tree_keeps_every_contract(tree: Path) -> None:
    res = _lint(tree)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "0 broken" in res.stdout


@pytest.mark.parametrize(("module", "bad_import", "named"), [
    # The risk engine reaching up into the strategies (risk is below strategies).
    ("titan/risk/gate.py", "import titan.strategies.host", "titan.risk is not allowed to import"
                                                           " titan.strategies"),
    # The database layer reaching into the composition root.
    ("titan/store/db.py", "import titan.core", "titan.store is not allowed to import titan.core"),
    # Operations code importing the API (what ops/http.py used to do).
    ("titan/ops/backup.py", "import titan.api.keys", "titan.ops is not allowed to import"
                                                      " titan.api"),
])
def test_a_wrong_import_fails_the_check(tree: Path, module: str, bad_import: str,
                                        named: str) -> None:
    path = tree / module
    original = path.read_text()
    try:
        path.write_text(original + f"\n{bad_import}  # deliberately wrong\n")
        res = _lint(tree)
    finally:
        path.write_text(original)
    assert res.returncode != 0, res.stdout
    assert named in " ".join(res.stdout.split()), res.stdout
