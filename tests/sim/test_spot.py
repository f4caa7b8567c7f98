"""Bybit spot in the unified account: orders, coin balances, refusals, the spot stream."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket

from titan.sim import Simulator
from titan.sim.spot import SPOT_FEE

from .conftest import KEY, D, blocking, call, eventually


def _coins(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["coin"]: c for c in res["result"]["list"][0]["coin"]}


async def test_market_buy_in_quote_then_sell_in_base(sim: Simulator, http: HTTP) -> None:
    sim.set_price("ETHUSDT", "3000")
    asks = sim.spot.books["ETHUSDT"].asks(3)
    res = await call(http.place_order, category="spot", symbol="ETHUSDT", side="Buy",
                     orderType="Market", qty="300", orderLinkId="sp-1")  # 300 USDT
    assert res["retCode"] == 0
    o = (await call(http.get_order_history, category="spot", orderLinkId="sp-1"))["result"]
    order = o["list"][0]
    assert order["orderStatus"] == "Filled" and order["marketUnit"] == "quoteCoin"
    bought = D(order["cumExecQty"])
    assert D(order["cumExecValue"]) <= 300 and bought * asks[0][0] <= 300
    fee = (bought * SPOT_FEE).quantize(D("0.00000001"))
    assert order["cumFeeDetail"] == {"ETH": f"{fee.normalize():f}"}
    w = await call(http.get_wallet_balance, accountType="UNIFIED")
    coins = _coins(w)
    assert D(coins["ETH"]["walletBalance"]) == bought - fee
    assert D(coins["USDT"]["walletBalance"]) == 2000 - D(order["cumExecValue"])
    # Nothing on the perp side.
    assert (await call(http.get_open_orders, category="linear"))["result"]["list"] == []
    assert sim.inspect(KEY)["positions"] == []

    sell = (bought - fee).quantize(D("0.00001"), rounding="ROUND_DOWN")
    bid = sim.spot.books["ETHUSDT"].bids(1)[0][0]
    await call(http.place_order, category="spot", symbol="ETHUSDT", side="Sell",
               orderType="Market", qty=str(sell), orderLinkId="sp-2")
    ex = (await call(http.get_executions, category="spot", orderLinkId="sp-2"))["result"]["list"]
    assert D(ex[0]["execPrice"]) == bid and ex[0]["feeCurrency"] == "USDT"
    coins = _coins(await call(http.get_wallet_balance, accountType="UNIFIED"))
    assert D(coins["ETH"]["walletBalance"]) == bought - fee - sell


async def test_limit_rests_then_fills_when_spot_crosses(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    await call(http.place_order, category="spot", symbol="BTCUSDT", side="Buy",
               orderType="Limit", qty="0.01", price="59000", orderLinkId="sl-1")
    open_ = (await call(http.get_open_orders, category="spot"))["result"]["list"]
    assert [o["orderLinkId"] for o in open_] == ["sl-1"]
    # USDT for it is held: the perp side cannot use it.
    w = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    assert D(w["totalAvailableBalance"]) == 2000 - 590
    # A second one is cancelled by category; the linear side cannot see or cancel it.
    await call(http.place_order, category="spot", symbol="BTCUSDT", side="Buy",
               orderType="Limit", qty="0.001", price="50000", orderLinkId="sl-2")
    with pytest.raises(InvalidRequestError) as e:
        await call(http.cancel_order, category="linear", symbol="BTCUSDT", orderLinkId="sl-2")
    assert e.value.status_code == 110001
    await call(http.cancel_order, category="spot", symbol="BTCUSDT", orderLinkId="sl-2")
    sim.set_price("BTCUSDT", "58000")
    got = (await call(http.get_open_orders, category="spot", orderLinkId="sl-1"))["result"]
    assert got["list"][0]["orderStatus"] == "Filled"
    assert sim.engine.accounts[KEY].coins["BTC"] == D("0.01") - D("0.01") * SPOT_FEE


async def test_spot_refusals_change_nothing(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    before = sim.inspect(KEY)
    for kw, code in (({"side": "Buy", "orderType": "Market", "qty": "5000"}, 170131),
                     ({"side": "Sell", "orderType": "Market", "qty": "0.01"}, 170131),
                     ({"side": "Buy", "orderType": "Limit", "qty": "0.00001",
                       "price": "60000"}, 170140),
                     ({"side": "Buy", "orderType": "Limit", "qty": "0.01",
                       "price": "60000.05"}, 170134),
                     ({"side": "Buy", "orderType": "Market", "qty": "1"}, 170140),
                     ({"side": "Buy", "orderType": "Market", "qty": "10",
                       "marketUnit": "lots"}, 10001)):
        with pytest.raises(InvalidRequestError) as e:
            await call(http.place_order, category="spot", symbol="BTCUSDT", **kw)
        assert e.value.status_code == code, kw
    assert sim.inspect(KEY) == before


async def test_spot_public_stream(sim: Simulator) -> None:
    url = sim.ws_url + "/v5/public/spot"

    class SpotWS(WebSocket):  # type: ignore[misc]
        def _connect(self, _url: str) -> None:
            super()._connect(url)

    ws = await blocking(SpotWS, testnet=False, channel_type="spot")
    trades: list[dict[str, Any]] = []
    books: list[dict[str, Any]] = []
    try:
        await blocking(ws.trade_stream, symbol="BTCUSDT", callback=trades.append)
        await blocking(ws.orderbook_stream, depth=50, symbol="BTCUSDT", callback=books.append)
        await eventually(lambda: any({"publicTrade.BTCUSDT", "orderbook.50.BTCUSDT"} <= c.topics
                                     for c in sim.bybit_ws.spot_conns))
        sim.set_price("BTCUSDT", "61000")
        await eventually(lambda: trades and len(books) >= 2)
    finally:
        await blocking(ws.exit)
    px = Decimal(trades[-1]["data"][-1]["p"])
    assert px == sim.spot.last["BTCUSDT"] == sim.spot.spot_price("BTCUSDT", D(61000))
    top_bid = max(D(b[0]) for b in books[-1]["data"]["b"])
    top_ask = min(D(a[0]) for a in books[-1]["data"]["a"])
    assert top_bid < top_ask and px in (top_bid, top_ask)
