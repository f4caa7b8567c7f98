"""Deviations from Bybit v5 an outside client found (issue 17), each pinned by a test.

Each of these failed on the simulator before the fix (category ignored on public
endpoints, 10001 for an empty category, login refusal lost to the close, missing
cumFeeDetail/execPnl, 404 on coin/query-info and user/query-api, 500s on malformed input).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import aiohttp
import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from titan.sim import Simulator

from .conftest import KEY, SECRET, D, call


async def test_public_endpoints_answer_per_category(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    lin = (await call(http.get_tickers, category="linear", symbol="BTCUSDT"))["result"]
    spot = (await call(http.get_tickers, category="spot", symbol="BTCUSDT"))["result"]
    assert lin["category"] == "linear" and spot["category"] == "spot"
    assert "fundingRate" in lin["list"][0] and "fundingRate" not in spot["list"][0]
    assert "usdIndexPrice" in spot["list"][0]
    # Spot trades at the perp's price plus a small seeded basis (within ±4 bp).
    basis = D(spot["list"][0]["lastPrice"]) / D(lin["list"][0]["lastPrice"]) - 1
    assert abs(basis) <= D("0.0004")
    inst = (await call(http.get_instruments_info, category="spot", symbol="BTCUSDT"))["result"]
    row = inst["list"][0]
    assert "contractType" not in row and "basePrecision" in row["lotSizeFilter"]
    kl = (await call(http.get_kline, category="spot", symbol="BTCUSDT", interval="1",
                     limit=3))["result"]
    assert kl["category"] == "spot" and len(kl["list"]) == 3
    # Inverse: nothing listed; a symbol there is unknown, as Bybit answers.
    inv = (await call(http.get_tickers, category="inverse"))["result"]
    assert inv == {"category": "inverse", "list": []}
    with pytest.raises(InvalidRequestError) as e:
        await call(http.get_tickers, category="inverse", symbol="BTCUSDT")
    assert e.value.status_code == 10001
    with pytest.raises(InvalidRequestError) as e:
        await call(http.get_tickers, category="futures")
    assert e.value.status_code == 10001


async def test_private_endpoints_answer_empty_for_an_empty_category(http: HTTP) -> None:
    for fn, kw in ((http.get_open_orders, {"category": "spot"}),
                   (http.get_order_history, {"category": "inverse"}),
                   (http.get_executions, {"category": "spot"}),
                   (http.get_positions, {"category": "inverse", "settleCoin": "USD"})):
        res = await call(fn, **kw)
        assert res["retCode"] == 0 and res["result"]["list"] == [], (fn, res)
        assert res["result"]["category"] == kw["category"]


async def test_refused_private_login_is_answered_before_the_close(sim: Simulator) -> None:
    expires = str(int(time.time() * 1000) + 30_000)
    sig = hmac.new(b"wrong", f"GET/realtime{expires}".encode(), hashlib.sha256).hexdigest()
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/v5/private") as ws:
        await ws.send_str(json.dumps({"op": "auth", "args": [KEY, expires, sig]}))
        msg = await ws.receive(timeout=5)
        assert msg.type == aiohttp.WSMsgType.TEXT, msg
        reply = json.loads(msg.data)
        assert reply["op"] == "auth" and reply["success"] is False
        assert reply["ret_msg"] == "Request not authorized"
        closing = await ws.receive(timeout=5)
        assert closing.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)


async def test_orders_and_executions_carry_fee_detail_and_exec_pnl(sim: Simulator,
                                                                   http: HTTP) -> None:
    sim.set_price("ETHUSDT", "3000")
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="0.1", orderLinkId="fd-1")
    sim.set_price("ETHUSDT", "3100")
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Sell",
               orderType="Market", qty="0.1", reduceOnly=True, orderLinkId="fd-2")
    o = (await call(http.get_order_history, category="linear", orderLinkId="fd-2"))["result"]
    order = o["list"][0]
    assert order["cumFeeDetail"] == {"USDT": order["cumExecFee"]}
    ex = (await call(http.get_executions, category="linear", orderLinkId="fd-2"))["result"]
    e = ex["list"][0]
    entry = D((await call(http.get_executions, category="linear",
                          orderLinkId="fd-1"))["result"]["list"][0]["execPrice"])
    assert D(e["execPnl"]) == D("0.1") * (D(e["execPrice"]) - entry)
    assert {"extraFees", "marketUnit", "isLeverage", "feeCurrency"} <= set(e)


async def test_startup_queries_of_third_party_clients(http: HTTP) -> None:
    coins = (await call(http.get_coin_info))["result"]["rows"]
    assert {"USDT", "BTC", "ETH"} <= {c["coin"] for c in coins}
    assert coins[0]["chains"][0]["chain"]
    one = (await call(http.get_coin_info, coin="BTC"))["result"]["rows"]
    assert [c["coin"] for c in one] == ["BTC"]
    key = (await call(http.get_api_key_information))["result"]
    assert key["apiKey"] == KEY and key["readOnly"] == 0 and key["uta"] == 1


def _signed(sim: Simulator, method: str, path: str, body: str = "",
            query: str = "") -> tuple[str, dict[str, str]]:
    ts = str(int(time.time() * 1000))
    payload = query if method == "GET" else body
    sign = hmac.new(SECRET.encode(), (ts + KEY + "5000" + payload).encode(),
                    hashlib.sha256).hexdigest()
    url = sim.base_url + path + (f"?{query}" if query else "")
    return url, {"X-BAPI-API-KEY": KEY, "X-BAPI-SIGN": sign, "X-BAPI-TIMESTAMP": ts,
                 "X-BAPI-RECV-WINDOW": "5000", "Content-Type": "application/json"}


@pytest.mark.parametrize(("method", "path", "payload"), [
    ("POST", "/v5/order/create", "[1, 2]"),
    ("POST", "/v5/order/create", json.dumps({"category": "linear", "symbol": "BTCUSDT",
                                             "side": "Buy", "orderType": "Market",
                                             "qty": "abc"})),
    ("POST", "/v5/order/create", json.dumps({"category": "spot", "symbol": "BTCUSDT",
                                             "side": "Buy", "orderType": "Market",
                                             "qty": "1e9"})),
    ("GET", "/v5/order/realtime", "category=linear&limit=abc"),
    ("GET", "/v5/execution/list", "category=linear&startTime=yesterday"),
    ("GET", "/v5/market/kline", "category=linear&symbol=BTCUSDT&interval=1&limit=x"),
    ("GET", "/v5/market/orderbook", "category=linear&symbol=BTCUSDT&limit=9999"),
    ("GET", "/v5/market/recent-trade", "category=spot"),
    ("GET", "/v5/market/funding/history", "category=spot&symbol=BTCUSDT"),
])
async def test_malformed_requests_get_bybit_errors_and_change_nothing(
        sim: Simulator, method: str, path: str, payload: str) -> None:
    before = json.dumps(sim.inspect(KEY), default=str)
    url, headers = _signed(sim, method, path, body=payload if method == "POST" else "",
                           query=payload if method == "GET" else "")
    async with aiohttp.ClientSession() as s:
        req = s.post(url, data=payload, headers=headers) if method == "POST" else \
            s.get(url, headers=headers)
        async with req as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
    assert body["retCode"] in (10001, 170131, 170140), body
    assert isinstance(body["retMsg"], str) and body["retMsg"]
    assert set(body) == {"retCode", "retMsg", "result", "retExtInfo", "time"}
    assert json.dumps(sim.inspect(KEY), default=str) == before


async def test_unknown_orderbook_depth_is_refused_on_subscribe(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as s, s.ws_connect(sim.ws_url + "/v5/public/linear") as ws:
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderbook.25.BTCUSDT"]}))
        reply = json.loads((await ws.receive(timeout=5)).data)
        assert reply["op"] == "subscribe" and reply["success"] is False
        assert "orderbook.25.BTCUSDT" in reply["ret_msg"]
        await ws.send_str(json.dumps({"op": "subscribe", "args": ["orderbook.1.BTCUSDT"]}))
        ok = json.loads((await ws.receive(timeout=5)).data)
        snap = json.loads((await ws.receive(timeout=5)).data)
        assert ok["success"] is True and snap["type"] == "snapshot"
        assert len(snap["data"]["b"]) == len(snap["data"]["a"]) == 1


async def test_a_refused_order_leaves_the_account_untouched(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    for kw, code in (({"qty": "10"}, 110007), ({"qty": "0.01", "reduceOnly": True}, 110017),
                     ({"qty": "0.0001"}, 10001)):
        with pytest.raises(InvalidRequestError) as e:
            await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                       orderType="Market", **kw)
        assert e.value.status_code == code
    acc = sim.engine.accounts[KEY]
    assert acc.positions == {} and acc.orders == [] and acc.executions == []
    assert acc.wallet_balance == 2000
