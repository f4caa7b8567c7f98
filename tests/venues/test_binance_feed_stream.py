"""The aggTrade feed's socket handling against the simulator: the silence watchdog, the read
loop's end, and the read loop giving the event loop a turn during a burst."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest

from titan.clock import SystemClock
from titan.venues import binance_socket
from titan.venues.base import StreamGap, StreamState, Trade
from titan.venues.binance_feed import BinanceTradeFeed
from titan.venues.binance_socket import PushSocket
from titan.venues.binance_supervisor import TRADES_STREAM

from .simkit import SYMBOLS, start_sim, wait_for


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


async def _feed(sim: Any, silence_timeout: float) -> BinanceTradeFeed:
    f = BinanceTradeFeed(
        clock=SystemClock(),
        base_url=sim.base_url,
        silence_timeout=silence_timeout,
        reconnect_max_delay=0.5,
    )
    await f.start(list(SYMBOLS))
    return f


def _reopened(feed: BinanceTradeFeed) -> int:
    assert feed._runner is not None
    return feed._runner.reopened


async def _trickle_until_connected(sim: Any, feed: BinanceTradeFeed) -> None:
    for _ in range(200):
        if feed.stream_states()[TRADES_STREAM] is StreamState.CONNECTED:
            return
        sim.emit_trades("BTCUSDT", "60100", 1, 1.0)
        await asyncio.sleep(0.05)
    raise AssertionError("feed did not come back")


async def test_watchdog_tears_down_a_silent_stream_and_reopens_it(sim: Any) -> None:
    feed = await _feed(sim, silence_timeout=0.5)
    try:
        states: list[StreamState] = []
        gaps: list[StreamGap] = []
        trades: list[Trade] = []
        feed.on_stream_state(lambda _n, s: states.append(s))
        feed.on_stream_gap(gaps.append)
        feed.on_trade(trades.append)
        sim.emit_trades("BTCUSDT", "60000", 3, 3.0)
        await wait_for(lambda: len(trades) == 3, what="first trades")
        before = set(sim.binance.spot)
        assert len(before) == 1

        # The simulator keeps the connection open (pings answered) but sends nothing: only
        # the watchdog can notice, and it must close that connection and open a new one.
        sim.silence_streams("binance_spot")
        await wait_for(lambda: _reopened(feed) >= 1, within=8, what="socket replaced")
        assert StreamState.RECONNECTING in states
        await wait_for(lambda: not (set(sim.binance.spot) & before), what="old socket closed")
        sim.silence_streams("binance_spot", silent=False)
        await _trickle_until_connected(sim, feed)
        assert gaps and gaps[-1].reason.startswith("silent for 0.5s")
        ids = [t.trade_id for t in trades]
        assert ids == sorted(ids) and len(set(ids)) == len(ids) and len(ids) > 3
    finally:
        await feed.close()


async def test_watchdog_is_rearmed_while_data_flows(sim: Any) -> None:
    feed = await _feed(sim, silence_timeout=0.3)
    try:
        states: list[StreamState] = []
        trades: list[Trade] = []
        feed.on_stream_state(lambda _n, s: states.append(s))
        feed.on_trade(trades.append)
        for _ in range(30):  # ~1.5 s of data, five silence timeouts, never 0.3 s apart
            sim.emit_trades("ETHUSDT", "3000", 1, 1.0)
            await asyncio.sleep(0.05)
        await wait_for(lambda: len(trades) == 30, what="all trades")
        assert states == [] and _reopened(feed) == 0
    finally:
        await feed.close()


async def test_a_read_loop_that_gives_up_is_replaced(
    sim: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    # python-binance gives up at once instead of after five reconnects: its read loop ends,
    # and the runner must open a fresh socket itself (as it did on ReadLoopClosed).
    # (The silence watchdog is set far beyond wait_for's 10 s: it must not be what reopens.)
    monkeypatch.setattr(PushSocket, "MAX_RECONNECTS", 0)
    feed = await _feed(sim, silence_timeout=60.0)
    try:
        states: list[StreamState] = []
        feed.on_stream_state(lambda _n, s: states.append(s))
        assert await sim.drop_streams("binance_spot") == 1
        await wait_for(lambda: _reopened(feed) >= 1, what="socket replaced")
        assert StreamState.RECONNECTING in states
        await _trickle_until_connected(sim, feed)
        gap = feed.last_gap(TRADES_STREAM)
        assert gap is not None and "ConnectionClosed" in gap.reason
    finally:
        await feed.close()


async def test_a_burst_is_read_with_turns_for_the_event_loop(sim: Any) -> None:
    feed = await _feed(sim, silence_timeout=5.0)
    try:
        turns = 0
        seen_at: list[int] = []  # the event loop turn each trade was delivered in
        feed.on_trade(lambda _t: seen_at.append(turns))

        async def count_turns() -> None:
            nonlocal turns
            while True:
                turns += 1
                await asyncio.sleep(0)

        counter = asyncio.create_task(count_turns())
        try:
            sim.emit_trades("BTCUSDT", "60000", 3000, 50.0)
            await wait_for(lambda: len(seen_at) == 3000, what="the burst")
        finally:
            counter.cancel()
        assert _reopened(feed) == 0  # 3,000 behind at most: within the default 10,000
        per_turn = Counter(seen_at)
        # Without the read loop's turns, one wake-up delivered ~1,500 of them here.
        assert max(per_turn.values()) <= 100 == binance_socket.YIELD_EVERY
        # and the burst was really read in batches, not one frame per wake-up
        assert max(per_turn.values()) > 1
    finally:
        await feed.close()


async def test_falling_too_far_behind_the_wire_is_a_stream_loss(sim: Any) -> None:
    # python-binance's queue overflowed at max_queue_size messages behind; the push socket
    # keeps that: a backlog read without ever catching up ends the read loop, the stream is
    # reported lost (a gap) and reopened, instead of trading on ever older prints.
    feed = BinanceTradeFeed(
        clock=SystemClock(), base_url=sim.base_url, silence_timeout=60.0, max_queue_size=300
    )
    await feed.start(list(SYMBOLS))
    try:
        states: list[StreamState] = []
        feed.on_stream_state(lambda _n, s: states.append(s))
        sim.emit_trades("BTCUSDT", "60000", 3000, 50.0)
        await wait_for(lambda: _reopened(feed) >= 1, what="socket replaced")
        assert StreamState.RECONNECTING in states
        await _trickle_until_connected(sim, feed)
        gap = feed.last_gap(TRADES_STREAM)
        assert gap is not None and "BinanceWebsocketQueueOverflow" in gap.reason
    finally:
        await feed.close()
