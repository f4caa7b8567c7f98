"""`titan status` and `titan config show|versions|rollback` against a real `titan run`."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.api.conftest import SEEDED_TAG, RunningTitan
from tests.helpers import PASSWORD, auth_header, titan_env
from titan.cli_client import flatten
from titan.risk.config import RiskConfig


def titan_cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "titan", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.seed_config({**RiskConfig().to_api(), "maxLeverage": 10.0})
def test_config_show_versions_rollback(titan_proc: RunningTitan) -> None:
    t = titan_proc
    cwd = t.data.parent
    res = titan_cli(["config", "show"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    assert f"version: {SEEDED_TAG}" in res.stdout
    assert "maxLeverage: 10.0  [5 .. 50]" in res.stdout
    shown = json.loads(titan_cli(["config", "show", "--json"], t.env, cwd).stdout)
    assert shown["version_tag"] == SEEDED_TAG

    # A change through the API, then roll it back from the shell.
    req = urllib.request.Request(
        f"{t.base}/api/console/config/risk", data=b'{"maxLeverage": 25}', method="POST",
        headers={**auth_header(), "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        changed = json.loads(r.read())
    res = titan_cli(["config", "versions"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    assert lines[0].startswith(f"* {changed['version_tag']}") and SEEDED_TAG in lines[1]

    res = titan_cli(["config", "rollback", SEEDED_TAG, "--reason", "leverage too high"],
                    t.env, cwd)
    assert res.returncode == 0, res.stderr
    assert f"a copy of {SEEDED_TAG}" in res.stdout
    after = json.loads(titan_cli(["config", "show", "--json"], t.env, cwd).stdout)
    assert after["rolled_back_from"] == SEEDED_TAG and after["config"]["maxLeverage"] == 10.0
    assert after["reason"] == "leverage too high"

    res = titan_cli(["config", "rollback", "2000-01-01T00:00:00Z"], t.env, cwd)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("titan: 404 VERSION_NOT_FOUND")
    assert len(res.stderr.strip().splitlines()) == 1


def test_wrong_password_is_one_line(titan_proc: RunningTitan) -> None:
    env = {**titan_proc.env, "TITAN_CONSOLE_PASSWORD": "wrong-password"}
    res = titan_cli(["config", "show"], env, titan_proc.data.parent)
    assert res.returncode == 1
    assert res.stderr.strip().splitlines() == [
        res.stderr.strip()] and "authentication failed" in res.stderr


def test_status_prints_the_facts(titan_proc: RunningTitan) -> None:
    res = titan_cli(["status"], titan_proc.env, titan_proc.data.parent)
    assert res.returncode == 0, res.stderr
    facts = dict(line.split(": ", 1) for line in res.stdout.splitlines())
    assert facts["masterArm"] == "DISARMED" and facts["haltState"] == "OPEN"
    assert facts["bybitConnected"] == "true" and "circuitBreaker.tripped" in facts


def test_halt_and_reconcile_from_the_shell(titan_proc: RunningTitan) -> None:
    t = titan_proc
    cwd = t.data.parent
    res = titan_cli(["halt", "SOFT_HALT", "--reason", "Scheduled maintenance"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    assert "halt state is now SOFT_HALT (was OPEN)" in res.stdout
    res = titan_cli(["halt", "HARD_HALT"], t.env, cwd)  # no reason: refused by the parser
    assert res.returncode == 2 and "--reason" in res.stderr
    res = titan_cli(["halt", "OPEN", "--reason", "  "], t.env, cwd)  # blank: refused by Titan
    assert res.returncode == 1 and len(res.stderr.strip().splitlines()) == 1
    facts = dict(line.split(": ", 1) for line in
                 titan_cli(["status"], t.env, cwd).stdout.splitlines())
    assert facts["haltState"] == "SOFT_HALT"
    res = titan_cli(["reconcile"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("reconciliation: ok=True clean=True mismatches=0")
    report = json.loads(titan_cli(["reconcile", "--json"], t.env, cwd).stdout)
    assert report["trigger"] == "operator" and report["ok"] is True


def test_not_running_is_one_line_and_nonzero(tmp_path: Path, free_port: int) -> None:
    env = titan_env(tmp_path / "data", free_port)
    for args in (["status"], ["config", "show"], ["config", "versions"],
                 ["config", "rollback", SEEDED_TAG]):
        res = titan_cli(args, env, tmp_path)
        assert res.returncode == 1, args
        assert res.stderr.startswith("titan: Titan is not running at http://127.0.0.1:")
        assert len(res.stderr.strip().splitlines()) == 1 and "Traceback" not in res.stderr


def test_password_comes_from_secrets_json(tmp_path: Path, free_port: int) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "secrets.json").write_text(json.dumps({"console_password": PASSWORD}))
    env = {k: v for k, v in titan_env(data, free_port).items() if k != "TITAN_CONSOLE_PASSWORD"}
    res = titan_cli(["config", "show"], env, tmp_path)
    assert "not running" in res.stderr  # got as far as calling: the password was found
    (data / "secrets.json").unlink()
    res = titan_cli(["config", "show"], env, tmp_path)
    assert res.returncode == 2 and "no console password" in res.stderr


def test_flatten_for_a_shell() -> None:
    facts = dict(flatten({"masterArm": "DISARMED", "circuitBreaker": {"tripped": False,
                          "reason": None}, "positions": [], "whitelist": ["A", "B"],
                          "orders": [{"id": 1}]}))
    assert facts == {"masterArm": "DISARMED", "circuitBreaker.tripped": "false",
                     "circuitBreaker.reason": "-", "positions": "[]", "whitelist": "A,B",
                     "orders[0].id": "1"}


def test_strategy_list_disable_enable_from_the_shell(titan_proc: RunningTitan) -> None:
    t = titan_proc
    cwd = t.data.parent
    res = titan_cli(["strategy", "list"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    rows = [line.split()[:2] for line in res.stdout.splitlines()[1:]]
    assert ["scavenger", "enabled"] in rows and ["hunter", "enabled"] in rows  # by name
    res = titan_cli(["strategy", "disable", "scavenger", "--reason", "news at 14:00"], t.env, cwd)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("scavenger disabled: config version ")
    listed = json.loads(titan_cli(["strategy", "list", "--json"], t.env, cwd).stdout)
    scav = next(s for s in listed["strategies"] if s["name"] == "scavenger")
    assert scav["enabled"] is False and scav["running"] is False
    assert scav["pauses"]["operator"] == "disabled by the operator: news at 14:00"
    res = titan_cli(["strategy", "disable", "scavenger", "--reason", "again"], t.env, cwd)
    assert res.returncode == 0 and "already disabled; no new config version" in res.stdout
    res = titan_cli(["strategy", "enable", "scavenger", "--reason", "news passed"], t.env, cwd)
    assert res.returncode == 0 and res.stdout.startswith("scavenger enabled: config version ")
    res = titan_cli(["strategy", "disable", "nosuch", "--reason", "x"], t.env, cwd)
    assert res.returncode == 1
    assert res.stderr.strip().startswith("titan: 404 STRATEGY_NOT_FOUND")
    res = titan_cli(["strategy", "disable", "scavenger"], t.env, cwd)  # no --reason
    assert res.returncode == 2 and "--reason" in res.stderr
