"""Unmodified pybit `HTTP` against the simulator: orders, fills, wallet, errors."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pybit.exceptions import InvalidRequestError
from pybit.unified_trading import HTTP

from titan.sim import Simulator

from .conftest import KEY, KEY2, SECRET, D, call, make_http


def _wallet(res: dict) -> dict:
    return res["result"]["list"][0]


def _pos(res: dict) -> dict:
    return res["result"]["list"][0]


def touch(sim: Simulator, symbol: str, side: str) -> Decimal:
    """Where a small taker order of `side` fills: the best ask for a buy, the best bid
    for a sell (market orders walk the simulator's book)."""
    bid, ask = sim.engine.books[symbol].best()
    return ask[0] if side == "Buy" else bid[0]


async def test_market_order_round_trip_pnl_to_the_cent(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    entry = touch(sim, "BTCUSDT", "Buy")
    assert entry - 60000 in (0, D("0.1"))  # the trade printed on one side of a 1-tick spread
    res = await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                     orderType="Market", qty="0.01", orderLinkId="t-open-1")
    assert res["retCode"] == 0 and res["retMsg"] == "OK"
    assert res["result"]["orderLinkId"] == "t-open-1"
    pos = _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))
    assert pos["side"] == "Buy" and pos["size"] == "0.01" and D(pos["avgPrice"]) == entry
    w = _wallet(await call(http.get_wallet_balance, accountType="UNIFIED"))
    open_fee = D("0.01") * entry * D("0.00055")
    assert D(w["totalWalletBalance"]) == 2000 - open_fee

    sim.set_price("BTCUSDT", "61000")
    upl = D("0.01") * (61000 - entry)
    w = _wallet(await call(http.get_wallet_balance, accountType="UNIFIED"))
    assert D(w["totalPerpUPL"]) == upl
    assert D(w["totalEquity"]) == 2000 - open_fee + upl

    exit_px = touch(sim, "BTCUSDT", "Sell")
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell",
               orderType="Market", qty="0.01", reduceOnly=True, orderLinkId="t-close-1")
    close_fee = D("0.01") * exit_px * D("0.00055")
    pnl = D("0.01") * (exit_px - entry)
    w = _wallet(await call(http.get_wallet_balance, accountType="UNIFIED"))
    assert D(w["totalWalletBalance"]) == 2000 + pnl - open_fee - close_fee
    assert D(w["coin"][0]["cumRealisedPnl"]) == pnl - open_fee - close_fee
    pos = _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))
    assert pos["size"] == "0" and pos["side"] == ""
    ex = (await call(http.get_executions, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert len(ex) == 2 and len({e["execId"] for e in ex}) == 2
    assert {e["orderLinkId"] for e in ex} == {"t-open-1", "t-close-1"}
    assert D(ex[0]["execFee"]) == close_fee and ex[0]["isMaker"] is False


async def test_slippage_applies_to_market_orders(sim: Simulator) -> None:
    sim.config.slippage_bps = Decimal(10)
    http = make_http(sim)
    sim.set_price("ETHUSDT", "3000")
    ask = touch(sim, "ETHUSDT", "Buy")
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="0.1")
    pos = _pos(await call(http.get_positions, category="linear", symbol="ETHUSDT"))
    # 10 bp on top of the level taken, rounded up to the tick (against the taker).
    want = (ask * D("1.001") / D("0.01")).to_integral_value(rounding="ROUND_CEILING") * D("0.01")
    assert D(pos["avgPrice"]) == want


async def test_limit_order_rests_then_fills_as_maker(sim: Simulator, http: HTTP) -> None:
    sim.set_price("SOLUSDT", "150")
    await call(http.place_order, category="linear", symbol="SOLUSDT", side="Buy",
               orderType="Limit", qty="1", price="149.5", orderLinkId="lim-1")
    open_ = (await call(http.get_open_orders, category="linear", symbol="SOLUSDT"))["result"]["list"]
    assert [o["orderLinkId"] for o in open_] == ["lim-1"]
    assert open_[0]["orderStatus"] == "New" and open_[0]["price"] == "149.500"
    sim.set_price("SOLUSDT", "149.6")
    assert (await call(http.get_open_orders, category="linear", symbol="SOLUSDT"))["result"]["list"]
    sim.set_price("SOLUSDT", "149.4")
    assert not (await call(http.get_open_orders, category="linear",
                           symbol="SOLUSDT"))["result"]["list"]
    # A closed order is still found by client id on /v5/order/realtime, like Bybit.
    got = (await call(http.get_open_orders, category="linear", orderLinkId="lim-1"))["result"]["list"]
    assert got[0]["orderStatus"] == "Filled" and got[0]["avgPrice"] == "149.5"
    assert D(got[0]["cumExecFee"]) == D("149.5") * D("0.0002")
    ex = (await call(http.get_executions, category="linear", symbol="SOLUSDT"))["result"]["list"]
    assert ex[0]["isMaker"] is True and ex[0]["execPrice"] == "149.500"
    hist = (await call(http.get_order_history, category="linear", symbol="SOLUSDT"))["result"]["list"]
    assert [o["orderLinkId"] for o in hist] == ["lim-1"]


async def test_marketable_limit_fills_immediately_and_cancel(sim: Simulator, http: HTTP) -> None:
    sim.set_price("XRPUSDT", "0.6")
    ask = touch(sim, "XRPUSDT", "Buy")
    await call(http.place_order, category="linear", symbol="XRPUSDT", side="Buy",
               orderType="Limit", qty="100", price="0.6100", orderLinkId="x-1")
    pos = _pos(await call(http.get_positions, category="linear", symbol="XRPUSDT"))
    assert pos["size"] == "100" and D(pos["avgPrice"]) == ask  # the touch, not the limit
    await call(http.place_order, category="linear", symbol="XRPUSDT", side="Sell",
               orderType="Limit", qty="100", price="0.7000", orderLinkId="x-2")
    res = await call(http.cancel_order, category="linear", symbol="XRPUSDT", orderLinkId="x-2")
    assert res["result"]["orderLinkId"] == "x-2"
    got = (await call(http.get_open_orders, category="linear", orderLinkId="x-2"))["result"]["list"]
    assert got[0]["orderStatus"] == "Cancelled" and got[0]["cancelType"] == "CancelByUser"
    with pytest.raises(InvalidRequestError) as e:
        await call(http.cancel_order, category="linear", symbol="XRPUSDT", orderLinkId="x-2")
    assert e.value.status_code == 110001
    for i in range(3):
        await call(http.place_order, category="linear", symbol="XRPUSDT", side="Sell",
                   orderType="Limit", qty="10", price=f"0.7{i}00")
    first = (await call(http.get_open_orders, category="linear", symbol="XRPUSDT",
                        limit=2))["result"]
    assert len(first["list"]) == 2 and first["nextPageCursor"]
    rest = (await call(http.get_open_orders, category="linear", symbol="XRPUSDT", limit=2,
                       cursor=first["nextPageCursor"]))["result"]
    assert len(rest["list"]) == 1 and rest["nextPageCursor"] == ""
    res = await call(http.cancel_all_orders, category="linear", symbol="XRPUSDT")
    assert len(res["result"]["list"]) == 3


async def test_reduce_only_enforced(sim: Simulator, http: HTTP) -> None:
    sim.set_price("ETHUSDT", "3000")
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Sell",
                   orderType="Market", qty="0.1", reduceOnly=True)
    assert e.value.status_code == 110017
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="0.1")
    with pytest.raises(InvalidRequestError) as e:  # same side as the position
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.1", reduceOnly=True)
    assert e.value.status_code == 110017
    # Larger than the position: clipped to it, never flips.
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Sell",
               orderType="Market", qty="0.5", reduceOnly=True, orderLinkId="ro-1")
    pos = _pos(await call(http.get_positions, category="linear", symbol="ETHUSDT"))
    assert pos["size"] == "0"
    o = (await call(http.get_open_orders, category="linear", orderLinkId="ro-1"))["result"]["list"][0]
    assert o["cumExecQty"] == "0.1" and o["orderStatus"] == "Filled"


