"""Orders, fills and positions as Titan's ledger sees them.

Prices, quantities and money are `Decimal` everywhere they reach a venue or the
ledger: binary floats cannot represent a tick size exactly.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from enum import StrEnum


class Side(StrEnum):
    BUY = "Buy"
    SELL = "Sell"

    @property
    def opposite(self) -> Side:
        return Side.SELL if self is Side.BUY else Side.BUY

    @property
    def sign(self) -> int:
        return 1 if self is Side.BUY else -1


class OrderType(StrEnum):
    MARKET = "Market"
    LIMIT = "Limit"


class OrderStatus(StrEnum):
    """Life of an order in the shadow ledger.

    PENDING: the intent is committed, the order has not left yet.
    UNKNOWN: a submit whose outcome is not known (timeout, 5xx, reset); resolved by
    asking the venue by client order id, never by resubmitting.
    """

    PENDING = "PENDING"
    UNKNOWN = "UNKNOWN"
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELLED = "CANCELLED"
    REJECTED = "REJECTED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.CANCELLED, OrderStatus.REJECTED)


# Bybit's orderLinkId and Binance's newClientOrderId both allow 36 characters.
CLIENT_ORDER_ID_MAX = 36


def client_order_id_for(intent_id: str, leg: str = "e") -> str:
    """The client order id of an intent's order: stable, so a retry can never make a second order.

    `leg` tells apart the orders one intent may need (entry, exit, flatten).
    """
    digest = hashlib.sha256(f"{intent_id}:{leg}".encode()).hexdigest()[:24]
    return f"tn-{leg}-{digest}"[:CLIENT_ORDER_ID_MAX]


@dataclass(frozen=True, slots=True)
class OrderIntent:
    """What a strategy or the operator wants to send. Written to SQLite before the order leaves."""

    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    order_type: OrderType
    price: Decimal | None = None
    reduce_only: bool = False
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None
    leverage: Decimal = Decimal(1)
    strategy: str = "manual"
    # A limit that must rest as maker: the venue refuses it rather than let it take
    # liquidity (Bybit timeInForce PostOnly, Binance GTX). Hunter's entries.
    post_only: bool = False
    # The perpetual short of a spot/perp pair (Sentinel) whose spot long is already held:
    # its risk is the basis, not the price, so the gate admits it without a stop against
    # the coins Titan holds unhedged (titan.risk.gate, check 8h). Never persisted.
    hedged: bool = False
    created_at: datetime | None = None
    client_order_id: str = field(default="")

    def __post_init__(self) -> None:
        if not self.client_order_id:
            object.__setattr__(self, "client_order_id", client_order_id_for(self.intent_id))

    @property
    def is_exit(self) -> bool:
        """Exits (reduce-only) are always allowed by the gate."""
        return self.reduce_only


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution, keyed by the venue's execution id (recorded once)."""

    exec_id: str
    client_order_id: str
    venue_order_id: str
    symbol: str
    side: Side
    qty: Decimal
    price: Decimal
    fee: Decimal
    ts: datetime
    # What made the execution when it was not a plain order of Titan's: "StopLoss",
    # "TakeProfit", "TrailingStop" (exchange-side exits of Titan's positions) or
    # "Liquidation". Empty for ordinary orders.
    origin: str = ""


EXCHANGE_EXIT_ORIGINS = frozenset({"StopLoss", "TakeProfit", "TrailingStop"})


@dataclass(frozen=True, slots=True)
class Position:
    """A one-way position: `size` is positive, `side` says which way."""

    symbol: str
    side: Side
    size: Decimal
    entry_price: Decimal
    unrealised_pnl: Decimal = Decimal(0)
    leverage: Decimal = Decimal(1)
    stop_loss: Decimal | None = None
    take_profit: Decimal | None = None

    @property
    def signed_size(self) -> Decimal:
        return self.size * self.side.sign

    @property
    def notional(self) -> Decimal:
        return self.size * self.entry_price
