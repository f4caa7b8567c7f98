"""The operator manual's configuration commands, run verbatim with the real `curl`
against a real `titan run` (host and credentials substituted, nothing else changed)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import SEEDED_TAG, RunningTitan
from tests.helpers import PASSWORD
from titan.risk.config import RiskConfig

ROOT = Path(__file__).resolve().parents[2]
MANUAL_HOST = "https://titan-core.yourdomain.com"
MANUAL_CREDS = "titan_admin:your_password"

# Copied verbatim from the operator manual (Configuration Management).
VIEW = """curl https://titan-core.yourdomain.com/api/console/config \\
  -u titan_admin:your_password"""

RISK = """curl -X POST https://titan-core.yourdomain.com/api/console/config/risk \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password \\
  -d '{
    "maxRiskPerTrade": 0.02,
    "maxDailyDrawdown": 0.05,
    "maxLeverage": 20
  }'"""

ADD = """curl -X POST https://titan-core.yourdomain.com/api/console/config/whitelist \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password \\
  -d '{"action": "add", "symbol": "SOLUSDT"}'"""

REMOVE = """curl -X POST https://titan-core.yourdomain.com/api/console/config/whitelist \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password \\
  -d '{"action": "remove", "symbol": "DOGEUSDT"}'"""

VERSIONS = """curl https://titan-core.yourdomain.com/api/config/versions \\
  -u titan_admin:your_password"""

ROLLBACK = """curl -X POST https://titan-core.yourdomain.com/api/config/rollback \\
  -H "Content-Type: application/json" \\
  -u titan_admin:your_password \\
  -d '{"version_tag": "2024-12-13T10:30:00Z"}'"""

SEEDED = {**RiskConfig().to_api(), "maxLeverage": 10.0,
          "whitelist": ["BTCUSDT", "ETHUSDT", "DOGEUSDT"]}


VENDORED_MANUAL = Path(__file__).resolve().parents[1] / "fixtures" / "operator_manual_commands.txt"


def _manual_text() -> str:
    """The manual's curl commands, vendored into tests/fixtures so the check never depends
    on planning documents outside this checkout."""
    return VENDORED_MANUAL.read_text()


def test_commands_are_the_manuals() -> None:
    text = _manual_text()
    for command in (VIEW, RISK, ADD, REMOVE, VERSIONS, ROLLBACK):
        assert command in text, command.splitlines()[0]


def run_curl(command: str, t: RunningTitan) -> Any:
    cmd = command.replace(MANUAL_HOST, t.base).replace(MANUAL_CREDS, f"titan_admin:{PASSWORD}")
    res = subprocess.run(["bash", "-c", cmd], capture_output=True, text=True, timeout=30)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def rows(t: RunningTitan) -> list[tuple[str, str | None]]:
    con = sqlite3.connect(t.data / "titan.db")
    try:
        return [(r[0], r[1]) for r in con.execute(
            "SELECT version_tag, rolled_back_from FROM config_versions ORDER BY id")]
    finally:
        con.close()


@pytest.mark.seed_config(SEEDED)
def test_manual_config_commands_verbatim(titan_proc: RunningTitan) -> None:
    t = titan_proc
    # View: the seeded version is the active one (no defaults written over it).
    view = run_curl(VIEW, t)
    assert view["version_tag"] == SEEDED_TAG and view["config"] == SEEDED
    assert view["ranges"]["maxLeverage"]["maximum"] == 50

    risk = run_curl(RISK, t)
    assert risk["changed"] is True
    assert risk["config"]["maxRiskPerTrade"] == 0.02
    assert risk["config"]["maxDailyDrawdown"] == 0.05
    assert risk["config"]["maxLeverage"] == 20
    assert risk["previous_version_tag"] == SEEDED_TAG

    add = run_curl(ADD, t)
    assert add["changed"] is True and "SOLUSDT" in add["config"]["whitelist"]
    remove = run_curl(REMOVE, t)
    assert remove["changed"] is True and "DOGEUSDT" not in remove["config"]["whitelist"]
    # Typed twice by a tired operator: nothing changes, no new version.
    assert run_curl(ADD, t)["changed"] is False
    assert run_curl(REMOVE, t)["changed"] is False

    versions = run_curl(VERSIONS, t)
    tags = [v["version_tag"] for v in versions["items"]]
    assert len(tags) == 4 and tags[-1] == SEEDED_TAG
    assert tags[0] == versions["active_version_tag"] == remove["version_tag"]

    rollback = run_curl(ROLLBACK, t)
    assert rollback["changed"] is True
    assert rollback["rolled_back_from"] == SEEDED_TAG
    assert rollback["config"] == SEEDED
    assert run_curl(VIEW, t)["version_tag"] == rollback["version_tag"]
    # Rolling back to the version that is already active is refused (409).
    again = run_curl(ROLLBACK.replace(SEEDED_TAG, rollback["version_tag"]), t)
    assert again["error"]["code"] == "ALREADY_ACTIVE"

    stored = rows(t)
    assert len(stored) == 5 and len({tag for tag, _ in stored}) == 5
    assert stored[-1] == (rollback["version_tag"], SEEDED_TAG)


def test_manual_commands_on_a_fresh_install(titan_proc: RunningTitan) -> None:
    t = titan_proc
    view = run_curl(VIEW, t)
    assert view["source"] == "startup" and view["config"] == RiskConfig().to_api()
    assert run_curl(RISK, t)["changed"] is True
    assert run_curl(ADD, t)["changed"] is False  # SOLUSDT is on the default whitelist
    assert run_curl(REMOVE, t)["changed"] is False  # DOGEUSDT is not
    assert len(run_curl(VERSIONS, t)["items"]) == 2
    missing = run_curl(ROLLBACK, t)
    assert missing["error"]["code"] == "VERSION_NOT_FOUND"
    assert len(rows(t)) == 2


def test_bad_requests_over_the_wire_change_nothing(titan_proc: RunningTitan,
                                                   tmp_path: Path) -> None:
    t = titan_proc
    big = tmp_path / "big.json"
    big.write_bytes(b'{"maxLeverage": "' + b"9" * (10 * 1024 * 1024) + b'"}')
    url = f"{t.base}/api/console/config/risk"
    cases = [
        (["-u", f"titan_admin:{PASSWORD}", "-H", "Content-Type: application/json",
          "--data-binary", f"@{big}"], 413),
        (["-u", f"titan_admin:{PASSWORD}", "-H", "Content-Type: application/json",
          "-d", "{broken"], 400),
        (["-u", f"titan_admin:{PASSWORD}", "-H", "Content-Type: application/json",
          "-d", '{"maxLeverage": 500}'], 422),
        (["-H", "Content-Type: application/json", "-d", '{"maxLeverage": 10}'], 401),
        (["-u", "titan_admin:wrong", "-H", "Content-Type: application/json",
          "-d", '{"maxLeverage": 10}'], 401),
        (["-u", f"titan_admin:{PASSWORD}", "-H", "Content-Type: application/json",
          "-H", "Origin: https://evil.example", "-d", '{"maxLeverage": 10}'], 403),
    ]
    before = rows(t)
    for args, want in cases:
        res = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X",
                              "POST", url, *args], capture_output=True, text=True, timeout=60)
        assert res.stdout == str(want), (args[-1][:40], res.stdout)
    assert rows(t) == before
