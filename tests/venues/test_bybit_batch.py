"""BybitVenue's batch orders, exits' request budget and instrument listing, against the
simulator over loopback (unmodified pybit underneath)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.sim.config import DEFAULT_SYMBOLS, EXTRA_INSTRUMENTS
from titan.venues.base import (
    AmbiguousSubmitError,
    RateLimitedError,
    VenueError,
    VenueOrder,
    exit_lane,
)
from titan.venues.bybit import BATCH_MAX_ORDERS, BybitVenue

from .simkit import KEY, SECRET, start_sim

EXTRA = list(EXTRA_INSTRUMENTS)[:6]


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim(symbols=tuple(DEFAULT_SYMBOLS) + tuple(EXTRA))
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def venue(sim: Any) -> AsyncIterator[BybitVenue]:
    v = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=["BTCUSDT"],
                   clock=SystemClock(), streams=False)
    await v.start()
    try:
        yield v
    finally:
        await v.close()


def close(n: int, symbol: str, side: Side, qty: str) -> OrderIntent:
    return OrderIntent(intent_id=f"batch-{n}", symbol=symbol, side=side, qty=Decimal(qty),
                       order_type=OrderType.MARKET, reduce_only=True, strategy="flatten")


class Counting:
    """Counts the adapter's REST calls by pybit method (the calls still go out)."""

    def __init__(self, venue: BybitVenue) -> None:
        self.calls: list[str] = []
        rest = venue._rest

        async def counted(method: str, kind: str, **params: Any) -> dict[str, Any]:
            self.calls.append(method)
            return await rest(method, kind, **params)

        venue._rest = counted  # type: ignore[method-assign]


async def test_batch_answers_each_order_and_the_venue_did_exactly_that(sim: Any,
                                                                      venue: BybitVenue) -> None:
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
    sim.open_position_by_hand(KEY, "ETHUSDT", "Sell", Decimal("0.1"))
    intents = [close(1, "BTCUSDT", Side.SELL, "0.01"),
               close(2, "SOLUSDT", Side.BUY, "1"),  # no position: refused by the venue
               close(3, "ETHUSDT", Side.BUY, "0.05")]  # half of the short
    answers = await venue.place_orders(intents)
    ok, refused, partial = answers
    assert isinstance(ok, VenueOrder) and ok.status is OrderStatus.NEW and ok.venue_order_id
    assert ok.client_order_id == intents[0].client_order_id and ok.reduce_only
    assert isinstance(refused, VenueError) and not isinstance(refused, AmbiguousSubmitError)
    assert refused.code == 110017
    assert isinstance(partial, VenueOrder)
    positions = {p.symbol: p for p in await venue.positions()}
    assert "BTCUSDT" not in positions
    assert positions["ETHUSDT"].size == Decimal("0.05")


async def test_more_orders_than_one_request_takes_go_in_concurrent_chunks(
        sim: Any, venue: BybitVenue) -> None:
    counting = Counting(venue)
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.5"))
    intents = [close(n, "BTCUSDT", Side.SELL, "0.001") for n in range(BATCH_MAX_ORDERS + 5)]
    answers = await venue.place_orders(intents)
    assert counting.calls.count("place_batch_order") == 2
    assert all(isinstance(a, VenueOrder) for a in answers)
    assert [a.client_order_id for a in answers if isinstance(a, VenueOrder)] == \
        [i.client_order_id for i in intents]
    (pos,) = await venue.positions()
    assert pos.size == Decimal("0.5") - Decimal("0.001") * len(intents)


async def test_a_lost_batch_answer_is_ambiguous_for_each_order(sim: Any, venue: BybitVenue) -> None:
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
    sim.faults.ambiguous_next = 1  # booked, then the answer is lost
    (answer,) = await venue.place_orders([close(1, "BTCUSDT", Side.SELL, "0.01")])
    assert isinstance(answer, AmbiguousSubmitError)
    # Looked up by client id, it is there: it was placed (and never sent twice).
    found = await venue.order_by_client_id("BTCUSDT", close(1, "BTCUSDT", Side.SELL,
                                                             "0.01").client_order_id)
    assert found is not None and found.status is OrderStatus.FILLED
    sim.faults.reset()
    sim.faults.update(http_5xx_next=1, path_prefix="/v5/order/create-batch")
    answers = await venue.place_orders([close(2, "ETHUSDT", Side.SELL, "0.1"),
                                        close(3, "SOLUSDT", Side.SELL, "1")])
    assert all(isinstance(a, AmbiguousSubmitError) for a in answers)


async def test_a_local_refusal_is_not_sent_and_does_not_stop_the_rest(sim: Any,
                                                                     venue: BybitVenue) -> None:
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
    counting = Counting(venue)
    tiny, unknown, good = await venue.place_orders([
        close(1, "BTCUSDT", Side.SELL, "0.0001"),  # below the minimum qty
        close(2, "NOSUCHUSDT", Side.SELL, "1"),
        close(3, "BTCUSDT", Side.SELL, "0.01")])
    assert isinstance(tiny, VenueError) and tiny.code == "QTY_BELOW_MIN"
    assert isinstance(unknown, VenueError) and not isinstance(unknown, AmbiguousSubmitError)
    assert isinstance(good, VenueOrder)
    assert counting.calls.count("place_batch_order") == 1


async def test_instruments_of_many_new_symbols_come_in_one_request(sim: Any,
                                                                   venue: BybitVenue) -> None:
    counting = Counting(venue)
    assert all(venue.instrument(s) is None for s in EXTRA)
    await venue.ensure_instruments(EXTRA)
    assert counting.calls == ["get_instruments_info"]
    assert all(venue.instrument(s) is not None for s in EXTRA)
    await venue.ensure_instruments(EXTRA)  # nothing left to load
    assert counting.calls == ["get_instruments_info"]


async def test_positions_on_unknown_symbols_load_their_instruments_at_once(
        sim: Any, venue: BybitVenue) -> None:
    for s in EXTRA:
        spec = EXTRA_INSTRUMENTS[s]
        sim.open_position_by_hand(KEY, s, "Buy", spec.min_qty * 5)
    counting = Counting(venue)
    assert len(await venue.positions()) == len(EXTRA)
    await venue.ensure_instruments(EXTRA)  # joins the load the read started
    assert counting.calls == ["get_positions", "get_instruments_info"]
    assert all(venue.instrument(s) is not None for s in EXTRA)


async def test_exits_have_their_own_request_budget(sim: Any, venue: BybitVenue) -> None:
    sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
    venue.limiter.max_wait = 0.0
    while venue.limiter.try_acquire():  # entries and reads have spent the budget
        pass
    with pytest.raises(RateLimitedError):
        await venue.open_orders()
    with exit_lane():
        assert await venue.positions()
        (answer,) = await venue.place_orders([close(1, "BTCUSDT", Side.SELL, "0.01")])
        assert isinstance(answer, VenueOrder)
        assert await venue.cancel_all() == []
    assert venue.exit_limiter.snapshot().tokens < venue.exit_limiter.capacity
