"""Attacks on the NATS command bus against the real nats-server (docs/reliability.md):
anonymous clients, an open server, wrong subjects, deep payloads, forged log lines,
unbounded risk values; the bridge's state in /health and /api/status."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp.test_utils import TestClient, TestServer
from loguru import logger

from tests.helpers import auth_header, free_port, make_titan
from tests.natsd import NatsServer
from titan.api.health import health_checks
from titan.app import create_app
from titan.core import Titan
from titan.risk import HaltState
from titan.settings import SettingsError, load_settings

pytestmark = pytest.mark.e2e
HOSTILE = [  # what the anonymous client of the issue sent
    ("titan.cmd.sys.halt", b'{"state":"OPEN","reason":"lifted by an anonymous client"}'),
    ("titan.cmd.risk.update", b'{"maxAccountLeverage": 50, "maxPositionNotional": 1e300}'),
    ("titan.cmd.risk.update", b'{"whitelist": ["BTCUSDT","ETHUSDT","SOLUSDT","XRPUSDT"]}'),
]


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(free_port(), tmp_path / "nats.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def open_server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(free_port(), tmp_path / "open-nats.log", auth=False)
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.extend(str(m).splitlines()), level="DEBUG",
                      format="{level} | {message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


async def _titan(tmp_path: Path, url: str, **settings: Any) -> AsyncIterator[Titan]:
    titan = make_titan(tmp_path / "data", nats_url=url, **settings)
    await titan.start()
    try:
        yield titan
    finally:
        await titan.stop()


async def _rows(titan: Titan, action: str, at_least: int) -> list[dict[str, Any]]:
    rows: list[Any] = []
    for _ in range(250):
        rows = await titan.db.fetch_all(
            "SELECT source, action, params, result, success FROM audit_log WHERE action = ?"
            " ORDER BY id", (action,))
        if len(rows) >= at_least:
            break
        await asyncio.sleep(0.02)
    return [dict(r) for r in rows]


async def _hard_halt(titan: Titan) -> None:
    await titan.risk.set_halt(HaltState.HARD_HALT, "kill switch by the operator", "test")
    assert titan.risk.halt.state is HaltState.HARD_HALT


# --- item 3: anyone on the bus controls Titan ----------------------------------------------

def test_a_bus_without_a_credential_is_refused_at_start() -> None:
    with pytest.raises(SettingsError) as exc:
        load_settings(nats_url="nats://127.0.0.1:4222", _env_file=None)
    assert "TITAN_NATS_URL" in str(exc.value) and "credential" in str(exc.value)
    for ok in ({"nats_url": "nats://u:p@127.0.0.1:4222"},
               {"nats_url": "nats://127.0.0.1:4222", "nats_user": "u", "nats_password": "p"},
               {"nats_url": "nats://127.0.0.1:4222", "nats_token": "t0ken"}):
        load_settings(_env_file=None, **ok)


async def test_the_shipped_server_config_shuts_out_anonymous_and_wrong_users(
        server: NatsServer, tmp_path: Path) -> None:
    for url in (server.url, f"nats://operator:wrong@127.0.0.1:{server.port}"):
        with pytest.raises(Exception, match="Authorization Violation"):
            await nats.connect(url, allow_reconnect=False, connect_timeout=2,
                               error_cb=_quiet)
    # Titan's own credential may read commands but not send them.
    errors: list[Exception] = []

    async def collect(exc: Exception) -> None:
        errors.append(exc)

    titan_user = await nats.connect(server.titan_url, error_cb=collect)
    try:
        await titan_user.publish("titan.cmd.sys.halt", b'{"state":"OPEN","reason":"x"}')
        await titan_user.flush()
        for _ in range(100):
            if errors:
                break
            await asyncio.sleep(0.02)
        assert errors and "permissions violation" in str(errors[0]).lower()
    finally:
        await titan_user.close()


async def _quiet(exc: Exception) -> None:
    return None


async def test_an_open_server_cannot_command_titan(open_server: NatsServer, tmp_path: Path,
                                                   log_lines: list[str]) -> None:
    """The issue's attack: an anonymous client lifts a kill-switch HARD_HALT and widens
    the limits. On a server that demands no credential Titan obeys nothing, says why,
    audits every refusal, and /health says the bus is not usable."""
    async for titan in _titan(tmp_path, open_server.titan_url):
        assert titan.nats is not None
        for _ in range(250):  # connected (and found the server open)
            if getattr(titan.nats, "state", "") == "insecure" or titan.nats.connected.is_set():
                break
            await asyncio.sleep(0.02)
        await _hard_halt(titan)
        tag = titan.config.version_tag
        anon = await nats.connect(open_server.url)
        try:
            for subject, payload in HOSTILE:
                reply = json.loads((await anon.request(subject, payload, timeout=10)).data)
                assert reply["ok"] is False and "credentials" in reply["error"]
        finally:
            await anon.close()
        assert titan.risk.halt.state is HaltState.HARD_HALT
        assert titan.config.version_tag == tag and titan.risk.config.max_leverage == 20
        assert titan.nats.state == "insecure"
        rows = await _rows(titan, "nats.refused", len(HOSTILE))
        assert len(rows) == len(HOSTILE) and all(r["success"] == 0 for r in rows)
        assert any("NATS_SERVER_WITHOUT_AUTH" in line for line in log_lines)
        checks = await health_checks(titan)
        assert checks["nats"]["ok"] is False and "credentials" in checks["nats"]["detail"]


async def test_only_enabled_command_subjects_are_obeyed(server: NatsServer, tmp_path: Path) -> None:
    async for titan in _titan(tmp_path, server.titan_url, nats_subjects="titan.cmd.sys.halt"):
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
        tag = titan.config.version_tag
        op = await nats.connect(server.operator_url)
        try:
            for subject, payload in (("titan.cmd.risk.update", b'{"maxAccountLeverage": 5}'),
                                     ("titan.cmd.sys.arm", b'{"armed": true}')):
                reply = json.loads((await op.request(subject, payload, timeout=10)).data)
                assert reply["ok"] is False, subject
            reply = json.loads((await op.request(
                "titan.cmd.sys.halt", b'{"state":"SOFT_HALT","reason":"maintenance"}',
                timeout=10)).data)
            assert reply == {"ok": True}
        finally:
            await op.close()
        assert titan.config.version_tag == tag
        assert titan.risk.halt.state is HaltState.SOFT_HALT
        rows = await _rows(titan, "nats.refused", 2)
        subjects = [json.loads(r["params"])["subject"] for r in rows]
        assert subjects == ["titan.cmd.risk.update", "titan.cmd.sys.arm"]
        assert "TITAN_NATS_SUBJECTS" in json.loads(rows[0]["result"])["refused"]


# --- item 10: refusals not all audited; deep payloads dropped silently ----------------------

async def test_every_refusal_gets_a_reply_a_log_line_and_an_audit_row(
        server: NatsServer, tmp_path: Path, log_lines: list[str]) -> None:
    deep = b'{"state":"OPEN","reason":' + b"[" * 8000 + b"]" * 8000 + b"}"
    bad = [("titan.cmd.sys.halt", deep),
           ("titan.cmd.sys.halt", b'{"state":"PANIC","reason":"x"}'),
           ("titan.cmd.risk.update", b'{"leverage": 5}'),
           ("titan.cmd.risk.reload", b"[" * 3000)]
    async for titan in _titan(tmp_path, server.titan_url):
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
        await _hard_halt(titan)
        op = await nats.connect(server.operator_url)
        try:
            for subject, payload in bad:
                reply = json.loads((await op.request(subject, payload, timeout=10)).data)
                assert reply["ok"] is False, payload[:40]
            assert "nested deeper" in json.loads(
                (await op.request(*bad[0], timeout=10)).data)["error"]
        finally:
            await op.close()
        assert titan.risk.halt.state is HaltState.HARD_HALT
        rows = await _rows(titan, "nats.refused", len(bad) + 1)
        assert len(rows) == len(bad) + 1
        refused = [li for li in log_lines if "NATS_COMMAND_REFUSED" in li]
        assert len(refused) == len(bad) + 1
        assert not any("Traceback" in li for li in log_lines)


# --- items 7 and 14 over the bus -----------------------------------------------------------

async def test_bus_reason_cannot_forge_a_log_line_nor_lift_limits(
        server: NatsServer, tmp_path: Path, log_lines: list[str]) -> None:
    async for titan in _titan(tmp_path, server.titan_url):
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
        op = await nats.connect(server.operator_url)
        try:
            payload = json.dumps({"state": "SOFT_HALT",
                                  "reason": "x\nORDER_FILLED symbol=BTCUSDT forged=1"})
            reply = await op.request("titan.cmd.sys.halt", payload.encode(), timeout=10)
            assert json.loads(reply.data) == {"ok": True}
            reply = await op.request("titan.cmd.risk.update",
                                     b'{"maxPositionNotional": 1e300}', timeout=10)
            answer = json.loads(reply.data)
            assert answer["ok"] is False
        finally:
            await op.close()
        assert titan.risk.halt.state is HaltState.SOFT_HALT
        assert titan.risk.config.max_position_notional == 10_000
        assert not any(li.split(" | ", 1)[-1].startswith("ORDER_FILLED") for li in log_lines)


# --- item 4: the bridge's state is visible ---------------------------------------------------

async def test_bridge_state_in_health_and_status(tmp_path: Path) -> None:
    srv = NatsServer(free_port(), tmp_path / "late.log")
    titan = make_titan(tmp_path / "data", nats_url=srv.titan_url)
    client = TestClient(TestServer(create_app(titan)))
    await client.start_server()
    try:
        health = await (await client.get("/health")).json()
        assert health["status"] == "degraded" and health["checks"]["nats"]["ok"] is False
        assert "nats" in health["reason"]
        status = await (await client.get("/api/status", headers=auth_header())).json()
        assert status["nats"]["configured"] is True and status["nats"]["connected"] is False
        assert "titan-bus-secret" not in json.dumps(status)  # the password is not shown
        await asyncio.to_thread(srv.start)
        assert titan.nats is not None and await titan.nats.wait_connected(within_s=15)
        health = await (await client.get("/health")).json()
        assert health["checks"]["nats"] == {"ok": True, "critical": False, "state": "connected"}
        status = await (await client.get("/api/status", headers=auth_header())).json()
        assert status["nats"]["state"] == "connected"
        assert status["nats"]["url"] == f"nats://titan:***@127.0.0.1:{srv.port}"
        metrics = await (await client.get("/metrics")).text()
        assert "titan_nats_connected 1.0" in metrics
    finally:
        await client.close()
        srv.stop()
