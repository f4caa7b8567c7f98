"""Position arithmetic: how one execution changes a one-way position. Pure, Decimal.

A position is derived from executions alone, so replaying the venue's executions (each
once, by execution id) always rebuilds the venue's position, PnL to the cent.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from titan.domain.orders import Fill, Side

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class ShadowPosition:
    symbol: str
    side: Side
    size: Decimal
    entry_price: Decimal
    opened_at: datetime
    realised_pnl: Decimal = ZERO  # gross, of the part already closed
    fees: Decimal = ZERO  # every fee paid on this round trip so far
    orphaned: bool = False  # opened by something other than Titan
    strategy: str = ""
    unrealised_pnl: Decimal = ZERO
    mark_price: Decimal | None = None
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign

    @property
    def notional(self) -> Decimal:
        return self.size * (self.mark_price or self.entry_price)


@dataclass(frozen=True, slots=True)
class ClosedTrade:
    symbol: str
    side: Side
    qty: Decimal  # the largest size the round trip reached
    entry_price: Decimal
    exit_price: Decimal
    gross_pnl: Decimal
    fees: Decimal
    opened_at: datetime
    closed_at: datetime
    strategy: str

    @property
    def net_pnl(self) -> Decimal:
        return self.gross_pnl - self.fees


@dataclass(frozen=True, slots=True)
class FillOutcome:
    position: ShadowPosition | None  # None: flat after the fill
    closed: ClosedTrade | None  # set when the fill ended a round trip
    max_size: Decimal


def apply_fill(
    pos: ShadowPosition | None,
    fill: Fill,
    *,
    max_size: Decimal,
    orphan: bool,
    strategy: str,
) -> FillOutcome:
    """The position after `fill`. `max_size` tracks the round trip's largest size (journal qty).

    A fill larger than the open position closes it (a trade) and opens the remainder the
    other way; its fee is split between the two in proportion to quantity.
    """
    if pos is None or pos.size == 0:
        opened = ShadowPosition(
            symbol=fill.symbol, side=fill.side, size=fill.qty, entry_price=fill.price,
            opened_at=fill.ts, fees=fill.fee, orphaned=orphan, strategy=strategy,
        )
        return FillOutcome(opened, None, fill.qty)

    if fill.side is pos.side:
        size = pos.size + fill.qty
        entry = (pos.entry_price * pos.size + fill.price * fill.qty) / size
        grown = replace(pos, size=size, entry_price=entry, fees=pos.fees + fill.fee)
        return FillOutcome(grown, None, max(max_size, size))

    closing = min(fill.qty, pos.size)
    remainder = fill.qty - closing
    close_fee = fill.fee if remainder == 0 else fill.fee * closing / fill.qty
    pnl = (fill.price - pos.entry_price) * closing * pos.side.sign
    realised = pos.realised_pnl + pnl
    fees = pos.fees + close_fee
    left = pos.size - closing
    if left > 0:
        return FillOutcome(replace(pos, size=left, realised_pnl=realised, fees=fees), None, max_size)

    trade = ClosedTrade(
        symbol=pos.symbol, side=pos.side, qty=max_size, entry_price=pos.entry_price,
        exit_price=fill.price, gross_pnl=realised, fees=fees, opened_at=pos.opened_at,
        closed_at=fill.ts, strategy=pos.strategy,
    )
    if remainder == 0:
        return FillOutcome(None, trade, ZERO)
    reopened = ShadowPosition(
        symbol=fill.symbol, side=fill.side, size=remainder, entry_price=fill.price,
        opened_at=fill.ts, fees=fill.fee - close_fee, orphaned=orphan, strategy=strategy,
    )
    return FillOutcome(reopened, trade, remainder)
