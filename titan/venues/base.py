"""The one interface every execution venue adapter implements (SPEC §1).

Adapters convert the venue's wire format into Titan's domain types; nothing outside
`titan.venues` sees a pybit or python-binance object. All methods are coroutines and
must never block the event loop.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from titan.domain.orders import Fill, OrderIntent, OrderStatus, OrderType, Position, Side


class VenueError(Exception):
    """The venue refused a request with a definite answer (the order did not happen)."""

    def __init__(self, message: str, *, code: str | int | None = None) -> None:
        super().__init__(message)
        self.code = code


class AmbiguousSubmitError(VenueError):
    """The request may or may not have reached the venue (timeout, 5xx, reset).

    The order goes to UNKNOWN and is resolved by `order_by_client_id`; never resubmitted.
    """


class VenueUnavailableError(VenueError):
    """The venue cannot be read right now. Callers fail closed."""


class RateLimitedError(VenueError):
    """The venue said slow down (Bybit retCode 10006, HTTP 429 / 418)."""


# Exits (reduce-only orders, flatten, cancels) run on a request budget of their own, so they are
# never queued behind entries (SPEC rule: never stop being able to reduce exposure; Bybit's
# own limits are per endpoint). The engine marks the calls; adapters pick the budget.
_EXIT_LANE: contextvars.ContextVar[bool] = contextvars.ContextVar("titan_exit_lane", default=False)


@contextmanager
def exit_lane() -> Iterator[None]:
    """Venue calls made inside (and in tasks started inside) are exits."""
    token = _EXIT_LANE.set(True)
    try:
        yield
    finally:
        _EXIT_LANE.reset(token)


def in_exit_lane() -> bool:
    return _EXIT_LANE.get()


def exit_lane_context() -> contextvars.Context:
    """A copy of the current context with the exit lane on (for background lookups of exits)."""
    ctx = contextvars.copy_context()
    ctx.run(_EXIT_LANE.set, True)
    return ctx


def outside_exit_lane() -> contextvars.Context:
    """A copy of the current context with the exit lane off (for background lookups that
    must not spend the exits' budget)."""
    ctx = contextvars.copy_context()
    ctx.run(_EXIT_LANE.set, False)
    return ctx


class StreamState(StrEnum):
    CONNECTED = "connected"
    RECONNECTING = "reconnecting"
    DISCONNECTED = "disconnected"


@dataclass(frozen=True, slots=True)
class StreamGap:
    """A stretch of time a stream delivered nothing: from the last message before it was lost
    to the moment it was connected and subscribed again. Whatever happened in between (fills,
    cancels) must come from a REST reconciliation."""

    stream: str
    reason: str
    started_at: datetime
    ended_at: datetime

    @property
    def seconds(self) -> float:
        return max(0.0, (self.ended_at - self.started_at).total_seconds())


class StreamGapSource(Protocol):
    """Optional extension of `Venue` / `TradeFeed`: adapters that report their data gaps."""

    def on_stream_gap(self, callback: Callable[[StreamGap], None]) -> None: ...

    def last_gap(self, stream: str) -> StreamGap | None: ...


@dataclass(frozen=True, slots=True)
class Instrument:
    symbol: str
    tick_size: Decimal
    qty_step: Decimal
    min_qty: Decimal
    max_leverage: Decimal = Decimal(100)
    min_notional: Decimal = Decimal(0)


@dataclass(frozen=True, slots=True)
class VenueOrder:
    """An order as the venue reports it."""

    symbol: str
    client_order_id: str
    venue_order_id: str
    side: Side
    order_type: OrderType
    qty: Decimal
    filled_qty: Decimal
    price: Decimal | None
    avg_price: Decimal | None
    status: OrderStatus
    reduce_only: bool
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    updated_at: datetime | None = None
    reject_reason: str = ""


@dataclass(frozen=True, slots=True)
class SpotInstrument:
    """A spot pair (Bybit category `spot`): its rounding rules and the coin it trades.
    `min_notional` is the smallest order value in the quote coin (Bybit minOrderAmt)."""

    inst: Instrument
    base_coin: str
    quote_coin: str = "USDT"

    @property
    def symbol(self) -> str:
        return self.inst.symbol


@dataclass(frozen=True, slots=True)
class SpotFill:
    """One spot execution, keyed by the venue's execution id. Bybit charges a buy's fee
    in the coin bought and a sell's in the quote coin (`fee_coin`), so a buy of `qty`
    adds `qty − fee` coins to the wallet."""

    exec_id: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    fee_coin: str
    ts: datetime

    @property
    def coin_change(self) -> Decimal:
        """What this fill did to the base coin's balance (the buy's fee taken off)."""
        if self.side is Side.BUY:
            return self.qty - (self.fee if self.fee_coin != "USDT" else Decimal(0))
        return -self.qty


@dataclass(frozen=True, slots=True)
class Wallet:
    equity: Decimal
    wallet_balance: Decimal
    available: Decimal
    unrealised_pnl: Decimal


@dataclass(frozen=True, slots=True)
class ListedInstrument:
    """An instrument the venue trades now, with its 24 h turnover (quote currency)."""

    symbol: str
    turnover_24h: Decimal


@dataclass(frozen=True, slots=True)
class Ticker:
    symbol: str
    last_price: Decimal
    ts_ms: int
    # The top of the book when the venue's ticker carries it (Bybit: bid1Price/ask1Price).
    bid: Decimal | None = None
    ask: Decimal | None = None
    # A perpetual's funding when the ticker carries it (Bybit linear: fundingRate, the
    # rate the next settlement applies, and nextFundingTime, when that is, epoch ms).
    funding_rate: Decimal | None = None
    next_funding_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Trade:
    """A public trade (Binance aggTrade or Bybit publicTrade)."""

    symbol: str
    price: float
    qty: float
    ts_ms: int
    buyer_is_maker: bool
    trade_id: int = 0


@dataclass(frozen=True, slots=True)
class Kline:
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float


@dataclass(slots=True)
class PrivateUpdate:
    """One message of the private stream, already in domain types."""

    orders: list[VenueOrder] = field(default_factory=list)
    fills: list[Fill] = field(default_factory=list)
    positions: list[Position] = field(default_factory=list)
    closed_symbols: list[str] = field(default_factory=list)
    wallet: Wallet | None = None
    # The spot leg's orders and fills (category `spot`), kept apart: a spot fill on
    # BTCUSDT is not a fill of the BTCUSDT perpetual.
    spot_orders: list[VenueOrder] = field(default_factory=list)
    spot_fills: list[SpotFill] = field(default_factory=list)


class Venue(Protocol):
    """What Titan needs from an execution venue."""

    name: str

    async def start(self) -> None:
        """Load instruments and open the streams. Raises VenueUnavailableError if it cannot."""
        ...

    async def close(self) -> None: ...

    def instrument(self, symbol: str) -> Instrument | None: ...

    async def instruments(self) -> dict[str, Instrument]: ...

    async def place_order(self, intent: OrderIntent) -> VenueOrder:
        """Send one order with the intent's client order id, prices and qty rounded to the instrument.

        Raises VenueError (definitely not placed), AmbiguousSubmitError (outcome unknown),
        RateLimitedError.
        """
        ...

    async def place_orders(self, intents: list[OrderIntent]) -> list[VenueOrder | VenueError]:
        """Send several orders in as few requests as the venue allows (Bybit's batch endpoint),
        the requests concurrently. One answer per intent, in order: the VenueOrder, or the
        error for that order: VenueError (definitely not placed), AmbiguousSubmitError (the
        request's answer was lost: outcome unknown), RateLimitedError. Never raises for them.
        """
        ...

    async def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        """Set the symbol's leverage now, ahead of an entry that may come (a trap armed), so
        that the entry's order is its only round trip. Nothing is sent when the venue
        already has it. Raises VenueError as any call; an entry still sets its leverage
        itself if this did not happen."""
        ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> bool: ...

    async def cancel_all(self, symbol: str | None = None) -> list[str]:
        """Cancel every open order (of one symbol, or all). Returns the client ids cancelled."""
        ...

    async def positions(self) -> list[Position]: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        """The order with this client id, open or closed; None when the venue never saw it."""
        ...

    async def wallet(self) -> Wallet: ...

    async def executions(
        self, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Fill]: ...

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]: ...

    async def ticker(self, symbol: str) -> Ticker: ...

    async def listing(self) -> list[ListedInstrument]:
        """Every instrument the venue trades now (this category, this settle coin), with
        its 24 h turnover: Titan's symbol universe."""
        ...

    async def set_symbols(self, symbols: list[str]) -> None:
        """Stream (tickers, instruments) for these symbols from now on."""
        ...

    def on_private(self, callback: Callable[[PrivateUpdate], None]) -> None:
        """Register the callback for private-stream updates; called on the event loop."""
        ...

    def on_ticker(self, callback: Callable[[Ticker], None]) -> None: ...

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None:
        """Called on the loop with (stream name, state) whenever a stream connects or drops."""
        ...

    def stream_states(self) -> dict[str, StreamState]: ...


class SpotVenue(Protocol):
    """The spot side of a venue (Bybit's unified account: `BybitVenue.spot`)."""

    def instrument(self, symbol: str) -> SpotInstrument | None: ...

    async def load(self, symbol: str) -> SpotInstrument: ...

    async def place_order(self, intent: OrderIntent) -> VenueOrder: ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> bool: ...

    async def cancel_all(self, symbol: str | None = None) -> list[str]: ...

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]: ...

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        ...

    async def coins(self) -> dict[str, Decimal]: ...

    async def executions(self, symbol: str | None = None,
                         since_ms: int | None = None) -> list[SpotFill]: ...


class TradeFeed(Protocol):
    """A public trade stream (the Scavenger's signal feed: Binance spot aggTrade)."""

    name: str

    async def start(self, symbols: list[str]) -> None: ...

    async def set_symbols(self, symbols: list[str]) -> None: ...

    async def close(self) -> None: ...

    def on_trade(self, callback: Callable[[Trade], None]) -> None: ...

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None: ...

    def stream_states(self) -> dict[str, StreamState]: ...
