"""From a sprung trap to an entry plan (SPEC §6): order type, price, stop and target.

Order type by the Bybit price velocity over the last 5 s, v in %/s:

* v > 0.5            → market;
* 0.1 ≤ v ≤ 0.5      → limit 0.2 % through the touch (long: touch × 1.002, short: × 0.998);
* v < 0.1            → limit at the touch.

A limit is cancelled if unfilled after 2 s: the plan carries that deadline as
`cancel_after_ms`; the executor enforces it. Stop 1 % and target 3 % from the entry
(the limit price; for a market order the touch, the best estimate of the fill).

Definitions where SPEC §6 is silent:

* *touch* is the last Bybit price (ticker or public trade) the tracker was fed;
* *velocity* = |last price − price 5 s ago| ÷ price 5 s ago × 100 ÷ 5 s, where "price
  5 s ago" is the last price known at `now − 5 s`; while the tracker has less than 5 s
  of history the oldest price it has stands in (still divided by 5 s, which can only
  under-state the speed and so lean towards limit orders). Its sign is ignored;
* the market data is stale (SPEC §1, 5 s) when the last price is older than 5 s at
  `now`: no plan is made, an `EntryRefused` with `STALE_MARKET_DATA` says why.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from decimal import Decimal

from titan.domain.orders import OrderType, Side
from titan.domain.reasons import ReasonCode
from titan.strategies.scavenger.model import Trap

VELOCITY_WINDOW_MS = 5_000
MAX_STALENESS_MS = 5_000
MARKET_ABOVE_PCT_S = 0.5
THROUGH_FROM_PCT_S = 0.1
THROUGH_PCT = Decimal("0.2")
STOP_PCT = Decimal("1")
TARGET_PCT = Decimal("3")
LIMIT_CANCEL_AFTER_MS = 2_000

_HUNDRED = Decimal(100)


class VelocityTracker:
    """The last 5 s of one symbol's Bybit prices."""

    __slots__ = ("_max_staleness_ms", "_samples", "_window_ms", "ask", "bid", "venue_ts_ms")

    def __init__(
        self, *, window_ms: int = VELOCITY_WINDOW_MS, max_staleness_ms: int = MAX_STALENESS_MS
    ) -> None:
        self._window_ms = window_ms
        self._max_staleness_ms = max_staleness_ms
        self._samples: deque[tuple[int, float]] = deque()
        # The top of Bybit's book from the same ticker as the last price (None: unknown).
        self.bid: float | None = None
        self.ask: float | None = None
        # The venue's own time of the last update (its clock, like a trade's time).
        self.venue_ts_ms: int | None = None

    def update(self, price: float, ts_ms: int, bid: float | None = None,
               ask: float | None = None, venue_ts_ms: int | None = None) -> None:
        if not price > 0:
            return  # zero, negative or NaN: not a price
        samples = self._samples
        if samples and ts_ms < samples[-1][0]:
            return  # late, out-of-order print: the newer price stands
        samples.append((ts_ms, float(price)))
        if venue_ts_ms is not None:
            self.venue_ts_ms = venue_ts_ms
        self.bid = bid if bid is not None and bid > 0 else None
        self.ask = ask if ask is not None and ask > 0 else None
        self._prune(ts_ms)

    def as_new_as(self, venue_ts_ms: int) -> bool:
        """Has a Bybit update stamped at or after `venue_ts_ms` (a spring's trade time)
        arrived?"""
        return self.venue_ts_ms is not None and self.venue_ts_ms >= venue_ts_ms

    def touch(self, side: Side) -> float | None:
        """The price a `side` order meets at the top of the book: the best ask for a buy,
        the best bid for a sell; the last price when the ticker carried no top."""
        top = self.ask if side is Side.BUY else self.bid
        return top if top is not None else self.last_price

    def _prune(self, now_ms: int) -> None:
        # Keep one sample at or before now − window: it is "the price 5 s ago".
        samples = self._samples
        cutoff = now_ms - self._window_ms
        while len(samples) >= 2 and samples[1][0] <= cutoff:
            samples.popleft()

    @property
    def last_price(self) -> float | None:
        return self._samples[-1][1] if self._samples else None

    @property
    def last_ts_ms(self) -> int | None:
        return self._samples[-1][0] if self._samples else None

    def is_fresh(self, now_ms: int) -> bool:
        last = self.last_ts_ms
        return last is not None and now_ms - last <= self._max_staleness_ms

    def velocity_pct_per_s(self, now_ms: int) -> float | None:
        """|Δ%| per second over the last 5 s; None when there is no fresh price."""
        if not self.is_fresh(now_ms):
            return None
        self._prune(now_ms)
        ref = self._samples[0][1]
        last = self._samples[-1][1]
        if ref <= 0:
            return None
        return abs(last - ref) / ref * 100.0 / (self._window_ms / 1000.0)


