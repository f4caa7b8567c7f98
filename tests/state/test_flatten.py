"""Flatten through the real execution engine against the in-process simulator: one wave of
batch closes, a stale shadow, a lost batch, concurrent flattens (SPEC §8)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

from tests.state.conftest import Starter
from tests.state.oob_kit import KEY, eventually
from titan.domain.orders import OrderIntent, OrderStatus
from titan.sim import Simulator
from titan.venues.base import VenueError, VenueOrder

D = Decimal


def venue_open(sim: Simulator) -> dict[str, Any]:
    return {s: p for s, p in sim.engine.account(KEY).positions.items() if p.size != 0}


async def open_and_adopt(sim: Simulator, titan: Any, positions: dict[str, tuple[str, str]]) -> None:
    for symbol, (side, qty) in positions.items():
        sim.open_position_by_hand(KEY, symbol, side, D(qty))
    await eventually(lambda: set(positions) <= set(titan.ledger.positions), "positions adopted",
                     within=15)


async def test_flatten_closes_what_the_venue_has_even_when_the_shadow_is_stale(
        sim: Simulator, start_titan: Starter) -> None:
    """The shadow's closes go out first; the fresh read catches what the shadow missed, and
    a shadow position the venue no longer has costs a refused reduce-only order, nothing more."""
    titan, _ = await start_titan()
    await open_and_adopt(sim, titan, {"ETHUSDT": ("Buy", "0.1")})
    sim.silence_streams("bybit_private")  # Titan hears nothing of what happens next
    sim.close_position_by_hand(KEY, "ETHUSDT")
    sim.open_position_by_hand(KEY, "SOLUSDT", "Sell", D("1"))
    assert "ETHUSDT" in titan.ledger.positions and "SOLUSDT" not in titan.ledger.positions
    result = await titan.execution.flatten_all()
    assert result["success"] is True, result
    assert result["results"] == [{"symbol": "SOLUSDT", "success": True}]
    assert result["positions_closed"] == 1
    assert venue_open(sim) == {}

    async def refused_close() -> dict[str, Any] | None:
        # The batch's answers are booked in the background: wait for the refusal's row.
        rows = await titan.db.fetch_all(
            "SELECT o.symbol, o.status, o.reject_reason FROM orders o JOIN intents i"
            " ON i.intent_id = o.intent_id WHERE i.strategy='flatten' AND o.symbol='ETHUSDT'")
        return rows[0] if rows and rows[0]["status"] == "REJECTED" else None

    row = await eventually(refused_close, "the stale close refused by the venue")
    assert row is not None and "110017" in row["reject_reason"]  # reduce-only: nothing there


async def test_every_close_is_committed_before_its_batch_leaves_and_a_lost_batch_is_retried(
        sim: Simulator, start_titan: Starter) -> None:
    titan, _ = await start_titan()
    await open_and_adopt(sim, titan, {"ETHUSDT": ("Buy", "0.1"), "SOLUSDT": ("Sell", "1"),
                                      "BTCUSDT": ("Buy", "0.002")})
    place_orders = titan.venue.place_orders
    batches: list[list[str]] = []

    async def checked(intents: list[OrderIntent]) -> list[VenueOrder | VenueError]:
        cids = [i.client_order_id for i in intents]
        marks = ",".join("?" for _ in cids)
        rows = await titan.db.fetch_all(
            f"SELECT o.client_order_id FROM orders o JOIN intents i ON i.intent_id=o.intent_id"
            f" WHERE o.client_order_id IN ({marks})", cids)
        assert {r["client_order_id"] for r in rows} == set(cids), "intent not durable"
        batches.append(cids)
        return await place_orders(intents)

    titan.venue.place_orders = checked  # type: ignore[method-assign]
    sim.faults.update(http_5xx_next=1, path_prefix="/v5/order/create-batch")  # round 0 is lost
    result = await titan.execution.flatten_all()
    assert result["success"] is True, result
    assert result["positions_closed"] == 3
    assert venue_open(sim) == {}
    assert len(batches) == 2 and len(batches[0]) == len(batches[1]) == 3
    assert not set(batches[0]) & set(batches[1])  # a client id is never sent twice
    # The lost batch's orders are looked up by client id: never placed, so REJECTED.
    async def lost_resolved() -> bool:
        rows = [await titan.ledger.known_order(c) for c in batches[0]]
        return all(r is not None and r["status"] == OrderStatus.REJECTED.value for r in rows)
    await eventually(lost_resolved, "the lost batch resolved by client id", within=15)


async def test_concurrent_flattens_both_end_flat(sim: Simulator, start_titan: Starter) -> None:
    titan, _ = await start_titan()
    await open_and_adopt(sim, titan, {"ETHUSDT": ("Sell", "0.1"), "SOLUSDT": ("Buy", "1")})
    a, b = await asyncio.gather(titan.execution.flatten_all(), titan.execution.flatten_all())
    assert a["success"] is True and b["success"] is True, (a, b)
    assert venue_open(sim) == {}
