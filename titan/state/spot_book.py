"""The spot leg's ledger: spot intents and orders, spot fills, the coins Titan holds
(SPEC §16; the perpetual's ledger is `ledger.py`, and the two never mix: a spot order on
BTCUSDT is not an order of the BTCUSDT perpetual).

The crash-safety rule is the perpetual's:
- `record_intent` commits the intent (its PENDING order row) before the order leaves;
- `apply_fill` records an execution once (the venue's execution id is the key) and, in
  the same transaction, moves Titan's holding of the coin — so a crash at any instant
  leaves fills and holdings consistent with each other;
- the in-memory view changes only after the transaction that changes the rows committed.

Holdings are what Titan bought: a buy of `qty` adds `qty − fee` (Bybit charges a spot
buy's fee in the coin bought), a sell takes `qty` off. A fill of an order that is not
Titan's (made by hand on the venue) is recorded — once, like any other — but never
counted as Titan's: flatten must not sell the operator's own coins, and reconciliation
reports it.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from titan.clock import Clock
from titan.domain.orders import OrderIntent, OrderStatus, Side
from titan.state.ledger import LIVE_STATUSES, is_titan_order
from titan.store.db import Database
from titan.venues.base import SpotFill, VenueOrder

ZERO = Decimal(0)


def coin_of(symbol: str) -> str:
    """The base coin of a USDT spot pair (BTCUSDT → BTC)."""
    if not symbol.endswith("USDT") or len(symbol) <= 4:
        raise ValueError(f"{symbol!r} is not a USDT spot pair")
    return symbol[:-4]


@dataclass(slots=True)
class SpotOrder:
    client_order_id: str
    intent_id: str
    symbol: str
    side: Side
    qty: Decimal
    status: OrderStatus
    strategy: str
    filled_qty: Decimal = ZERO
    venue_order_id: str = ""
    reject_reason: str = ""


@dataclass(slots=True)
class Holding:
    coin: str
    qty: Decimal
    cost: Decimal  # USDT paid for what is held (sells take their share off at average)
    strategy: str


@dataclass(frozen=True, slots=True)
class SpotFillResult:
    recorded: bool  # False: this execution id was already recorded
    titan: bool  # the fill of one of Titan's orders (it moved a holding)


def _write_orders(conn: sqlite3.Connection, vos: list[VenueOrder], now: str) -> list[int]:
    """Each known order takes the venue's word, decided on the row (an older report does
    not bring a final order back nor shrink what was filled). Returns the indexes written."""
    out = []
    for k, vo in enumerate(vos):
        row = conn.execute("SELECT status, filled_qty FROM spot_orders WHERE client_order_id=?",
                           (vo.client_order_id,)).fetchone()
        if row is None:
            continue  # not an intent of Titan's: nothing of ours to update
        if (OrderStatus(row[0]).is_terminal and not vo.status.is_terminal) \
                or Decimal(row[1]) > vo.filled_qty:
            continue
        conn.execute("UPDATE spot_orders SET status=?, filled_qty=?, venue_order_id=?,"
                     " reject_reason=?, updated_at=? WHERE client_order_id=?",
                     (vo.status.value, str(vo.filled_qty), vo.venue_order_id, vo.reject_reason,
                      now, vo.client_order_id))
        out.append(k)
    return out


@dataclass(slots=True)
class SpotBook:
    db: Database
    clock: Clock
    holdings: dict[str, Holding] = field(default_factory=dict)
    live_orders: dict[str, SpotOrder] = field(default_factory=dict)
    _strategy_of: dict[str, str] = field(default_factory=dict)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _holder: asyncio.Task[Any] | None = None

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the holdings still across several steps (reconciliation's read-compare-sync);
        the holder's own calls go straight in."""
        if self._holder is not None and self._holder is asyncio.current_task():
            yield
            return
        async with self._lock:
            self._holder = asyncio.current_task()
            try:
                yield
            finally:
                self._holder = None

    async def load(self) -> None:
        self.holdings = {r["coin"]: Holding(r["coin"], Decimal(r["qty"]), Decimal(r["cost"]),
                                            r["strategy"])
                         for r in await self.db.fetch_all("SELECT * FROM spot_holdings")}
        marks = ",".join("?" for _ in LIVE_STATUSES)
        rows = await self.db.fetch_all(
            f"SELECT * FROM spot_orders WHERE status IN ({marks})", [s.value for s in LIVE_STATUSES])
        self.live_orders = {r["client_order_id"]: _order(r) for r in rows}
        self._strategy_of = {cid: o.strategy for cid, o in self.live_orders.items()}

    def held(self, coin: str) -> Decimal:
        h = self.holdings.get(coin)
        return h.qty if h is not None else ZERO

    # -- intents and orders ---------------------------------------------------------------

    async def record_intent(self, intent: OrderIntent, reason: str = "") -> SpotOrder:
        """Commit the intent and its PENDING order. Must happen before the order is sent."""
        if intent.reduce_only or intent.stop_loss is not None or intent.take_profit is not None:
            raise ValueError("a spot intent has no reduce-only, stop or target")
        coin = coin_of(intent.symbol)
        now = self.clock.now().isoformat()
        await self.db.write_many_now([(
            "INSERT INTO spot_orders(client_order_id, intent_id, symbol, coin, side, order_type,"
            " qty, price, strategy, reason, status, created_at, updated_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(intent.client_order_id, intent.intent_id, intent.symbol, coin, intent.side.value,
              intent.order_type.value, str(intent.qty),
              None if intent.price is None else str(intent.price), intent.strategy, reason,
              OrderStatus.PENDING.value, now, now)])])
        order = SpotOrder(intent.client_order_id, intent.intent_id, intent.symbol, intent.side,
                          intent.qty, OrderStatus.PENDING, intent.strategy)
        self.live_orders[order.client_order_id] = order
        self._strategy_of[order.client_order_id] = intent.strategy
        return order

    async def set_status(self, client_order_id: str, status: OrderStatus,
                         reason: str = "") -> None:
        now = self.clock.now().isoformat()
        await self.db.execute_write(
            "UPDATE spot_orders SET status=?, reject_reason=CASE WHEN ?='' THEN reject_reason"
            " ELSE ? END, updated_at=? WHERE client_order_id=?",
            (status.value, reason, reason, now, client_order_id))
        order = self.live_orders.get(client_order_id)
        if order is not None:
            order.status = status
            if reason:
                order.reject_reason = reason
            if status.is_terminal:
                self.live_orders.pop(client_order_id, None)

    async def apply_venue_order(self, vo: VenueOrder) -> bool:
        """The venue's word on one of Titan's spot orders (stream, REST, reconciliation);
        False when it changed nothing (not Titan's, or nothing new)."""
        if not is_titan_order(vo.client_order_id):
            return False
        current = self.live_orders.get(vo.client_order_id)
        if current is not None and (current.status, current.filled_qty) == (
                vo.status, vo.filled_qty) and current.venue_order_id:
            return False
        written = await self.db.write_with(_write_orders, [vo], self.clock.now().isoformat())
        if not written:
            return False
        if current is not None:
            current.status, current.filled_qty = vo.status, vo.filled_qty
            current.venue_order_id, current.reject_reason = vo.venue_order_id, vo.reject_reason
            if vo.status.is_terminal:  # another report may have settled it meanwhile
                self.live_orders.pop(vo.client_order_id, None)
        return True

    async def strategy_of(self, client_order_id: str) -> str | None:
        """The strategy of one of Titan's spot orders; None when no intent of Titan's has
        this client id (a fill of it is not Titan's)."""
        known = self._strategy_of.get(client_order_id)
        if known is not None:
            return known
        if not is_titan_order(client_order_id):
            return None
        row = await self.db.fetch_one(
            "SELECT strategy FROM spot_orders WHERE client_order_id=?", (client_order_id,))
        return None if row is None else str(row["strategy"])

    # -- fills and holdings -----------------------------------------------------------------

    async def apply_fill(self, fill: SpotFill) -> SpotFillResult:
        """Record one spot execution once; a duplicate (same execution id) changes nothing."""
        async with self.exclusive():
            strategy = await self.strategy_of(fill.client_order_id)
            titan = strategy is not None
            coin = coin_of(fill.symbol)
            new: Holding | None = None
            if titan:
                new = _moved(self.holdings.get(coin), coin, fill, strategy or "")
            now = self.clock.now().isoformat()
            async with self.db.write() as conn:
                cur = await conn.execute(
                    "INSERT OR IGNORE INTO spot_fills(exec_id, client_order_id, venue_order_id,"
                    " symbol, side, qty, price, fee, fee_coin, titan, ts, recorded_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (fill.exec_id, fill.client_order_id, fill.venue_order_id, fill.symbol,
                     fill.side.value, str(fill.qty), str(fill.price), str(fill.fee),
                     fill.fee_coin, int(titan), fill.ts.isoformat(), now))
                if cur.rowcount == 0:
                    return SpotFillResult(recorded=False, titan=titan)
                if new is not None:
                    await _write_holding(conn, new, now)
            if new is not None:
                self._keep(new)
            return SpotFillResult(recorded=True, titan=titan)

    async def set_holding(self, coin: str, qty: Decimal) -> None:
        """Bring Titan's holding of `coin` down to `qty` (reconciliation: the wallet holds
        less than Titan bought — sold by hand — and no execution of Titan's explains it)."""
        async with self.exclusive():
            h = self.holdings.get(coin)
            if h is None or qty >= h.qty:
                return
            cost = h.cost * qty / h.qty if h.qty > 0 else ZERO
            new = Holding(coin, max(qty, ZERO), cost, h.strategy)
            async with self.db.write() as conn:
                await _write_holding(conn, new, self.clock.now().isoformat())
            self._keep(new)

    def _keep(self, h: Holding) -> None:
        if h.qty > 0:
            self.holdings[h.coin] = h
        else:
            self.holdings.pop(h.coin, None)

    async def last_fill_ms(self) -> int | None:
        ts = await self.db.scalar("SELECT MAX(ts) FROM spot_fills")
        return None if ts is None else int(datetime.fromisoformat(ts).timestamp() * 1000)

    async def has_fill(self, exec_id: str) -> bool:
        return await self.db.scalar("SELECT 1 FROM spot_fills WHERE exec_id=?",
                                    (exec_id,)) is not None


