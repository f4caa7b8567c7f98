"""The operator manual's and runbook's other Titan commands, run verbatim with the real
`curl` against `titan run` (host and credentials substituted): health, status, metrics,
flatten, cancel-all, circuit-breaker reset and reconciliation."""

from __future__ import annotations

import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from pybit.unified_trading import HTTP

from tests.api.conftest import RunningTitan
from tests.api.test_manual_curls import MANUAL_CREDS, MANUAL_HOST, _manual_text
from tests.helpers import PASSWORD, start_titan, titan_env, wait_http
from tests.helpers import free_port as pick_port
from titan.venues.factory import PAPER_API_KEY, PAPER_API_SECRET

HEALTH = "curl https://titan-core.yourdomain.com/health"
STATUS = """curl https://titan-core.yourdomain.com/api/status \\
  -u titan_admin:your_password"""
METRICS = "curl https://titan-core.yourdomain.com/metrics"
FLATTEN = """curl -X POST https://titan-core.yourdomain.com/api/emergency/flatten \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password"""
CANCEL_ALL = """curl -X POST https://titan-core.yourdomain.com/api/console/cancel-all \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password"""
BREAKER_RESET = """curl -X POST https://titan-core.yourdomain.com/api/circuit-breaker/reset \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password \\
  -d '{"reason": "Manual reset after review"}'"""
RECONCILE = """curl -X POST https://titan-core.yourdomain.com/api/state/reconcile \\
  -u titan_admin:your_password"""
# The runbook's health table (its hosts are Titan's here).
RUNBOOK_API_HEALTH = "curl http://localhost:3000/api/health"
RUNBOOK_HOST = "http://localhost:3000"


def _run(command: str, t: RunningTitan, host: str = MANUAL_HOST) -> str:
    cmd = command.replace(host, t.base).replace(MANUAL_CREDS, f"titan_admin:{PASSWORD}")
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    return res.stdout


def _json(command: str, t: RunningTitan, host: str = MANUAL_HOST) -> Any:
    return json.loads(_run(command, t, host))


def test_these_are_the_manuals_commands() -> None:
    text = _manual_text()
    for command in (HEALTH, STATUS, METRICS, FLATTEN, CANCEL_ALL, BREAKER_RESET, RECONCILE):
        assert command in text, command.splitlines()[0]


def test_manual_operations_commands_verbatim(titan_proc: RunningTitan) -> None:
    t = titan_proc
    assert _json(HEALTH, t)["status"] == "healthy"
    assert _json(RUNBOOK_API_HEALTH, t, RUNBOOK_HOST) == {"status": "ok"}
    status = _json(STATUS, t)
    assert status["masterArm"] == "DISARMED" and status["bybitConnected"] is True
    assert "titan_equity" in _run(METRICS, t)

    flatten = _json(FLATTEN, t)
    assert flatten == {"success": True, "positions_closed": 0, "results": []}
    cancel = _json(CANCEL_ALL, t)
    assert cancel["success"] is True and cancel["cancelled"] == []
    reset = _json(BREAKER_RESET, t)
    assert reset["success"] is True and reset["circuitBreaker"]["tripped"] is False
    report = _json(RECONCILE, t)
    assert report["ok"] is True and report["trigger"] == "operator"


def _sim(url: str, body: dict[str, Any] | None = None) -> Any:
    req = urllib.request.Request(url, data=None if body is None else json.dumps(body).encode(),
                                 method="GET" if body is None else "POST",
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as resp:
        return json.loads(resp.read() or b"null")


def test_manual_flatten_and_cancel_all_with_positions_and_orders_open(
        tmp_path: Path, free_port: int) -> None:
    """The same two commands on a book that is not empty: two positions (opened on the
    venue by hand, so Titan learns them from the venue) and a resting order placed by hand.
    The manual's cancel-all cancels Titan's orders only — the hand order stays; FLATTEN ALL
    closes every position and cancels every order, verified on the venue."""
    sim_port = pick_port()
    data = tmp_path / "data"
    env = titan_env(data, free_port, TITAN_SIM_PORT=str(sim_port))
    proc = start_titan(["run"], env, tmp_path / "titan.log")
    ctl = f"http://127.0.0.1:{sim_port}/sim/control/accounts/{PAPER_API_KEY}"
    try:
        wait_http(f"http://127.0.0.1:{free_port}/health", timeout=60, proc=proc)
        t = RunningTitan(f"http://127.0.0.1:{free_port}", free_port, data, tmp_path / "titan.log",
                         env)
        _sim(f"{ctl}/open-position", {"symbol": "BTCUSDT", "side": "Buy", "qty": "0.01"})
        _sim(f"{ctl}/open-position", {"symbol": "ETHUSDT", "side": "Sell", "qty": "0.2"})
        hand = HTTP(api_key=PAPER_API_KEY, api_secret=PAPER_API_SECRET, max_retries=1)
        hand.endpoint = f"http://127.0.0.1:{sim_port}"
        hand.place_order(category="linear", symbol="BTCUSDT", side="Buy", orderType="Limit",
                         qty="0.001", price="1000", orderLinkId="by-hand-1")

        cancel = _json(CANCEL_ALL, t)
        assert cancel["success"] is True and cancel["cancelled"] == [], cancel
        assert [o["orderLinkId"] for o in _sim(f"{ctl}/orders")["orders"]
                if o["orderStatus"] == "New"] == ["by-hand-1"]  # not Titan's: left alone

        flatten = _json(FLATTEN, t)
        assert flatten["success"] is True, flatten
        assert flatten["positions_closed"] == 2, flatten
        assert flatten["results"] == [{"symbol": "BTCUSDT", "success": True},
                                      {"symbol": "ETHUSDT", "success": True}], flatten
        positions = [p for p in _sim(f"{ctl}/positions")["positions"] if float(p["size"]) != 0]
        assert positions == [], positions  # the venue is flat
        assert [o for o in _sim(f"{ctl}/orders")["orders"] if o["orderStatus"] == "New"] == []
        status = _json(STATUS, t)
        assert status["masterArm"] == "DISARMED", status
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
