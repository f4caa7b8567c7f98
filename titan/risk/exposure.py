"""Exposure figures the gate needs, computed from positions the same way everywhere."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from titan.domain import Position, Side

_ZERO = Decimal(0)


def loss_at_stop(position: Position, mark_price: Decimal | None = None) -> Decimal:
    """What the position loses, from its entry, if its stop fills.

    A position without a stop (an orphan adopted from the venue, say) is at risk of
    its whole notional: fail closed. A stop already in profit risks nothing.
    """
    if position.size <= 0:
        return _ZERO
    if position.stop_loss is None:
        price = mark_price if mark_price is not None else position.entry_price
        return position.size * price
    if position.side is Side.BUY:
        per_unit = position.entry_price - position.stop_loss
    else:
        per_unit = position.stop_loss - position.entry_price
    return position.size * per_unit if per_unit > 0 else _ZERO


def open_risk(positions: Iterable[Position]) -> Decimal:
    """Sum of loss at stop over positions: `MarketContext.open_risk`."""
    return sum((loss_at_stop(p) for p in positions), _ZERO)


def account_notional(positions: Iterable[Position]) -> Decimal:
    """Sum of |notional| over positions: `MarketContext.account_notional`."""
    return sum((p.notional for p in positions), _ZERO)


def symbol_notional(positions: Iterable[Position], symbol: str) -> Decimal:
    """`MarketContext.position_notional` for one symbol."""
    return sum((p.notional for p in positions if p.symbol == symbol), _ZERO)
