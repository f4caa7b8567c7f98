"""Exits sent while the disk was full (issue 15): their intents could not be written first,
so they are kept here and booked as soon as the database takes writes again: the intents,
then each order as the venue reports it (looked up by client id on the exits' budget).
"""

from __future__ import annotations

import asyncio

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain.orders import OrderIntent
from titan.domain.reasons import Severity
from titan.events import ExitsSentUnjournaled
from titan.state.ledger import Ledger
from titan.venues.base import Venue, VenueError, exit_lane

RETRY_S = 1.0


class UnjournaledExits:
    def __init__(self, ledger: Ledger, venue: Venue, bus: EventBus, clock: Clock) -> None:
        self.ledger = ledger
        self.venue = venue
        self.bus = bus
        self.clock = clock
        self.pending: list[OrderIntent] = []
        self._task: asyncio.Task[None] | None = None

    def add(self, intents: list[OrderIntent], error: str) -> None:
        self.pending.extend(intents)
        ids = [i.client_order_id for i in intents]
        logger.error("EXITS_UNJOURNALED count={} ids={} error={}", len(intents), ",".join(ids), error)
        self.bus.publish(ExitsSentUnjournaled(
            ts=self.clock.now(), severity=Severity.CRITICAL,
            message=f"disk full: {len(intents)} reduce-only exit(s) sent without their intent "
                    f"written first; they are booked as soon as the database takes writes",
            client_order_ids=ids, error=error))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._book_when_possible(), name="book-unjournaled")

    async def _book_when_possible(self) -> None:
        while self.pending:
            await asyncio.sleep(RETRY_S)
            try:
                await self.book()
            except Exception as exc:  # still full: try again
                logger.warning("EXITS_UNJOURNALED booking failed, retrying: {}", exc)

    async def book(self) -> None:
        """Intents first (one transaction), then the venue's word on each order."""
        batch = list(self.pending)
        if not batch:
            return
        unbooked = [i for i in batch if await self.ledger.known_order(i.client_order_id) is None]
        if unbooked:
            await self.ledger.record_intents(unbooked, "flatten (sent while the disk was full)")
        for intent in batch:
            try:
                with exit_lane():
                    vo = await self.venue.order_by_client_id(intent.symbol, intent.client_order_id)
            except VenueError as exc:
                logger.warning("EXITS_UNJOURNALED lookup failed id={} error={}",
                               intent.client_order_id, exc)
                continue
            if vo is not None:
                await self.ledger.apply_venue_order(vo)
        self.pending = [i for i in self.pending if i not in batch]
        logger.info("EXITS_BOOKED count={} (sent while the disk was full)", len(batch))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
