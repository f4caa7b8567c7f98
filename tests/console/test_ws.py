"""The console WebSocket in-process: auth, snapshot, events, throttled status, slow clients,
shutdown; and the page's files behind auth."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSMsgType, WSServerHandshakeError, web
from aiohttp.test_utils import TestClient

from tests.event_samples import sample
from tests.helpers import auth_header, make_titan
from titan.api.keys import TITAN
from titan.app import create_app
from titan.console.ws import HUB
from titan.domain.reasons import Severity
from titan.events import Alert, OperatorAction

Client = TestClient[Any, Any]


@pytest.fixture
async def client(
    data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Client]:
    titan = make_titan(data_dir)
    yield await aiohttp_client(create_app(titan))


async def _recv(ws: Any, wait: float = 5.0) -> dict[str, Any]:
    msg = await ws.receive(timeout=wait)
    assert msg.type is WSMsgType.TEXT, msg
    data: dict[str, Any] = json.loads(msg.data)
    return data


async def test_ws_needs_credentials(client: Client) -> None:
    with pytest.raises(WSServerHandshakeError) as exc:
        await client.ws_connect("/ws")
    assert exc.value.status == 401


async def test_snapshot_then_events_then_status(client: Client) -> None:
    titan = client.app[TITAN]
    titan.alert(Severity.HIGH, "an alert before the browser connected")
    ws = await client.ws_connect("/ws", headers=auth_header())
    snap = await _recv(ws)
    assert snap["type"] == "snapshot"
    assert snap["status"]["masterArm"] in ("ARMED", "DISARMED")
    assert isinstance(snap["equityCurve"], list)
    assert "positions" in snap["positions"]
    assert any(a["message"] == "an alert before the browser connected" for a in snap["alerts"])

    titan.bus.publish(sample(OperatorAction, ts=titan.clock.now(), message="hello console"))
    seen: list[dict[str, Any]] = []
    # A running Titan publishes its own events too (REGIME_CHANGED for every symbol after
    # the warm-up, SENTINEL_BASIS, HUNTER_SCAN ...): more than ten may come before a status.
    for _ in range(200):
        m = await _recv(ws)
        seen.append(m)
        if m["type"] == "status":
            break
    events = [m for m in seen if m["type"] == "event"]
    assert any(e["event"] == "OPERATOR_ACTION" and e["message"] == "hello console" for e in events)
    assert seen[-1]["type"] == "status" and "haltState" in seen[-1]["status"]
    await ws.close()


async def test_status_is_throttled_under_an_event_storm(client: Client) -> None:
    titan = client.app[TITAN]
    ws = await client.ws_connect("/ws", headers=auth_header())
    assert (await _recv(ws))["type"] == "snapshot"
    loop = asyncio.get_running_loop()
    start = loop.time()
    statuses = 0
    while loop.time() - start < 2.5:
        titan.bus.publish(Alert(ts=titan.clock.now(), severity=Severity.LOW, message="storm"))
        try:
            m = await _recv(ws, wait=0.05)
        except TimeoutError:
            continue
        statuses += m["type"] == "status"
    assert statuses <= 4  # at most one a second (plus the edges)
    await ws.close()


async def test_a_slow_client_does_not_block_the_bus(client: Client) -> None:
    titan = client.app[TITAN]
    ws = await client.ws_connect("/ws", headers=auth_header())  # never reads
    for i in range(20_000):  # more than the per-socket queue holds
        titan.bus.publish(Alert(ts=titan.clock.now(), severity=Severity.LOW, message=f"e{i}"))
    assert len(client.app[HUB].sockets) == 1
    await ws.close()


async def test_shutdown_closes_sockets(client: Client) -> None:
    ws = await client.ws_connect("/ws", headers=auth_header())
    await _recv(ws)
    await client.app[HUB].close_all()
    msg = await ws.receive(timeout=5)
    while msg.type is WSMsgType.TEXT:
        msg = await ws.receive(timeout=5)
    assert msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSED, WSMsgType.CLOSING)
    assert ws.close_code == 1001


async def test_page_and_files_need_auth(client: Client) -> None:
    assert (await client.get("/")).status == 401
    resp = await client.get("/", headers=auth_header())
    assert resp.status == 200 and "TITAN CONSOLE" in await resp.text()
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    for name in ("console.js", "console.css"):
        assert (await client.get(f"/static/{name}")).status == 401
        assert (await client.get(f"/static/{name}", headers=auth_header())).status == 200
    assert (await client.get("/static/..%2Fws.py", headers=auth_header())).status == 404
    assert (await client.get("/static/nope.js", headers=auth_header())).status == 404
