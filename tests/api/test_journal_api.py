"""Trades, events, audit paging and performance against hand-made journal rows; OpenAPI."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel

from tests.helpers import auth_header, make_titan
from titan.api.journal import stats
from titan.api.keys import TITAN
from titan.api.openapi import api_route, document, openapi_spec
from titan.app import create_app
from titan.clock import ManualClock
from titan.core import Titan

Client = TestClient[Any, Any]
NOW = datetime(2025, 1, 2, 15, 0, 0, tzinfo=UTC)
H = auth_header()


@pytest.fixture
async def client(
    data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Client]:
    app = create_app(make_titan(data_dir, clock=ManualClock(NOW)))
    yield await aiohttp_client(app)


def titan_of(client: Client) -> Titan:
    return client.app[TITAN]


# (symbol, net, gross, fees, closed_at): two yesterday, three today (two formats of UTC).
TRADES = [
    ("BTCUSDT", "100.50", "101.00", "0.50", "2025-01-01T10:00:00Z"),
    ("ETHUSDT", "-40.25", "-40.00", "0.25", "2025-01-01T23:59:59Z"),
    ("BTCUSDT", "12.10", "12.30", "0.20", "2025-01-02T00:00:00Z"),
    ("SOLUSDT", "-7.05", "-7.00", "0.05", "2025-01-02T09:30:00.123456+00:00"),
    ("BTCUSDT", "0.0001", "0.1001", "0.1", "2025-01-02T14:59:59Z"),
]


async def insert_trades(titan: Titan, rows: list[tuple[str, str, str, str, str]]) -> None:
    async with titan.db.write() as conn:
        for symbol, net, gross, fees, closed in rows:
            await conn.execute(
                "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
                " net_pnl, strategy, close_reason, opened_at, closed_at)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (symbol, "Buy", "0.01", "100", "101", gross, fees, net, "scavenger", "TARGET",
                 closed, closed))


async def test_performance_from_hand_made_trades(client: Client) -> None:
    await insert_trades(titan_of(client), TRADES)
    resp = await client.get("/api/performance", headers=H)
    assert resp.status == 200
    body = await resp.json()
    assert body["as_of"] == "2025-01-02T15:00:00Z" and body["day_start"] == "2025-01-02T00:00:00Z"
    today, all_time = body["today"], body["all_time"]
    # 12.10 - 7.05 + 0.0001 = 5.0501; wins 2 of 3.
    assert today == {"realised_pnl": "5.0501", "gross_pnl": "5.4001", "fees": "0.35",
                     "trades": 3, "wins": 2, "losses": 1, "win_rate": "0.6667",
                     "best_trade": "12.1", "worst_trade": "-7.05"}
    # + 100.50 - 40.25 = 65.3001; wins 3 of 5.
    assert all_time["realised_pnl"] == "65.3001" and all_time["trades"] == 5
    assert all_time["wins"] == 3 and all_time["losses"] == 2 and all_time["win_rate"] == "0.6"
    assert all_time["fees"] == "1.1"
    assert Decimal(all_time["realised_pnl"]) == sum(Decimal(t[1]) for t in TRADES)


async def test_performance_with_no_trades(client: Client) -> None:
    body = await (await client.get("/api/performance", headers=H)).json()
    assert body["today"]["trades"] == 0 and body["today"]["win_rate"] is None
    assert body["all_time"]["realised_pnl"] == "0"


def test_stats_counts_break_even_as_neither() -> None:
    rows = [{"net_pnl": "0", "gross_pnl": "0.1", "fees": "0.1"},
            {"net_pnl": "1e2", "gross_pnl": "100", "fees": "0"}]
    s = stats(rows)
    assert s["wins"] == 1 and s["losses"] == 0 and s["trades"] == 2
    assert s["realised_pnl"] == "100" and s["win_rate"] == "0.5"


async def test_trades_are_paged_newest_first_and_filtered(client: Client) -> None:
    await insert_trades(titan_of(client), TRADES)
    body = await (await client.get("/api/trades?limit=2", headers=H)).json()
    assert [t["id"] for t in body["items"]] == [5, 4] and body["next_before"] == 4
    assert body["items"][0]["net_pnl"] == "0.0001"  # money stays a Decimal string
    body = await (await client.get("/api/trades?limit=2&before=4", headers=H)).json()
    assert [t["id"] for t in body["items"]] == [3, 2]
    body = await (await client.get("/api/trades?before=2", headers=H)).json()
    assert [t["id"] for t in body["items"]] == [1] and body["next_before"] is None
    body = await (await client.get("/api/trades?symbol=BTCUSDT", headers=H)).json()
    assert [t["id"] for t in body["items"]] == [5, 3, 1]
    for bad in ("limit=0", "limit=1000", "limit=abc", "before=0", "before=-1", "before=x",
                "symbol=btc%20usdt", "limit=", "limit=1.5"):
        resp = await client.get(f"/api/trades?{bad}", headers=H)
        assert resp.status == 422, bad
        assert (await resp.json())["error"]["code"] == "VALIDATION_ERROR"


async def test_events_filter_by_severity(client: Client) -> None:
    titan = titan_of(client)
    async with titan.db.write() as conn:
        for name, sev in [("CIRCUIT_BREAKER", "CRITICAL"), ("SIGNAL_REJECTED", "LOW"),
                          ("ORDER_FILLED", None), ("VENUE_DISCONNECTED", "HIGH")]:
            await conn.execute(
                "INSERT INTO events(ts, name, severity, message, data) VALUES (?,?,?,?,?)",
                ("2025-01-02T10:00:00+00:00", name, sev, f"{name} happened", '{"k": 1}'))
    await titan.journal.flush()
    body = await (await client.get("/api/events?severity=CRITICAL", headers=H)).json()
    assert [e["name"] for e in body["items"]] == ["CIRCUIT_BREAKER"]
    assert body["items"][0]["data"] == {"k": 1}
    body = await (await client.get("/api/events?alerts=true&limit=500", headers=H)).json()
    assert "ORDER_FILLED" not in [e["name"] for e in body["items"]]
    assert {"CIRCUIT_BREAKER", "SIGNAL_REJECTED", "VENUE_DISCONNECTED"} <= {
        e["name"] for e in body["items"]}
    body = await (await client.get("/api/events?name=ORDER_FILLED", headers=H)).json()
    assert [e["severity"] for e in body["items"]] == [None]
    for bad in ("severity=SEVERE", "alerts=maybe", "name=lower", "limit=-5"):
        assert (await client.get(f"/api/events?{bad}", headers=H)).status == 422, bad


async def test_openapi_lists_every_route_with_auth_statuses(client: Client) -> None:
    resp = await client.get("/api/openapi.json", headers=H)
    assert resp.status == 200
    spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    paths = spec["paths"]
    for path, method in [("/api/console/config", "get"), ("/api/console/config/risk", "post"),
                         ("/api/console/config/whitelist", "post"),
                         ("/api/config/versions", "get"), ("/api/config/rollback", "post"),
                         ("/api/trades", "get"), ("/api/events", "get"), ("/api/audit", "get"),
                         ("/api/performance", "get"), ("/api/openapi.json", "get"),
                         ("/api/health", "get"), ("/health", "get")]:
        op = paths[path][method]
        codes = set(op["responses"])
        if path not in ("/api/health", "/health"):
            assert {"200", "401", "429"} <= codes, path
        if method == "post":
            assert {"400", "403", "413", "422"} <= codes, path
    risk = paths["/api/console/config/risk"]["post"]
    ref = risk["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = spec["components"]["schemas"][ref.split("/")[-1]]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["maxLeverage"]["minimum"] == 5
    assert schema["properties"]["maxLeverage"]["maximum"] == 50
    assert "maxAccountLeverage" in schema["properties"]
    assert set(paths["/api/config/rollback"]["post"]["responses"]) >= {"404", "409"}
    sev = next(p for p in paths["/api/events"]["get"]["parameters"] if p["name"] == "severity")
    assert sev["schema"]["enum"] == ["LOW", "MEDIUM", "HIGH", "CRITICAL"]


class _Body(BaseModel):
    reason: str


class _Out(BaseModel):
    ok: bool


def test_other_modules_register_in_one_call() -> None:
    routes = web.RouteTableDef()

    @api_route(routes, "POST", "/api/_test/thing", body=_Body,
               responses={200: _Out, 409: "already so"})
    async def thing(request: web.Request) -> web.Response:
        """Do the thing."""
        return web.json_response({"ok": True})

    document("GET", "/api/_test/other", summary="documented elsewhere")
    app = web.Application()
    app.router.add_routes(routes)
    spec = openapi_spec(app)
    op = spec["paths"]["/api/_test/thing"]["post"]
    assert op["summary"] == "Do the thing."
    assert set(op["responses"]) == {"200", "400", "401", "403", "409", "413", "422", "429"}
    assert op["responses"]["409"]["description"] == "already so"
    assert "/api/_test/other" not in spec["paths"]  # documented, but this app lacks it
    assert "_Out" in spec["components"]["schemas"] and "_Body" in spec["components"]["schemas"]
    assert "x-undocumented-routes" not in spec
    app.router.add_get("/api/_test/bare", thing)
    assert openapi_spec(app)["x-undocumented-routes"] == ["GET /api/_test/bare"]


async def test_trades_and_performance_by_strategy(client: Client) -> None:
    titan = titan_of(client)
    await insert_trades(titan, TRADES)  # all the Scavenger's
    async with titan.db.write() as conn:  # one of another strategy, today
        await conn.execute(
            "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
            " net_pnl, strategy, close_reason, opened_at, closed_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            ("ETHUSDT", "Sell", "0.1", "2000", "1990", "1.00", "0.10", "0.90", "hunter",
             "TARGET", "2025-01-02T11:00:00Z", "2025-01-02T11:00:00Z"))
    body = await (await client.get("/api/trades?strategy=hunter", headers=H)).json()
    assert [t["strategy"] for t in body["items"]] == ["hunter"]
    body = await (await client.get("/api/trades?strategy=scavenger&limit=500", headers=H)).json()
    assert len(body["items"]) == len(TRADES)
    perf = await (await client.get("/api/performance?strategy=scavenger", headers=H)).json()
    assert perf["strategy"] == "scavenger" and perf["all_time"]["realised_pnl"] == "65.3001"
    total = await (await client.get("/api/performance", headers=H)).json()
    assert total["all_time"]["realised_pnl"] == "66.2001" and total["all_time"]["trades"] == 6
    assert total["by_strategy"]["hunter"]["today"]["realised_pnl"] == "0.9"
    assert total["by_strategy"]["scavenger"]["all_time"]["trades"] == 5
    for bad in ("/api/performance?strategy=Bad-Name", "/api/trades?strategy=x%20y"):
        resp = await client.get(bad, headers=H)
        assert resp.status == 422, bad
