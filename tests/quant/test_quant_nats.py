"""AI Quant over NATS (`titan.cmd.quant`) against a real nats-server with the shipped
config: a run, a rejection (reason required), an approval through the audited path;
refused commands change nothing."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import free_port, make_titan
from tests.natsd import NatsServer
from titan.app import create_app
from titan.clock import ManualClock
from titan.quant.store import QuantStore

pytestmark = pytest.mark.e2e
Client = TestClient[Any, Any]
NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[NatsServer]:
    srv = NatsServer(free_port(), tmp_path / "nats.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


async def test_quant_commands_over_nats(
        server: NatsServer, data_dir: Path,
        aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> None:
    titan = make_titan(data_dir, clock=ManualClock(NOW), nats_url=server.titan_url)
    await aiohttp_client(create_app(titan))  # starts Titan, its bridge with the quant handler
    assert titan.nats is not None and await titan.nats.wait_connected(within_s=10)
    store = QuantStore(titan.db)
    tag = titan.config.version_tag or ""
    await store.add_run("r1", NOW, "api", "t", tag, {})
    figures = {"net_pnl": "1", "max_drawdown": "0", "trades": 1, "equity_curve": []}
    ids = []
    for to in (40, 41):
        await store.add_run(f"r{to}", NOW, "api", "t", tag, {})
        ids.append(await store.finish_run(f"r{to}", NOW, status="done", result={}, proposal={
            "config_version": tag, "strategy": "scavenger",
            "changes": {"scavenger.minTrades": {"from": 50, "to": to}},
            "active": figures, "candidate": figures}))
    pub = await nats.connect(server.operator_url)

    async def send(payload: dict[str, Any]) -> dict[str, Any]:
        reply = await pub.request("titan.cmd.quant", json.dumps(payload).encode(), timeout=10)
        out: dict[str, Any] = json.loads(reply.data)
        return out

    try:
        for bad in ({"action": "reject", "id": ids[0]}, {"action": "approve"},
                    {"action": "run", "id": 1}, {"action": "sell"},
                    {"action": "approve", "id": 999}):
            assert (await send(bad))["ok"] is False, bad
        assert titan.config.version_tag == tag
        assert await send({"action": "reject", "id": ids[0], "reason": "bus"}) == {"ok": True}
        refused = await send({"action": "approve", "id": ids[0]})
        assert refused["ok"] is False and "already rejected" in refused["error"]
        assert await send({"action": "approve", "id": ids[1]}) == {"ok": True}
        assert titan.config.strategies["scavenger"].params["minTrades"] == 41
        assert titan.config.version.actor == "nats"
        assert await send({"action": "run"}) == {"ok": True}  # no trades: done at once
    finally:
        await pub.close()
    rows = await titan.db.fetch_all(
        "SELECT action, success FROM audit_log WHERE source = 'nats' AND action LIKE 'quant.%'"
        " ORDER BY id")
    assert [(r["action"], r["success"]) for r in rows] == [
        ("quant.approve", 0), ("quant.reject", 1), ("quant.approve", 0), ("quant.approve", 1),
        ("quant.run", 1)]
    assert (await store.proposal(ids[0]) or {})["decided_by"] == "nats"
