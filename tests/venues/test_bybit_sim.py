"""BybitVenue against the simulator over loopback: orders, streams, faults."""

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
    Ticker,
    VenueError,
    VenueUnavailableError,
)
from titan.venues.bybit import BybitVenue
from titan.venues.bybit_streams import PRIVATE_STREAM, PUBLIC_STREAM
from titan.venues.ratelimit import RateLimiter

from .simkit import KEY, SECRET, SYMBOLS, start_sim, wait_for

FAST_WS = {
    "ping_interval": 0.5,
    "silence_timeout": 1.5,
    "ticker_silence_timeout": None,
    "connect_timeout": 2.0,
    "reconnect_max_delay": 0.5,
}


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def venue(sim: Any) -> AsyncIterator[BybitVenue]:
    v = BybitVenue(
        KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS), clock=SystemClock(), **FAST_WS
    )
    await v.start()
    try:
        yield v
    finally:
        await v.close()


def market(intent_id: str, side: Side, qty: str, **kw: Any) -> OrderIntent:
    return OrderIntent(
        intent_id=intent_id,
        symbol="BTCUSDT",
        side=side,
        qty=Decimal(qty),
        order_type=OrderType.MARKET,
        **kw,
    )


def orders_with_link(sim: Any, link: str) -> list[dict[str, Any]]:
    return [o for o in sim.inspect(KEY)["orders"] if o.get("orderLinkId") == link]


async def test_start_loads_instruments_and_connects(venue: BybitVenue) -> None:
    inst = venue.instrument("BTCUSDT")
    assert inst is not None
    assert inst.tick_size == Decimal("0.1") and inst.qty_step == Decimal("0.001")
    assert venue.stream_states() == {
        PRIVATE_STREAM: StreamState.CONNECTED,
        PUBLIC_STREAM: StreamState.CONNECTED,
    }


async def test_market_order_fills_and_private_stream_moves_position_and_wallet(
    sim: Any, venue: BybitVenue
) -> None:
    updates: list[PrivateUpdate] = []
    venue.on_private(updates.append)
    sim.set_price("BTCUSDT", "60000")
    before = await venue.wallet()

    placed = await venue.place_order(market("m1", Side.BUY, "0.0105", leverage=Decimal(5)))
    assert placed.qty == Decimal("0.010")  # rounded down to the step

    def seen(pred: Any) -> bool:
        return any(pred(u) for u in updates)

    await wait_for(
        lambda: seen(lambda u: any(f.client_order_id == placed.client_order_id for f in u.fills)),
        what="fill",
    )
    await wait_for(
        lambda: seen(lambda u: any(p.symbol == "BTCUSDT" for p in u.positions)), what="position"
    )
    await wait_for(lambda: seen(lambda u: u.wallet is not None), what="wallet")
    await wait_for(
        lambda: seen(lambda u: any(o.status is OrderStatus.FILLED for o in u.orders)),
        what="order filled",
    )

    positions = await venue.positions()
    assert [(p.symbol, p.side, p.size) for p in positions] == [
        ("BTCUSDT", Side.BUY, Decimal("0.010"))
    ]
    after = await venue.wallet()
    assert after.wallet_balance < before.wallet_balance  # the taker fee
    fills = await venue.executions("BTCUSDT")
    assert [f.client_order_id for f in fills] == [placed.client_order_id]
    got = await venue.order_by_client_id("BTCUSDT", placed.client_order_id)
    assert (
        got is not None and got.status is OrderStatus.FILLED and got.filled_qty == Decimal("0.010")
    )

    # close it: reduce-only exit, position goes away on the stream
    updates.clear()
    await venue.place_order(market("m1-exit", Side.SELL, "0.010", reduce_only=True))
    await wait_for(lambda: seen(lambda u: "BTCUSDT" in u.closed_symbols), what="position closed")
    assert await venue.positions() == []


