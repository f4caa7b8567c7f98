"""`titan` as an operator runs it: start, answer, stop on SIGINT, and fail clearly."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from tests.helpers import auth_header, start_titan, titan_env, wait_http
from tests.helpers import free_port as pick_port
from titan import __version__
from titan.venues.factory import PAPER_API_KEY


def _run(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "titan", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_run_serves_health_and_sigint_exits_cleanly(tmp_path: Path, free_port: int) -> None:
    data = tmp_path / "data"
    proc = start_titan(["run"], titan_env(data, free_port), tmp_path / "titan.log")
    try:
        assert wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc) == 200
        with urllib.request.urlopen(f"http://127.0.0.1:{free_port}/health") as r:
            assert b'"status": "healthy"' in r.read()
        assert wait_http(f"http://127.0.0.1:{free_port}/api/status") == 401
    finally:
        proc.send_signal(signal.SIGINT)
        rc = proc.wait(timeout=30)
    log = (tmp_path / "titan.log").read_text()
    assert rc == 0, log
    assert "SYSTEM_STARTED" in log and "SYSTEM_STOPPED" in log
    con = sqlite3.connect(data / "titan.db")
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()


def test_sigterm_also_exits_cleanly(tmp_path: Path, free_port: int) -> None:
    proc = start_titan(["run"], titan_env(tmp_path / "data", free_port), tmp_path / "t.log")
    try:
        wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def test_unusable_data_folder_is_one_line_and_nonzero(tmp_path: Path, free_port: int) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    res = _run(["run"], titan_env(blocker / "data", free_port), tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "not writable" in lines[0], res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_corrupt_database_is_one_line_and_nonzero(tmp_path: Path, free_port: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "titan.db").write_bytes(b"\x00garbage" * 4096)
    res = _run(["run"], titan_env(data, free_port), tmp_path)
    assert res.returncode != 0
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "titan.db" in lines[0], res.stderr
    assert "Traceback" not in res.stderr + res.stdout


def test_invalid_setting_is_one_line_and_nonzero(tmp_path: Path, free_port: int) -> None:
    env = titan_env(tmp_path / "data", free_port, TITAN_PORT="eighty")
    res = _run(["run"], env, tmp_path)
    assert res.returncode == 2
    assert res.stderr.strip().count("\n") == 0 and "TITAN_PORT" in res.stderr


def test_migrate_and_version(tmp_path: Path, free_port: int) -> None:
    env = titan_env(tmp_path / "data", free_port)
    first = _run(["migrate"], env, tmp_path)
    assert first.returncode == 0 and "0001_init" in first.stdout
    again = _run(["migrate"], env, tmp_path)
    assert again.returncode == 0 and "up to date" in again.stdout
    ver = _run(["--version"], env, tmp_path)
    assert ver.returncode == 0 and __version__ in ver.stdout


def test_generated_password_is_stored_0600_and_never_logged(tmp_path: Path, free_port: int) -> None:
    """Output to a file (as under PM2) never holds the secrets, only where they are; on a
    terminal they are shown once (tests/security/test_process_hardening.py)."""
    data = tmp_path / "data"
    env = titan_env(data, free_port)
    del env["TITAN_CONSOLE_PASSWORD"], env["TITAN_KILL_CODE"]
    for attempt in range(2):
        proc = start_titan(["run"], env, tmp_path / f"run{attempt}.log")
        try:
            wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc)
        finally:
            proc.send_signal(signal.SIGINT)
            assert proc.wait(timeout=30) == 0
    secrets = data / "secrets.json"
    assert secrets.stat().st_mode & 0o777 == 0o600
    import json
    password = json.loads(secrets.read_text())["console_password"]
    assert len(password) >= 16
    first, second = ((tmp_path / f"run{i}.log").read_text() for i in range(2))
    assert password not in first and password not in second
    assert str(secrets) in first and str(secrets) not in second  # said once, where they are


def _post(url: str, body: dict[str, object], headers: dict[str, str] | None = None) -> object:
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def _close_orders(db: Path) -> list[tuple[str, str, str]]:
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return con.execute("SELECT client_order_id, status, COALESCE(venue_order_id, '')"
                           " FROM orders WHERE reduce_only = 1").fetchall()
    finally:
        con.close()


def test_sigterm_lets_an_order_call_in_flight_finish_and_records_its_outcome(
        tmp_path: Path, free_port: int) -> None:
    """SIGTERM while a flatten's close is in flight (held 2 s by the simulator's latency
    fault): Titan waits for the call, books the venue's answer, and exits cleanly."""
    data = tmp_path / "data"
    sim_port = pick_port()
    env = titan_env(data, free_port, TITAN_SIM_PORT=str(sim_port))
    proc = start_titan(["run"], env, tmp_path / "titan.log")
    ctl = f"http://127.0.0.1:{sim_port}/sim/control"
    answers: list[object] = []
    try:
        wait_http(f"http://127.0.0.1:{free_port}/health", timeout=60, proc=proc)
        _post(f"{ctl}/accounts/{PAPER_API_KEY}/open-position",
              {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.01"})
        _post(f"{ctl}/faults", {"latency_ms": 2000})

        def flatten() -> None:
            try:
                answers.append(_post(f"http://127.0.0.1:{free_port}/api/emergency/flatten", {},
                                     auth_header()))
            except OSError as exc:  # the server may close the request at shutdown
                answers.append(exc)

        caller = threading.Thread(target=flatten, daemon=True)
        caller.start()
        deadline = time.monotonic() + 20
        # The close's intent is committed before its order leaves: once it is in the
        # database, the create-batch is on its way and the simulator holds it for 2 s.
        while not _close_orders(data / "titan.db"):
            assert time.monotonic() < deadline, "the flatten never committed its close"
            time.sleep(0.02)
        assert [status for _, status, _ in _close_orders(data / "titan.db")] == ["PENDING"]
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    log = (tmp_path / "titan.log").read_text()
    assert rc == 0, log[-3000:]
    # aiohttp 3.14's own server, stopping while a request is in flight, sometimes logs
    # "Unhandled exception ... _handler_waiter.set_result(None) ... InvalidStateError" from
    # web_protocol.py after the response went out (seen in 1 of 4 quiet CI runs; an aiohttp
    # race, not Titan's code: the answer and its audit row are still checked below). Only
    # that traceback is tolerated; any other fails the test.
    tracebacks = log.count("Traceback")
    aiohttp_race = log.count("self._handler_waiter.set_result(None)")
    assert "SYSTEM_STOPPED" in log and tracebacks == aiohttp_race, log[-3000:]
    # The request in flight was let finish (aiohttp's graceful shutdown, up to 10 s)
    # before Titan stopped: the flatten's answer and its audit row exist.
    assert "OPERATOR_ACTION flatten_all" in log, log[-3000:]
    assert log.index("OPERATOR_ACTION flatten_all") < log.index("SYSTEM_STOPPING"), log[-3000:]
    closes = _close_orders(data / "titan.db")
    assert len(closes) == 1, closes
    _cid, status, venue_id = closes[0]
    # The venue's answer was booked: the order has its venue id and left PENDING (it is
    # NEW or FILLED, never UNKNOWN: the answer was not lost, only slow).
    assert status not in ("PENDING", "UNKNOWN"), closes
    assert venue_id, closes
