"""Round trips from the matching engine's executions: open → close of one position.

A round trip starts with the execution that opens a position and ends with the one that
brings it back to zero (a stop, a target, a liquidation, a strategy's exit or the end of
the data). Gross PnL is the engine's realised PnL of the closing executions; fees and
funding are what the executions booked; net = gross − fees − funding. Money stays
`Decimal` as the engine books it (1e-8 USDT), so the report sums to the digit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from titan.sim.accounts import SimExecution

ZERO = Decimal(0)


@dataclass(slots=True)
class RoundTrip:
    symbol: str
    side: str  # "long" | "short"
    client_order_id: str
    opened_ms: int
    strategy: str = "unknown"
    signal_kind: str = "unknown"
    qty: Decimal = ZERO
    entry_value: Decimal = ZERO
    exit_qty: Decimal = ZERO
    exit_value: Decimal = ZERO
    gross: Decimal = ZERO
    fees: Decimal = ZERO
    funding: Decimal = ZERO
    closed_ms: int | None = None
    exit_reason: str = ""
    fills: list[dict[str, Any]] = field(default_factory=list)

    @property
    def net(self) -> Decimal:
        return self.gross - self.fees - self.funding

    @property
    def entry_price(self) -> Decimal:
        return self.entry_value / self.qty if self.qty else ZERO

    @property
    def exit_price(self) -> Decimal:
        return self.exit_value / self.exit_qty if self.exit_qty else ZERO

    def as_dict(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "side": self.side, "strategy": self.strategy,
            "signalKind": self.signal_kind, "clientOrderId": self.client_order_id,
            "openedMs": self.opened_ms, "closedMs": self.closed_ms,
            "qty": str(self.qty), "entryPrice": str(_q(self.entry_price)),
            "exitPrice": str(_q(self.exit_price)), "grossPnl": str(self.gross),
            "fees": str(self.fees), "funding": str(self.funding), "netPnl": str(self.net),
            "exitReason": self.exit_reason, "fills": self.fills,
        }


def _q(d: Decimal) -> Decimal:
    return d.quantize(Decimal("0.00000001"))


def _reason(ex: SimExecution) -> str:
    if ex.exec_type == "BustTrade":
        return "Liquidation"
    return ex.stop_order_type or "Order"


class RoundTrips:
    """Feed every execution of the account; `closed` collects the finished round trips."""

    def __init__(self) -> None:
        self.open: dict[str, RoundTrip] = {}
        self.closed: list[RoundTrip] = []

    def on_execution(self, ex: SimExecution, size_after: Decimal) -> RoundTrip | None:
        """Book one execution; returns the round trip it closed, if any."""
        rt = self.open.get(ex.symbol)
        if ex.exec_type == "Funding":
            if rt is not None:
                rt.funding += ex.fee
            return None
        fill = {"ts": ex.time_ms, "side": ex.side, "price": str(ex.price), "qty": str(ex.qty),
                "fee": str(ex.fee), "maker": ex.is_maker, "kind": _reason(ex)}
        if rt is None:
            rt = RoundTrip(ex.symbol, "long" if ex.side == "Buy" else "short", ex.link_id,
                           ex.time_ms)
            self.open[ex.symbol] = rt
        rt.fills.append(fill)
        rt.fees += ex.fee
        opened = ex.qty - ex.closed_size
        if ex.closed_size:
            rt.gross += ex.realised_pnl
            rt.exit_qty += ex.closed_size
            rt.exit_value += ex.closed_size * ex.price
        if opened > 0:
            rt.qty += opened
            rt.entry_value += opened * ex.price
        if size_after == 0 or (ex.closed_size and opened > 0):
            # Flat, or flipped through zero (the remainder opens the next round trip).
            rt.closed_ms = ex.time_ms
            rt.exit_reason = _reason(ex)
            if opened > 0 and size_after != 0:
                rt.qty -= opened
                rt.entry_value -= opened * ex.price
            del self.open[ex.symbol]
            self.closed.append(rt)
            if size_after != 0:
                nxt = RoundTrip(ex.symbol, "long" if size_after > 0 else "short", ex.link_id,
                                ex.time_ms, qty=opened, entry_value=opened * ex.price)
                self.open[ex.symbol] = nxt
            return rt
        return None
