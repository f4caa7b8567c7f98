"""The strategy interface (SPEC §14): what a strategy is given and what it may do.

A strategy is handed market data (Binance trades, Bybit tickers, closed klines), the
timers it declared and a narrow `StrategyContext`. Through the context it may read the
market and its own book, size and check an entry, and *propose* orders and cancels —
every one goes through the execution engine and the gate. It never holds the venue, the
ledger or the database, never reads wall time (`ctx.clock`) and never starts a task or
a timer of its own (`ctx.spawn`, `ctx.call_later`, declared `timers()`): that is what
lets the same strategy run live, on the paper simulator and on a replay clock.

The platform (`titan.strategies.host`) owns the strategies' lifetimes, routes the data,
runs the timers, and tells each strategy when it may trade (`running`): an operator
switch, the phases it runs in and Titan's own pauses (disconnect, halt, shutdown).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, ClassVar, Protocol

from titan.clock import Clock
from titan.domain import Denial
from titan.domain.orders import OrderIntent, OrderStatus, Position
from titan.events import Event
from titan.execution.engine import SubmitResult
from titan.risk.engine import MarketContext
from titan.risk.regime import Regime, RegimeReading
from titan.risk.sizing import SizeDecision
from titan.venues.base import Instrument, Kline, ListedInstrument, Ticker, Trade


@dataclass(frozen=True, slots=True)
class Timer:
    """A periodic call the platform makes: `every_s` seconds, `offset_s` after the
    boundary when `aligned` (e.g. 1.5 s after each minute, once its kline has closed),
    and once at start when `at_start`."""

    name: str
    every_s: float
    offset_s: float = 0.0
    aligned: bool = False
    at_start: bool = True


class Cancellable(Protocol):
    def cancel(self) -> None: ...


class StrategyContext(Protocol):
    """Everything a strategy may touch. Implemented live by `host.LiveContext`."""

    @property
    def name(self) -> str: ...

    @property
    def clock(self) -> Clock: ...

    # -- what may be traded and what the market looks like --
    def symbols(self) -> tuple[str, ...]:
        """The whitelisted symbols (the active config version's)."""
        ...

    def instrument(self, symbol: str) -> Instrument | None: ...

    def prices(self) -> Mapping[str, Decimal]:
        """Last Bybit price per symbol, as Titan's market state has it."""
        ...

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]: ...

    async def last_price(self, symbol: str) -> float:
        """The venue's last price asked by REST (when no fresh ticker is at hand)."""
        ...

    async def listing(self) -> list[ListedInstrument]:
        """Every instrument the venue trades now with its 24 h turnover (Hunter's universe)."""
        ...

    def regime(self, symbol: str) -> Regime:
        """The symbol's tail-risk regime (SPEC §17) from its closed 1-minute bars up to now;
        `Regime.UNKNOWN` (neutral) during the warm-up or without data."""
        ...

    def regime_reading(self, symbol: str) -> RegimeReading:
        """The figures behind `regime` (α, exceedance, clustering, the size scale)."""
        ...

    # -- the strategy's own book (read-only) --
    def has_position(self, symbol: str) -> bool: ...

    def position(self, symbol: str) -> Position | None:
        """The open position on `symbol` as the ledger has it (any strategy's: one-way mode)."""
        ...

    def equity(self) -> Decimal | None:
        """The account equity the risk engine sizes with (None before the first wallet)."""
        ...

    def has_working_entry(self, symbol: str) -> bool:
        """A working (not reduce-only) order of any strategy on `symbol`."""
        ...

    def order_status(self, client_order_id: str) -> OrderStatus | None:
        """The live order's status; None once it is finished or unknown."""
        ...

    # -- sizing and the gate --
    def market_context(self, symbol: str) -> MarketContext: ...

    def size_entry(self, **kwargs: Any) -> SizeDecision:
        """`RiskEngine.size_entry`: Kelly, then the gate's clamps (no event published)."""
        ...

    def clamp_entry(self, *, symbol: str, qty: Decimal, entry: Decimal, stop: Decimal,
                    leverage: Decimal, qty_step: Decimal, min_qty: Decimal) -> SizeDecision:
        """A strategy's own qty, clamped to the gate's limits (phase, operator): the
        largest qty ≤ `qty` that passes, leverage lowered to the maximum (no event)."""
        ...

    def gate_entry(self, intent: OrderIntent) -> Denial | None: ...

    # -- proposals (the only way to the venue) --
    async def submit(self, intent: OrderIntent, reason: str) -> SubmitResult:
        """Through the execution engine: gate, intent commit, order. The intent must
        carry this strategy's name."""
        ...

    async def cancel(self, client_order_id: str, reason: str) -> bool:
        """Cancel one of this strategy's working orders; True if the venue cancelled it."""
        ...

    def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        """An entry at this leverage may come soon (a trap armed): have the venue set it now,
        in the background, clamped as sizing clamps it, so the entry itself is one order
        call (SPEC §13). Nothing is done while the symbol has a position or a working entry
        (their leverage is not changed under them); a failure is logged, and the entry then
        sets its leverage itself."""
        ...

    # -- telling and time --
    def publish(self, event: Event) -> None: ...

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]: ...

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Cancellable: ...

    def pauses(self) -> Mapping[str, str]:
        """Why this strategy may not trade now (source → reason); empty when it may."""
        ...


class Strategy:
    """Base class: override what the strategy uses; the defaults do nothing.

    The platform calls, on the event loop: `start()` once, then the data callbacks
    (which must not wait, log or format on their hot path), `on_timer(name)` for each
    declared timer, `on_pause_change()` whenever `ctx.pauses()` changed, `on_params()`
    when a new config version changed its parameters, and `stop()` at the end."""

    name: ClassVar[str] = ""
    # Closed klines the strategy wants delivered to `on_kline`, by interval in minutes
    # (e.g. (1, 15)): each bar once, when it has closed, for every whitelisted symbol.
    kline_intervals: ClassVar[tuple[int, ...]] = ()

    def __init__(self, ctx: StrategyContext) -> None:
        self.ctx = ctx

    def timers(self) -> tuple[Timer, ...]:
        return ()

    async def start(self) -> None:
        """Called once, before the first timer; the strategy may not trade yet."""

    async def stop(self) -> None:
        """Stop trading; cancel what is waiting (unfilled entries). Positions stay."""

    async def on_timer(self, name: str) -> None:
        """A declared timer fired."""

    def on_trade(self, trade: Trade) -> None:
        """A Binance trade (the signal stream)."""

    def on_ticker(self, ticker: Ticker) -> None:
        """A Bybit ticker (the execution venue's price)."""

    def on_kline(self, symbol: str, interval_min: int, kline: Kline) -> None:
        """A closed kline of one of `kline_intervals` (live: read from the venue just after
        the bar closed; replay: the recorded bars)."""

    def on_pause_change(self) -> None:
        """`ctx.pauses()` changed: start or stop trading."""

    def on_params(self, params: Mapping[str, Any]) -> None:
        """New parameters from a config version; take effect at once."""

    def status(self) -> dict[str, Any]:
        return {}


StrategyFactory = Callable[[StrategyContext, Mapping[str, Any]], Strategy]

__all__ = ["Cancellable", "Strategy", "StrategyContext", "StrategyFactory", "SubmitResult",
           "Timer"]
