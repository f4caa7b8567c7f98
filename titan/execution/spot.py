"""Sending the spot leg's orders (SPEC §16): the intent before the order, the venue's
answer recorded, a lost answer resolved by client id — never by a resend.

The rules are the perpetual's (`engine.ExecutionEngine`): `SpotBook.record_intent`
commits the intent and its PENDING order; then the order leaves; a definite refusal is
REJECTED, a lost answer (timeout, 5xx, reset) UNKNOWN and then asked for by client id
until the venue says what became of it. What the gate checks before an entry is the
caller's `gate` (the pair's two legs are checked together before either is sent).
Fills arrive by the private stream (`on_private`) or reconciliation, recorded once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from loguru import logger

from titan.domain import Denial
from titan.domain.orders import OrderIntent, OrderStatus
from titan.state.spot_book import SpotBook
from titan.venues.base import (
    AmbiguousSubmitError,
    PrivateUpdate,
    SpotVenue,
    VenueError,
    VenueOrder,
)

LOOKUP_DELAYS_S = (0.05, 0.2, 0.5, 1.0, 2.0)
MISSES_TO_REJECT = 2


@dataclass(frozen=True, slots=True)
class SpotSubmit:
    client_order_id: str
    status: OrderStatus | None  # None: denied before anything was written
    denial: Denial | None = None
    error: str = ""
    venue_order: VenueOrder | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


class SpotExecutor:
    def __init__(self, spot: SpotVenue, book: SpotBook, *,
                 gate: Callable[[OrderIntent], Denial | None] | None = None,
                 lookup_delays: tuple[float, ...] = LOOKUP_DELAYS_S) -> None:
        self.spot, self.book, self.gate = spot, book, gate
        self.lookup_delays = lookup_delays

    async def submit(self, intent: OrderIntent, reason: str = "") -> SpotSubmit:
        cid = intent.client_order_id
        if self.gate is not None:
            denial = self.gate(intent)
            if denial is not None:
                return SpotSubmit(cid, None, denial=denial)
        await self.book.record_intent(intent, reason)
        try:
            answer = await self.spot.place_order(intent)
        except AmbiguousSubmitError as exc:
            await self.book.set_status(cid, OrderStatus.UNKNOWN, str(exc))
            status = await self.resolve(intent.symbol, cid)
            return SpotSubmit(cid, status, error=str(exc))
        except VenueError as exc:
            await self.book.set_status(cid, OrderStatus.REJECTED, f"{exc.code}: {exc}")
            return SpotSubmit(cid, OrderStatus.REJECTED, error=str(exc))
        await self.book.apply_venue_order(answer)
        return SpotSubmit(cid, answer.status, venue_order=answer)

    async def resolve(self, symbol: str, client_order_id: str) -> OrderStatus:
        """Ask the venue by client id until it says what happened (never resubmits). An
        order found nowhere twice was never placed: REJECTED."""
        misses = 0
        for delay in self.lookup_delays:
            await asyncio.sleep(delay)
            try:
                vo = await self.spot.order_by_client_id(symbol, client_order_id)
            except VenueError as exc:
                logger.warning("SPOT_ORDER_UNKNOWN lookup failed id={} error={}",
                               client_order_id, exc)
                continue
            if vo is not None:
                await self.book.apply_venue_order(vo)
                return vo.status
            misses += 1
            if misses >= MISSES_TO_REJECT:
                await self.book.set_status(client_order_id, OrderStatus.REJECTED,
                                           "venue has no such order: it was never placed")
                return OrderStatus.REJECTED
        return OrderStatus.UNKNOWN  # still unknown: reconciliation keeps asking

    async def on_private(self, update: PrivateUpdate) -> None:
        """The spot rows of one private-stream message: orders' states, fills once."""
        for vo in update.spot_orders:
            await self.book.apply_venue_order(vo)
        for fill in update.spot_fills:
            await self.book.apply_fill(fill)
