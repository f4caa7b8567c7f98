"""PM2 runs Titan as the manual shows: start, restart (state kept), logs, stop (graceful),
and the manual's restore (`pm2 stop all; cp latest.db titan.db; pm2 start all`).

Real pm2 with its own PM2_HOME in a temporary folder; `pm2 kill` at the end.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import PASSWORD, wait_http
from titan.ops.backup import integrity_check

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.e2e


class Pm2:
    def __init__(self, home: Path, env: dict[str, str], cwd: Path = ROOT) -> None:
        self.env = {**env, "PM2_HOME": str(home)}
        self.cwd = cwd

    def __call__(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        pm2 = shutil.which("pm2")
        assert pm2, "pm2 is not installed (scripts/test installs it)"
        return subprocess.run([pm2, *args], env=self.env, cwd=self.cwd, capture_output=True,
                              stdin=subprocess.DEVNULL,
                              text=True, timeout=timeout)

    def status(self, name: str = "titan-core") -> dict[str, object]:
        res = self("jlist")
        for proc in json.loads(res.stdout or "[]"):
            if proc["name"] == name:
                env = proc["pm2_env"]
                return {"status": env["status"], "pid": proc["pid"],
                        "restarts": env.get("restart_time", 0)}
        return {}


def pm2_env(data: Path, port: int, logs: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TITAN_", "PM2_"))}
    env.update({"TITAN_DATA_DIR": str(data), "TITAN_PORT": str(port),
                "TITAN_CONSOLE_PASSWORD": PASSWORD, "TITAN_KILL_CODE": "424242",
                "TITAN_PM2_LOG_DIR": str(logs)})
    return env


@pytest.fixture
def pm2(tmp_path: Path, free_port: int) -> Iterator[Pm2]:
    runner = Pm2(tmp_path / "pm2home", pm2_env(tmp_path / "data", free_port, tmp_path / "logs"))
    try:
        yield runner
    finally:
        runner("kill", timeout=60)


def _started_count(db: Path) -> int:
    con = sqlite3.connect(db)
    try:
        return int(con.execute(
            "SELECT count(*) FROM events WHERE name='SYSTEM_STARTED'").fetchone()[0])
    finally:
        con.close()


def _wait_rows(db: Path, n: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    got = 0
    while time.monotonic() < deadline:
        got = _started_count(db)
        if got >= n:
            return got
        time.sleep(0.1)
    return got


def _wait_status(pm2: Pm2, want: str, timeout: float = 30) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    st: dict[str, object] = {}
    while time.monotonic() < deadline:
        st = pm2.status()
        if st.get("status") == want:
            return st
        time.sleep(0.2)
    raise AssertionError(f"titan-core did not reach {want}: {st}")


def test_ecosystem_settings(tmp_path: Path) -> None:
    script = ("const a = require(process.argv[1]).apps[0]; console.log(JSON.stringify(a));")
    env = {k: v for k, v in os.environ.items() if not k.startswith("TITAN_")}
    env["TITAN_PM2_LOG_DIR"] = str(tmp_path / "logs")
    node = shutil.which("node")
    assert node
    app = json.loads(subprocess.run([node, "-e", script, str(ROOT / "ecosystem.config.js")],
                                    env=env, capture_output=True, text=True, check=True,
                                    timeout=30).stdout)
    assert app["name"] == "titan-core" and app["args"] == "run"
    assert app["interpreter"] == "none" and app["script"] == str(ROOT / ".venv/bin/titan")
    assert app["cwd"] == str(ROOT) and app["env"]["TITAN_DATA_DIR"] == "/data"
    assert app["env"]["TITAN_TRUSTED_PROXIES"] == "127.0.0.1"  # nginx/titan.conf fronts it
    assert app["kill_timeout"] >= 15000 and app["autorestart"] is True
    assert app["max_memory_restart"] == "500M" and app["instances"] == 1
    assert app["out_file"].startswith(str(tmp_path))


def test_pm2_start_restart_logs_stop(pm2: Pm2, tmp_path: Path, free_port: int) -> None:
    health = f"http://127.0.0.1:{free_port}/health"
    db = tmp_path / "data" / "titan.db"
    res = pm2("start", "ecosystem.config.js")
    assert res.returncode == 0, res.stdout + res.stderr
    assert wait_http(health, timeout=60) == 200
    first = _wait_status(pm2, "online")
    assert _wait_rows(db, 1) == 1

    res = pm2("restart", "titan-core")
    assert res.returncode == 0, res.stderr
    assert wait_http(health, timeout=60) == 200
    second = _wait_status(pm2, "online")
    assert second["pid"] != first["pid"]
    assert _wait_rows(db, 2) == 2  # the rows of the first run are still there

    logs = pm2("logs", "titan-core", "--lines", "100", "--nostream")
    assert logs.returncode == 0
    assert "SYSTEM_STARTED" in logs.stdout + logs.stderr
    assert "SYSTEM_STOPPED" in logs.stdout + logs.stderr  # the restart stopped gracefully

    st = pm2("status")
    assert "titan-core" in st.stdout and "online" in st.stdout

    # the manual's restore, as printed: pm2 stop all; cp latest.db titan.db; pm2 start all
    titan = ROOT / ".venv" / "bin" / "titan"
    res = subprocess.run([str(titan), "backup"], env=pm2.env, capture_output=True, text=True,
                         timeout=60, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stderr
    res = pm2("stop", "all")
    assert res.returncode == 0, res.stderr
    _wait_status(pm2, "stopped")
    out = (tmp_path / "logs" / "titan-core-out.log").read_text()
    assert out.count("SYSTEM_STOPPED") == 2, out[-2000:]  # graceful: SIGINT, clean exit
    assert integrity_check(db) == "ok"
    wal = tmp_path / "data" / "titan.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0  # checkpointed at stop
    shutil.copyfile(tmp_path / "data" / "backups" / "latest.db", db)
    assert pm2("start", "all").returncode == 0
    assert wait_http(health, timeout=60) == 200
    _wait_status(pm2, "online")

    res = pm2("stop", "titan-core")
    assert res.returncode == 0, res.stderr
    _wait_status(pm2, "stopped")
    assert integrity_check(db) == "ok"
