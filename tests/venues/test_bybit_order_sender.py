"""The order calls sent from the event loop (titan/venues/bybit_orders.py) against the
simulator's signature checks and faults, beside pybit's own signing (SPEC §1)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from pybit.unified_trading import HTTP

from tests.helpers import free_port as pick_port
from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import AmbiguousSubmitError, VenueError, VenueUnavailableError
from titan.venues.bybit import BybitVenue
from titan.venues.bybit_orders import BybitOrderSender, order_body

from .simkit import KEY, SECRET, SYMBOLS, start_sim, wait_for

NO_STREAMS: dict[str, Any] = {"streams": False}


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


async def _venue(sim: Any, *, on_loop: bool = True, leverage: bool = True) -> BybitVenue:
    v = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS),
                   clock=SystemClock(), orders_on_loop=on_loop, manage_leverage=leverage,
                   **NO_STREAMS)
    await v.start()
    return v


def _limit(intent_id: str, price: str = "50000") -> OrderIntent:
    return OrderIntent(intent_id, "BTCUSDT", Side.BUY, Decimal("0.001"), OrderType.LIMIT,
                       price=Decimal(price))


def _links(sim: Any, link: str) -> list[dict[str, Any]]:
    return [o for o in sim.inspect(KEY)["orders"] if o.get("orderLinkId") == link]


@pytest.mark.parametrize("params", [
    {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
     "qty": "0.001", "price": "50000.5", "timeInForce": "GTC", "orderLinkId": "a-1",
     "reduceOnly": False, "positionIdx": 0, "stopLoss": "49000", "takeProfit": "52000"},
    {"category": "linear", "symbol": "ETHUSDT", "side": "Sell", "orderType": "Market",
     "qty": Decimal("0.5"), "price": None, "positionIdx": 0.0, "stopLoss": 1900.0},
    {"category": "linear", "request": [{"symbol": "BTCUSDT", "side": "Buy", "qty": "0.002",
                                        "orderType": "Market", "orderLinkId": "b-1"}]},
    {"category": "linear", "settleCoin": "USDT"},
])
def test_body_and_signature_are_pybits_own(params: dict[str, Any]) -> None:
    """Same parameters, same timestamp: the loop path sends pybit's body bytes and the
    signature pybit would put on them."""
    http = HTTP(api_key=KEY, api_secret=SECRET, recv_window=5000)
    pybit_body = http.prepare_payload("POST", http._clean_query(dict(params)))
    ours = order_body(dict(params))
    assert ours == pybit_body
    ts = 1_733_555_000_123
    sender = BybitOrderSender("http://127.0.0.1:1", KEY, SECRET, recv_window=5000)
    headers = sender.headers(ours, timestamp_ms=ts)
    assert headers["X-BAPI-SIGN"] == http._auth(payload=pybit_body, recv_window=5000,
                                                timestamp=ts)
    assert headers["X-BAPI-TIMESTAMP"] == str(ts)
    assert headers["X-BAPI-API-KEY"] == KEY and headers["X-BAPI-SIGN-TYPE"] == "2"
    assert "null" not in ours  # None values are left out, as pybit leaves them out


async def test_orders_go_out_from_the_loop_and_the_simulator_accepts_them(sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    venue = await _venue(sim, leverage=False)  # set-leverage is a pybit call
    try:
        # With pybit's thread pool shut down, only the loop path can still send orders:
        # reads would fail, these must not.
        venue._pool.shutdown(wait=True)
        placed = await venue.place_order(_limit("loop-1"))
        assert placed.status is OrderStatus.NEW and placed.venue_order_id
        assert len(_links(sim, placed.client_order_id)) == 1
        batch = await venue.place_orders([_limit("loop-2"), _limit("loop-3", "50001")])
        assert all(not isinstance(b, VenueError) for b in batch), batch
        assert await venue.cancel_order("BTCUSDT", placed.client_order_id) is True
        assert await venue.cancel_order("BTCUSDT", placed.client_order_id) is False  # gone
        cancelled = await venue.cancel_all()
        assert sorted(cancelled) == sorted(b.client_order_id for b in batch
                                           if not isinstance(b, VenueError))
        with pytest.raises(VenueUnavailableError):  # a read still needs pybit's pool
            await venue.positions()
    finally:
        await venue.close()


@pytest.mark.parametrize("on_loop", [True, False])
async def test_a_wrong_secret_is_refused_on_both_paths_never_unknown(sim: Any,
                                                                     on_loop: bool) -> None:
    good = await _venue(sim)  # instruments load with the right key
    bad = BybitVenue(KEY, "not-the-secret", base_url=sim.base_url, symbols=list(SYMBOLS),
                     clock=SystemClock(), orders_on_loop=on_loop, **NO_STREAMS)
    bad._instruments = dict(good._instruments)  # no signed read needed before the order
    try:
        intent = _limit(f"bad-{on_loop}")
        with pytest.raises(VenueError) as refused:
            await bad.place_order(intent)
        assert not isinstance(refused.value, AmbiguousSubmitError)
        assert refused.value.code == 10004  # "error sign!": the simulator checked it
        assert _links(sim, intent.client_order_id) == []
    finally:
        await bad.close()
        await good.close()


async def test_a_lost_answer_is_unknown_and_never_resent(sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    venue = await _venue(sim)
    try:
        for n, mode in enumerate(("close", "5xx")):
            intent = _limit(f"lost-{n}")
            sim.faults.ambiguous_mode = mode
            sim.faults.ambiguous_next = 1  # booked, then the answer is lost
            with pytest.raises(AmbiguousSubmitError):
                await venue.place_order(intent)
            assert len(_links(sim, intent.client_order_id)) == 1  # sent once, not retried
            found = await venue.order_by_client_id("BTCUSDT", intent.client_order_id)
            assert found is not None and found.status is OrderStatus.NEW
        # A whole create-batch whose answer is lost: each of its orders unknown, each once.
        sim.faults.ambiguous_mode = "close"
        sim.faults.ambiguous_next = 1
        pair = [_limit("lost-b1"), _limit("lost-b2")]
        answers = await venue.place_orders(pair)
        assert all(isinstance(a, AmbiguousSubmitError) for a in answers), answers
        assert [len(_links(sim, i.client_order_id)) for i in pair] == [1, 1]
    finally:
        await venue.close()


async def test_a_cancelled_caller_does_not_tear_the_order_off_the_wire(sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    venue = await _venue(sim, leverage=False)  # the create is the first request out
    try:
        sim.faults.latency_ms = 300
        slow = _limit("slow-1")
        task = asyncio.create_task(venue.place_order(slow))
        await asyncio.sleep(0.05)  # the request is out, its answer 300 ms away
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # The send was shielded: it completes at the venue, exactly once.
        await wait_for(lambda: len(_links(sim, slow.client_order_id)) == 1, within=5,
                       what="the order")
        sim.faults.latency_ms = 0
    finally:
        await venue.close()
    assert len(_links(sim, slow.client_order_id)) == 1


async def test_no_listener_is_unavailable_nothing_sent() -> None:
    port = pick_port()
    venue = BybitVenue(KEY, SECRET, base_url=f"http://127.0.0.1:{port}", symbols=["BTCUSDT"],
                       clock=SystemClock(), **NO_STREAMS)
    try:
        with pytest.raises(VenueUnavailableError) as down:
            await venue._rest("place_order", "submit", category="linear", symbol="BTCUSDT",
                              side="Buy", orderType="Market", qty="0.001", orderLinkId="x")
        assert not isinstance(down.value, AmbiguousSubmitError)
        assert down.value.code == "CONNECT"
    finally:
        await venue.close()


@pytest.mark.parametrize("on_loop", [True, False])
async def test_a_timed_out_submit_is_unknown_and_never_resent(sim: Any, on_loop: bool) -> None:
    """The request left, the venue books it after the client gave up waiting: on both paths
    (the loop's sender and pybit's thread) the submit is UNKNOWN, never retried, and the
    lookup by client id finds the one order the venue holds."""
    sim.set_price("BTCUSDT", "60000")
    venue = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS),
                       clock=SystemClock(), orders_on_loop=on_loop, manage_leverage=False,
                       rest_timeout=0.2, **NO_STREAMS)
    await venue.start()
    try:
        intent = _limit(f"late-{on_loop}")
        # The simulator's own execution latency: after it has read and verified the request,
        # before it books the order (the middleware's fault latency comes before the body
        # is read, so a client that gave up would leave nothing to book).
        sim.config.latency_ms = 600
        with pytest.raises(AmbiguousSubmitError):
            await venue.place_order(intent)
        assert _links(sim, intent.client_order_id) == []  # not booked yet: the answer is late
        await wait_for(lambda: len(_links(sim, intent.client_order_id)) == 1, within=5,
                       what="the late order")
        sim.config.latency_ms = 0
        found = await venue.order_by_client_id("BTCUSDT", intent.client_order_id)
        assert found is not None and found.status is OrderStatus.NEW
        await asyncio.sleep(0.3)  # time enough for any resend to land: there is none
        assert len(_links(sim, intent.client_order_id)) == 1
    finally:
        sim.config.latency_ms = 0
        await venue.close()


async def test_the_simulator_verifies_pybits_signature_and_ours_on_the_same_request(
        sim: Any) -> None:
    """One create body, one timestamp: the headers the loop's sender builds and the ones
    built with pybit's own signing function are the same, and the simulator's check
    accepts them; the same signature on a body changed by one character is refused."""
    sim.set_price("BTCUSDT", "60000")
    http = HTTP(api_key=KEY, api_secret=SECRET, recv_window=5000)
    sender = BybitOrderSender(sim.base_url, KEY, SECRET, recv_window=5000)
    params = {"category": "linear", "symbol": "BTCUSDT", "side": "Buy", "orderType": "Limit",
              "qty": "0.001", "price": "50000", "timeInForce": "GTC",
              "orderLinkId": "same-sig-1", "positionIdx": 0}
    body = order_body(params)
    ts = int(time.time() * 1000)
    ours = sender.headers(body, timestamp_ms=ts)
    pybits = dict(ours, **{"X-BAPI-SIGN": http._auth(payload=body, recv_window=5000,
                                                     timestamp=ts)})
    assert ours == pybits
    url = sim.base_url + "/v5/order/create"
    async with aiohttp.ClientSession() as s:
        async with s.post(url, data=body.replace('"0.001"', '"0.002"'), headers=pybits) as r:
            assert (await r.json())["retCode"] == 10004  # error sign!
        assert _links(sim, "same-sig-1") == []
        async with s.post(url, data=body, headers=pybits) as r:
            answer = await r.json()
    assert answer["retCode"] == 0, answer
    assert len(_links(sim, "same-sig-1")) == 1
