"""A lost exit's lookups by client id run on the exits' request budget (issue 15): a flatten's
lost create-batch makes up to 20 closes UNKNOWN, and while entries and reads have spent (or
been refused) the normal budget, those closes must still be found. Real BybitVenue over
loopback to the simulator, real ledger on SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

import pytest

from titan.bus import EventBus
from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.execution.engine import ExecutionEngine
from titan.execution.market import MarketState
from titan.risk.engine import RiskEngine
from titan.state.ledger import Ledger
from titan.store.db import Database
from titan.venues.base import VenueOrder, exit_lane
from titan.venues.bybit import BybitVenue

from .simkit import KEY, SECRET, start_sim


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


async def test_a_lost_close_is_looked_up_on_the_exits_budget(sim: Any, tmp_path: Path) -> None:
    venue = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=["BTCUSDT"],
                       clock=SystemClock(), streams=False)
    await venue.start()
    db = Database(tmp_path / "titan.db")
    await db.open()
    try:
        sim.open_position_by_hand(KEY, "BTCUSDT", "Buy", Decimal("0.01"))
        ledger = Ledger(db, SystemClock())
        close = OrderIntent(intent_id="lost-1", symbol="BTCUSDT", side=Side.SELL,
                            qty=Decimal("0.01"), order_type=OrderType.MARKET, reduce_only=True,
                            strategy="flatten")
        await ledger.record_intent(close, "flatten")
        with exit_lane():  # the close reached the venue; its answer was "lost"
            (placed,) = await venue.place_orders([close])
        assert isinstance(placed, VenueOrder)
        await ledger.set_status(close.client_order_id, OrderStatus.UNKNOWN, "answer lost")
        # The normal budget is closed for a minute (the venue said "slow down" to reads).
        venue.limiter.max_wait = 0.0
        venue.limiter.on_rate_limited(retry_after_s=60.0)
        engine = ExecutionEngine(venue, ledger, cast(RiskEngine, None),
                                 cast(MarketState, None), EventBus(), SystemClock())
        engine.spawn_resolver(ledger.live_orders[close.client_order_id])

        (lookup,) = engine._inflight
        # The first lookup is 0.2 s after the loss; on the normal budget every lookup is
        # refused for the minute, so the resolver would still be asking here.
        status = await asyncio.wait_for(lookup, timeout=10)
        assert status in (OrderStatus.NEW, OrderStatus.FILLED)
        row = await db.fetch_one("SELECT status FROM orders WHERE client_order_id=?",
                                 (close.client_order_id,))
        assert row is not None and row["status"] in ("NEW", "FILLED")
        assert venue.exit_limiter.snapshot().tokens < venue.exit_limiter.capacity
    finally:
        await venue.close()
        await db.close()
