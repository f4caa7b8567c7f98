"""`titan run` as the operator runs it, attacked from outside the API (docs/reliability.md):
a port already taken, secrets in PM2's log, world-readable files, a missing NATS client,
a dead bus at shutdown."""

from __future__ import annotations

import json
import os
import pty
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import free_port, start_titan, titan_env, wait_http
from tests.natsd import NatsServer

ROOT = Path(__file__).resolve().parents[2]


def _wait_for_line(log: Path, marker: str, proc: subprocess.Popen[bytes],
                   within_s: float = 30) -> None:
    deadline = time.monotonic() + within_s
    while marker not in log.read_text():
        assert proc.poll() is None, log.read_text()
        assert time.monotonic() < deadline, f"{marker} not logged: {log.read_text()[-3000:]}"
        time.sleep(0.05)


def _stop(proc: subprocess.Popen[bytes], within_s: float = 30) -> int:
    """SIGINT, as PM2 sends; the exit code (killed if it does not stop at all)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
    try:
        return proc.wait(timeout=within_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=10)
        raise AssertionError(f"titan did not stop within {within_s}s of SIGINT") from None


# --- item 15: port in use → "listening" and trading machinery before the bind fails ------

def test_port_in_use_stops_titan_before_anything_starts(tmp_path: Path) -> None:
    port = free_port()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen(1)
        res = subprocess.run([sys.executable, "-m", "titan", "run"],
                             env=titan_env(tmp_path / "data", port), cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    lines = [li for li in res.stderr.splitlines() if li.startswith("titan: ")]
    assert lines == [f"titan: cannot listen on 127.0.0.1:{port}: Address already in use"], out
    for started in ("TITAN_LISTENING", "SIMULATOR_STARTED", "SYSTEM_STARTED", "NATS_",
                    "Traceback"):
        assert started not in out, out


# --- item 12: secrets in PM2's error log; titan.db 0644 -------------------------------------

def test_generated_secrets_never_reach_a_log_file(tmp_path: Path) -> None:
    port = free_port()
    env = titan_env(tmp_path / "data", port)
    del env["TITAN_CONSOLE_PASSWORD"], env["TITAN_KILL_CODE"]
    proc = start_titan(["run"], env, tmp_path / "titan.log")  # stdout+stderr to a file
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    finally:
        assert _stop(proc) == 0
    secrets_file = tmp_path / "data" / "secrets.json"
    stored = json.loads(secrets_file.read_text())
    log = (tmp_path / "titan.log").read_text()
    assert stored["console_password"] not in log and stored["kill_code"] not in log
    assert str(secrets_file) in log  # where to read them is said instead
    assert secrets_file.stat().st_mode & 0o777 == 0o600


def test_generated_secrets_are_shown_once_on_a_terminal(tmp_path: Path) -> None:
    port = free_port()
    env = titan_env(tmp_path / "data", port)
    del env["TITAN_CONSOLE_PASSWORD"], env["TITAN_KILL_CODE"]
    main, tty = pty.openpty()
    log = (tmp_path / "out.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "titan", "run"], env=env, cwd=tmp_path,
                            stdout=log, stderr=tty, stdin=subprocess.DEVNULL)
    os.close(tty)
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
    finally:
        assert _stop(proc) == 0
        log.close()
    shown = b""
    while True:
        try:
            chunk = os.read(main, 65536)
        except OSError:  # EIO: the terminal's other end is closed and drained
            break
        if not chunk:
            break
        shown += chunk
    os.close(main)
    stored = json.loads((tmp_path / "data" / "secrets.json").read_text())
    assert stored["console_password"].encode() in shown
    assert stored["console_password"] not in (tmp_path / "out.log").read_text()


def test_database_wal_and_backups_are_private(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    env = titan_env(data, port)
    proc = start_titan(["run"], env, tmp_path / "titan.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        res = subprocess.run([sys.executable, "-m", "titan", "backup"], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=60)
        assert res.returncode == 0, res.stderr
        files = [data / "titan.db", data / "titan.db-wal", data / "titan.db-shm",
                 *sorted((data / "backups").glob("*.db"))]
        assert len(files) >= 5, files  # the three live files, a backup and latest.db
        modes = {f.name: oct(f.stat().st_mode & 0o777) for f in files}
        assert set(modes.values()) == {"0o600"}, modes
    finally:
        assert _stop(proc) == 0


def test_an_old_world_readable_database_is_made_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = titan_env(data, free_port())
    db = data / "titan.db"
    db.touch()
    os.chmod(db, 0o644)  # as an older Titan left it
    res = subprocess.run([sys.executable, "-m", "titan", "migrate"], env=env, cwd=tmp_path,
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert db.stat().st_mode & 0o777 == 0o600


# --- item 4: nats-py missing → silent, no responder, 40 s SIGINT hang ---------------------

@pytest.mark.e2e
def test_a_missing_nats_client_is_a_one_line_refusal(tmp_path: Path) -> None:
    """A `nats` that cannot be imported stands in for an install without nats-py."""
    shadow = tmp_path / "shadow" / "nats"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text('raise ImportError("No module named \'nats\'")\n')
    port = free_port()
    env = titan_env(tmp_path / "data", port,
                    TITAN_NATS_URL=f"nats://titan:pw@127.0.0.1:{free_port()}",
                    PYTHONPATH=os.pathsep.join(filter(None, [
                        str(tmp_path / "shadow"), os.environ.get("PYTHONPATH")])))
    proc = start_titan(["run"], env, tmp_path / "titan.log")
    try:
        code = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise AssertionError("Titan ran without its NATS client instead of refusing") from None
    log = (tmp_path / "titan.log").read_text()
    assert code == 1, log
    assert [li for li in log.splitlines() if li.startswith("titan: ")] == [
        "titan: Titan's install is incomplete (No module named 'nats'); reinstall it: "
        "pip install -e ."], log
    assert "Traceback" not in log


def test_nats_py_is_a_core_dependency() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert any(d.startswith("nats-py") for d in project["dependencies"])


@pytest.mark.e2e
def test_shutdown_with_a_dead_bus_is_clean(tmp_path: Path) -> None:
    srv = NatsServer(free_port(), tmp_path / "nats.log")
    srv.start()
    port = free_port()
    proc = start_titan(["run"], titan_env(tmp_path / "data", port, TITAN_NATS_URL=srv.titan_url),
                       tmp_path / "titan.log")
    try:
        wait_http(f"http://127.0.0.1:{port}/health", proc=proc)
        _wait_for_line(tmp_path / "titan.log", "NATS_CONNECTED", proc)
        srv.stop()  # the bus dies under a connected Titan
        _wait_for_line(tmp_path / "titan.log", "NATS_DISCONNECTED", proc)
    finally:
        code = _stop(proc)
        srv.stop()
    log = (tmp_path / "titan.log").read_text()
    assert "NATS_CONNECTED" in log and "NATS_DISCONNECTED" in log, log
    assert code == 0, log
    assert "SYSTEM_STOPPED database closed" in log and "NATS_STOPPED" in log
    assert "Traceback" not in log, log
