"""Binance adapters against the simulator over loopback: aggTrade feed and USD-M futures."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from titan.clock import ManualClock, SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import (
    AmbiguousSubmitError,
    PrivateUpdate,
    RateLimitedError,
    StreamGap,
    StreamState,
    Trade,
    VenueError,
    VenueUnavailableError,
)
from titan.venues.binance_feed import BinanceTradeFeed
from titan.venues.binance_futures import BinanceFuturesVenue
from titan.venues.binance_supervisor import TRADES_STREAM, USER_STREAM
from titan.venues.ratelimit import RateLimiter

from .simkit import KEY, SECRET, SYMBOLS, start_sim, wait_for


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def feed(sim: Any) -> AsyncIterator[BinanceTradeFeed]:
    f = BinanceTradeFeed(
        clock=SystemClock(), base_url=sim.base_url, silence_timeout=1.5, reconnect_max_delay=0.5
    )
    await f.start(list(SYMBOLS))
    try:
        yield f
    finally:
        await f.close()


async def test_agg_trades_arrive_in_order(sim: Any, feed: BinanceTradeFeed) -> None:
    trades: list[Trade] = []
    feed.on_trade(trades.append)
    assert feed.stream_states() == {TRADES_STREAM: StreamState.CONNECTED}
    sim.emit_trades("BTCUSDT", "60000", 60, 50.0)
    sim.emit_trades("ETHUSDT", "3000", 40, 50.0)
    await wait_for(lambda: len(trades) >= 100, what="100 aggTrades")
    by_symbol: dict[str, list[Trade]] = {}
    for t in trades:
        by_symbol.setdefault(t.symbol, []).append(t)
    assert len(by_symbol["BTCUSDT"]) == 60 and len(by_symbol["ETHUSDT"]) == 40
    for rows in by_symbol.values():
        ids = [t.trade_id for t in rows]
        assert ids == sorted(ids) and len(set(ids)) == len(ids)
        ts = [t.ts_ms for t in rows]
        assert ts == sorted(ts)
    assert all(abs(t.price - 60000) / 60000 < 0.01 for t in by_symbol["BTCUSDT"])


async def test_feed_reconnects_after_a_drop_and_after_silence(
    sim: Any, feed: BinanceTradeFeed
) -> None:
    states: list[tuple[str, StreamState]] = []
    gaps: list[StreamGap] = []
    trades: list[Trade] = []
    feed.on_stream_state(lambda n, s: states.append((n, s)))
    feed.on_stream_gap(gaps.append)
    feed.on_trade(trades.append)

    assert await sim.drop_streams("binance_spot") >= 1
    await wait_for(lambda: (TRADES_STREAM, StreamState.RECONNECTING) in states, what="loss noticed")

    async def trickle_until_connected() -> None:
        for _ in range(200):
            if feed.stream_states()[TRADES_STREAM] is StreamState.CONNECTED:
                return
            sim.emit_trades("BTCUSDT", "60100", 1, 1.0)
            await asyncio.sleep(0.05)
        raise AssertionError("feed did not come back")

    await trickle_until_connected()
    assert gaps and gaps[-1].stream == TRADES_STREAM

    states.clear()
    sim.silence_streams("binance_spot")
    await wait_for(
        lambda: (TRADES_STREAM, StreamState.RECONNECTING) in states,
        within=8,
        what="silence noticed",
    )
    sim.silence_streams("binance_spot", silent=False)
    await trickle_until_connected()
    ids = [t.trade_id for t in trades if t.symbol == "BTCUSDT"]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


@pytest.fixture
async def futures(sim: Any) -> AsyncIterator[BinanceFuturesVenue]:
    v = BinanceFuturesVenue(
        KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS), clock=SystemClock()
    )
    await v.start()
    try:
        yield v
    finally:
        await v.close()


async def test_futures_orders_positions_wallet_and_user_stream(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    updates: list[PrivateUpdate] = []
    futures.on_private(updates.append)
    assert futures.stream_states() == {USER_STREAM: StreamState.CONNECTED}
    inst = futures.instrument("BTCUSDT")
    assert inst is not None and inst.qty_step == Decimal("0.001")
    sim.set_price("BTCUSDT", "60000")
    w0 = await futures.wallet()

    m = OrderIntent(
        "bn-m1", "BTCUSDT", Side.BUY, Decimal("0.0109"), OrderType.MARKET, leverage=Decimal(5)
    )
    placed = await futures.place_order(m)
    assert placed.client_order_id == m.client_order_id and placed.qty == Decimal("0.010")
    await wait_for(
        lambda: any(f.client_order_id == m.client_order_id for u in updates for f in u.fills),
        what="fill on stream",
    )
    assert [(p.symbol, p.side, p.size) for p in await futures.positions()] == [
        ("BTCUSDT", Side.BUY, Decimal("0.010"))
    ]
    assert (await futures.wallet()).wallet_balance < w0.wallet_balance
    fills = await futures.executions("BTCUSDT")
    assert len(fills) == 1 and fills[0].qty == Decimal("0.010")

    lim = OrderIntent(
        "bn-l1", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000.05")
    )
    await futures.place_order(lim)
    open_ = await futures.open_orders("BTCUSDT")
    assert [o.client_order_id for o in open_] == [lim.client_order_id] and open_[
        0
    ].price == Decimal("50000")
    assert await futures.cancel_order("BTCUSDT", lim.client_order_id) is True
    assert await futures.cancel_order("BTCUSDT", lim.client_order_id) is False
    got = await futures.order_by_client_id("BTCUSDT", lim.client_order_id)
    assert got is not None and got.status is OrderStatus.CANCELLED
    assert await futures.order_by_client_id("BTCUSDT", "tn-never") is None

    await futures.place_order(
        OrderIntent(
            "bn-l2", "ETHUSDT", Side.SELL, Decimal("0.05"), OrderType.LIMIT, price=Decimal("9000")
        )
    )
    assert await futures.cancel_all() == [
        OrderIntent("bn-l2", "ETHUSDT", Side.SELL, Decimal(1), OrderType.MARKET).client_order_id
    ]

    await futures.place_order(
        OrderIntent(
            "bn-x", "BTCUSDT", Side.SELL, Decimal("0.010"), OrderType.MARKET, reduce_only=True
        )
    )
    await wait_for(
        lambda: any("BTCUSDT" in u.closed_symbols for u in updates),
        what="position closed on stream",
    )
    assert await futures.positions() == []


async def test_futures_ambiguous_submit_and_bad_signature(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    sim.set_price("BTCUSDT", "60000")
    intent = OrderIntent(
        "bn-amb", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    sim.faults.ambiguous_next = 1
    with pytest.raises(AmbiguousSubmitError):
        await futures.place_order(intent)
    found = await futures.order_by_client_id("BTCUSDT", intent.client_order_id)
    assert found is not None
    assert (
        len(
            [
                o
                for o in sim.inspect(KEY)["orders"]
                if o.get("orderLinkId") == intent.client_order_id
            ]
        )
        == 1
    )

    bad = BinanceFuturesVenue(
        KEY, "wrong", base_url=sim.base_url, symbols=["BTCUSDT"], clock=SystemClock(), streams=False
    )
    await bad.start()
    try:
        with pytest.raises(VenueError) as ei:
            await bad.wallet()
        assert ei.value.code == -1022
    finally:
        await bad.close()


async def test_futures_429_backs_off_and_recovers(sim: Any) -> None:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(
        "binance", clock, rate_per_s=20, burst=20, backoff_base=0.5, max_wait=30, sleep=sleep
    )
    v = BinanceFuturesVenue(
        KEY,
        SECRET,
        base_url=sim.base_url,
        symbols=["BTCUSDT"],
        clock=clock,
        limiter=limiter,
        read_retries=3,
        streams=False,
    )
    await v.start()
    try:
        sim.faults.rate_limit_next = 2  # HTTP 429 with Retry-After: 1
        w = await v.wallet()
        assert w.wallet_balance > 0
        assert sum(slept) == pytest.approx(2.0)  # the venue's Retry-After, twice
        assert limiter.consecutive_limits == 0
        intent = OrderIntent(
            "bn-rl", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
        )
        sim.faults.rate_limit_next = 1
        with pytest.raises(RateLimitedError):
            await v.place_order(intent)
        assert [
            o for o in sim.inspect(KEY)["orders"] if o.get("orderLinkId") == intent.client_order_id
        ] == []
        await v.place_order(intent)
        assert await v.order_by_client_id("BTCUSDT", intent.client_order_id) is not None
    finally:
        await v.close()


async def test_feed_symbols_change(sim: Any) -> None:
    f = BinanceTradeFeed(clock=SystemClock(), base_url=sim.base_url)
    await f.start(["BTCUSDT"])
    try:
        trades: list[Trade] = []
        f.on_trade(trades.append)
        await f.set_symbols(["ETHUSDT"])
        assert f.stream_states() == {TRADES_STREAM: StreamState.CONNECTED}
        sim.emit_trades("BTCUSDT", "60000", 5, 5.0)
        sim.emit_trades("ETHUSDT", "3000", 5, 5.0)
        await wait_for(lambda: len(trades) >= 5, what="ETH trades")
        await asyncio.sleep(0.2)
        assert {t.symbol for t in trades} == {"ETHUSDT"}
    finally:
        await f.close()


async def test_futures_failed_reads_and_lost_submits(
    sim: Any, futures: BinanceFuturesVenue
) -> None:
    sim.faults.http_5xx_next = 1
    with pytest.raises(VenueUnavailableError):
        await futures.positions()
    assert await futures.positions() == []
    sim.set_price("BTCUSDT", "60000")
    intent = OrderIntent(
        "bn-5xx", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    sim.faults.path_prefix = "/fapi/v1/order"
    sim.faults.http_5xx_next = 1
    with pytest.raises(AmbiguousSubmitError):
        await futures.place_order(intent)
    assert await futures.order_by_client_id("BTCUSDT", intent.client_order_id) is None