def _moved(h: Holding | None, coin: str, fill: SpotFill, strategy: str) -> Holding:
    qty, cost = (h.qty, h.cost) if h is not None else (ZERO, ZERO)
    change = fill.coin_change
    if change >= 0:
        paid = fill.qty * fill.price
        return Holding(coin, qty + change, cost + paid, strategy or (h.strategy if h else ""))
    left = qty + change
    share = (left / qty) if qty > 0 and left > 0 else ZERO
    return Holding(coin, left, cost * share, h.strategy if h else strategy)


async def _write_holding(conn: Any, h: Holding, now: str) -> None:
    if h.qty <= 0:
        await conn.execute("DELETE FROM spot_holdings WHERE coin=?", (h.coin,))
        return
    await conn.execute(
        "INSERT INTO spot_holdings(coin, qty, cost, strategy, updated_at) VALUES (?,?,?,?,?)"
        " ON CONFLICT(coin) DO UPDATE SET qty=excluded.qty, cost=excluded.cost,"
        " strategy=excluded.strategy, updated_at=excluded.updated_at",
        (h.coin, str(h.qty), str(h.cost), h.strategy, now))


def _order(r: dict[str, Any]) -> SpotOrder:
    return SpotOrder(r["client_order_id"], r["intent_id"], r["symbol"], Side(r["side"]),
                     Decimal(r["qty"]), OrderStatus(r["status"]), r["strategy"],
                     Decimal(r["filled_qty"]), r["venue_order_id"], r["reject_reason"])
