"""The shadow ledger: intents, orders, fills and positions, persisted before they count.

- `record_intent` commits the intent and its PENDING order before the order leaves.
- `apply_fill` records an execution once (the venue's execution id is the key) and, in
  the same transaction, moves the position and journals a closed round trip, so a crash
  at any instant leaves fills, positions and trades consistent with each other.
- In-memory copies of open positions and live orders serve the hot path; they change
  only after the transaction that changes the rows has committed.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from titan.clock import Clock
from titan.domain.orders import Fill, OrderIntent, OrderStatus, Position, Side
from titan.state.positions import ClosedTrade, ShadowPosition, apply_fill
from titan.store.db import Database
from titan.venues.base import VenueOrder

TITAN_ID_PREFIX = "tn-"
LIVE_STATUSES = (OrderStatus.PENDING, OrderStatus.UNKNOWN, OrderStatus.NEW,
                 OrderStatus.PARTIALLY_FILLED)


def is_titan_order(client_order_id: str) -> bool:
    return client_order_id.startswith(TITAN_ID_PREFIX)


def _dec(v: Any) -> Decimal | None:
    return None if v is None or v == "" else Decimal(str(v))


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


def _write_venue_orders(conn: sqlite3.Connection, vos: list[VenueOrder],
                        now: str) -> list[tuple[int, bool]]:
    """In the database thread, in one transaction: each order's row takes the venue's word,
    decided on the row itself (another report of this order, e.g. the stream's FILLED
    arriving before the submit's own NEW, may have been committed while this one waited for
    the writer: an older report must not bring a final order back to life nor shrink what
    was filled; only the venue's final word replaces a final one). Returns (index, inserted)
    for each order written."""
    out = []
    for k, vo in enumerate(vos):
        row = conn.execute("SELECT status, filled_qty FROM orders WHERE client_order_id=?",
                           (vo.client_order_id,)).fetchone()
        if row is not None:
            final = OrderStatus(row[0]).is_terminal
            if (final and not vo.status.is_terminal) or Decimal(row[1]) > vo.filled_qty:
                continue
        cur = conn.execute(
            "UPDATE orders SET venue_order_id=?, status=?, filled_qty=?, avg_price=?,"
            " reject_reason=?, updated_at=? WHERE client_order_id=?",
            (vo.venue_order_id, vo.status.value, str(vo.filled_qty), _s(vo.avg_price),
             vo.reject_reason, now, vo.client_order_id))
        inserted = False
        if cur.rowcount == 0:
            conn.execute(
                "INSERT INTO orders(client_order_id, intent_id, venue_order_id, symbol, side,"
                " order_type, qty, filled_qty, price, avg_price, status, reduce_only,"
                " reject_reason, created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (vo.client_order_id, None, vo.venue_order_id, vo.symbol, vo.side.value,
                 vo.order_type.value, str(vo.qty), str(vo.filled_qty), _s(vo.price),
                 _s(vo.avg_price), vo.status.value, int(vo.reduce_only), vo.reject_reason,
                 now, now))
            inserted = True
        out.append((k, inserted))
    return out


@dataclass(slots=True)
class LedgerOrder:
    client_order_id: str
    intent_id: str | None
    symbol: str
    side: Side
    order_type: str
    qty: Decimal
    status: OrderStatus
    reduce_only: bool
    strategy: str = ""
    venue_order_id: str = ""
    filled_qty: Decimal = Decimal(0)
    price: Decimal | None = None
    avg_price: Decimal | None = None
    created_at: str = ""
    updated_at: str = ""
    reject_reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "clientOrderId": self.client_order_id, "intentId": self.intent_id,
            "symbol": self.symbol, "side": self.side.value, "orderType": self.order_type,
            "qty": str(self.qty), "filledQty": str(self.filled_qty),
            "price": _s(self.price), "avgPrice": _s(self.avg_price),
            "status": self.status.value, "reduceOnly": self.reduce_only,
            "strategy": self.strategy, "venueOrderId": self.venue_order_id,
            "createdAt": self.created_at, "updatedAt": self.updated_at,
            "rejectReason": self.reject_reason,
        }


@dataclass(frozen=True, slots=True)
class FillResult:
    recorded: bool  # False: this execution id was already in the ledger
    closed: ClosedTrade | None  # the round trip this fill ended, if any


@dataclass(slots=True)
class _PosMeta:
    max_size: Decimal = Decimal(0)


@dataclass(slots=True)
class Ledger:
    db: Database
    clock: Clock
    positions: dict[str, ShadowPosition] = field(default_factory=dict)
    live_orders: dict[str, LedgerOrder] = field(default_factory=dict)
    # Orders Titan itself asked the venue to cancel (cancel, cancel-all, flatten, a
    # strategy's own cancel through execution): their CANCELLED is expected, not the
    # venue's doing. Only the ledger's methods below touch it.
    _cancel_requested: set[str] = field(default_factory=set)
    _meta: dict[str, _PosMeta] = field(default_factory=dict)
    _strategy_of: dict[str, str] = field(default_factory=dict)
    # Fills are applied one at a time: each computes the next position from the last.
    _fill_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _lock_holder: asyncio.Task[Any] | None = None

    def strategy_of(self, client_order_id: str) -> str:
        """The strategy an order of Titan's was made for ('' when unknown or not Titan's)."""
        return self._strategy_of.get(client_order_id, "")

    # -- cancels Titan asked for ------------------------------------------------------

    def note_cancel_requested(self, *client_order_ids: str) -> None:
        """Titan is about to ask the venue to cancel these: their CANCELLED is expected."""
        self._cancel_requested.update(client_order_ids)

    def cancel_was_requested(self, client_order_id: str) -> bool:
        return client_order_id in self._cancel_requested

    def cancel_settled(self, client_order_id: str) -> None:
        """The order's cancel (or its fill) has been seen: forget the request."""
        self._cancel_requested.discard(client_order_id)

    @asynccontextmanager
    async def exclusive(self) -> AsyncIterator[None]:
        """Hold the position lock across several steps (the reconciler's read-compare-sync):
        no other task moves a position meanwhile; the holder's own calls go straight in."""
        if self._lock_holder is not None and self._lock_holder is asyncio.current_task():
            yield
            return
        async with self._fill_lock:
            self._lock_holder = asyncio.current_task()
            try:
                yield
            finally:
                self._lock_holder = None

    # -- loading ------------------------------------------------------------------------

    async def load(self) -> None:
        """Rebuild the in-memory view from SQLite (at start-up)."""
        self.positions.clear()
        self._meta.clear()
        for r in await self.db.fetch_all("SELECT * FROM positions"):
            pos = ShadowPosition(
                symbol=r["symbol"], side=Side(r["side"]), size=Decimal(r["size"]),
                entry_price=Decimal(r["entry_price"]),
                opened_at=datetime.fromisoformat(r["opened_at"]),
                realised_pnl=Decimal(r["realised_pnl"]), fees=Decimal(r["fees"]),
                orphaned=bool(r["orphaned"]), strategy=r["strategy"],
                unrealised_pnl=Decimal(r["unrealised_pnl"]),
                stop_loss=_dec(r["stop_loss"]), take_profit=_dec(r["take_profit"]),
            )
            self.positions[pos.symbol] = pos
            self._meta[pos.symbol] = _PosMeta(Decimal(r["max_size"]))
        self.live_orders.clear()
        placeholders = ",".join("?" for _ in LIVE_STATUSES)
        rows = await self.db.fetch_all(
            "SELECT o.*, COALESCE(i.strategy, '') AS strategy FROM orders o "
            f"LEFT JOIN intents i ON i.intent_id = o.intent_id WHERE o.status IN ({placeholders})",
            [s.value for s in LIVE_STATUSES],
        )
        for r in rows:
            order = self._order_from_row(r)
            self.live_orders[order.client_order_id] = order
            self._strategy_of[order.client_order_id] = order.strategy

    @staticmethod
    def _order_from_row(r: dict[str, Any]) -> LedgerOrder:
        return LedgerOrder(
            client_order_id=r["client_order_id"], intent_id=r["intent_id"], symbol=r["symbol"],
            side=Side(r["side"]), order_type=r["order_type"], qty=Decimal(r["qty"]),
            status=OrderStatus(r["status"]), reduce_only=bool(r["reduce_only"]),
            strategy=r.get("strategy", "") or "", venue_order_id=r["venue_order_id"] or "",
            filled_qty=Decimal(r["filled_qty"]), price=_dec(r["price"]),
            avg_price=_dec(r["avg_price"]), created_at=r["created_at"],
            updated_at=r["updated_at"], reject_reason=r["reject_reason"],
        )

    # -- intents and orders -------------------------------------------------------------

    async def record_intent(self, intent: OrderIntent, reason: str = "") -> LedgerOrder:
        """Commit the intent and its PENDING order. Must happen before the order is sent."""
        return (await self.record_intents([intent], reason))[0]

    async def record_intents(self, intents: list[OrderIntent], reason: str = "") -> list[LedgerOrder]:
        """Commit several intents and their PENDING orders in one transaction (a flatten's
        closes): all of them are durable before any of their orders is sent. Committed on
        the loop (`write_many_now`): this is the tick-to-order path."""
        now = self.clock.now().isoformat()
        if intents:
            await self.db.write_many_now([
                ("INSERT INTO intents(intent_id, client_order_id, symbol, side, qty, order_type,"
                 " price, reduce_only, stop_loss, take_profit, leverage, strategy, reason,"
                 " created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                 [(i.intent_id, i.client_order_id, i.symbol, i.side.value, str(i.qty),
                   i.order_type.value, _s(i.price), int(i.reduce_only), _s(i.stop_loss),
                   _s(i.take_profit), str(i.leverage), i.strategy, reason, now)
                  for i in intents]),
                ("INSERT INTO orders(client_order_id, intent_id, symbol, side, order_type, qty,"
                 " price, status, reduce_only, created_at, updated_at)"
                 " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                 [(i.client_order_id, i.intent_id, i.symbol, i.side.value, i.order_type.value,
                   str(i.qty), _s(i.price), OrderStatus.PENDING.value, int(i.reduce_only), now,
                   now) for i in intents]),
            ])
        orders = []
        for intent in intents:
            order = LedgerOrder(
                client_order_id=intent.client_order_id, intent_id=intent.intent_id,
                symbol=intent.symbol, side=intent.side, order_type=intent.order_type.value,
                qty=intent.qty, status=OrderStatus.PENDING, reduce_only=intent.reduce_only,
                strategy=intent.strategy, price=intent.price, created_at=now, updated_at=now,
            )
            self.live_orders[order.client_order_id] = order
            self._strategy_of[order.client_order_id] = intent.strategy
            orders.append(order)
        return orders

    async def set_status(self, client_order_id: str, status: OrderStatus, reason: str = "") -> None:
        await self.set_statuses([(client_order_id, status, reason)])

    async def set_statuses(self, changes: list[tuple[str, OrderStatus, str]], *,
                           only_pending: bool = False) -> None:
        """(client id, status, reason) for several orders, in one transaction. `only_pending`:
        change only orders still PENDING (a batch's answers are booked after the stream may
        already have reported some of its orders: the venue's word is not overwritten)."""
        if not changes:
            return
        now = self.clock.now().isoformat()
        pending = OrderStatus.PENDING.value
        await self.db.write_batch([
            ("UPDATE orders SET status=?, reject_reason=CASE WHEN ?='' THEN reject_reason ELSE ?"
             " END, updated_at=? WHERE client_order_id=? AND (?=0 OR status=?)",
             (status.value, reason, reason, now, cid, int(only_pending), pending))
            for cid, status, reason in changes])
        for cid, status, reason in changes:
            order = self.live_orders.get(cid)
            if order is not None and (not only_pending or order.status is OrderStatus.PENDING):
                order.status, order.updated_at = status, now
                if reason:
                    order.reject_reason = reason
                if status.is_terminal:
                    del self.live_orders[cid]

    async def apply_venue_order(self, vo: VenueOrder) -> bool:
        """Take the venue's word on an order (stream, REST, reconciliation).

        Orders with a Titan client id that the ledger never saw (e.g. sent just before a
        crash whose intent row was lost — impossible by design — or recovered at start-up)
        are inserted. Returns True when something changed. Non-Titan orders are ignored.
        """
        return (await self.apply_venue_orders([vo]))[0]

    async def apply_venue_orders(self, vos: list[VenueOrder]) -> list[bool]:
        """`apply_venue_order` for several orders in one transaction (a batch's answers)."""
        changed = [False] * len(vos)
        todo = []
        for n, vo in enumerate(vos):
            if not is_titan_order(vo.client_order_id):
                continue
            current = self.live_orders.get(vo.client_order_id)
            if current is not None and current.status == vo.status \
                    and current.filled_qty == vo.filled_qty and current.venue_order_id:
                continue
            todo.append(n)
        if not todo:
            return changed
        now = self.clock.now().isoformat()
        # One hop to the database thread for the lot (a batch's 50 answers would otherwise
        # cost a thread round trip per statement, holding the one writer meanwhile).
        written = await self.db.write_with(_write_venue_orders, [vos[n] for n in todo], now)
        # Right after the commit, before anything else runs on the loop: the in-memory
        # view follows what was written.
        applied = [(todo[k], self.live_orders.get(vos[todo[k]].client_order_id), inserted)
                   for k, inserted in written]
        # What each order was before this report: the in-memory order is updated in place
        # below, so a change (NEW → PARTIALLY_FILLED, a larger partial fill) is decided on
        # these, not on the order after its update.
        before = {n: (current.status, current.filled_qty) for n, current, _ in applied
                  if current is not None}
        for n, current, inserted in applied:
            vo = vos[n]
            if vo.status.is_terminal:
                self.live_orders.pop(vo.client_order_id, None)
            else:
                order = current or LedgerOrder(
                    client_order_id=vo.client_order_id, intent_id=None, symbol=vo.symbol,
                    side=vo.side, order_type=vo.order_type.value, qty=vo.qty, status=vo.status,
                    reduce_only=vo.reduce_only, created_at=now,
                )
                order.status, order.filled_qty = vo.status, vo.filled_qty
                order.venue_order_id, order.avg_price, order.updated_at = \
                    vo.venue_order_id, vo.avg_price, now
                self.live_orders[vo.client_order_id] = order
            changed[n] = inserted or n not in before or before[n] != (vo.status, vo.filled_qty)
        return changed

    async def known_order(self, client_order_id: str) -> dict[str, Any] | None:
        return await self.db.fetch_one(
            "SELECT * FROM orders WHERE client_order_id=?", (client_order_id,))

    # -- fills and positions ------------------------------------------------------------

    async def apply_fill(self, fill: Fill, close_reason: str = "") -> FillResult:
        """Record one execution once; a duplicate (same execution id) changes nothing."""
        async with self.exclusive():
            return await self._apply_fill(fill, close_reason)

    async def _apply_fill(self, fill: Fill, close_reason: str) -> FillResult:
        symbol = fill.symbol
        pos = self.positions.get(symbol)
        meta = self._meta.get(symbol, _PosMeta())
        strategy = self._strategy_of.get(fill.client_order_id, "")
        if not strategy and is_titan_order(fill.client_order_id):
            row = await self.db.fetch_one(
                "SELECT i.strategy FROM orders o JOIN intents i ON i.intent_id=o.intent_id"
                " WHERE o.client_order_id=?", (fill.client_order_id,))
            strategy = row["strategy"] if row else ""
        outcome = apply_fill(pos, fill, max_size=meta.max_size,
                             orphan=not is_titan_order(fill.client_order_id), strategy=strategy)
        now = self.clock.now().isoformat()
        async with self.db.write() as conn:
            cur = await conn.execute(
                "INSERT OR IGNORE INTO fills(exec_id, client_order_id, venue_order_id, symbol,"
                " side, qty, price, fee, ts, recorded_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (fill.exec_id, fill.client_order_id, fill.venue_order_id, symbol,
                 fill.side.value, str(fill.qty), str(fill.price), str(fill.fee),
                 fill.ts.isoformat(), now),
            )
            if cur.rowcount == 0:
                # Already recorded: the transaction is empty, nothing changes.
                return FillResult(recorded=False, closed=None)
            new = outcome.position
            if new is None:
                await conn.execute("DELETE FROM positions WHERE symbol=?", (symbol,))
            else:
                await conn.execute(
                    "INSERT INTO positions(symbol, side, size, entry_price, unrealised_pnl,"
                    " leverage, stop_loss, take_profit, max_size, realised_pnl, fees, orphaned,"
                    " strategy, opened_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
                    " ON CONFLICT(symbol) DO UPDATE SET side=excluded.side, size=excluded.size,"
                    " entry_price=excluded.entry_price, max_size=excluded.max_size,"
                    " realised_pnl=excluded.realised_pnl, fees=excluded.fees,"
                    " orphaned=excluded.orphaned, strategy=excluded.strategy,"
                    " opened_at=excluded.opened_at, updated_at=excluded.updated_at",
                    (symbol, new.side.value, str(new.size), str(new.entry_price),
                     str(new.unrealised_pnl), "1", _s(new.stop_loss), _s(new.take_profit),
                     str(outcome.max_size), str(new.realised_pnl), str(new.fees),
                     int(new.orphaned), new.strategy, new.opened_at.isoformat(), now),
                )
            trade = outcome.closed
            if trade is not None:
                await conn.execute(
                    "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl,"
                    " fees, net_pnl, strategy, close_reason, opened_at, closed_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (trade.symbol, trade.side.value, str(trade.qty), str(trade.entry_price),
                     str(trade.exit_price), str(trade.gross_pnl), str(trade.fees),
                     str(trade.net_pnl), trade.strategy, close_reason or "CLOSED",
                     trade.opened_at.isoformat(), trade.closed_at.isoformat()),
                )
        if outcome.position is None:
            self.positions.pop(symbol, None)
            self._meta.pop(symbol, None)
        else:
            kept = outcome.position
            if pos is not None and pos.side is kept.side:
                # Keep what the venue told us about marks and protective orders.
                kept = replace(kept, unrealised_pnl=pos.unrealised_pnl, mark_price=pos.mark_price,
                               stop_loss=pos.stop_loss, take_profit=pos.take_profit)
            self.positions[symbol] = kept
            self._meta[symbol] = _PosMeta(outcome.max_size)
        return FillResult(recorded=True, closed=outcome.closed)

    def update_marks(self, symbol: str, unrealised: Decimal, mark: Decimal | None,
                     stop_loss: Decimal | None, take_profit: Decimal | None) -> None:
        """Venue-reported marks for display and equity; sizes come only from fills."""
        pos = self.positions.get(symbol)
        if pos is not None:
            self.positions[symbol] = replace(pos, unrealised_pnl=unrealised, mark_price=mark,
                                             stop_loss=stop_loss, take_profit=take_profit)

    async def force_close(self, symbol: str, exit_price: Decimal, reason: str) -> ClosedTrade | None:
        """Close a shadow position the venue no longer has and no execution explains.

        The PnL is estimated at `exit_price` (the last price); the journal says so.
        """
        async with self.exclusive():
            pos = self.positions.get(symbol)
            if pos is None:
                return None
            meta = self._meta.get(symbol, _PosMeta(pos.size))
            gross = pos.realised_pnl + (exit_price - pos.entry_price) * pos.size * pos.side.sign
            now = self.clock.now()
            trade = ClosedTrade(symbol=symbol, side=pos.side, qty=max(meta.max_size, pos.size),
                                entry_price=pos.entry_price, exit_price=exit_price,
                                gross_pnl=gross, fees=pos.fees, opened_at=pos.opened_at,
                                closed_at=now, strategy=pos.strategy)
            async with self.db.write() as conn:
                await conn.execute("DELETE FROM positions WHERE symbol=?", (symbol,))
                await conn.execute(
                    "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl,"
                    " fees, net_pnl, strategy, close_reason, opened_at, closed_at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (symbol, pos.side.value, str(trade.qty), str(pos.entry_price), str(exit_price),
                     str(gross), str(pos.fees), str(trade.net_pnl), pos.strategy, reason,
                     pos.opened_at.isoformat(), now.isoformat()),
                )
            self.positions.pop(symbol, None)
            self._meta.pop(symbol, None)
            return trade

    async def force_position(self, venue_pos: Position) -> None:
        """Adopt the venue's position as an orphan when no execution explains it."""
        async with self.exclusive():
            now = self.clock.now()
            pos = ShadowPosition(symbol=venue_pos.symbol, side=venue_pos.side,
                                 size=venue_pos.size, entry_price=venue_pos.entry_price,
                                 opened_at=now, orphaned=True,
                                 unrealised_pnl=venue_pos.unrealised_pnl,
                                 stop_loss=venue_pos.stop_loss, take_profit=venue_pos.take_profit)
            await self.db.execute_write(
                "INSERT INTO positions(symbol, side, size, entry_price, unrealised_pnl, max_size,"
                " orphaned, strategy, opened_at, updated_at) VALUES (?,?,?,?,?,?,1,'',?,?)"
                " ON CONFLICT(symbol) DO UPDATE SET side=excluded.side, size=excluded.size,"
                " entry_price=excluded.entry_price, max_size=excluded.max_size, orphaned=1,"
                " updated_at=excluded.updated_at",
                (pos.symbol, pos.side.value, str(pos.size), str(pos.entry_price),
                 str(pos.unrealised_pnl), str(pos.size), now.isoformat(), now.isoformat()),
            )
            self.positions[pos.symbol] = pos
            self._meta[pos.symbol] = _PosMeta(pos.size)

    async def last_fill_ms(self) -> int | None:
        ts = await self.db.scalar("SELECT MAX(ts) FROM fills")
        return None if ts is None else int(datetime.fromisoformat(ts).timestamp() * 1000)

    async def has_fill(self, exec_id: str) -> bool:
        return await self.db.scalar("SELECT 1 FROM fills WHERE exec_id=?", (exec_id,)) is not None

    # -- state kept as JSON -------------------------------------------------------------

    async def get_state(self, key: str) -> Any:
        raw = await self.db.scalar("SELECT value FROM system_state WHERE key=?", (key,))
        return None if raw is None else json.loads(raw)

    async def put_state(self, key: str, value: Any) -> None:
        await self.db.execute_write(
            "INSERT INTO system_state(key, value, updated_at) VALUES (?,?,?)"
            " ON CONFLICT(key) DO UPDATE SET value=excluded.value, updated_at=excluded.updated_at",
            (key, json.dumps(value), self.clock.now().isoformat()),
        )
