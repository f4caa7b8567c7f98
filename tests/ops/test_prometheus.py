"""prometheus/: the scrape config and alert rules pass promtool (its rule unit tests
included), and the real Prometheus server scrapes a running Titan and finds its series."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from tests.helpers import free_port, make_titan
from titan.app import create_app

PROM_DIR = Path(__file__).resolve().parents[2] / "prometheus"


def _promtool(*args: str) -> str:
    done = subprocess.run(["promtool", *args], cwd=PROM_DIR, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_config_and_rules_are_valid() -> None:
    assert "SUCCESS" in _promtool("check", "config", "prometheus.yml")
    out = _promtool("check", "rules", "alerts.yml")
    assert "SUCCESS: 11 rules found" in out


def test_alert_rules_unit_tests_pass() -> None:
    assert "SUCCESS" in _promtool("test", "rules", "alerts.test.yml")


async def _query(session: aiohttp.ClientSession, base: str, q: str) -> list[Any]:
    async with session.get(f"{base}/api/v1/query", params={"query": q}) as resp:
        body = await resp.json()
    assert body["status"] == "success", body
    result: list[Any] = body["data"]["result"]
    return result


@pytest.mark.timeout(180)
async def test_real_prometheus_scrapes_a_running_titan(tmp_path: Path) -> None:
    titan = make_titan(tmp_path / "data")
    titan_port, prom_port = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
        f"rule_files:\n  - {PROM_DIR / 'alerts.yml'}\n"
        "scrape_configs:\n  - job_name: titan\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['127.0.0.1:{titan_port}']\n")
    server = TestServer(create_app(titan), host="127.0.0.1", port=titan_port)
    await server.start_server()
    log = (tmp_path / "prometheus.log").open("wb")
    prom = await asyncio.create_subprocess_exec(
        "prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", stdout=log, stderr=log)
    base = f"http://127.0.0.1:{prom_port}"
    try:
        async with aiohttp.ClientSession() as session:
            found: list[Any] = []
            for _ in range(600):  # bounded: up to ~60 s for start-up and the first scrapes
                if prom.returncode is not None:
                    raise AssertionError((tmp_path / "prometheus.log").read_text()[-2000:])
                try:
                    found = await _query(session, base, 'titan_info{job="titan"}')
                except aiohttp.ClientError:
                    found = []
                if found:
                    break
                await asyncio.sleep(0.1)
            assert found, "Prometheus never stored titan_info"
            assert found[0]["metric"]["version"]
            up = await _query(session, base, 'up{job="titan"}')
            assert up and up[0]["value"][1] == "1"
            for series in ("titan_circuit_breaker_tripped", "titan_halt_state",
                           "titan_notifications_total", "titan_open_positions"):
                assert await _query(session, base, series), series
            async with session.get(f"{base}/api/v1/rules") as resp:
                rules = (await resp.json())["data"]["groups"][0]["rules"]
            assert {r["name"] for r in rules} >= {"TitanDown", "TitanBreakerTripped"}
    finally:
        prom.terminate()
        await prom.wait()
        log.close()
        await server.close()