@dataclass(frozen=True, slots=True)
class EntryPlan:
    """What to send for a sprung trap; sizing (risk/sizing.py) and the gate come after."""

    symbol: str
    side: Side
    order_type: OrderType
    price: Decimal
    stop_loss: Decimal
    take_profit: Decimal
    confidence: int
    leverage: int
    cancel_after_ms: int | None
    trap_id: str = ""
    touch: Decimal = Decimal(0)
    velocity_pct_s: float = 0.0


@dataclass(frozen=True, slots=True)
class EntryRefused:
    """No plan, and why (a gate reason code and a message for the operator)."""

    code: ReasonCode
    message: str


def order_type_for(velocity_pct_s: float) -> tuple[OrderType, Decimal]:
    """(order type, % through the touch) for a velocity in %/s."""
    if velocity_pct_s > MARKET_ABOVE_PCT_S:
        return OrderType.MARKET, Decimal(0)
    if velocity_pct_s >= THROUGH_FROM_PCT_S:
        return OrderType.LIMIT, THROUGH_PCT
    return OrderType.LIMIT, Decimal(0)


def stop_and_target(side: Side, entry: Decimal) -> tuple[Decimal, Decimal]:
    """(stop loss, take profit): long stop 1 % below / target 3 % above; short mirrored."""
    s = side.sign
    stop = entry * (1 - s * STOP_PCT / _HUNDRED)
    target = entry * (1 + s * TARGET_PCT / _HUNDRED)
    return stop, target


def plan_entry(trap: Trap, tracker: VelocityTracker, now_ms: int) -> EntryPlan | EntryRefused:
    """The entry for `trap` given the symbol's Bybit prices as of `now_ms`."""
    velocity = tracker.velocity_pct_per_s(now_ms)
    # At the touch means at the top of the book on the side the order takes (a buy limit
    # at the last trade price rests below the ask and is cancelled unfilled after 2 s).
    touch_f = tracker.touch(trap.direction.side)
    if velocity is None or touch_f is None or touch_f <= 0:
        age = (
            "no price"
            if tracker.last_ts_ms is None
            else f"last price {now_ms - tracker.last_ts_ms} ms old"
        )
        return EntryRefused(
            ReasonCode.STALE_MARKET_DATA,
            f"{trap.symbol}: no fresh Bybit price for trap {trap.trap_id} ({age})",
        )
    side = trap.direction.side
    touch = Decimal(repr(touch_f))
    order_type, through = order_type_for(velocity)
    if through:
        price = touch * (1 + side.sign * through / _HUNDRED)
    else:
        price = touch
    stop, target = stop_and_target(side, price)
    return EntryPlan(
        symbol=trap.symbol,
        side=side,
        order_type=order_type,
        price=price,
        stop_loss=stop,
        take_profit=target,
        confidence=trap.confidence,
        leverage=trap.leverage,
        cancel_after_ms=LIMIT_CANCEL_AFTER_MS if order_type is OrderType.LIMIT else None,
        trap_id=trap.trap_id,
        touch=touch,
        velocity_pct_s=velocity,
    )