async def test_limit_order_rests_and_is_cancelled(sim: Any, venue: BybitVenue) -> None:
    sim.set_price("BTCUSDT", "60000")
    intent = OrderIntent(
        intent_id="l1",
        symbol="BTCUSDT",
        side=Side.BUY,
        qty=Decimal("0.002"),
        order_type=OrderType.LIMIT,
        price=Decimal("55000.07"),
    )
    placed = await venue.place_order(intent)
    assert placed.price == Decimal("55000.0")
    open_ = await venue.open_orders("BTCUSDT")
    assert [o.client_order_id for o in open_] == [intent.client_order_id]
    assert open_[0].price == Decimal("55000") and open_[0].status is OrderStatus.NEW
    assert await venue.cancel_order("BTCUSDT", intent.client_order_id) is True
    assert await venue.cancel_order("BTCUSDT", intent.client_order_id) is False  # already gone
    got = await venue.order_by_client_id("BTCUSDT", intent.client_order_id)
    assert got is not None and got.status is OrderStatus.CANCELLED
    assert await venue.open_orders() == []
    assert await venue.order_by_client_id("BTCUSDT", "tn-e-never-sent") is None


async def test_limit_order_fills_when_crossed_and_cancel_all(sim: Any, venue: BybitVenue) -> None:
    sim.set_price("BTCUSDT", "60000")
    sim.set_price("ETHUSDT", "3000")
    a = OrderIntent(
        "c1", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("59000")
    )
    b = OrderIntent(
        "c2", "ETHUSDT", Side.SELL, Decimal("0.05"), OrderType.LIMIT, price=Decimal("3100")
    )
    c = OrderIntent(
        "c3", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    for i in (a, b, c):
        await venue.place_order(i)
    sim.set_price("BTCUSDT", "58900")  # crosses a, not c
    await wait_for(lambda: bool(sim.inspect(KEY)["positions"]), what="limit fill")
    got = await venue.order_by_client_id("BTCUSDT", a.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED
    cancelled = await venue.cancel_all()
    assert sorted(cancelled) == sorted([b.client_order_id, c.client_order_id])
    assert await venue.open_orders() == []


async def test_ambiguous_submit_is_resolved_by_client_id_without_a_second_order(
    sim: Any, venue: BybitVenue
) -> None:
    sim.set_price("BTCUSDT", "60000")
    intent = OrderIntent(
        "amb1", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    sim.faults.ambiguous_next = 1  # booked, then the connection is cut before the answer
    with pytest.raises(AmbiguousSubmitError):
        await venue.place_order(intent)
    found = await venue.order_by_client_id("BTCUSDT", intent.client_order_id)
    assert found is not None and found.status is OrderStatus.NEW
    assert len(orders_with_link(sim, intent.client_order_id)) == 1
    # Even a caller that wrongly resubmitted could not make a second order: same client id.
    with pytest.raises(VenueError) as dup:
        await venue.place_order(intent)
    assert dup.value.code == 110072
    assert len(orders_with_link(sim, intent.client_order_id)) == 1

    # A lost answer by 502 is just as ambiguous.
    intent2 = OrderIntent(
        "amb2", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    sim.faults.ambiguous_mode = "5xx"
    sim.faults.ambiguous_next = 1
    with pytest.raises(AmbiguousSubmitError):
        await venue.place_order(intent2)
    assert await venue.order_by_client_id("BTCUSDT", intent2.client_order_id) is not None
    assert len(orders_with_link(sim, intent2.client_order_id)) == 1

    # A 5xx before the venue booked anything: still ambiguous to us; resolution says "never seen".
    intent3 = OrderIntent(
        "amb3", "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT, price=Decimal("50000")
    )
    sim.faults.path_prefix = "/v5/order/create"
    sim.faults.http_5xx_next = 1
    with pytest.raises(AmbiguousSubmitError):
        await venue.place_order(intent3)
    assert await venue.order_by_client_id("BTCUSDT", intent3.client_order_id) is None
    assert orders_with_link(sim, intent3.client_order_id) == []


async def test_read_failure_is_unavailable_not_ambiguous(sim: Any, venue: BybitVenue) -> None:
    sim.faults.http_5xx_next = 1
    with pytest.raises(VenueUnavailableError):
        await venue.positions()
    assert await venue.positions() == []


async def test_rate_limit_burst_backs_off_and_recovers(sim: Any) -> None:
    clock = ManualClock()
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    limiter = RateLimiter(
        "bybit",
        clock,
        rate_per_s=10,
        burst=10,
        backoff_base=0.5,
        backoff_max=8,
        max_wait=30,
        sleep=sleep,
    )
    v = BybitVenue(
        KEY,
        SECRET,
        base_url=sim.base_url,
        symbols=["BTCUSDT"],
        clock=clock,
        limiter=limiter,
        read_retries=5,
        streams=False,
    )
    await v.start()
    try:
        sim.set_price("BTCUSDT", "60000")
        sim.faults.rate_limit_next = 3
        w = await v.wallet()  # three 10006 answers, backoff 0.5 + 1 + 2, then through
        assert w.equity > 0
        assert sum(slept) == pytest.approx(3.5)
        assert limiter.consecutive_limits == 0

        # A submit refused with 10006 is definite: RateLimitedError, nothing booked.
        intent = market("rl1", Side.BUY, "0.001")
        sim.faults.rate_limit_next = 1
        with pytest.raises(RateLimitedError) as ei:
            await v.place_order(intent)
        assert ei.value.code == 10006
        assert orders_with_link(sim, intent.client_order_id) == []
        assert limiter.backoff_remaining() > 0
        slept.clear()
        await v.place_order(intent)  # waits out the backoff on the manual clock, then goes
        assert sum(slept) == pytest.approx(0.5)
        assert len(orders_with_link(sim, intent.client_order_id)) == 1
    finally:
        await v.close()


async def test_bad_signature_is_a_definite_refusal(sim: Any) -> None:
    v = BybitVenue(
        KEY,
        "not-the-secret",
        base_url=sim.base_url,
        symbols=["BTCUSDT"],
        clock=SystemClock(),
        streams=False,
    )
    await v.start()  # public instrument data needs no signature
    try:
        intent = market("bad1", Side.BUY, "0.001")
        with pytest.raises(VenueError) as ei:
            await v.place_order(intent)
        assert type(ei.value) is VenueError and ei.value.code == 10004
        assert orders_with_link(sim, intent.client_order_id) == []
        with pytest.raises(VenueError) as ei2:
            await v.wallet()
        assert ei2.value.code == 10004
    finally:
        await v.close()
    # The private stream refuses the login too: start() fails with the venue's refusal.
    v2 = BybitVenue(
        KEY, "not-the-secret", base_url=sim.base_url, symbols=[], clock=SystemClock(), **FAST_WS
    )
    with pytest.raises(VenueError) as ei3:
        await v2.start()
    assert ei3.value.code == "WS_AUTH"
    await v2.close()


async def test_dropped_streams_reconnect_resubscribe_and_report_the_gap(
    sim: Any, venue: BybitVenue
) -> None:
    states: list[tuple[str, StreamState]] = []
    gaps: list[StreamGap] = []
    tickers: list[Ticker] = []
    updates: list[PrivateUpdate] = []
    gap_at_connected: list[StreamGap | None] = []

    def on_state(name: str, st: StreamState) -> None:
        states.append((name, st))
        if st is StreamState.CONNECTED:  # the gap is known by the time "connected" is told
            gap_at_connected.append(venue.last_gap(name))

    venue.on_stream_state(on_state)
    venue.on_stream_gap(gaps.append)
    venue.on_ticker(tickers.append)
    venue.on_private(updates.append)

    assert await sim.drop_streams("bybit_private") >= 1
    await wait_for(
        lambda: (PRIVATE_STREAM, StreamState.RECONNECTING) in states, what="reconnecting"
    )
    await wait_for(
        lambda: states[-1] == (PRIVATE_STREAM, StreamState.CONNECTED), what="reconnected"
    )
    assert any(g.stream == PRIVATE_STREAM for g in gaps)
    gap = venue.last_gap(PRIVATE_STREAM)
    assert gap is not None and gap.seconds >= 0 and gap.reason
    assert gap_at_connected == [gap]

    # resubscribed: a fill after the reconnect arrives on the new connection
    sim.set_price("BTCUSDT", "61000")
    placed = await venue.place_order(market("after-drop", Side.BUY, "0.001"))
    await wait_for(
        lambda: any(f.client_order_id == placed.client_order_id for u in updates for f in u.fills),
        what="fill",
    )

    assert await sim.drop_streams("bybit_public") >= 1
    await wait_for(
        lambda: (PUBLIC_STREAM, StreamState.RECONNECTING) in states, what="public reconnecting"
    )
    await wait_for(
        lambda: venue.stream_states()[PUBLIC_STREAM] is StreamState.CONNECTED, what="public back"
    )
    tickers.clear()
    sim.set_price("BTCUSDT", "61500")
    await wait_for(
        lambda: any(t.last_price == Decimal("61500") for t in tickers),
        what="ticker after reconnect",
    )


async def test_silent_stream_is_detected_and_recovers(sim: Any, venue: BybitVenue) -> None:
    states: list[tuple[str, StreamState]] = []
    gaps: list[StreamGap] = []
    venue.on_stream_state(lambda name, st: states.append((name, st)))
    venue.on_stream_gap(gaps.append)
    sim.silence_streams("bybit_private")
    await wait_for(
        lambda: (PRIVATE_STREAM, StreamState.RECONNECTING) in states,
        within=8,
        what="silence noticed",
    )
    # while the venue stays silent, the new connection never confirms: disconnected
    await wait_for(
        lambda: (PRIVATE_STREAM, StreamState.DISCONNECTED) in states, within=8, what="disconnected"
    )
    sim.silence_streams("bybit_private", silent=False)
    await wait_for(
        lambda: venue.stream_states()[PRIVATE_STREAM] is StreamState.CONNECTED,
        within=10,
        what="back",
    )
    assert gaps and gaps[-1].stream == PRIVATE_STREAM and gaps[-1].seconds > 1.0
    assert venue.stream_states()[PUBLIC_STREAM] is StreamState.CONNECTED


async def test_ticker_stream_and_rest_market_data(sim: Any, venue: BybitVenue) -> None:
    tickers: list[Ticker] = []
    venue.on_ticker(tickers.append)
    sim.set_price("ETHUSDT", "3210.55")
    await wait_for(
        lambda: any(t.symbol == "ETHUSDT" and t.last_price == Decimal("3210.55") for t in tickers),
        what="ticker",
    )
    t = await venue.ticker("ETHUSDT")
    assert t.last_price == Decimal("3210.55")
    assert venue.last_ticker("ETHUSDT") is not None
    kl = await venue.klines("BTCUSDT", 1, 10)
    assert len(kl) == 10 and kl == sorted(kl, key=lambda k: k.start_ms)


async def test_out_of_band_close_reaches_the_private_callback(sim: Any, venue: BybitVenue) -> None:
    updates: list[PrivateUpdate] = []
    venue.on_private(updates.append)
    sim.set_price("BTCUSDT", "60000")
    await venue.place_order(market("oob", Side.SELL, "0.002"))
    await wait_for(
        lambda: any(p.side is Side.SELL for u in updates for p in u.positions), what="short opened"
    )
    assert sim.close_position_by_hand(KEY, "BTCUSDT")
    await wait_for(
        lambda: any("BTCUSDT" in u.closed_symbols for u in updates), what="closed by hand"
    )
    assert await venue.positions() == []


async def test_rest_calls_do_not_block_the_loop(sim: Any, venue: BybitVenue) -> None:
    sim.faults.latency_ms = 300
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.01)
            ticks += 1

    t = asyncio.create_task(ticker())
    try:
        results = await asyncio.gather(*(venue.positions() for _ in range(8)))
    finally:
        t.cancel()
    assert all(r == [] for r in results)
    assert ticks >= 10  # the loop kept running while eight slow requests were in flight


async def test_start_refuses_an_unknown_symbol_and_an_unreachable_venue(sim: Any) -> None:
    v = BybitVenue(
        KEY, SECRET, base_url=sim.base_url, symbols=["NOPEUSDT"], clock=SystemClock(), streams=False
    )
    with pytest.raises(VenueError) as ei:
        await v.start()
    assert not isinstance(ei.value, VenueUnavailableError)
    port = sim.port
    await sim.stop()
    v2 = BybitVenue(
        KEY, SECRET, base_url=f"http://127.0.0.1:{port}", symbols=["BTCUSDT"], clock=SystemClock()
    )
    with pytest.raises(VenueUnavailableError):
        await v2.start()


async def test_symbols_change_at_run_time(sim: Any) -> None:
    v = BybitVenue(
        KEY, SECRET, base_url=sim.base_url, symbols=["BTCUSDT"], clock=SystemClock(), **FAST_WS
    )
    await v.start()
    try:
        tickers: list[Ticker] = []
        v.on_ticker(tickers.append)
        await v.set_symbols(["ETHUSDT"])
        assert v.instrument("ETHUSDT") is not None
        sim.set_price("ETHUSDT", "3333")
        sim.set_price("BTCUSDT", "66666")
        await wait_for(lambda: any(t.symbol == "ETHUSDT" for t in tickers), what="ETH ticker")
        await asyncio.sleep(0.2)
        assert {t.symbol for t in tickers} == {"ETHUSDT"}  # BTC was unsubscribed
        assert v.stream_states()[PUBLIC_STREAM] is StreamState.CONNECTED
        # a reconnect subscribes the new set
        await sim.drop_streams("bybit_public")
        await wait_for(lambda: v.monitor.last_gap(PUBLIC_STREAM) is not None, what="public back")
        await wait_for(
            lambda: v.stream_states()[PUBLIC_STREAM] is StreamState.CONNECTED, what="connected"
        )
        tickers.clear()
        sim.set_price("ETHUSDT", "3334")
        sim.set_price("BTCUSDT", "66667")
        await wait_for(
            lambda: any(t.last_price == Decimal("3334") for t in tickers),
            what="ETH after reconnect",
        )
        await asyncio.sleep(0.2)
        assert {t.symbol for t in tickers} == {"ETHUSDT"}
    finally:
        await v.close()


async def test_public_trades_only_on_demand_and_no_python_utf8_check(
    sim: Any, venue: BybitVenue
) -> None:
    conns = list(sim.bybit_ws.public)
    assert len(conns) == 1
    # nobody reads trades: tickers and the top of the book only
    assert conns[0].topics == {"tickers.BTCUSDT", "tickers.ETHUSDT", "orderbook.1.BTCUSDT",
                               "orderbook.1.ETHUSDT"}
    # websocket-client's per-byte UTF-8 validator is off on both sockets (frames are still
    # decoded strictly by bytes.decode)
    for name in (PUBLIC_STREAM, PRIVATE_STREAM):
        ws = venue._streams[name]._ws
        assert ws is not None
        assert ws.ws.sock.cont_frame.skip_utf8_validation is True
        assert ws.ws.sock.frame_buffer.skip_utf8_validation is True
    trades: list[Any] = []
    venue.on_public_trade(trades.append)  # the first listener subscribes, live
    await wait_for(lambda: "publicTrade.BTCUSDT" in conns[0].topics, what="publicTrade subscribed")
    sim.set_price("BTCUSDT", "61234")
    await wait_for(lambda: any(t.price == 61234.0 for t in trades), what="public trade")
    assert venue.stream_states()[PUBLIC_STREAM] is StreamState.CONNECTED


async def test_the_listing_is_every_trading_symbol_with_its_24h_turnover() -> None:
    from titan.sim import SimConfig, Simulator

    sim = Simulator(SimConfig(seed=5, accounts={"lk": "ls"}, tick_hz=0,
                              symbols=("BTCUSDT", "ETHUSDT", "DOGEUSDT")))
    await sim.start()
    venue = BybitVenue("lk", "ls", base_url=sim.base_url, symbols=["BTCUSDT"],
                       clock=SystemClock(), streams=False)
    try:
        await venue.start()
        listed = await venue.listing()
        assert [i.symbol for i in listed] != [] and {i.symbol for i in listed} == {
            "BTCUSDT", "ETHUSDT", "DOGEUSDT"}
        rows = sim.bybit_market.tickers({"category": "linear"})["list"]
        want = {r["symbol"]: Decimal(r["turnover24h"]) for r in rows}
        assert {i.symbol: i.turnover_24h for i in listed} == want
    finally:
        await venue.close()
        await sim.stop()
