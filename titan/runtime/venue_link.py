"""Titan's link to the venue and the signal feed: connect, retry, and what a dropped or
restored stream means (SPEC §1, §8).

* At start-up the venue's streams and the feed are started; if the venue cannot be
  reached Titan starts anyway, DISARMED, strategies paused (`venue`), and retries every
  `VENUE_RETRY_S` until it connects.
* A Bybit stream that drops while Titan runs: VENUE_DISCONNECTED, strategies paused
  (positions stay watched by REST: the reconciler and the wallet poll go on).
* Streams restored: VENUE_CONNECTED, a reconciliation, and the strategies resume only if
  it found the books in order.
* Titan's own start-up and shutdown are not connection losses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.events import VenueConnected, VenueDisconnected
from titan.execution.market import MarketState
from titan.state.equity import EquityTracker
from titan.state.reconciler import Reconciler
from titan.strategies.pauses import StrategyPauses
from titan.venues.base import StreamState, TradeFeed, Venue, VenueError

VENUE_RETRY_S = 5.0


class VenueLink:
    def __init__(self, *, venue: Venue, feed: TradeFeed, symbols: Sequence[str],
                 market: MarketState, bus: EventBus, clock: Clock, reconciler: Reconciler,
                 pauses: StrategyPauses, equity: EquityTracker,
                 spawn: Callable[[Coroutine[Any, Any, Any]], None]) -> None:
        self.venue, self.feed, self.symbols = venue, feed, list(symbols)
        self.market, self.bus, self.clock = market, bus, clock
        self.reconciler, self.pauses, self.equity = reconciler, pauses, equity
        self._spawn = spawn
        self.live = False  # start-up done and not stopping: stream changes count
        venue.on_stream_state(self.on_venue_stream)
        feed.on_stream_state(self.on_feed_stream)

    async def connect(self) -> bool:
        try:
            await self.venue.start()
            await self.feed.start(self.symbols)
        except VenueError as exc:
            self.bus.publish(VenueDisconnected(
                ts=self.clock.now(), message=f"cannot reach the venue: {exc}; Titan stays DISARMED",
                venue=self.venue.name))
            return False
        self.market.venue_streams.update(self.venue.stream_states())
        self.market.feed_streams.update(self.feed.stream_states())
        await self.poll_wallet()
        return True

    async def retry_until_connected(self) -> None:
        """Not connected at start-up: strategies paused; connect, reconcile, resume."""
        self.pauses.pause("venue", f"{self.venue.name.title()} not connected at start-up")
        while True:
            await asyncio.sleep(VENUE_RETRY_S)
            if await self.connect():
                await self.resume_after_reconcile()
                return

    async def poll_wallet(self) -> None:
        try:
            wallet = await self.venue.wallet()
        except VenueError as exc:
            logger.warning("WALLET_POLL_FAILED error={}", exc)
            return
        await self.equity.on_wallet(wallet)

    def on_venue_stream(self, name: str, state: StreamState) -> None:
        was = self.market.venue_connected
        self.market.venue_streams[name] = state
        now = self.market.venue_connected
        if not self.live:
            return  # our own start-up and shutdown are not connection losses
        venue, label = self.venue.name, self.venue.name.title()
        if was and not now:
            self.bus.publish(VenueDisconnected(
                ts=self.clock.now(), message=f"{label} {name} stream {state.value}; strategies "
                "paused, positions watched by REST", venue=venue, stream=name))
            self.pauses.pause("venue", f"{label} {name} stream {state.value}")
        elif now and not was:
            self.bus.publish(VenueConnected(ts=self.clock.now(),
                                            message=f"{label} streams connected",
                                            venue=venue))
            self._spawn(self.resume_after_reconcile())

    def on_feed_stream(self, name: str, state: StreamState) -> None:
        self.market.feed_streams[name] = state

    async def resume_after_reconcile(self) -> None:
        report = await self.reconciler.run("reconnect")
        if report.clean or report.ok:
            self.pauses.resume("venue")

    async def close(self) -> None:
        self.live = False
        for closer in (self.feed, self.venue):
            try:
                await closer.close()
            except Exception:
                logger.opt(exception=True).warning("VENUE_CLOSE_FAILED {}", closer)
