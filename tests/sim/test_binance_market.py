"""python-binance reads USD-M and spot klines and the USD-M 24 h ticker from the simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from titan.sim import Simulator
from titan.sim.market import MINUTE_MS


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[AsyncClient]:
    c = AsyncClient()
    c.API_URL = sim.base_url + "/api"
    c.FUTURES_URL = sim.base_url + "/fapi"
    try:
        yield c
    finally:
        await c.close_connection()


async def test_futures_and_spot_klines_page_from_start_time(sim: Simulator,
                                                           client: AsyncClient) -> None:
    now = sim.now_ms()
    h4 = 240 * MINUTE_MS
    start = now - now % h4 - 1199 * h4
    rows = await client.futures_klines(symbol="BTCUSDT", interval="4h", startTime=start,
                                       limit=1500)
    assert len(rows) == 1200 and rows[0][0] == start and rows[-1][0] == now - now % h4
    assert all(r[6] == r[0] + h4 - 1 and len(r) == 12 for r in rows)
    end = start + 2 * h4
    rows = await client.futures_klines(symbol="BTCUSDT", interval="4h", startTime=start,
                                       endTime=end, limit=10)
    assert [r[0] for r in rows] == [start, start + h4, end]
    spot = await client.get_klines(symbol="BTCUSDT", interval="4h", startTime=start, limit=3)
    assert spot == rows
    bybit = sim.market.klines("BTCUSDT", "240", start=start, limit=3)
    assert [Decimal(r[4]) for r in rows] == [k.close for k in bybit]
    with pytest.raises(BinanceAPIException) as e:
        await client.futures_klines(symbol="BTCUSDT", interval="7m")
    assert e.value.code == -1120
    with pytest.raises(BinanceAPIException) as e:
        await client.futures_klines(symbol="NOPEUSDT", interval="1m")
    assert e.value.code == -1121


async def test_futures_ticker_24h(sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("ETHUSDT", "3000")
    t = await client.futures_ticker(symbol="ETHUSDT")
    prev, high, low, vol, _ = sim.market.stats_24h("ETHUSDT")
    assert t["symbol"] == "ETHUSDT" and t["lastPrice"] == "3000.00"
    assert Decimal(t["openPrice"]) == prev and Decimal(t["highPrice"]) == high
    assert Decimal(t["lowPrice"]) == low and Decimal(t["volume"]) == vol
    assert Decimal(t["priceChange"]) == 3000 - prev
    every = await client.futures_ticker()
    assert {r["symbol"] for r in every} == set(sim.market.symbols)
    with pytest.raises(BinanceAPIException) as e:
        await client.futures_ticker(symbol="NOPEUSDT")
    assert e.value.code == -1121


async def test_spot_exchange_info(sim: Simulator, client: AsyncClient) -> None:
    info = await client.get_exchange_info()
    assert {r["symbol"] for r in info["symbols"]} == set(sim.market.symbols)
    btc = await client.get_symbol_info("BTCUSDT")
    assert btc is not None and btc["baseAsset"] == "BTC" and btc["quoteAsset"] == "USDT"
    lot = next(f for f in btc["filters"] if f["filterType"] == "LOT_SIZE")
    assert lot["stepSize"] == "0.001"
