"""Titan's Binance USD-M adapter places its stop and target against the simulator, and
the simulator fires them when the last price crosses (before: refused, the order came
back unprotected)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.venues.binance_futures import BinanceFuturesVenue

from .simkit import KEY, SECRET, SYMBOLS, start_sim


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def futures(sim: Any) -> AsyncIterator[BinanceFuturesVenue]:
    v = BinanceFuturesVenue(KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS),
                            clock=SystemClock(), streams=False)
    await v.start()
    try:
        yield v
    finally:
        await v.close()


async def test_entry_with_stop_and_target_is_protected_and_the_stop_fires(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    sim.set_price("BTCUSDT", "60000")
    intent = OrderIntent("bn-p1", "BTCUSDT", Side.BUY, Decimal("0.010"), OrderType.MARKET,
                         stop_loss=Decimal("59400"), take_profit=Decimal("61800"),
                         leverage=Decimal(5))
    placed = await futures.place_order(intent)
    assert placed.stop_loss == Decimal("59400") and placed.take_profit == Decimal("61800")
    algos = sim.binance_algo.open(KEY, "BTCUSDT")
    assert sorted((a.order_type, a.trigger, a.close_position) for a in algos) == [
        ("STOP_MARKET", Decimal("59400"), True), ("TAKE_PROFIT_MARKET", Decimal("61800"), True)]
    assert [(p.side, p.size) for p in await futures.positions()] == [(Side.BUY, Decimal("0.010"))]

    sim.set_price("BTCUSDT", "59350")
    assert await futures.positions() == []
    fills = await futures.executions("BTCUSDT")
    assert [f.side for f in fills] == [Side.BUY, Side.SELL]
    assert fills[-1].price <= Decimal("59400")


async def test_ticker_and_klines_through_the_adapter(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    sim.set_price("ETHUSDT", "3012.5")
    t = await futures.ticker("ETHUSDT")
    assert t.symbol == "ETHUSDT" and t.last_price == Decimal("3012.5")
    bars = await futures.klines("ETHUSDT", 1, 10)
    assert len(bars) == 10 and bars[-1].close == Decimal("3012.5")


async def test_the_listing_is_every_trading_symbol_with_its_24h_turnover(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    listed = await futures.listing()
    assert {i.symbol for i in listed} == set(sim.config.symbols)
    assert all(i.turnover_24h > 0 for i in listed)
    assert [i.turnover_24h for i in listed] == sorted((i.turnover_24h for i in listed),
                                                      reverse=True)
