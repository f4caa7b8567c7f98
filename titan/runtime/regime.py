"""The live tail-risk regime per symbol (SPEC §17, docs/regime.md).

A `RegimeTracker` (titan/risk/regime.py: the pure arithmetic) fed with the closes of the
execution venue's closed 1-minute klines, for every symbol Titan streams:

* at start (and for a symbol streamed later, on its first minute) a warm-up from the
  venue's last 1,000 one-minute bars, so the regime is known at once instead of after
  100 minutes;
* then, 1.5 s after every minute (the venue has closed the bar), the newest closed bar of
  each symbol, and a fresh reading.

Each reading goes to the metrics (`titan_regime_alpha`, `titan_regime`); a change of a
symbol's regime is published as `REGIME_CHANGED`. The risk engine reads α from here for
its tail-risk veto and size scale (`RiskEngine.regime = service.reading`), and strategies
through their context (`ctx.regime(symbol)`).

A failed read leaves the last reading in place (the regime of a minute ago is better than
none) and is tried again next minute.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.events import RegimeChanged
from titan.risk.regime import WINDOW, Regime, RegimeReading, RegimeTracker
from titan.venues.base import Kline, VenueError

MINUTE_MS = 60_000
KLINE_OFFSET_S = 1.5  # after the minute boundary: the venue has closed the bar
WARM_UP_BARS = WINDOW  # Bybit serves at most 1,000 bars a request: 999 returns
RECENT_BARS = 3  # each minute: enough to cover one missed minute without a re-warm-up


class KlineSource(Protocol):
    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]: ...


class RegimeMetrics(Protocol):
    def set_regime(self, symbol: str, regime: str, alpha: float | None) -> None: ...


class RegimeService:
    def __init__(self, bus: EventBus, clock: Clock, metrics: RegimeMetrics | None = None,
                 tracker: RegimeTracker | None = None) -> None:
        self.tracker = tracker or RegimeTracker()
        self._bus, self._clock, self._metrics = bus, clock, metrics

    # -- reading ----------------------------------------------------------------------------

    def reading(self, symbol: str) -> RegimeReading:
        return self.tracker.reading(symbol)

    def regime(self, symbol: str) -> Regime:
        return self.tracker.regime(symbol)

    def status(self) -> dict[str, Any]:
        """Per symbol, the reading's figures (`GET /api/regime`, the console)."""
        return {"symbols": {s: self.reading(s).as_dict() for s in self.tracker.symbols()},
                "windowReturns": WINDOW}

    # -- feeding ----------------------------------------------------------------------------

    def _closed(self, bars: list[Kline]) -> list[tuple[int, float]]:
        now = self._clock.time_ms()
        return [(k.start_ms, float(k.close)) for k in sorted(bars, key=lambda k: k.start_ms)
                if k.start_ms + MINUTE_MS <= now and math.isfinite(float(k.close))]

    def add_bars(self, symbol: str, bars: list[Kline]) -> RegimeReading:
        """Closed bars of `symbol` (any already taken are ignored); publishes a change."""
        previous = self.tracker.regime(symbol)
        reading = self.tracker.add_closes(symbol, self._closed(bars))
        self._after(symbol, previous, reading)
        return reading

    def _after(self, symbol: str, previous: Regime, reading: RegimeReading) -> None:
        if self._metrics is not None:
            self._metrics.set_regime(symbol, reading.regime.value, reading.alpha)
        if reading.regime is previous:
            return
        figures = ("unknown" if reading.alpha is None else
                   f"α {reading.alpha:.2f}, exceedance {reading.exceedance:.3f}, "
                   f"clustering {reading.clustering:.2f}")
        self._bus.publish(RegimeChanged(
            ts=self._clock.now(),
            message=f"{symbol} regime {previous.value} -> {reading.regime.value} ({figures}, "
                    f"{reading.samples} returns)",
            symbol=symbol, regime=reading.regime.value, previous=previous.value,
            alpha=reading.alpha, exceedance=reading.exceedance, clustering=reading.clustering,
            samples=reading.samples))

    def _bars_wanted(self, symbol: str) -> int:
        """The full history for a symbol not yet seen; else every bar since the last one
        taken (at least RECENT_BARS), so minutes missed while the venue was away are
        filled in rather than joined into one long "1-minute" return."""
        last = self.tracker.last_start(symbol)
        if last is None:
            return WARM_UP_BARS
        missed = (self._clock.time_ms() - last) // MINUTE_MS
        return int(min(WARM_UP_BARS, max(RECENT_BARS, missed + 1)))

    async def update(self, venue: KlineSource, symbols: Iterable[str]) -> None:
        """One round: a warm-up for a symbol not yet warm, the newest bars for the rest."""
        for symbol in tuple(symbols):
            try:
                bars = await venue.klines(symbol, 1, self._bars_wanted(symbol))
            except (TimeoutError, VenueError, OSError) as exc:
                logger.warning("REGIME_KLINES_FAILED {}: {}", symbol, exc)
                continue
            self.add_bars(symbol, bars)

    # -- the minute loop ----------------------------------------------------------------------

    def start(self, venue: KlineSource,
              symbols: Callable[[], Iterable[str]]) -> asyncio.Task[None]:
        """The minute loop (its first round is the warm-up); the caller owns the task and
        cancels it at shutdown."""
        return asyncio.create_task(self._run(venue, symbols), name="regime")

    async def _run(self, venue: KlineSource, symbols: Callable[[], Iterable[str]]) -> None:
        while True:
            try:
                await self.update(venue, symbols())
            except Exception:
                logger.opt(exception=True).error("REGIME_UPDATE_FAILED")
            await asyncio.sleep(self.next_delay_s())

    def next_delay_s(self) -> float:
        """Seconds to 1.5 s past the next minute boundary (at least 1 s)."""
        now_s = self._clock.time_ms() / 1000.0
        nxt = math.floor((now_s - KLINE_OFFSET_S) / 60.0) * 60.0 + 60.0 + KLINE_OFFSET_S
        return max(1.0, nxt - now_s)
