"""BybitVenue against the real Bybit testnet (opt-in).

This is the one documented opt-in skip of the venue tests: it needs testnet API keys
and network access to api-testnet.bybit.com / stream-testnet.bybit.com, so it runs
only when TITAN_TESTNET_BYBIT_API_KEY and TITAN_TESTNET_BYBIT_API_SECRET are set
(see docs/venues.md). It places one far-from-market limit order of the minimum size
and cancels it; it never opens a position.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import pytest

from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import StreamState, Ticker, VenueError
from titan.venues.bybit import BybitVenue
from titan.venues.bybit_streams import PRIVATE_STREAM, PUBLIC_STREAM
from titan.venues.instruments import round_price

from .simkit import wait_for

KEY = os.environ.get("TITAN_TESTNET_BYBIT_API_KEY", "")
SECRET = os.environ.get("TITAN_TESTNET_BYBIT_API_SECRET", "")
SYMBOL = os.environ.get("TITAN_TESTNET_BYBIT_SYMBOL", "BTCUSDT")

pytestmark = [
    pytest.mark.testnet,
    pytest.mark.skipif(
        not (KEY and SECRET),
        reason="opt-in: set TITAN_TESTNET_BYBIT_API_KEY and TITAN_TESTNET_BYBIT_API_SECRET "
        "to run the adapter against the real Bybit testnet (docs/venues.md)",
    ),
]


@pytest.fixture
async def venue() -> AsyncIterator[BybitVenue]:
    v = BybitVenue(
        KEY, SECRET, testnet=True, symbols=[SYMBOL], clock=SystemClock(), manage_leverage=False
    )
    await v.start()
    try:
        yield v
    finally:
        await v.close()


async def test_testnet_reads_and_streams(venue: BybitVenue) -> None:
    inst = venue.instrument(SYMBOL)
    assert inst is not None and inst.tick_size > 0 and inst.qty_step > 0
    assert venue.stream_states() == {
        PRIVATE_STREAM: StreamState.CONNECTED,
        PUBLIC_STREAM: StreamState.CONNECTED,
    }
    wallet = await venue.wallet()
    assert wallet.equity >= 0
    await venue.positions()
    tickers: list[Ticker] = []
    venue.on_ticker(tickers.append)
    await wait_for(lambda: bool(tickers), within=30, what="a testnet ticker")
    t = await venue.ticker(SYMBOL)
    assert t.last_price > 0
    assert len(await venue.klines(SYMBOL, 1, 5)) == 5


async def test_testnet_limit_order_round_trip(venue: BybitVenue) -> None:
    inst = venue.instrument(SYMBOL)
    assert inst is not None
    last = (await venue.ticker(SYMBOL)).last_price
    price = round_price(last * Decimal("0.6"), inst, "down")  # far below: never fills
    qty = max(inst.min_qty, (inst.min_notional / price) if inst.min_notional else inst.min_qty)
    qty = (qty / inst.qty_step).to_integral_value(rounding="ROUND_CEILING") * inst.qty_step
    intent = OrderIntent(
        intent_id=f"testnet-{uuid.uuid4()}",
        symbol=SYMBOL,
        side=Side.BUY,
        qty=qty,
        order_type=OrderType.LIMIT,
        price=price,
    )
    placed = await venue.place_order(intent)
    try:
        assert placed.client_order_id == intent.client_order_id
        found = await venue.order_by_client_id(SYMBOL, intent.client_order_id)
        assert found is not None and found.status is OrderStatus.NEW and found.price == price
        assert intent.client_order_id in [
            o.client_order_id for o in await venue.open_orders(SYMBOL)
        ]
    finally:
        assert await venue.cancel_order(SYMBOL, intent.client_order_id) is True
    gone = await venue.order_by_client_id(SYMBOL, intent.client_order_id)
    assert gone is not None and gone.status is OrderStatus.CANCELLED


async def test_testnet_refuses_a_bad_signature() -> None:
    v = BybitVenue(
        KEY, SECRET + "x", testnet=True, symbols=[SYMBOL], clock=SystemClock(), streams=False
    )
    await v.start()
    try:
        with pytest.raises(VenueError) as ei:
            await v.wallet()
        assert ei.value.code in (10003, 10004)
    finally:
        await v.close()
