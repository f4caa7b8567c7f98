"""The records of the simulated venue: accounts, orders, executions, positions.

Plain data (no rules): `matching.MatchingEngine` and `spot.SpotDesk` move them; the
venue fronts render them (`bybit_shapes`, `binance`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Literal

ZERO = Decimal(0)
FEE_Q = Decimal("0.00000001")
# Maintenance margin rate of the first risk tier (Bybit BTCUSDT: 0.5 %).
MMR = Decimal("0.005")

Side = Literal["Buy", "Sell"]
EventKind = Literal["order", "execution", "position", "wallet"]

OPEN_STATUSES = frozenset({"New", "PartiallyFilled", "Untriggered"})


class Reject(Exception):
    """A definite refusal, carrying Bybit's retCode and the closest Binance code."""

    def __init__(self, code: int, msg: str, binance_code: int = -1102) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.binance_code = binance_code


@dataclass(slots=True)
class SimOrder:
    order_id: str
    num_id: int
    link_id: str
    symbol: str
    side: Side
    order_type: str  # "Market" | "Limit"
    qty: Decimal
    price: Decimal | None
    tif: str
    reduce_only: bool
    take_profit: Decimal | None
    stop_loss: Decimal | None
    created_ms: int
    updated_ms: int
    status: str = "New"
    cum_qty: Decimal = ZERO
    cum_value: Decimal = ZERO
    cum_fee: Decimal = ZERO
    cancel_type: str = "UNKNOWN"
    reject_reason: str = "EC_NoError"
    stop_order_type: str = ""
    create_type: str = "CreateByUser"
    venue: str = "bybit"
    category: str = "linear"
    market_unit: str = ""  # spot market orders: "baseCoin" | "quoteCoin"
    fee_coin: str = "USDT"

    @property
    def leaves_qty(self) -> Decimal:
        return ZERO if self.status not in OPEN_STATUSES else self.qty - self.cum_qty

    @property
    def avg_price(self) -> Decimal | None:
        return None if self.cum_qty == 0 else self.cum_value / self.cum_qty

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


@dataclass(slots=True)
class SimExecution:
    exec_id: str
    seq: int
    order_id: str
    num_id: int
    link_id: str
    symbol: str
    side: Side
    order_type: str
    order_price: Decimal | None
    order_qty: Decimal
    leaves_qty: Decimal
    price: Decimal
    qty: Decimal
    value: Decimal
    fee: Decimal
    fee_rate: Decimal
    is_maker: bool
    exec_type: str
    time_ms: int
    closed_size: Decimal
    realised_pnl: Decimal
    stop_order_type: str
    create_type: str
    mark_price: Decimal
    category: str = "linear"
    fee_coin: str = "USDT"
    market_unit: str = ""


@dataclass(slots=True)
class SimPosition:
    symbol: str
    leverage: Decimal
    size: Decimal = ZERO  # signed: > 0 long, < 0 short (one-way mode)
    avg_price: Decimal = ZERO
    take_profit: Decimal | None = None
    stop_loss: Decimal | None = None
    cum_realised: Decimal = ZERO
    cur_realised: Decimal = ZERO
    created_ms: int = 0
    updated_ms: int = 0
    seq: int = 0

    @property
    def side(self) -> str:
        return "Buy" if self.size > 0 else "Sell" if self.size < 0 else ""


@dataclass(slots=True)
class Account:
    key: str
    wallet_balance: Decimal
    cum_realised: Decimal = ZERO
    positions: dict[str, SimPosition] = field(default_factory=dict)
    orders: list[SimOrder] = field(default_factory=list)  # every order ever received
    by_id: dict[str, SimOrder] = field(default_factory=dict)
    by_link: dict[str, SimOrder] = field(default_factory=dict)
    by_num: dict[int, SimOrder] = field(default_factory=dict)
    executions: list[SimExecution] = field(default_factory=list)
    leverage: dict[str, Decimal] = field(default_factory=dict)
    # Open orders by id, in creation order: every trade checks these, so they must not
    # cost a scan of the whole order history.
    open: dict[str, SimOrder] = field(default_factory=dict)
    # Unified-account coin balances other than USDT (spot holdings), by coin.
    coins: dict[str, Decimal] = field(default_factory=dict)

    def open_orders(self, symbol: str | None = None, category: str = "linear") -> list[SimOrder]:
        return [o for o in self.open.values()
                if (symbol is None or o.symbol == symbol) and o.category == category]

    def book(self, order: SimOrder) -> None:
        self.orders.append(order)
        self.by_id[order.order_id] = order
        self.by_num[order.num_id] = order
        if order.link_id:
            self.by_link[order.link_id] = order
        self.sync(order)

    def sync(self, order: SimOrder) -> None:
        """Keep the open-order index in step with `order.status`."""
        if order.is_open:
            self.open[order.order_id] = order
        else:
            self.open.pop(order.order_id, None)
