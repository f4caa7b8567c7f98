"""scripts/ops/health_check.sh and scripts/ops/rollback.sh, run as an operator would."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import sysconfig
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import KILL_CODE, PASSWORD, start_titan, titan_env, wait_http
from titan.ops.backup import backup_database

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "scripts" / "ops" / "health_check.sh"
pytestmark = pytest.mark.e2e


def _run(cmd: list[str], env: dict[str, str], cwd: Path = ROOT,
         timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def _health_env(data: Path, port: int) -> dict[str, str]:
    env = titan_env(data, port)
    env["TITAN_URL"] = f"http://127.0.0.1:{port}"
    return env


def test_health_check_running_then_stopped(tmp_path: Path, free_port: int) -> None:
    data = tmp_path / "data"
    env = _health_env(data, free_port)
    proc = start_titan(["run"], titan_env(data, free_port), tmp_path / "titan.log")
    try:
        assert wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc) == 200
        res = _run(["bash", str(HEALTH)], env)
        assert res.returncode == 1, res.stdout  # no backup yet
        assert "FAIL  backup: no " in res.stdout and res.stdout.rstrip().endswith(
            "UNHEALTHY (1 check(s) failed)")
        backup_database(data / "titan.db", data / "backups", keep=14)
        res = _run(["bash", str(HEALTH)], env)
        assert res.returncode == 0, res.stdout
        lines = res.stdout.splitlines()
        assert lines[0].startswith("OK    app: healthy")
        assert any(line.startswith("OK    database:") for line in lines)
        assert any(line.startswith("OK    backup:") for line in lines)
        assert lines[-1] == "HEALTHY"
        # a backup older than 26 h is unhealthy
        latest = data / "backups" / "latest.db"
        old = time.time() - 27 * 3600
        os.utime(latest, (old, old))
        res = _run(["bash", str(HEALTH)], env)
        assert res.returncode == 1 and "FAIL  backup:" in res.stdout and "27h old" in res.stdout
        os.utime(latest, None)
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    res = _run(["bash", str(HEALTH)], env)  # stopped
    assert res.returncode == 1
    assert "FAIL  app: no answer" in res.stdout and "OK    database:" in res.stdout
    # a corrupt database file
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\xff" * 8000)
    res = _run(["bash", str(HEALTH)], {**env, "TITAN_DB_PATH": str(bad)})
    assert res.returncode == 1 and "FAIL  database:" in res.stdout


# --- rollback ----------------------------------------------------------------------------

GIT = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid",
       "-c", "advice.detachedHead=false"]


def _git(clone: Path, *args: str) -> str:
    return subprocess.run([*GIT, *args], cwd=clone, capture_output=True, text=True,
                          check=True, timeout=60).stdout.strip()


@pytest.fixture
def deployment(tmp_path: Path, free_port: int) -> Iterator[tuple[Path, dict[str, str]]]:
    """A clone of the repo with release tag v9.9.9 and one newer commit, running under
    its own pm2 from a virtual environment that reuses this one's packages."""
    clone = tmp_path / "titan"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True, timeout=60,
                   capture_output=True)
    for rel in ("scripts/ops/rollback.sh", "scripts/lib/env.sh", "ecosystem.config.js"):
        (clone / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / rel, clone / rel)
    _git(clone, "add", "-A")
    _git(clone, "commit", "-q", "--allow-empty", "-m", "release")
    _git(clone, "tag", "v9.9.9")
    (clone / "NEWER").write_text("a later change\n")
    _git(clone, "add", "NEWER")
    _git(clone, "commit", "-q", "-m", "newer")

    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "titan-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    titan = venv / "bin" / "titan"
    titan.write_text(f"#!/bin/sh\nexec {venv}/bin/python -m titan \"$@\"\n")
    titan.chmod(0o755)
    stamp = hashlib.sha256((clone / "pyproject.toml").read_bytes()).hexdigest()[:16]
    (venv / ".titan-installed").write_text(stamp + "\n")

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TITAN_", "PM2_"))}
    env.update({"PM2_HOME": str(tmp_path / "pm2"), "TITAN_VENV": str(venv),
                "PYTHONPATH": str(clone), "TITAN_DATA_DIR": str(tmp_path / "data"),
                "TITAN_PORT": str(free_port), "TITAN_URL": f"http://127.0.0.1:{free_port}",
                "TITAN_CONSOLE_PASSWORD": PASSWORD, "TITAN_KILL_CODE": KILL_CODE,
                "TITAN_PM2_LOG_DIR": str(tmp_path / "logs"), "HEALTH_TIMEOUT_S": "60"})
    try:
        res = _run(["pm2", "start", "ecosystem.config.js"], env, cwd=clone)
        assert res.returncode == 0, res.stderr
        assert wait_http(f"http://127.0.0.1:{free_port}/health", timeout=60) == 200
        yield clone, env
    finally:
        _run(["pm2", "kill"], env, cwd=clone)


