"""Under CI=true a skip anywhere fails the run: proved on a throwaway pytest session that
uses this repository's conftest (a module-level skip, an importorskip, a skip in a test)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

CONFTEST = Path(__file__).resolve().parent / "conftest.py"
ROOT = CONFTEST.parents[1]

CASES = {
    "module_skip": "import pytest\npytest.skip('no browser', allow_module_level=True)\n"
                   "def test_a() -> None:\n    pass\n",
    "importorskip": "import pytest\npytest.importorskip('no_such_module_for_titan')\n"
                    "def test_a() -> None:\n    pass\n",
    "test_skip": "import pytest\ndef test_a() -> None:\n    pytest.skip('no keys')\n",
}


def _run(tmp_path: Path, body: str, ci: str, *args: str) -> subprocess.CompletedProcess[str]:
    shutil.copy(CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_case.py").write_text(body)
    env = {**os.environ, "CI": ci, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir",
         str(tmp_path), "-c", os.devnull, *args, str(tmp_path)],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=180)


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_skip_fails_under_ci(tmp_path: Path, case: str) -> None:
    res = _run(tmp_path, CASES[case], "true")
    assert res.returncode != 0, res.stdout + res.stderr
    assert "counts as a failure" in res.stdout, res.stdout


def test_the_same_skip_is_only_a_skip_outside_ci(tmp_path: Path) -> None:
    # The control: the throwaway session really does skip, so the failure above is the rule's.
    res = _run(tmp_path, CASES["module_skip"], "")
    # 5 is pytest's "no tests ran": the module skipped itself, and nothing failed.
    assert res.returncode in (0, 5), res.stdout + res.stderr
    assert "1 skipped" in res.stdout, res.stdout


def test_a_skip_fails_under_ci_on_xdist_workers(tmp_path: Path) -> None:
    # scripts/test runs the suite on pytest-xdist workers: the rule runs in each worker,
    # and its failures reach the controller's exit code. A module skip and a skip in a test.
    (tmp_path / "test_other.py").write_text(CASES["test_skip"])
    res = _run(tmp_path, CASES["module_skip"], "true", "-n", "2")
    assert res.returncode != 0, res.stdout + res.stderr
    assert "skipped at collection in CI, which counts as a failure" in res.stdout, res.stdout
    assert "skipped in CI, which counts as a failure" in res.stdout, res.stdout
