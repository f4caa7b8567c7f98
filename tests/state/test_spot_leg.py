"""The spot leg in the ledger and reconciliation, against the simulator over real
sockets: the intent before every spot order, each spot fill recorded once, Titan's coins
tracked (and restored after a restart), a hand-made spot trade found and alerted."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.venues.simkit import KEY, SECRET, SYMBOLS, start_sim, wait_for
from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.execution.spot import SpotExecutor
from titan.state.ledger import Ledger
from titan.state.reconciler import Report
from titan.state.spot_book import SpotBook
from titan.state.spot_reconcile import SpotReconcile
from titan.store.db import Database
from titan.venues.base import PrivateUpdate, VenueOrder
from titan.venues.bybit import BybitVenue

D = Decimal
FEE = D("0.001")


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    s.set_price("BTCUSDT", "60000")
    try:
        yield s
    finally:
        await s.stop()


async def _venue(sim: Any, streams: bool = True) -> BybitVenue:
    v = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS),
                   clock=SystemClock(), streams=streams, ticker_silence_timeout=None)
    await v.start()
    return v


@pytest.fixture
async def venue(sim: Any) -> AsyncIterator[BybitVenue]:
    v = await _venue(sim)
    yield v
    await v.close()


@pytest.fixture
async def hand(sim: Any) -> AsyncIterator[BybitVenue]:
    """A second client on the same account: trades "by hand on the venue"."""
    v = await _venue(sim, streams=False)
    yield v
    await v.close()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(tmp_path / "titan.db")
    await database.open()
    yield database
    await database.close()


def buy(n: int, qty: str, side: Side = Side.BUY) -> OrderIntent:
    return OrderIntent(intent_id=f"sentinel:BTCUSDT:{n}", symbol="BTCUSDT", side=side,
                       qty=D(qty), order_type=OrderType.MARKET, strategy="sentinel")


def report() -> Report:
    return Report(ts="now", trigger="test", ok=True)


def wire(venue: BybitVenue, ex: SpotExecutor) -> list[asyncio.Task[None]]:
    tasks: list[asyncio.Task[None]] = []

    def on(update: PrivateUpdate) -> None:
        tasks.append(asyncio.get_running_loop().create_task(ex.on_private(update)))
    venue.on_private(on)
    return tasks


class _Watched:
    """The real spot venue, noting whether the intent row was committed at each send."""

    def __init__(self, spot: Any, db: Database) -> None:
        self._spot, self._db = spot, db
        self.seen: list[str | None] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._spot, name)

    async def place_order(self, intent: OrderIntent) -> VenueOrder:
        row = await self._db.fetch_one("SELECT status FROM spot_orders WHERE client_order_id=?",
                                       (intent.client_order_id,))
        self.seen.append(row["status"] if row else None)
        answer: VenueOrder = await self._spot.place_order(intent)
        return answer


async def test_intent_before_the_order_and_a_lost_answer_resolved_by_client_id(
        sim: Any, venue: BybitVenue, db: Database) -> None:
    book = SpotBook(db, SystemClock())
    watched = _Watched(venue.spot, db)
    ex = SpotExecutor(watched, book, lookup_delays=(0.05, 0.1, 0.2))
    ok = await ex.submit(buy(1, "0.002"), "pair entry")
    assert ok.accepted and watched.seen == ["PENDING"]
    sim.faults.update(ambiguous_next=1)  # the venue books it, the answer is lost
    lost = await ex.submit(buy(2, "0.002"), "pair entry")
    assert lost.status is OrderStatus.FILLED and "unknown" in lost.error
    assert watched.seen == ["PENDING", "PENDING"]
    links = [o["orderLinkId"] for o in sim.inspect(KEY)["orders"]]
    assert links.count(buy(2, "0").client_order_id) == 1  # asked for, never resent
    refused = await ex.submit(buy(3, "5"), "too big")  # $300k of BTC: no USDT for it
    assert refused.status is OrderStatus.REJECTED
    row = await db.fetch_one("SELECT status, reject_reason FROM spot_orders WHERE intent_id=?",
                             ("sentinel:BTCUSDT:3",))
    assert row is not None and row["status"] == "REJECTED" and "170131" in row["reject_reason"]
    # order 1 stays NEW (the create's answer) until the stream or reconciliation reports it
    assert list(book.live_orders) == [buy(1, "0").client_order_id]


async def test_each_spot_fill_once_and_titans_coins_tracked_across_a_restart(
        sim: Any, venue: BybitVenue, db: Database) -> None:
    book = SpotBook(db, SystemClock())
    ex = SpotExecutor(venue.spot, book)
    tasks = wire(venue, ex)
    await ex.submit(buy(1, "0.01"))
    await wait_for(lambda: book.held("BTC") > 0, what="the stream's spot fill")
    await asyncio.gather(*tasks)
    assert book.held("BTC") == D("0.01") * (1 - FEE)
    rec = SpotReconcile(venue.spot, book, Ledger(db, SystemClock()), epoch_ms=0)
    r = report()
    await rec.run(r)  # the REST list has the same executions: nothing recorded twice
    assert not any(a["action"].startswith("recorded") for a in r.actions)
    assert await db.scalar("SELECT COUNT(*) FROM spot_fills") == len(
        await venue.spot.executions())
    await ex.submit(buy(2, "0.004", Side.SELL))
    await wait_for(lambda: book.held("BTC") == D("0.01") * (1 - FEE) - D("0.004"),
                   what="the sell")
    await asyncio.gather(*tasks)
    again = SpotBook(db, SystemClock())
    await again.load()
    assert again.held("BTC") == book.held("BTC") and again.holdings["BTC"].strategy == "sentinel"
    assert again.holdings["BTC"].cost > 0


async def test_a_fill_the_stream_missed_is_recorded_by_reconciliation(
        sim: Any, venue: BybitVenue, db: Database) -> None:
    book = SpotBook(db, SystemClock())
    await SpotExecutor(venue.spot, book).submit(buy(1, "0.01"))  # no stream wired
    assert book.held("BTC") == 0
    r = report()
    await SpotReconcile(venue.spot, book, Ledger(db, SystemClock()), epoch_ms=0).run(r)
    assert [a["action"] for a in r.actions][:1] == ["recorded_missed_spot_fill"]
    assert book.held("BTC") == D("0.01") * (1 - FEE) and r.mismatches == []


async def test_a_hand_made_spot_trade_is_found_and_titans_coins_stay_titans(
        sim: Any, venue: BybitVenue, hand: BybitVenue, db: Database) -> None:
    book = SpotBook(db, SystemClock())
    rec = SpotReconcile(venue.spot, book, Ledger(db, SystemClock()), epoch_ms=0)
    await hand.spot.place_order(OrderIntent(  # the operator's own coins, before Titan's
        intent_id="x", symbol="BTCUSDT", side=Side.BUY, qty=D("0.002"),
        order_type=OrderType.MARKET, client_order_id="by-hand-0"))
    first = report()
    await rec.run(first)
    assert first.mismatches == [] and first.actions[-1]["action"] == "spot_baseline"
    await SpotExecutor(venue.spot, book).submit(buy(1, "0.01"))
    clean = report()
    await rec.run(clean)
    assert clean.mismatches == [] and book.held("BTC") == D("0.01") * (1 - FEE)

    await hand.spot.place_order(OrderIntent(
        intent_id="y", symbol="BTCUSDT", side=Side.BUY, qty=D("0.003"),
        order_type=OrderType.MARKET, client_order_id="by-hand-1"))
    found = report()
    await rec.run(found)
    assert [(m.type, m.symbol) for m in found.mismatches] == [
        ("SPOT_OUTSIDE_CHANGE", "BTCUSDT")]
    assert "recorded_outside_spot_fill" in [a["action"] for a in found.actions]
    assert book.held("BTC") == D("0.01") * (1 - FEE)  # not Titan's
    settled = report()
    await rec.run(settled)
    assert settled.mismatches == []  # the new baseline

    coins = await venue.spot.coins()
    await hand.spot.place_order(OrderIntent(  # everything sold by hand, Titan's included
        intent_id="z", symbol="BTCUSDT", side=Side.SELL,
        qty=coins["BTC"].quantize(D("0.000001"), rounding="ROUND_DOWN"),
        order_type=OrderType.MARKET, client_order_id="by-hand-2"))
    short = report()
    await rec.run(short)
    assert "SPOT_HOLDING_SHORT" in [m.type for m in short.mismatches]
    left = (await venue.spot.coins()).get("BTC", D(0))
    assert book.held("BTC") == left  # what flatten will sell is what is there


async def test_an_intent_never_sent_is_settled_as_never_placed_after_a_restart(
        sim: Any, venue: BybitVenue, db: Database) -> None:
    book = SpotBook(db, SystemClock())
    await book.record_intent(buy(9, "0.01"), "crashed before the send")
    after = SpotBook(db, SystemClock())
    await after.load()
    assert list(after.live_orders) == [buy(9, "0").client_order_id]
    r = report()
    await SpotReconcile(venue.spot, after, Ledger(db, SystemClock()), epoch_ms=0).run(r)
    assert after.live_orders == {} and ("spot_order_never_placed" in
                                        [a["action"] for a in r.actions])
    with pytest.raises(ValueError):
        await book.record_intent(OrderIntent(intent_id="ro", symbol="BTCUSDT", side=Side.SELL,
                                             qty=D(1), order_type=OrderType.MARKET,
                                             reduce_only=True))
