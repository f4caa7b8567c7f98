"""`ReplayContext`: a strategy's window on a replay (the `StrategyContext` of a backtest).

What live Titan answers from the venue, the ledger and the event loop, a replay answers
from the stored data, the simulated account and the replay clock:

* `klines`: the stored bars of the interval that have *closed* by the replay time (no
  look-ahead: a bar is handed out only from its close on), the newest `limit`;
* `last_price`: the execution venue's last price, else the close of the last closed
  1-minute bar (what a REST ticker would have said before the first trade of the run);
* `listing`: the run's symbols with their 24 h turnover from the closed 1-minute bars of
  the last day (Σ close × volume), as the venue's tickers would have given it;
* `position` / `equity`: the simulated account's (equity marked at the last price);
* `clamp_entry`: the gate's clamps (`titan.risk.sizing.clamp_to_limits`) on the replay's
  risk engine, as live;
* `submit` / `cancel`: the `ReplayBroker` (the gate, then the latency, then the
  matching engine);
* `call_later`: the replay scheduler; `spawn`: a task the engine drains on replay time;
* `regime`: the tail-risk regime from the replayed closed 1-minute bars up to the replay
  time (`ReplayRegime`, the same tracker as live); the replay's gate and sizing use it too.
"""

from __future__ import annotations

import asyncio
from bisect import bisect_right
from collections.abc import Callable, Coroutine, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from titan.clock import Clock
from titan.domain import Denial
from titan.domain.orders import OrderIntent, OrderStatus, Position, Side
from titan.events import Event
from titan.execution.engine import SubmitResult
from titan.risk.engine import MarketContext
from titan.risk.regime import WINDOW, Regime, RegimeReading, RegimeTracker
from titan.risk.sizing import SizeDecision, clamp_to_limits
from titan.strategies.base import Cancellable
from titan.venues.base import Instrument, Kline, ListedInstrument, VenueError

if TYPE_CHECKING:
    from titan.backtest.engine import Backtest

MINUTE_MS = 60_000
DAY_MINUTES = 1440