async def test_netting_and_flip_one_way(sim: Simulator, http: HTTP) -> None:
    sim.set_price("LTCUSDT", "80")
    await call(http.place_order, category="linear", symbol="LTCUSDT", side="Buy",
               orderType="Market", qty="1")
    sim.set_price("LTCUSDT", "82")
    bid = touch(sim, "LTCUSDT", "Sell")
    await call(http.place_order, category="linear", symbol="LTCUSDT", side="Sell",
               orderType="Market", qty="3")
    pos = _pos(await call(http.get_positions, category="linear", symbol="LTCUSDT"))
    assert pos["side"] == "Sell" and pos["size"] == "2" and D(pos["avgPrice"]) == bid


async def test_sl_and_tp_trigger_on_price(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
               orderType="Market", qty="0.01", stopLoss="59400", takeProfit="61800")
    pos = _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))
    assert pos["stopLoss"] == "59400.00" and pos["takeProfit"] == "61800.00"
    sim.set_price("BTCUSDT", "59500")
    assert _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))["size"] == "0.01"
    sim.set_price("BTCUSDT", "59390")
    pos = _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))
    assert pos["size"] == "0"
    hist = (await call(http.get_order_history, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert hist[0]["stopOrderType"] == "StopLoss" and hist[0]["createType"] == "CreateByStopLoss"

    # Short with a take-profit below.
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Sell",
               orderType="Market", qty="0.01", stopLoss="60000", takeProfit="58000")
    sim.set_price("BTCUSDT", "57990")
    assert _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))["size"] == "0"
    ex = (await call(http.get_executions, category="linear", symbol="BTCUSDT"))["result"]["list"]
    assert ex[0]["stopOrderType"] == "TakeProfit"


