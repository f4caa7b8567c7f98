"""The shadow ledger on a real SQLite file: once per execution id, intent before send, restart."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest

from titan.clock import ManualClock
from titan.domain.orders import Fill, OrderIntent, OrderStatus, OrderType, Side
from titan.state.ledger import Ledger
from titan.store.db import Database
from titan.venues.base import VenueOrder

T0 = datetime(2025, 1, 1, tzinfo=UTC)
D = Decimal


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "titan.db")
    await database.open()
    yield database
    await database.close()


def intent(n: int = 1, side: Side = Side.BUY, qty: str = "0.5") -> OrderIntent:
    return OrderIntent(intent_id=f"i-{n}", symbol="ETHUSDT", side=side, qty=D(qty),
                       order_type=OrderType.MARKET, stop_loss=D(90), strategy="scavenger")


def fill(exec_id: str, cid: str, side: Side, qty: str, price: str, fee: str = "0.01",
         s: int = 0) -> Fill:
    return Fill(exec_id=exec_id, client_order_id=cid, venue_order_id="v1", symbol="ETHUSDT",
                side=side, qty=D(qty), price=D(price), fee=D(fee), ts=T0 + timedelta(seconds=s))


async def counts(db: Database) -> tuple[int, int, int]:
    return (await db.scalar("SELECT COUNT(*) FROM fills"),
            await db.scalar("SELECT COUNT(*) FROM positions"),
            await db.scalar("SELECT COUNT(*) FROM trades"))


async def test_intent_and_pending_order_are_committed_together(db: Database) -> None:
    ledger = Ledger(db, ManualClock(T0))
    it = intent()
    order = await ledger.record_intent(it, "test")
    assert order.status is OrderStatus.PENDING and it.client_order_id in ledger.live_orders
    row = await db.fetch_one(
        "SELECT o.status, o.intent_id, i.strategy FROM orders o JOIN intents i"
        " ON i.intent_id = o.intent_id WHERE o.client_order_id=?", (it.client_order_id,))
    assert row == {"status": "PENDING", "intent_id": "i-1", "strategy": "scavenger"}
    # The same intent twice is refused as a whole: neither row is written a second time.
    with pytest.raises(Exception):  # noqa: B017 - sqlite3.IntegrityError via aiosqlite
        await ledger.record_intent(it, "again")
    assert await db.scalar("SELECT COUNT(*) FROM intents") == 1
    assert await db.scalar("SELECT COUNT(*) FROM orders") == 1


async def test_duplicate_execution_changes_nothing(db: Database) -> None:
    ledger = Ledger(db, ManualClock(T0))
    it = intent()
    await ledger.record_intent(it)
    f = fill("e1", it.client_order_id, Side.BUY, "0.5", "100")
    first = await ledger.apply_fill(f)
    assert first.recorded and first.closed is None
    before = (await counts(db), ledger.positions["ETHUSDT"])
    again = await ledger.apply_fill(f)
    assert not again.recorded and again.closed is None
    assert (await counts(db), ledger.positions["ETHUSDT"]) == before
    # A close, replayed, journals one trade only.
    c = fill("e2", "tn-e-other", Side.SELL, "0.5", "110", s=1)
    assert (await ledger.apply_fill(c)).closed is not None
    assert not (await ledger.apply_fill(c)).recorded
    assert await counts(db) == (2, 0, 1)
    row = await db.fetch_one("SELECT net_pnl, strategy FROM trades")
    assert row is not None and D(row["net_pnl"]) == D("4.98") and row["strategy"] == "scavenger"


async def test_restart_load_restores_positions_and_live_orders(db: Database, tmp_path: Path) -> None:
    ledger = Ledger(db, ManualClock(T0))
    a, b = intent(1), intent(2, Side.SELL, "1")
    await ledger.record_intent(a)
    await ledger.record_intent(b)
    await ledger.apply_fill(fill("e1", a.client_order_id, Side.BUY, "0.5", "100"))
    await ledger.set_status(a.client_order_id, OrderStatus.FILLED)
    await ledger.apply_fill(replace(fill("e2", "", Side.BUY, "2", "5", s=1), symbol="SOLUSDT"))
    await db.close()
    db2 = Database(tmp_path / "titan.db")
    await db2.open()
    try:
        again = Ledger(db2, ManualClock(T0))
        await again.load()
        assert again.positions == ledger.positions
        assert set(again.live_orders) == {b.client_order_id}
        assert again.live_orders[b.client_order_id].status is OrderStatus.PENDING
        assert again.live_orders[b.client_order_id].strategy == "scavenger"
        assert again.positions["SOLUSDT"].orphaned and not again.positions["ETHUSDT"].orphaned
        # The restored position keeps accumulating exactly where it was.
        res = await again.apply_fill(fill("e3", b.client_order_id, Side.SELL, "0.5", "120", s=2))
        assert res.closed is not None and res.closed.gross_pnl == D(10)
        assert res.closed.fees == D("0.02")
    finally:
        await db2.close()


def venue_order(cid: str, status: OrderStatus, filled: str) -> VenueOrder:
    return VenueOrder(symbol="ETHUSDT", client_order_id=cid, venue_order_id="v1",
                      side=Side.BUY, order_type=OrderType.MARKET, qty=D("0.5"),
                      filled_qty=D(filled), price=None, avg_price=None, status=status,
                      reduce_only=False, updated_at=T0)


async def test_a_late_answer_never_undoes_a_final_order_state(db: Database) -> None:
    """The stream reports FILLED before the submit's own HTTP answer (NEW) is processed:
    the older answer must not bring the order back to life (it would count as open in the
    gate and sit NEW until a reconciliation)."""
    ledger = Ledger(db, ManualClock(T0))
    it = intent()
    await ledger.record_intent(it)
    await ledger.apply_venue_order(venue_order(it.client_order_id, OrderStatus.FILLED, "0.5"))
    assert it.client_order_id not in ledger.live_orders
    changed = await ledger.apply_venue_order(venue_order(it.client_order_id, OrderStatus.NEW, "0"))
    assert not changed and it.client_order_id not in ledger.live_orders
    row = await db.fetch_one("SELECT status, filled_qty FROM orders WHERE client_order_id=?",
                             (it.client_order_id,))
    assert row == {"status": "FILLED", "filled_qty": "0.5"}
    # A partial fill reported after a later one does not shrink what was filled either.
    b = intent(2)
    await ledger.record_intent(b)
    await ledger.apply_venue_order(venue_order(b.client_order_id, OrderStatus.PARTIALLY_FILLED, "0.3"))
    await ledger.apply_venue_order(venue_order(b.client_order_id, OrderStatus.NEW, "0"))
    assert ledger.live_orders[b.client_order_id].filled_qty == D("0.3")
    assert ledger.live_orders[b.client_order_id].status is OrderStatus.PARTIALLY_FILLED
    # The venue's final word still wins over Titan's own terminal guess (a cancel that lost
    # the race with a fill).
    await ledger.set_status(b.client_order_id, OrderStatus.CANCELLED)
    await ledger.apply_venue_order(venue_order(b.client_order_id, OrderStatus.FILLED, "0.5"))
    row = await db.fetch_one("SELECT status FROM orders WHERE client_order_id=?",
                             (b.client_order_id,))
    assert row == {"status": "FILLED"}


async def test_a_stale_answer_waiting_for_the_writer_does_not_revive_the_order(
        db: Database) -> None:
    """The stream's FILLED holds the writer when the submit's answer (NEW) comes in: the
    answer, decided only after the FILLED committed, must see it."""
    ledger = Ledger(db, ManualClock(T0))
    it = intent()
    await ledger.record_intent(it)
    filled = asyncio.create_task(
        ledger.apply_venue_order(venue_order(it.client_order_id, OrderStatus.FILLED, "0.5")))
    await asyncio.sleep(0)  # FILLED now holds the writer
    answer = asyncio.create_task(
        ledger.apply_venue_order(venue_order(it.client_order_id, OrderStatus.NEW, "0")))
    await asyncio.gather(filled, answer)
    assert it.client_order_id not in ledger.live_orders
    row = await db.fetch_one("SELECT status FROM orders WHERE client_order_id=?",
                             (it.client_order_id,))
    assert row == {"status": "FILLED"}


async def test_a_batch_of_intents_and_its_answers_follow_the_one_order_rules(db: Database) -> None:
    """A flatten's closes: every intent (and its PENDING order) durable in one commit before
    the batch leaves; the answers booked together, with the same rules as one at a time."""
    ledger = Ledger(db, ManualClock(T0))
    closes = [intent(n) for n in range(1, 6)]
    orders = await ledger.record_intents(closes, "flatten")
    assert [o.status for o in orders] == [OrderStatus.PENDING] * 5
    rows = await db.fetch_all("SELECT o.status, i.reason FROM orders o JOIN intents i"
                              " ON i.intent_id = o.intent_id")
    assert rows == [{"status": "PENDING", "reason": "flatten"}] * 5
    # The stream reported #1 FILLED before the batch's answer (NEW) is booked.
    first = closes[0].client_order_id
    await ledger.apply_venue_order(venue_order(first, OrderStatus.FILLED, "0.5"))
    changed = await ledger.apply_venue_orders(
        [venue_order(c.client_order_id, OrderStatus.NEW, "0") for c in closes[:3]])
    assert changed[0] is False  # the older answer does not undo the fill
    assert first not in ledger.live_orders
    assert ledger.live_orders[closes[1].client_order_id].status is OrderStatus.NEW
    # A lost answer or a refusal changes only what is still PENDING: #1 stays FILLED.
    await ledger.set_statuses([(first, OrderStatus.UNKNOWN, "lost"),
                               (closes[3].client_order_id, OrderStatus.UNKNOWN, "lost"),
                               (closes[4].client_order_id, OrderStatus.REJECTED, "110017")],
                              only_pending=True)
    status = {r["client_order_id"]: r["status"] for r in await db.fetch_all(
        "SELECT client_order_id, status FROM orders")}
    assert status[first] == "FILLED"
    assert status[closes[3].client_order_id] == "UNKNOWN"
    assert status[closes[4].client_order_id] == "REJECTED"
    assert closes[4].client_order_id not in ledger.live_orders


async def test_a_partial_fill_of_a_known_order_counts_as_a_change(db: Database) -> None:
    """NEW → PARTIALLY_FILLED (and a larger partial fill) is a change: `StreamSync` publishes
    an order update only when the ledger says so (issue 15: it never did for a known order,
    because the in-memory order was updated before it was compared)."""
    ledger = Ledger(db, ManualClock(T0))
    it = intent()
    await ledger.record_intent(it)
    cid = it.client_order_id
    assert await ledger.apply_venue_order(venue_order(cid, OrderStatus.NEW, "0"))
    assert await ledger.apply_venue_order(venue_order(cid, OrderStatus.PARTIALLY_FILLED, "0.2"))
    assert await ledger.apply_venue_order(venue_order(cid, OrderStatus.PARTIALLY_FILLED, "0.3"))
    # The same report again is no change.
    assert not await ledger.apply_venue_order(venue_order(cid, OrderStatus.PARTIALLY_FILLED, "0.3"))
    assert ledger.live_orders[cid].filled_qty == D("0.3")
