"""The operator manual's and runbook's other Titan commands, run verbatim with the real
`curl` against `titan run` (host and credentials substituted): health, status, metrics,
flatten, cancel-all, circuit-breaker reset and reconciliation."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.api.conftest import RunningTitan
from tests.api.test_manual_curls import MANUAL_CREDS, MANUAL_HOST, _manual_text
from tests.helpers import PASSWORD

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
