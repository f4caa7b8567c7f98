"""Raw wire checks of control replies pybit relies on, and the latency recorder."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import time

import aiohttp

from titan.sim import Simulator

from .conftest import KEY, SECRET, call, make_http


async def _next(ws: aiohttp.ClientWebSocketResponse) -> dict:
    return await ws.receive_json(timeout=5)  # type: ignore[no-any-return]


async def test_public_control_replies(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
        await ws.send_json({"op": "ping", "req_id": "p1"})
        pong = await _next(ws)
        assert pong["op"] == "ping" and pong["ret_msg"] == "pong" and pong["success"] is True
        await ws.send_json({"op": "subscribe", "req_id": "s1", "args": ["nonsense.BTCUSDT"]})
        bad = await _next(ws)
        assert bad["op"] == "subscribe" and bad["success"] is False and bad["req_id"] == "s1"
        await ws.send_json({"op": "subscribe", "req_id": "s2", "args": ["kline.5.ETHUSDT"]})
        ok = await _next(ws)
        assert ok["success"] is True
        snap = await _next(ws)
        assert snap["topic"] == "kline.5.ETHUSDT" and snap["data"][0]["interval"] == "5"
        sim.set_price("ETHUSDT", "3333")
        upd = await _next(ws)
        assert upd["data"][-1]["close"] == "3333.00" and upd["data"][-1]["confirm"] is False


async def test_private_requires_auth(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/v5/private") as ws:
        await ws.send_json({"op": "subscribe", "req_id": "x", "args": ["order"]})
        assert (await _next(ws))["success"] is False
        expires = int(time.time() * 1000) + 10_000
        sig = hmac.new(SECRET.encode(), f"GET/realtime{expires}".encode(),
                       hashlib.sha256).hexdigest()
        await ws.send_json({"op": "auth", "args": [KEY, expires, sig]})
        auth = await _next(ws)
        assert auth == {"success": True, "ret_msg": "", "op": "auth", "conn_id": auth["conn_id"]}
        await ws.send_json({"op": "ping", "req_id": "p"})
        pong = await _next(ws)
        assert pong["op"] == "pong"
        await ws.send_json({"op": "subscribe", "req_id": "y", "args": ["order", "wallet"]})
        assert (await _next(ws))["success"] is True


async def test_recorder_wire_timestamps(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/ws/btcusdt@aggTrade") as ws:
        trades = sim.emit_trades("BTCUSDT", "60000", 50, spread_ms=20)
        for _ in range(50):
            await ws.receive_json(timeout=5)
    sent = [r for r in sim.recorder.trades if r.stream == "binance_spot"]
    assert [r.trade_id for r in sent] == [t.trade_id for t in trades]
    assert all(b.ns >= a.ns for a, b in itertools.pairwise(sent))
    http = make_http(sim)
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
               orderType="Market", qty="0.001", orderLinkId="lat-1")
    arrived = [o for o in sim.recorder.orders if o.client_id == "lat-1"]
    assert len(arrived) == 1 and arrived[0].venue == "bybit" and arrived[0].ns > sent[-1].ns