class ReplayContext:
    def __init__(self, bt: Backtest, name: str) -> None:
        self._bt = bt
        self._name = name
        self._starts: dict[tuple[str, int], list[int]] = {}

    @property
    def name(self) -> str:
        return self._name

    @property
    def clock(self) -> Clock:
        return self._bt.clock

    def symbols(self) -> tuple[str, ...]:
        return tuple(self._bt.risk.config.whitelist)

    def instrument(self, symbol: str) -> Instrument | None:
        return self._bt.broker.instruments.get(symbol)

    def prices(self) -> Mapping[str, Decimal]:
        return {s: Decimal(repr(p)) for s, p in sorted(self._bt.broker.last.items())}

    def closed_klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        bars = self._bt.source.klines(symbol, interval_min)
        key = (symbol, interval_min)
        starts = self._starts.get(key)
        if starts is None or len(starts) != len(bars):
            starts = self._starts[key] = [b.start_ms for b in bars]
        # Closed at `now`: start + size <= now, i.e. start <= now - size.
        end = bisect_right(starts, self._bt.clock.ms - interval_min * MINUTE_MS)
        return list(bars[max(0, end - limit):end])

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        return self.closed_klines(symbol, interval_min, limit)

    async def last_price(self, symbol: str) -> float:
        last = self._bt.broker.last.get(symbol)
        if last is not None:
            return last
        bars = self.closed_klines(symbol, 1, 1)
        if bars:
            return bars[-1].close
        raise VenueError(f"replay: no price for {symbol} yet")

    async def listing(self) -> list[ListedInstrument]:
        out = []
        for symbol in sorted(self._bt.broker.instruments):
            bars = self.closed_klines(symbol, 1, DAY_MINUTES)
            turnover = sum((Decimal(repr(b.close)) * Decimal(repr(b.volume)) for b in bars),
                           Decimal(0))
            out.append(ListedInstrument(symbol=symbol, turnover_24h=turnover))
        return out

    def regime(self, symbol: str) -> Regime:
        return self.regime_reading(symbol).regime

    def regime_reading(self, symbol: str) -> RegimeReading:
        return self._bt.regime.reading(symbol)

    def has_position(self, symbol: str) -> bool:
        return self._bt.broker.has_position(symbol)

    def position(self, symbol: str) -> Position | None:
        pos = self._bt.broker.account.positions.get(symbol)
        if pos is None or pos.size == 0:
            return None
        last = self._bt.broker.last.get(symbol)
        unrealised = (pos.size * (Decimal(repr(last)) - pos.avg_price) if last is not None
                      else Decimal(0))
        return Position(symbol=symbol, side=Side.BUY if pos.size > 0 else Side.SELL,
                        size=abs(pos.size), entry_price=pos.avg_price,
                        unrealised_pnl=unrealised, leverage=pos.leverage,
                        stop_loss=pos.stop_loss, take_profit=pos.take_profit)

    def equity(self) -> Decimal | None:
        return self._bt.broker.equity()

    def has_working_entry(self, symbol: str) -> bool:
        return self._bt.broker.has_working_entry(symbol)

    def order_status(self, client_order_id: str) -> OrderStatus | None:
        return self._bt.broker.order_status(client_order_id)

    def market_context(self, symbol: str) -> MarketContext:
        return self._bt.broker.market_context(symbol)

    def size_entry(self, **kwargs: Any) -> SizeDecision:
        return self._bt.risk.size_entry(**kwargs)

    def clamp_entry(self, *, symbol: str, qty: Decimal, entry: Decimal, stop: Decimal,
                    leverage: Decimal, qty_step: Decimal, min_qty: Decimal) -> SizeDecision:
        gate = self._bt.risk.context_for(symbol, self._bt.broker.market_context(symbol))
        return clamp_to_limits(symbol=symbol, qty=qty, entry=entry, stop=stop,
                               leverage=leverage, ctx=gate, qty_step=qty_step, min_qty=min_qty)

    def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        """The replay's broker takes the entry's leverage with the order: nothing to do."""

    def gate_entry(self, intent: OrderIntent) -> Denial | None:
        return self._bt.risk.gate_entry(intent, self._bt.broker.market_context(intent.symbol))

    async def submit(self, intent: OrderIntent, reason: str) -> SubmitResult:
        if intent.strategy != self._name:
            raise ValueError(f"{self._name} proposed an intent of {intent.strategy!r}")
        return await self._bt.broker.submit(intent, reason)

    async def cancel(self, client_order_id: str, reason: str) -> bool:
        return await self._bt.broker.cancel(client_order_id, reason)

    def publish(self, event: Event) -> None:
        self._bt.bus.publish(event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._bt.spawn(coro)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Cancellable:
        return self._bt.scheduler.at(self._bt.clock.ms + round(delay_s * 1000), fn)

    def pauses(self) -> Mapping[str, str]:
        return self._bt.pauses_of(self._name)


class ReplayRegime:
    """The regime per symbol on the replay clock: a `RegimeTracker` (as live) fed, when a
    reading is asked for, with the 1-minute bars closed since the last one it took.

    Live, a reading is recomputed every minute; here only when asked (by the gate, sizing
    or the strategy), which gives the same reading at the same replay time — the tracker
    sees the same closed bars — without recomputing for minutes nobody looks at."""

    def __init__(self, bt: Backtest) -> None:
        self._ctx = ReplayContext(bt, "regime")
        self.tracker = RegimeTracker()

    def reading(self, symbol: str) -> RegimeReading:
        newest = self._ctx.closed_klines(symbol, 1, 1)
        if not newest:
            return self.tracker.reading(symbol)
        last = self.tracker.last_start(symbol)
        if last is not None and newest[-1].start_ms <= last:
            return self.tracker.reading(symbol)  # nothing new has closed
        wanted = WINDOW + 1 if last is None else (newest[-1].start_ms - last) // MINUTE_MS
        bars = self._ctx.closed_klines(symbol, 1, min(WINDOW + 1, wanted))
        return self.tracker.add_closes(symbol, [(b.start_ms, float(b.close)) for b in bars])
