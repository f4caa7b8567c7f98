"""Real python-binance clients against the simulator: spot aggTrade streams and USD-M."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException

from titan.sim import Simulator

from .conftest import KEY, SECRET, call, make_http


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(api_key=KEY, api_secret=SECRET)
    c.API_URL = sim.base_url + "/api"
    c.FUTURES_URL = sim.base_url + "/fapi"
    try:
        yield c
    finally:
        await c.close_connection()


def _bsm(sim: Simulator, client: AsyncClient) -> BinanceSocketManager:
    bsm = BinanceSocketManager(client)
    bsm.STREAM_URL = sim.ws_url + "/"
    bsm.FSTREAM_URL = sim.ws_url + "/"
    return bsm


def _fast(sock: Any) -> Any:
    # Closing waits up to TIMEOUT (10 s) for the idle read loop; tests need not.
    sock.TIMEOUT = 0.2
    return sock


async def _recv_n(sock: Any, n: int) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    while len(out) < n:
        msg = await asyncio.wait_for(sock.recv(), 5)
        if msg.get("e") == "error":
            raise AssertionError(msg)
        out.append(msg)
    return out


async def _wait_subscribed(sim: Simulator, stream: str) -> None:
    for _ in range(500):
        if sim.binance._by_stream.get(stream):
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{stream} never subscribed")


async def test_aggtrade_stream_in_order(sim: Simulator, client: AsyncClient) -> None:
    async with _fast(_bsm(sim, client).aggtrade_socket("BTCUSDT")) as sock:
        await _wait_subscribed(sim, "btcusdt@aggTrade")
        trades = sim.emit_trades("BTCUSDT", "62000", 60, spread_ms=50)
        got = await _recv_n(sock, 60)
    assert [m["a"] for m in got] == [t.trade_id for t in trades]
    m = got[0]
    assert m["e"] == "aggTrade" and m["s"] == "BTCUSDT" and m["M"] is True
    assert Decimal(m["p"]) == trades[0].price and isinstance(m["m"], bool)
    assert all(abs(Decimal(x["p"]) / 62000 - 1) < Decimal("0.001") for x in got)
    # Spot and perp are one market: the Bybit last price moved with the burst.
    assert sim.engine.last["BTCUSDT"] == trades[-1].price
    sent = [r for r in sim.recorder.trades if r.stream == "binance_spot"]
    assert [r.trade_id for r in sent] == [t.trade_id for t in trades]


async def test_combined_stream_wraps(sim: Simulator, client: AsyncClient) -> None:
    streams = ["btcusdt@aggTrade", "ethusdt@aggTrade"]
    async with _fast(_bsm(sim, client).multiplex_socket(streams)) as sock:
        await _wait_subscribed(sim, "ethusdt@aggTrade")
        sim.set_price("ETHUSDT", "3000")
        sim.set_price("BTCUSDT", "60000")
        got = await _recv_n(sock, 2)
    assert [m["stream"] for m in got] == ["ethusdt@aggTrade", "btcusdt@aggTrade"]
    assert got[0]["data"]["p"] == "3000.00" and got[1]["data"]["s"] == "BTCUSDT"


async def test_futures_orders_positions_balance(sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("ETHUSDT", "3000")
    ask = sim.engine.books["ETHUSDT"].best()[1][0]  # a market buy takes the best ask
    res = await client.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET",
                                            quantity="0.1", newClientOrderId="bn-1")
    assert res["clientOrderId"] == "bn-1" and res["status"] == "FILLED"
    assert res["executedQty"] == "0.1"
    pos = await client.futures_position_information(symbol="ETHUSDT")
    assert pos[0]["positionAmt"] == "0.1" and Decimal(pos[0]["entryPrice"]) == ask
    bal = await client.futures_account_balance()
    assert Decimal(bal[0]["balance"]) == 2000 - Decimal("0.1") * ask * Decimal("0.00055")
    got = await client.futures_get_order(symbol="ETHUSDT", origClientOrderId="bn-1")
    assert got["orderId"] == res["orderId"]
    lim = await client.futures_create_order(symbol="ETHUSDT", side="SELL", type="LIMIT",
                                            quantity="0.1", price="3100", timeInForce="GTC",
                                            newClientOrderId="bn-2")
    assert lim["status"] == "NEW"
    assert [o["clientOrderId"] for o in await client.futures_get_open_orders()] == ["bn-2"]
    canc = await client.futures_cancel_order(symbol="ETHUSDT", origClientOrderId="bn-2")
    assert canc["status"] == "CANCELED"
    await client.futures_create_order(symbol="ETHUSDT", side="SELL", type="LIMIT",
                                      quantity="0.1", price="3100", timeInForce="GTC",
                                      newClientOrderId="bn-3")
    done = await client.futures_cancel_all_open_orders(symbol="ETHUSDT")
    assert done["code"] == 200
    assert await client.futures_get_open_orders(symbol="ETHUSDT") == []
    trades = await client.futures_account_trades(symbol="ETHUSDT")
    assert len(trades) == 1
    assert Decimal(trades[0]["commission"]) == Decimal("0.1") * ask * Decimal("0.00055")
    with pytest.raises(BinanceAPIException) as e:
        await client.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET",
                                          quantity="0.1", newClientOrderId="bn-1")
    assert e.value.code == -4116
    # Same account as the Bybit front.
    http = make_http(sim)
    p = (await call(http.get_positions, category="linear", symbol="ETHUSDT"))["result"]["list"][0]
    assert p["size"] == "0.1"
    info = await client.futures_exchange_info()
    assert {s["symbol"] for s in info["symbols"]} >= {"BTCUSDT", "ETHUSDT"}
    assert (await client.futures_time())["serverTime"] > 0
    assert await client.futures_ping() == {}


async def test_futures_bad_signature_and_key(sim: Simulator) -> None:
    bad = AsyncClient(api_key=KEY, api_secret="wrong")
    bad.FUTURES_URL = sim.base_url + "/fapi"
    unknown = AsyncClient(api_key="nobody", api_secret=SECRET)
    unknown.FUTURES_URL = sim.base_url + "/fapi"
    try:
        with pytest.raises(BinanceAPIException) as e:
            await bad.futures_account_balance()
        assert e.value.code == -1022 and e.value.message == "Signature for this request is not valid."
        with pytest.raises(BinanceAPIException) as e:
            await unknown.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET",
                                               quantity="0.1", newClientOrderId="x")
        assert e.value.code == -2015 and e.value.status_code == 401
    finally:
        await bad.close_connection()
        await unknown.close_connection()
    assert sim.inspect(KEY)["orders"] == []


async def test_futures_rate_limit_and_ambiguous(sim: Simulator, client: AsyncClient) -> None:
    sim.faults.rate_limit_next = 1
    with pytest.raises(BinanceAPIException) as e:
        await client.futures_account_balance()
    assert e.value.status_code == 429 and e.value.code == -1003
    sim.faults.update(ambiguous_next=1, ambiguous_mode="5xx")
    with pytest.raises(BinanceAPIException):
        await client.futures_create_order(symbol="ETHUSDT", side="BUY", type="MARKET",
                                          quantity="0.1", newClientOrderId="amb-b")
    got = await client.futures_get_order(symbol="ETHUSDT", origClientOrderId="amb-b")
    assert got["status"] == "FILLED"
    assert len([o for o in sim.inspect(KEY)["orders"] if o["orderLinkId"] == "amb-b"]) == 1


async def test_futures_user_stream(sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("SOLUSDT", "150")
    async with _fast(_bsm(sim, client).futures_user_socket()) as sock:
        for _ in range(500):
            if sim.binance.user:
                break
            await asyncio.sleep(0.01)
        # A market buy lifts the best ask (the print at 150 may have been on either side).
        ask = sim.engine.books["SOLUSDT"].best()[1][0]
        await client.futures_create_order(symbol="SOLUSDT", side="BUY", type="MARKET",
                                          quantity="1", newClientOrderId="us-1")
        got = await _recv_n(sock, 3)
    kinds = [(m["e"], m.get("o", {}).get("x")) for m in got]
    assert kinds == [("ORDER_TRADE_UPDATE", "NEW"), ("ORDER_TRADE_UPDATE", "TRADE"),
                     ("ACCOUNT_UPDATE", None)]
    trade = got[1]["o"]
    assert trade["c"] == "us-1" and trade["X"] == "FILLED" and trade["L"] == f"{ask:.3f}"
    assert got[2]["a"]["P"][0]["pa"] == "1"
