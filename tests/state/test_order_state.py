"""Order state through the real execution engine against the in-process simulator."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.state.conftest import Starter
from tests.state.oob_kit import KEY, accepted, eventually, market_intent
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.sim import Simulator

D = Decimal


async def test_filled_market_order_is_final_and_second_order_on_symbol_passes(
        sim: Simulator, start_titan: Starter) -> None:
    """Two open orders per symbol are allowed (phase limit): with one resting limit, a
    second entry must go out — the gate's re-check after the intent is written must not
    count that intent's own PENDING order against it, and a filled market order must not
    linger as open because the submit's answer (NEW) came after the stream's FILLED."""
    titan, _ = await start_titan()
    await titan.risk.arm("test", "test")
    price = titan.market.price("ETHUSDT")
    assert price is not None
    for n in range(3):
        res = accepted(await titan.execution.submit(market_intent(f"m{n}", "ETHUSDT", Side.BUY,
                                                                  "0.01", price)))
        await eventually(lambda cid=res.client_order_id: cid not in titan.ledger.live_orders,
                         "market order final", within=10)
        row = await titan.ledger.known_order(res.client_order_id)
        assert row is not None and row["status"] == "FILLED"
    limit = (price * D("0.8")).quantize(D("0.01"))
    resting = OrderIntent(intent_id="rest-1", symbol="ETHUSDT", side=Side.BUY, qty=D("0.01"),
                          order_type=OrderType.LIMIT, price=limit,
                          stop_loss=(limit * D("0.9")).quantize(D("0.01")), leverage=D(5),
                          strategy="scavenger")
    accepted(await titan.execution.submit(resting))
    assert titan.ledger.live_orders[resting.client_order_id].status is OrderStatus.NEW
    second = await titan.execution.submit(market_intent("m-after", "ETHUSDT", Side.BUY, "0.01",
                                                        price))
    assert second.accepted, second


async def test_titans_own_cancels_are_not_alerted_as_venue_cancels(
        sim: Simulator, start_titan: Starter) -> None:
    titan, _ = await start_titan()
    seen: list[str] = []
    titan.bus.subscribe(lambda e: seen.append(e.message))
    await titan.risk.arm("test", "test")
    price = titan.market.price("SOLUSDT")
    assert price is not None
    limit = (price * D("0.8")).quantize(D("0.001"))
    ids = []
    for n in range(2):
        intent = OrderIntent(intent_id=f"c-{n}", symbol="SOLUSDT", side=Side.BUY, qty=D("0.1"),
                             order_type=OrderType.LIMIT, price=limit,
                             stop_loss=(limit * D("0.9")).quantize(D("0.001")), leverage=D(5),
                             strategy="scavenger")
        accepted(await titan.execution.submit(intent))
        ids.append(intent.client_order_id)
    result = await titan.execution.cancel_orders(titan_only=True)
    assert {c["clientOrderId"] for c in result["cancelled"]} == set(ids)
    await titan.sync.idle()
    await eventually(lambda: all(sim.engine.accounts[KEY].by_link[c].status == "Cancelled"
                                 for c in ids), "cancelled on the venue")
    await titan.sync.idle()
    assert not [m for m in seen if "cancelled by the venue" in m], seen
    # Flatten cancels the symbol's orders on the venue in one call: not the venue's doing.
    rest = OrderIntent(intent_id="c-flat", symbol="SOLUSDT", side=Side.BUY, qty=D("0.1"),
                       order_type=OrderType.LIMIT, price=limit,
                       stop_loss=(limit * D("0.9")).quantize(D("0.001")), leverage=D(5),
                       strategy="scavenger")
    accepted(await titan.execution.submit(rest))
    accepted(await titan.execution.submit(market_intent("c-pos", "SOLUSDT", Side.BUY, "0.2",
                                                        price)))
    flat = await titan.execution.flatten_all()
    assert flat["success"], flat
    await eventually(lambda: rest.client_order_id not in titan.ledger.live_orders,
                     "the flattened symbol's order cancelled")
    await titan.sync.idle()
    assert not [m for m in seen if "cancelled by the venue" in m], seen
    await titan.risk.arm("test", "test")
    # A cancel the venue makes on its own is still alerted.
    other = OrderIntent(intent_id="c-venue", symbol="SOLUSDT", side=Side.BUY, qty=D("0.1"),
                        order_type=OrderType.LIMIT, price=limit,
                        stop_loss=(limit * D("0.9")).quantize(D("0.001")), leverage=D(5),
                        strategy="scavenger")
    accepted(await titan.execution.submit(other))
    sim.cancel_order_by_venue(KEY, "SOLUSDT", link_id=other.client_order_id)
    await eventually(lambda: [m for m in seen if "cancelled by the venue" in m
                              and other.client_order_id in m], "the venue-cancel alert")


async def test_an_order_settled_while_the_reconciler_asks_about_it_keeps_its_record(
        sim: Simulator, start_titan: Starter) -> None:
    """The reconciler asks the venue about every live order it does not see listed. If the
    order is settled meanwhile (here: its UNKNOWN resolver finds it was never placed and
    records REJECTED), the reconciler's stale view must not overwrite that with CANCELLED
    ("gone from the venue"). Seen as a flaky lost-batch flatten test under load."""
    titan, _ = await start_titan()
    intent = OrderIntent(intent_id="race-1", symbol="ETHUSDT", side=Side.BUY, qty=Decimal("0.1"),
                         order_type=OrderType.MARKET, strategy="test")
    cid = intent.client_order_id
    await titan.ledger.record_intent(intent, "test")
    await titan.ledger.set_status(cid, OrderStatus.UNKNOWN, "answer lost")
    real_lookup = titan.venue.order_by_client_id

    async def lookup_while_the_resolver_settles(symbol: str, client_order_id: str) -> Any:
        found = await real_lookup(symbol, client_order_id)
        if client_order_id == cid:
            await titan.ledger.set_status(cid, OrderStatus.REJECTED,
                                          "venue has no such order: it was never placed")
        return found

    titan.venue.order_by_client_id = lookup_while_the_resolver_settles  # type: ignore[method-assign]
    report = await titan.reconciler.run("test")
    row = await titan.ledger.known_order(cid)
    assert row is not None and row["status"] == OrderStatus.REJECTED.value, row
    assert not [a for a in report.actions if a.get("clientOrderId") == cid]
