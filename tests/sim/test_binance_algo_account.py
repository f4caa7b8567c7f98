"""python-binance's AsyncClient against the simulator: conditional (algo) orders, the
USD-M account and leverage brackets, and spot REST aggTrades matching the stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from titan.sim import Simulator

from .conftest import KEY, SECRET
from .test_binance import _bsm, _fast, _recv_n, _wait_subscribed


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[AsyncClient]:
    c = AsyncClient(api_key=KEY, api_secret=SECRET)
    c.API_URL = sim.base_url + "/api"
    c.FUTURES_URL = sim.base_url + "/fapi"
    try:
        yield c
    finally:
        await c.close_connection()


def _position(sim: Simulator, sym: str) -> Decimal:
    pos = sim.engine.account(KEY).positions.get(sym)
    return pos.size if pos is not None else Decimal(0)


def _snapshot(sim: Simulator) -> tuple[Any, ...]:
    acc = sim.engine.account(KEY)
    algos = [(a.client_algo_id, a.status) for a in sim.binance_algo.orders.get(KEY, [])]
    return (acc.wallet_balance, len(acc.orders), {s: p.size for s, p in acc.positions.items()},
            algos)


async def test_stop_market_close_position_triggers_on_the_last_price(
        sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("BTCUSDT", "60000")
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                      quantity="0.010")
    assert _position(sim, "BTCUSDT") == Decimal("0.010")
    # The parameters Titan's BinanceFuturesVenue._place_protective sends.
    sl = await client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="STOP_MARKET", triggerPrice="59000.0",
        closePosition="true", workingType="CONTRACT_PRICE", clientAlgoId="t1-sl")
    tp = await client.futures_create_order(
        symbol="BTCUSDT", side="SELL", type="TAKE_PROFIT_MARKET", triggerPrice="62000.0",
        closePosition="true", workingType="CONTRACT_PRICE", clientAlgoId="t1-tp")
    assert sl["algoStatus"] == "NEW" and sl["orderType"] == "STOP_MARKET"
    assert Decimal(sl["triggerPrice"]) == 59000 and sl["closePosition"] is True
    assert tp["orderType"] == "TAKE_PROFIT_MARKET" and tp["clientAlgoId"] == "t1-tp"
    assert sl["algoType"] == "CONDITIONAL" and isinstance(sl["algoId"], int)
    opened = await client.futures_get_open_algo_orders(symbol="BTCUSDT")
    assert {o["clientAlgoId"] for o in opened} == {"t1-sl", "t1-tp"}

    sim.set_price("BTCUSDT", "59500")  # above the stop: nothing happens
    assert _position(sim, "BTCUSDT") == Decimal("0.010")
    sim.set_price("BTCUSDT", "58990")  # crosses it: closed by market
    assert _position(sim, "BTCUSDT") == 0
    got = await client.futures_get_order(symbol="BTCUSDT", clientAlgoId="t1-sl")
    assert got["algoStatus"] == "FINISHED" and got["actualOrderId"] and got["triggerTime"] > 0
    fills = await client.futures_account_trades(symbol="BTCUSDT")
    assert [f["side"] for f in fills] == ["BUY", "SELL"]
    assert str(fills[-1]["orderId"]) == got["actualOrderId"]
    # The target is still open; crossing it with no position left expires it.
    sim.set_price("BTCUSDT", "62100")
    got = await client.futures_get_order(symbol="BTCUSDT", clientAlgoId="t1-tp")
    assert got["algoStatus"] == "EXPIRED" and _position(sim, "BTCUSDT") == 0


async def test_take_profit_with_quantity_reduce_only_and_cancel(
        sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("ETHUSDT", "3000")
    await client.futures_create_order(symbol="ETHUSDT", side="SELL", type="MARKET",
                                      quantity="1.00")
    await client.futures_create_order(
        symbol="ETHUSDT", side="BUY", type="TAKE_PROFIT_MARKET", triggerPrice="2900",
        quantity="0.40", reduceOnly="true", clientAlgoId="e-tp")
    stop = await client.futures_create_order(
        symbol="ETHUSDT", side="BUY", type="STOP_MARKET", triggerPrice="3100",
        closePosition="true", clientAlgoId="e-sl")
    sim.set_price("ETHUSDT", "2899")
    assert _position(sim, "ETHUSDT") == Decimal("-0.60")
    res = await client.futures_cancel_order(symbol="ETHUSDT", algoId=stop["algoId"])
    assert res["clientAlgoId"] == "e-sl"
    sim.set_price("ETHUSDT", "3200")  # the cancelled stop does not fire
    assert _position(sim, "ETHUSDT") == Decimal("-0.60")
    assert await client.futures_get_open_algo_orders(symbol="ETHUSDT") == []


async def test_refused_algo_orders_change_nothing(sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("BTCUSDT", "60000")
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                      quantity="0.010")
    await client.futures_create_order(symbol="BTCUSDT", side="SELL", type="STOP_MARKET",
                                      triggerPrice="59000", closePosition="true",
                                      clientAlgoId="dup")
    before = _snapshot(sim)
    cases: list[tuple[dict[str, str], int]] = [
        ({"triggerPrice": "61000", "closePosition": "true"}, -2021),  # would trigger now
        ({"triggerPrice": "59000.05", "closePosition": "true"}, -1111),  # off the tick
        ({"closePosition": "true"}, -1102),  # no trigger
        ({"triggerPrice": "59000"}, -1102),  # neither quantity nor closePosition
        ({"triggerPrice": "59000", "closePosition": "true", "quantity": "0.01"}, -1106),
        ({"triggerPrice": "59000", "closePosition": "true", "clientAlgoId": "dup"}, -4116),
        ({"triggerPrice": "59000", "quantity": "-1"}, -4003),
        ({"triggerPrice": "abc", "closePosition": "true"}, -1100),
    ]
    for extra, code in cases:
        params = {"symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", **extra}
        with pytest.raises(BinanceAPIException) as ei:
            await client.futures_create_order(**params)
        assert ei.value.code == code, (extra, ei.value.message)
    with pytest.raises(BinanceAPIException) as ei:
        await client.futures_create_order(symbol="NOPEUSDT", side="SELL", type="STOP_MARKET",
                                          triggerPrice="1", closePosition="true")
    assert ei.value.code == -1121
    # The old endpoint refuses conditional types, as Binance has since 2025-12-09.
    with pytest.raises(BinanceAPIException) as ei:
        await client._request_futures_api("post", "order", True, data={
            "symbol": "BTCUSDT", "side": "SELL", "type": "STOP_MARKET", "stopPrice": "59000",
            "closePosition": "true"})
    assert ei.value.code == -4120
    with pytest.raises(BinanceAPIException) as ei:
        await client.futures_cancel_order(symbol="BTCUSDT", clientAlgoId="never")
    assert ei.value.code == -2011
    with pytest.raises(BinanceAPIException) as ei:
        await client.futures_get_order(symbol="BTCUSDT", clientAlgoId="never")
    assert ei.value.code == -2013
    assert _snapshot(sim) == before


async def test_account_v2_in_binance_shape(sim: Simulator, client: AsyncClient) -> None:
    sim.set_price("BTCUSDT", "60000")
    start = sim.engine.account(KEY).wallet_balance
    await client.futures_change_leverage(symbol="BTCUSDT", leverage=5)
    await client.futures_create_order(symbol="BTCUSDT", side="BUY", type="MARKET",
                                      quantity="0.010")
    sim.set_price("BTCUSDT", "61000")
    acc = await client.futures_account()
    wallet = Decimal(acc["totalWalletBalance"])
    assert wallet < start  # the entry's taker fee
    upl = Decimal(acc["totalUnrealizedProfit"])
    avg = sim.engine.account(KEY).positions["BTCUSDT"].avg_price
    assert upl == Decimal("0.010") * (61000 - avg)
    assert Decimal(acc["totalMarginBalance"]) == wallet + upl
    assert Decimal(acc["totalPositionInitialMargin"]) == Decimal("0.010") * avg / 5
    (usdt,) = acc["assets"]
    assert usdt["asset"] == "USDT" and Decimal(usdt["walletBalance"]) == wallet
    balance = await client.futures_account_balance()
    assert Decimal(balance[0]["balance"]) == wallet
    assert Decimal(balance[0]["availableBalance"]) == Decimal(acc["availableBalance"])
    rows = {p["symbol"]: p for p in acc["positions"]}
    assert set(rows) == set(sim.engine.specs)  # every symbol, flat ones too
    btc = rows["BTCUSDT"]
    assert btc["positionAmt"] == "0.01" and btc["leverage"] == "5"
    assert btc["positionSide"] == "BOTH" and Decimal(btc["entryPrice"]) == avg
    assert rows["ETHUSDT"]["positionAmt"] == "0"
    assert {"canTrade", "feeTier", "totalCrossWalletBalance", "maxWithdrawAmount"} <= set(acc)


async def test_leverage_brackets(sim: Simulator, client: AsyncClient) -> None:
    every = await client.futures_leverage_bracket()
    assert {r["symbol"] for r in every} == set(sim.engine.specs)
    one = await client.futures_leverage_bracket(symbol="BTCUSDT")
    assert one["symbol"] == "BTCUSDT"
    (b,) = one["brackets"]
    assert b["bracket"] == 1 and b["notionalFloor"] == 0 and b["cum"] == 0
    assert b["initialLeverage"] == int(sim.engine.specs["BTCUSDT"].max_leverage)
    assert b["maintMarginRatio"] == 0.005
    with pytest.raises(BinanceAPIException) as ei:
        await client.futures_leverage_bracket(symbol="NOPEUSDT")
    assert ei.value.code == -1121


async def test_rest_agg_trades_match_the_stream(sim: Simulator, client: AsyncClient) -> None:
    async with _fast(_bsm(sim, client).aggtrade_socket("BTCUSDT")) as sock:
        await _wait_subscribed(sim, "btcusdt@aggTrade")
        sim.emit_trades("BTCUSDT", "62000", 30, spread_ms=30)
        sim.emit_trades("BTCUSDT", "62010", 30, spread_ms=30)
        streamed = await _recv_n(sock, 60)
    keys = ("a", "p", "q", "f", "l", "T", "m", "M")
    want = [{k: m[k] for k in keys} for m in streamed]

    newest = await client.get_aggregate_trades(symbol="BTCUSDT", limit=60)
    assert newest == want
    first = streamed[0]["a"]
    page = await client.get_aggregate_trades(symbol="BTCUSDT", fromId=first + 10, limit=5)
    assert page == want[10:15]
    t0, t1 = streamed[0]["T"], streamed[-1]["T"]
    by_time = await client.get_aggregate_trades(symbol="BTCUSDT", startTime=t0, endTime=t1,
                                                limit=1000)
    assert [r for r in by_time if r["a"] >= first] == want
    assert len(await client.get_aggregate_trades(symbol="BTCUSDT", limit=1000)) <= 1000

    for params, code in [({"limit": 1001}, -1130), ({"limit": 0}, -1130),
                         ({"fromId": 1, "startTime": t0}, -1128),
                         ({"startTime": t0, "endTime": t0 + 3_600_001}, -1127),
                         ({"fromId": "x"}, -1100)]:
        with pytest.raises(BinanceAPIException) as ei:
            await client.get_aggregate_trades(symbol="BTCUSDT", **params)
        assert ei.value.code == code, params
    with pytest.raises(BinanceAPIException) as ei:
        await client.get_aggregate_trades(symbol="NOPEUSDT")
    assert ei.value.code == -1121
    await asyncio.sleep(0)
