"""Real pybit WebSocket clients against the simulator's public and private streams."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

from titan.sim import Simulator

from .conftest import blocking, call, eventually, make_http, make_ws, subscribed


async def test_public_tickers_trades_klines(sim: Simulator) -> None:
    ws = await blocking(make_ws, sim, False)
    got: dict[str, list[dict[str, Any]]] = {"t": [], "p": [], "k": []}
    try:
        await blocking(ws.ticker_stream, symbol="BTCUSDT",
                                callback=lambda m: got["t"].append(copy.deepcopy(m)))
        await blocking(ws.trade_stream, symbol="BTCUSDT",
                                callback=lambda m: got["p"].append(m))
        await blocking(ws.kline_stream, interval=1, symbol="BTCUSDT",
                                callback=lambda m: got["k"].append(m))
        await eventually(lambda: got["t"])
        assert got["t"][0]["data"]["symbol"] == "BTCUSDT"
        await subscribed(sim, "tickers.BTCUSDT", "publicTrade.BTCUSDT", "kline.1.BTCUSDT")
        sim.set_price("BTCUSDT", "63000")
        await eventually(lambda: got["p"] and any(
            m["data"]["lastPrice"] == "63000.00" for m in got["t"]))
        trade = got["p"][-1]["data"][-1]
        assert trade["p"] == "63000.00" and trade["s"] == "BTCUSDT" and trade["S"] in ("Buy", "Sell")
        await eventually(lambda: got["k"] and got["k"][-1]["data"][-1]["close"] == "63000.00")
        sim.emit_trades("BTCUSDT", "63100", 60, spread_ms=50)
        await eventually(lambda: sum(len(m["data"]) for m in got["p"]) >= 61)
        assert ws.is_connected()
    finally:
        await blocking(ws.exit)


async def test_private_stream_order_execution_position_wallet(sim: Simulator) -> None:
    ws = await blocking(make_ws, sim, True)
    got: dict[str, list[dict[str, Any]]] = {"order": [], "execution": [], "position": [],
                                            "wallet": []}
    try:
        for name, fn in (("order", ws.order_stream), ("execution", ws.execution_stream),
                         ("position", ws.position_stream), ("wallet", ws.wallet_stream)):
            await blocking(fn, callback=lambda m, n=name: got[n].append(m))
        await subscribed(sim, "order", "execution", "position", "wallet", private=True)
        http = make_http(sim)
        sim.set_price("ETHUSDT", "3000")
        ask = sim.engine.books["ETHUSDT"].best()[1][0]  # a market buy takes the best ask
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.1", orderLinkId="ws-1")
        await eventually(lambda: all(got.values()))
        o = got["order"][-1]["data"][0]
        assert o["orderLinkId"] == "ws-1" and o["orderStatus"] == "Filled"
        assert o["category"] == "linear"
        e = got["execution"][-1]["data"][0]
        assert e["orderLinkId"] == "ws-1" and e["execQty"] == "0.1" and e["execPrice"] == f"{ask:.2f}"
        assert e["execId"]
        p = got["position"][-1]["data"][0]
        assert p["symbol"] == "ETHUSDT" and p["size"] == "0.1" and p["side"] == "Buy"
        w = got["wallet"][-1]["data"][0]
        assert w["accountType"] == "UNIFIED" and w["coin"][0]["coin"] == "USDT"
        assert ws.is_connected()
    finally:
        await blocking(ws.exit)


async def test_a_create_batch_is_one_push_per_topic(sim: Simulator) -> None:
    """A create-batch goes through the matching engine in one pass: its orders, executions
    and positions come as one message per topic listing them all, each in its final state,
    and the wallet once (as Bybit pushes a batch), not four messages per order."""
    ws = await blocking(make_ws, sim, True)
    got: dict[str, list[dict[str, Any]]] = {"order": [], "execution": [], "position": [],
                                            "wallet": []}
    try:
        for name, fn in (("order", ws.order_stream), ("execution", ws.execution_stream),
                         ("position", ws.position_stream), ("wallet", ws.wallet_stream)):
            await blocking(fn, callback=lambda m, n=name: got[n].append(m))
        await subscribed(sim, "order", "execution", "position", "wallet", private=True)
        sim.set_price("ETHUSDT", "3000")
        sim.set_price("BTCUSDT", "60000")
        res = await call(make_http(sim).place_batch_order, category="linear", request=[
            {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Market", "qty": "0.1",
             "orderLinkId": "wb-1"},
            {"symbol": "BTCUSDT", "side": "Sell", "orderType": "Market", "qty": "0.01",
             "orderLinkId": "wb-2"},
            {"symbol": "ETHUSDT", "side": "Sell", "orderType": "Market", "qty": "0.1",
             "reduceOnly": True, "orderLinkId": "wb-3"},  # closes wb-1's position
        ])
        assert [i["code"] for i in res["retExtInfo"]["list"]] == [0, 0, 0]
        await eventually(lambda: all(got.values()))
        await asyncio.sleep(0.2)  # anything more would have come by now
        assert [len(v) for v in got.values()] == [1, 1, 1, 1]
        orders = got["order"][0]["data"]
        assert [(o["orderLinkId"], o["orderStatus"]) for o in orders] == [
            ("wb-1", "Filled"), ("wb-2", "Filled"), ("wb-3", "Filled")]
        assert [e["orderLinkId"] for e in got["execution"][0]["data"]] == ["wb-1", "wb-2", "wb-3"]
        # one row per position, in its final state: ETH opened and closed within the batch
        pos = {p["symbol"]: p for p in got["position"][0]["data"]}
        assert set(pos) == {"ETHUSDT", "BTCUSDT"} and len(got["position"][0]["data"]) == 2
        assert pos["ETHUSDT"]["size"] == "0" and pos["BTCUSDT"]["size"] == "0.01"
        assert len(got["wallet"][0]["data"]) == 1
    finally:
        await blocking(ws.exit)


async def test_private_stream_bad_auth_is_refused(sim: Simulator) -> None:
    def connect() -> None:
        ws = make_ws(sim, True, api_secret="wrong")
        ws.exit()

    await blocking(connect)
    await eventually(lambda: sim.bybit_ws.auth_failures == 1)
    assert all(not c.key for c in sim.bybit_ws.private)


async def test_dropped_stream_reconnects(sim: Simulator) -> None:
    ws = await blocking(make_ws, sim, False)
    got: list[dict[str, Any]] = []
    try:
        await blocking(ws.trade_stream, symbol="ETHUSDT", callback=got.append)
        await subscribed(sim, "publicTrade.ETHUSDT")
        assert await sim.drop_streams("bybit_public") == 1
        await eventually(lambda: sim.bybit_ws.public and all(
            "publicTrade.ETHUSDT" in c.topics for c in sim.bybit_ws.public), within=10)
        sim.set_price("ETHUSDT", "3100")
        await eventually(lambda: got and got[-1]["data"][-1]["p"] == "3100.00")
    finally:
        await blocking(ws.exit)


async def test_silent_stream_sends_nothing(sim: Simulator) -> None:
    ws = await blocking(make_ws, sim, False)
    got: list[dict[str, Any]] = []
    try:
        await blocking(ws.trade_stream, symbol="ETHUSDT", callback=got.append)
        await subscribed(sim, "publicTrade.ETHUSDT")
        sim.silence_streams("bybit_public")
        sim.set_price("ETHUSDT", "3100")
        await asyncio.sleep(0.2)
        assert got == [] and ws.is_connected()
        sim.silence_streams("bybit_public", silent=False)
        sim.set_price("ETHUSDT", "3101")
        await eventually(lambda: got)
        assert got[-1]["data"][-1]["p"] == "3101.00"
    finally:
        await blocking(ws.exit)


async def test_tickers_follow_the_venue_push_interval(sim: Simulator) -> None:
    """Bybit pushes linear tickers at most once per interval per symbol, with the latest
    values: a burst of 30 trades gives one delta at once and one when the interval ends."""
    import aiohttp

    sim.config.ws_ticker_interval_ms = 1000  # long, so a slow machine cannot split the burst
    async with aiohttp.ClientSession() as s, s.ws_connect(
            f"{sim.base_url}/v5/public/linear") as ws:
        await ws.send_json({"op": "subscribe", "req_id": "1", "args": ["tickers.BTCUSDT"]})
        msgs: list[dict[str, Any]] = []

        async def read() -> None:
            async for m in ws:
                msgs.append(m.json())

        reader = asyncio.ensure_future(read())
        try:
            await eventually(lambda: any(m.get("type") == "snapshot" for m in msgs))
            for i in range(30):  # one synchronous burst
                sim.set_price("BTCUSDT", 60000 + i)
            await eventually(lambda: any(m.get("data", {}).get("lastPrice") == "60029.00"
                                         for m in msgs), within=5)
            await asyncio.sleep(0.3)  # nothing else is owed
            ticks = [m for m in msgs if m.get("topic") == "tickers.BTCUSDT"]
            assert [m["type"] for m in ticks] == ["snapshot", "delta", "delta"]
            assert [m["data"]["lastPrice"] for m in ticks[1:]] == ["60000.00", "60029.00"]
            assert ticks[1]["cs"] < ticks[2]["cs"]
            # 0 = the old behaviour, a delta per trade batch
            sim.config.ws_ticker_interval_ms = 0
            await asyncio.sleep(0)
            for i in range(3):
                sim.set_price("BTCUSDT", 61000 + i)
            await eventually(lambda: sum(m.get("type") == "delta" for m in msgs) == 5)
        finally:
            reader.cancel()