def _pid(env: dict[str, str], clone: Path) -> int:
    procs = json.loads(_run(["pm2", "jlist"], env, cwd=clone).stdout or "[]")
    return int(next(p["pid"] for p in procs if p["name"] == "titan-core"))


def test_rollback(deployment: tuple[Path, dict[str, str]]) -> None:
    clone, env = deployment
    script = ["bash", str(clone / "scripts" / "ops" / "rollback.sh")]
    head = _git(clone, "rev-parse", "HEAD")
    tag = _git(clone, "rev-parse", "v9.9.9^{commit}")
    pid = _pid(env, clone)

    # --dry-run changes nothing
    res = _run([*script, "v9.9.9", "--dry-run"], env, cwd=clone)
    assert res.returncode == 0, res.stderr
    assert "[dry-run] git checkout --quiet v9.9.9" in res.stdout
    assert "nothing was changed" in res.stdout
    assert _git(clone, "rev-parse", "HEAD") == head and _pid(env, clone) == pid

    # an unknown version is refused
    res = _run([*script, "v0.0.0-nope"], env, cwd=clone)
    assert res.returncode == 2 and "version v0.0.0-nope not found" in res.stderr

    # a dirty working tree is refused
    (clone / "README.md").write_text("local edit\n")
    res = _run([*script, "v9.9.9"], env, cwd=clone)
    assert res.returncode == 2 and "uncommitted changes" in res.stderr
    _git(clone, "checkout", "--", "README.md")

    # the halt fails (wrong credentials here; the same for a missing endpoint): stop, say so
    res = _run([*script, "v9.9.9"], {**env, "TITAN_CONSOLE_PASSWORD": "wrong"}, cwd=clone)
    assert res.returncode == 3, res.stdout + res.stderr
    assert "could not halt trading (HTTP 401" in res.stderr and "--skip-halt" in res.stderr
    assert _git(clone, "rev-parse", "HEAD") == head and _pid(env, clone) == pid

    # with the right password: halts if the endpoint exists, else stops with the reason
    res = _run([*script, "v9.9.9"], env, cwd=clone)
    if res.returncode == 3:
        assert "could not halt trading (HTTP 404" in res.stderr
        assert _git(clone, "rev-parse", "HEAD") == head
        res = _run([*script, "v9.9.9", "--skip-halt"], env, cwd=clone)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _git(clone, "rev-parse", "HEAD") == tag
    assert "rollback to v9.9.9 done" in res.stdout
    assert _pid(env, clone) != pid  # restarted under pm2
    assert not (clone / "NEWER").exists()

    # no argument: re-deploy the current version
    pid = _pid(env, clone)
    res = _run([*script, "--skip-halt"], env, cwd=clone)
    assert res.returncode == 0, res.stdout + res.stderr
    assert _git(clone, "rev-parse", "HEAD") == tag and _pid(env, clone) != pid