async def test_sl_on_wrong_side_refused(sim: Simulator, http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                   orderType="Market", qty="0.01", stopLoss="61000")
    assert e.value.status_code == 10001


async def test_duplicate_order_link_id_refused(sim: Simulator, http: HTTP) -> None:
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="0.01", orderLinkId="dup-1")
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.01", orderLinkId="dup-1")
    assert e.value.status_code == 110072
    assert "OrderLinkedID is duplicate" in e.value.message
    orders = [o for o in sim.inspect(KEY)["orders"] if o["orderLinkId"] == "dup-1"]
    assert len(orders) == 1


async def test_bad_signature_and_unknown_key(sim: Simulator) -> None:
    bad = make_http(sim, secret="wrong")
    with pytest.raises(InvalidRequestError) as e:
        await call(bad.get_wallet_balance, accountType="UNIFIED")
    assert e.value.status_code == 10004 and "error sign" in e.value.message
    with pytest.raises(InvalidRequestError) as e:
        await call(bad.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.01")
    assert e.value.status_code == 10004
    unknown = make_http(sim, key="nobody", secret=SECRET)
    with pytest.raises(InvalidRequestError) as e:
        await call(unknown.get_positions, category="linear", symbol="ETHUSDT")
    assert e.value.status_code == 10003
    assert sim.inspect(KEY)["orders"] == []


async def test_recv_window_enforced(sim: Simulator) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        import hashlib
        import hmac
        ts = "1000"
        sig = hmac.new(SECRET.encode(), (ts + KEY + "5000" + "accountType=UNIFIED").encode(),
                       hashlib.sha256).hexdigest()
        async with s.get(f"{sim.base_url}/v5/account/wallet-balance?accountType=UNIFIED",
                         headers={"X-BAPI-API-KEY": KEY, "X-BAPI-SIGN": sig,
                                  "X-BAPI-TIMESTAMP": ts, "X-BAPI-RECV-WINDOW": "5000"}) as r:
            body = await r.json()
    assert r.status == 200 and body["retCode"] == 10002


async def test_qty_and_price_steps_and_margin(sim: Simulator, http: HTTP) -> None:
    for kw in ({"qty": "0.0015"}, {"qty": "0.0001"}):
        with pytest.raises(InvalidRequestError) as e:
            await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                       orderType="Market", **kw)
        assert e.value.status_code == 10001
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                   orderType="Limit", qty="0.001", price="50000.05")
    assert e.value.status_code == 10001
    with pytest.raises(InvalidRequestError) as e:  # 10x on 2,000 USDT cannot buy 1 BTC
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                   orderType="Market", qty="1")
    assert e.value.status_code == 110007
    assert sim.inspect(KEY)["orders"] == []


