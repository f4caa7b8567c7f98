"""Funding (rates, 8-hour settlement, history) and automatic liquidation at liqPrice."""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import Any

from pybit.unified_trading import HTTP

from titan.sim import SimConfig, Simulator
from titan.sim.funding import INTERVAL_MS

from .conftest import KEY, KEY2, D, blocking, call, eventually, make_http, make_ws, subscribed


async def test_tickers_and_history_show_the_funding_schedule(sim: Simulator, http: HTTP) -> None:
    tk = (await call(http.get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    nxt = int(tk["nextFundingTime"])
    assert nxt % INTERVAL_MS == 0 and 0 < nxt - sim.now_ms() <= INTERVAL_MS
    assert abs(D(tk["fundingRate"])) < D("0.001")
    hist = (await call(http.get_funding_rate_history, category="linear", symbol="BTCUSDT",
                       limit=50))["result"]["list"]
    times = [int(r["fundingRateTimestamp"]) for r in hist]
    assert len(hist) == 50 and times == sorted(times, reverse=True)
    assert all(a - b == INTERVAL_MS for a, b in itertools.pairwise(times))
    assert times[0] == nxt - INTERVAL_MS
    rates = {D(r["fundingRate"]) for r in hist}
    assert len(rates) > 10 and any(r < 0 for r in rates) and any(r > 0 for r in rates)
    # Seeded: another simulator with the same seed tells the same history.
    twin = Simulator(SimConfig(seed=7, accounts={}, tick_hz=0))
    assert [r for _, r in twin.funding.history("BTCUSDT", None, None, 50)] == [
        D(r["fundingRate"]) for r in hist]
    window = (await call(http.get_funding_rate_history, category="linear", symbol="BTCUSDT",
                         startTime=times[5], endTime=times[2]))["result"]["list"]
    assert [int(r["fundingRateTimestamp"]) for r in window] == times[2:6]


async def test_settlement_moves_wallets_and_streams_a_funding_execution(sim: Simulator) -> None:
    long_http, short_http = make_http(sim), make_http(sim, KEY2, "other-secret")
    sim.set_price("ETHUSDT", "3000")
    await call(long_http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty="1")
    await call(short_http.place_order, category="linear", symbol="ETHUSDT", side="Sell",
               orderType="Market", qty="1")
    ws = await blocking(make_ws, sim, True)
    got: list[dict[str, Any]] = []
    try:
        await blocking(ws.execution_stream, callback=got.append)
        await subscribed(sim, "execution", private=True)
        rate = sim.funding.current_rate("ETHUSDT")
        at = sim.funding.next_ms
        w_long = sim.engine.accounts[KEY].wallet_balance
        w_short = sim.engine.accounts[KEY2].wallet_balance
        assert sim.settle_funding() == 2
        await eventually(lambda: got)
    finally:
        await blocking(ws.exit)
    fee = 3000 * rate  # position value × rate; longs pay a positive rate
    assert sim.engine.accounts[KEY].wallet_balance == w_long - fee
    assert sim.engine.accounts[KEY2].wallet_balance == w_short + fee
    e = got[-1]["data"][0]
    assert e["execType"] == "Funding" and D(e["execFee"]) == fee and D(e["feeRate"]) == rate
    assert int(e["execTime"]) == at and e["symbol"] == "ETHUSDT"
    rest = (await call(long_http.get_executions, category="linear", execType="Funding"))
    assert [r["execId"] for r in rest["result"]["list"]] == [e["execId"]]
    assert sim.funding.next_ms == at + INTERVAL_MS


async def test_a_position_is_liquidated_when_the_price_reaches_liq_price(sim: Simulator,
                                                                         http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
               orderType="Market", qty="0.01")
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    entry, liq, bust = D(pos["avgPrice"]), D(pos["liqPrice"]), D(pos["bustPrice"])
    # 10x: bankrupt 10 % below entry, liquidated 0.5 % (maintenance) before that.
    assert bust == (entry * D("0.9") * 10).to_integral_value("ROUND_CEILING") / 10
    assert liq == (entry * D("0.905") * 10).to_integral_value("ROUND_CEILING") / 10
    sim.set_price("BTCUSDT", str(liq + D("0.1")))
    assert sim.engine.accounts[KEY].positions["BTCUSDT"].size == D("0.01")
    sim.set_price("BTCUSDT", str(liq))
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert pos["size"] == "0"
    ex = (await call(http.get_executions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert ex["execType"] == "BustTrade" and D(ex["execPrice"]) == bust
    order = (await call(http.get_order_history, category="linear", orderId=ex["orderId"]))
    assert order["result"]["list"][0]["createType"] == "CreateByLiq"
    w = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    fees = D("0.01") * (entry + bust) * D("0.00055")
    assert D(w["totalWalletBalance"]) == 2000 - D("0.01") * (entry - bust) - fees


async def test_a_short_is_liquidated_above(sim: Simulator, http: HTTP) -> None:
    sim.set_price("SOLUSDT", "150")
    await call(http.set_leverage, category="linear", symbol="SOLUSDT", buyLeverage="20",
               sellLeverage="20")
    await call(http.place_order, category="linear", symbol="SOLUSDT", side="Sell",
               orderType="Market", qty="10")
    pos = sim.inspect(KEY)["positions"][0]
    liq = Decimal(pos["liqPrice"])
    assert liq > Decimal(pos["avgPrice"])
    sim.set_price("SOLUSDT", str(liq))
    assert sim.inspect(KEY)["positions"] == []
    assert sim.engine.accounts[KEY].executions[-1].exec_type == "BustTrade"
