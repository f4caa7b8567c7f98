"""The symbol universe comes from the venue (SPEC §14): listed with 24 h turnover, the
whitelist validated against it, the streamed symbols following the whitelist on a real
venue; the paper profile shows its simulator's symbols. Real sockets to the simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan
from titan.app import create_app
from titan.sim import SimConfig, Simulator
from titan.sim.config import DEFAULT_SYMBOLS

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
H = auth_header()
KEY, SECRET = "universe-key", "universe-secret"


async def test_paper_profile_lists_the_simulators_symbols_with_turnover(
        data_dir: Path, aiohttp_client: MakeClient) -> None:
    titan = make_titan(data_dir)
    client = await aiohttp_client(create_app(titan))
    body = await (await client.get("/api/universe", headers=H)).json()
    listed = body["instruments"]
    assert {i["symbol"] for i in listed} == set(DEFAULT_SYMBOLS)
    assert body["streamed"] == list(DEFAULT_SYMBOLS)
    turnovers = [Decimal(i["turnover24h"]) for i in listed]
    assert all(t > 0 for t in turnovers) and turnovers == sorted(turnovers, reverse=True)
    whitelist = set(titan.config.active.whitelist)
    assert {i["symbol"] for i in listed if i["whitelisted"]} == whitelist


async def test_a_real_venue_validates_and_streams_the_whitelist(
        data_dir: Path, aiohttp_client: MakeClient) -> None:
    # A venue listing four symbols, none of the other six of the simulator's defaults.
    sim = Simulator(SimConfig(seed=3, accounts={KEY: SECRET}, tick_hz=5,
                              symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT", "ADAUSDT")))
    await sim.start()
    try:
        titan = make_titan(data_dir, venue="bybit", bybit_api_key=KEY, bybit_api_secret=SECRET,
                           bybit_url=sim.base_url, binance_url=sim.base_url)
        client = await aiohttp_client(create_app(titan))
        assert titan.market.venue_connected  # a fixed ten-symbol list would not load here
        body = await (await client.get("/api/universe", headers=H)).json()
        assert {i["symbol"] for i in body["instruments"]} == {"BTCUSDT", "ETHUSDT", "SOLUSDT",
                                                              "ADAUSDT"}
        assert body["streamed"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]  # the whitelist
        tag = titan.config.version_tag
        resp = await client.post("/api/console/config/whitelist", headers=H,
                                 json={"action": "add", "symbol": "LTCUSDT"})
        assert resp.status == 422, await resp.text()  # not listed by this venue
        assert titan.config.version_tag == tag
        resp = await client.post("/api/console/config/whitelist", headers=H,
                                 json={"action": "add", "symbol": "ADAUSDT"})
        assert resp.status == 200, await resp.text()
        deadline = asyncio.get_running_loop().time() + 15
        while titan.market.price("ADAUSDT") is None:  # streamed at once, no restart
            assert asyncio.get_running_loop().time() < deadline, "ADAUSDT never streamed"
            await asyncio.sleep(0.05)
        body = await (await client.get("/api/universe", headers=H)).json()
        assert "ADAUSDT" in body["streamed"]
        assert titan.venue is not None and titan.venue.instrument("ADAUSDT") is not None
        await client.close()  # Titan stops before its venue does
    finally:
        await sim.stop()