async def test_leverage_accounts_are_separate_and_shared_by_key(sim: Simulator, http: HTTP) -> None:
    await call(http.set_leverage, category="linear", symbol="ETHUSDT", buyLeverage="5",
               sellLeverage="5")
    with pytest.raises(InvalidRequestError) as e:
        await call(http.set_leverage, category="linear", symbol="ETHUSDT", buyLeverage="5",
                   sellLeverage="5")
    assert e.value.status_code == 110043
    twin = make_http(sim)  # same key = same account ("by hand on the venue")
    await call(twin.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="0.1")
    pos = _pos(await call(http.get_positions, category="linear", symbol="ETHUSDT"))
    assert pos["size"] == "0.1" and pos["leverage"] == "5"
    other = make_http(sim, key=KEY2, secret="other-secret")
    pos2 = _pos(await call(other.get_positions, category="linear", symbol="ETHUSDT"))
    assert pos2["size"] == "0"
    listed = await call(http.get_positions, category="linear", settleCoin="USDT")
    assert [p["symbol"] for p in listed["result"]["list"]] == ["ETHUSDT"]


async def test_market_data_endpoints(sim: Simulator) -> None:
    pub = HTTP(testnet=False)
    pub.endpoint = sim.base_url
    inst = (await call(pub.get_instruments_info, category="linear"))["result"]["list"]
    assert len(inst) >= 10
    btc = next(i for i in inst if i["symbol"] == "BTCUSDT")
    assert btc["priceFilter"]["tickSize"] == "0.10" and btc["lotSizeFilter"]["qtyStep"] == "0.001"
    kl = (await call(pub.get_kline, category="linear", symbol="BTCUSDT", interval="1",
                     limit=1000))["result"]["list"]
    assert len(kl) == 1000 and int(kl[0][0]) > int(kl[1][0])  # newest first
    assert all(len(row) == 7 for row in kl)
    kl60 = (await call(pub.get_kline, category="linear", symbol="BTCUSDT", interval="60",
                       limit=48))["result"]["list"]
    assert len(kl60) == 48 and int(kl60[0][0]) - int(kl60[1][0]) == 3_600_000
    sim.set_price("BTCUSDT", "64000")
    t = (await call(pub.get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert t["lastPrice"] == "64000.00"
    assert int((await call(pub.get_server_time))["result"]["timeSecond"]) > 0


async def test_batch_place_answers_each_order_on_its_own(sim: Simulator, http: HTTP) -> None:
    """/v5/order/create-batch: every order is validated and booked on its own; a refused
    one (reduce-only with nothing to reduce, a duplicate client id) leaves the others be."""
    sim.set_price("BTCUSDT", "60000")
    sim.set_price("ETHUSDT", "3000")
    res = await call(http.place_batch_order, category="linear", request=[
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01",
         "orderLinkId": "b-1"},
        {"symbol": "ETHUSDT", "side": "Sell", "orderType": "Market", "qty": "0.1",
         "reduceOnly": True, "orderLinkId": "b-2"},
        {"symbol": "ETHUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.1",
         "price": "2000", "timeInForce": "GTC", "orderLinkId": "b-3"},
        {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Market", "qty": "0.01",
         "orderLinkId": "b-1"},
    ])
    assert res["retCode"] == 0
    rows, infos = res["result"]["list"], res["retExtInfo"]["list"]
    assert [i["code"] for i in infos] == [0, 110017, 0, 110072]
    assert [r["orderLinkId"] for r in rows] == ["b-1", "b-2", "b-3", "b-1"]
    assert rows[0]["orderId"] and rows[2]["orderId"]
    assert rows[1]["orderId"] == "" and rows[3]["orderId"] == ""
    acc = sim.engine.account(KEY)
    assert acc.by_link["b-1"].status == "Filled" and acc.by_link["b-3"].status == "New"
    assert "b-2" not in acc.by_link
    pos = _pos(await call(http.get_positions, category="linear", symbol="BTCUSDT"))
    assert pos["size"] == "0.01"  # the duplicate did not fill a second time


async def test_batch_place_refuses_an_empty_or_oversized_request(sim: Simulator, http: HTTP) -> None:
    one = {"symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit", "qty": "0.001",
           "price": "1000", "timeInForce": "GTC"}
    with pytest.raises(InvalidRequestError) as exc:
        await call(http.place_batch_order, category="linear",
                   request=[{**one, "orderLinkId": f"o-{n}"} for n in range(21)])
    assert exc.value.status_code == 10001
    with pytest.raises(InvalidRequestError):
        await call(http.place_batch_order, category="linear", request=[])
    assert not sim.engine.account(KEY).orders  # nothing of the refused request was booked
