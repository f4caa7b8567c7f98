"""Fault injection, ambiguous submits, out-of-band changes, control API over HTTP."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import aiohttp
import pytest
import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError

from titan.sim import Simulator

from .conftest import KEY, call, make_http


async def _control(sim: Simulator, method: str, path: str, body: Any = None) -> Any:
    async with aiohttp.ClientSession() as s, s.request(
            method, f"{sim.base_url}/sim/control/{path}", json=body) as r:
        data = await r.json()
        assert r.status == 200, data
        return data


async def test_http_5xx_next_n(sim: Simulator) -> None:
    http = make_http(sim)
    sim.faults.http_5xx_next = 2
    for _ in range(2):
        with pytest.raises(FailedRequestError) as e:
            await call(http.get_wallet_balance, accountType="UNIFIED")
        assert e.value.status_code == 503
    assert (await call(http.get_wallet_balance, accountType="UNIFIED"))["retCode"] == 0


async def test_http_5xx_fraction_and_path_prefix(sim: Simulator) -> None:
    http = make_http(sim)
    sim.faults.update(http_5xx_fraction=1.0, path_prefix="/v5/order/")
    assert (await call(http.get_wallet_balance, accountType="UNIFIED"))["retCode"] == 0
    with pytest.raises(FailedRequestError):
        await call(http.get_open_orders, category="linear", symbol="BTCUSDT")
    sim.faults.reset()
    assert (await call(http.get_open_orders, category="linear", symbol="BTCUSDT"))["retCode"] == 0


async def test_bybit_rate_limit_10006(sim: Simulator) -> None:
    http = make_http(sim)
    sim.faults.rate_limit_next = 1
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.01")
    assert e.value.status_code == 10006
    assert sim.inspect(KEY)["orders"] == []  # a rate-limited request never reaches matching
    assert (await call(http.get_wallet_balance, accountType="UNIFIED"))["retCode"] == 0


async def test_added_latency(sim: Simulator) -> None:
    import time

    http = make_http(sim)
    sim.faults.latency_ms = 150
    t0 = time.monotonic()
    await call(http.get_wallet_balance, accountType="UNIFIED")
    assert time.monotonic() - t0 >= 0.15


@pytest.mark.parametrize("mode", ["close", "5xx"])
async def test_ambiguous_submit_books_exactly_one_order(sim: Simulator, mode: str) -> None:
    http = make_http(sim)
    sim.faults.update(ambiguous_next=1, ambiguous_mode=mode)
    with pytest.raises((FailedRequestError, requests.exceptions.ConnectionError)):
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.01", orderLinkId="amb-1")
    # The client resolves by client id: the order exists, filled, exactly once.
    got = (await call(http.get_open_orders, category="linear", orderLinkId="amb-1"))["result"]["list"]
    assert len(got) == 1 and got[0]["orderStatus"] == "Filled"
    # A blind retry would be refused as a duplicate, never a second order.
    with pytest.raises(InvalidRequestError) as e:
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="0.01", orderLinkId="amb-1")
    assert e.value.status_code == 110072
    data = await _control(sim, "GET", f"accounts/{KEY}/orders?orderLinkId=amb-1")
    assert len(data["orders"]) == 1


async def test_out_of_band_changes_in_process(sim: Simulator) -> None:
    http = make_http(sim)
    sim.set_price("BTCUSDT", "60000")
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert pos["size"] == "0.01"
    assert sim.close_position_by_hand(KEY, "BTCUSDT")
    pos = (await call(http.get_positions, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert pos["size"] == "0"
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
               orderType="Limit", qty="0.001", price="50000.00", orderLinkId="oob-1")
    sim.cancel_order_by_venue(KEY, "BTCUSDT", link_id="oob-1")
    o = (await call(http.get_open_orders, category="linear", orderLinkId="oob-1"))["result"]["list"][0]
    assert o["orderStatus"] == "Cancelled" and o["cancelType"] == "CancelByAdmin"


async def test_liquidation_loses_the_margin(sim: Simulator) -> None:
    http = make_http(sim)
    sim.set_price("BTCUSDT", "60000")
    entry = sim.engine.books["BTCUSDT"].best()[1][0]  # a market buy takes the best ask
    await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
               orderType="Market", qty="0.01")
    assert sim.liquidate(KEY, "BTCUSDT")
    ex = (await call(http.get_executions, category="linear", symbol="BTCUSDT"))["result"]["list"]
    bust = (entry * Decimal("0.9") / Decimal("0.1")).to_integral_value("ROUND_CEILING") / 10
    assert ex[0]["execType"] == "BustTrade" and Decimal(ex[0]["execPrice"]) == bust
    w = (await call(http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    fees = Decimal("0.01") * (entry + bust) * Decimal("0.00055")
    # At 10x the whole initial margin (a tenth of the entry value) is lost, plus fees.
    assert Decimal(w["totalWalletBalance"]) == 2000 - Decimal("0.01") * (entry - bust) - fees


async def test_control_api_over_http(sim: Simulator) -> None:
    http = make_http(sim)
    await _control(sim, "POST", "price", {"symbol": "ETHUSDT", "price": "3000"})
    await _control(sim, "POST", f"accounts/{KEY}/open-position",
                   {"symbol": "ETHUSDT", "side": "Sell", "qty": "0.2"})
    data = await _control(sim, "GET", f"accounts/{KEY}/positions")
    assert data["positions"][0]["side"] == "Sell" and data["positions"][0]["size"] == "0.2"
    await _control(sim, "POST", f"accounts/{KEY}/close-position", {"symbol": "ETHUSDT"})
    assert (await _control(sim, "GET", f"accounts/{KEY}"))["positions"] == []
    await _control(sim, "POST", f"accounts/{KEY}/open-position",
                   {"symbol": "ETHUSDT", "side": "Buy", "qty": "0.1"})
    assert (await _control(sim, "POST", f"accounts/{KEY}/liquidate",
                           {"symbol": "ETHUSDT"}))["liquidated"] is True
    await _control(sim, "POST", "faults", {"http_5xx_next": 1})
    with pytest.raises(FailedRequestError):
        await call(http.get_wallet_balance, accountType="UNIFIED")
    await _control(sim, "POST", "faults", {"rate_limit_next": 1})
    with pytest.raises(InvalidRequestError):
        await call(http.get_wallet_balance, accountType="UNIFIED")
    await _control(sim, "POST", "faults", {"ambiguous_next": 1, "ambiguous_mode": "5xx"})
    assert (await _control(sim, "GET", "faults"))["faults"]["ambiguous_next"] == 1
    await _control(sim, "POST", "faults/reset")
    assert (await _control(sim, "GET", "faults"))["faults"]["ambiguous_next"] == 0
    burst = await _control(sim, "POST", "burst",
                           {"symbol": "BTCUSDT", "price": "61000", "count": 55, "spread_ms": 40})
    assert burst["count"] == 55
    prices = (await _control(sim, "GET", "prices"))["prices"]
    assert abs(Decimal(prices["BTCUSDT"]) / 61000 - 1) < Decimal("0.001")
    await _control(sim, "POST", "streams/silence", {"kind": "bybit_public", "silent": True})
    assert sim.faults.silent_streams == {"bybit_public"}
    assert (await _control(sim, "POST", "streams/drop", {"kind": "bybit_private"}))["closed"] == 0
    wallet = (await _control(sim, "GET", f"accounts/{KEY}/wallet"))["wallet"]
    assert wallet["accountType"] == "UNIFIED"
    async with aiohttp.ClientSession() as s, s.get(
            f"{sim.base_url}/sim/control/accounts/nobody") as r:
        assert r.status == 400
    cfg = (await _control(sim, "POST", "config", {"slippage_bps": "5", "latency_ms": 1}))["config"]
    assert cfg["slippage_bps"] == "5" and sim.config.latency_ms == 1
    await _control(sim, "POST", "accounts", {"key": "new-key", "secret": "new-secret"})
    fresh = make_http(sim, key="new-key", secret="new-secret")
    w = (await call(fresh.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]
    assert Decimal(w["totalEquity"]) == 2000
