"""BybitVenue's spot leg (`venue.spot`, category spot) against the simulator over real
sockets: instruments, orders with client ids, coin balances, fills by REST and by the
private stream — kept apart from the perpetual's."""

from __future__ import annotations

from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from titan.clock import SystemClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import PrivateUpdate, VenueError
from titan.venues.bybit import BybitVenue

from .simkit import KEY, SECRET, SYMBOLS, start_sim, wait_for

D = Decimal
FAST_WS = {"ping_interval": 0.5, "silence_timeout": 1.5, "ticker_silence_timeout": None,
           "connect_timeout": 2.0, "reconnect_max_delay": 0.5}


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim()
    try:
        yield s
    finally:
        await s.stop()


@pytest.fixture
async def venue(sim: Any) -> AsyncIterator[BybitVenue]:
    v = BybitVenue(KEY, SECRET, base_url=sim.base_url, symbols=list(SYMBOLS),
                   clock=SystemClock(), **FAST_WS)
    await v.start()
    try:
        yield v
    finally:
        await v.close()


def spot(intent_id: str, side: Side, qty: str, **kw: Any) -> OrderIntent:
    kw.setdefault("order_type", OrderType.MARKET)
    return OrderIntent(intent_id=intent_id, symbol="BTCUSDT", side=side, qty=D(qty),
                       strategy="sentinel", **kw)


async def test_spot_instrument_and_no_spot_market(venue: BybitVenue, sim: Any) -> None:
    inst = await venue.spot.load("btcusdt")
    assert inst.base_coin == "BTC" and inst.quote_coin == "USDT"
    assert inst.inst.qty_step == sim.spot.specs["BTCUSDT"].qty_step
    assert inst.inst.min_notional == D(5) and venue.spot.instrument("BTCUSDT") is inst
    with pytest.raises(VenueError) as err:
        await venue.spot.load("NOPEUSDT")
    assert err.value.code == "UNKNOWN_SPOT_SYMBOL"


async def test_market_buy_in_coin_fills_once_by_stream_and_rest_and_not_as_a_perp_fill(
        venue: BybitVenue, sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    updates: list[PrivateUpdate] = []
    venue.on_private(updates.append)
    intent = spot("sn:buy:1", Side.BUY, "0.01")
    placed = await venue.spot.place_order(intent)
    assert placed.client_order_id == intent.client_order_id and placed.qty == D("0.01")
    await wait_for(lambda: any(u.spot_fills for u in updates), what="the spot fill pushed")
    pushed = [f for u in updates for f in u.spot_fills]
    assert not any(u.fills or u.orders for u in updates)  # not the perpetual's
    assert {f.client_order_id for f in pushed} == {intent.client_order_id}
    assert sum(f.qty for f in pushed) == D("0.01") and all(f.fee_coin == "BTC" for f in pushed)
    assert any(o.status is OrderStatus.FILLED for u in updates for o in u.spot_orders)
    rest = await venue.spot.executions("BTCUSDT")
    assert [f.exec_id for f in rest] == [f.exec_id for f in pushed]
    assert await venue.executions("BTCUSDT") == [] and await venue.positions() == []
    held = sum(f.coin_change for f in rest)
    assert held == D("0.01") * (1 - D("0.001"))
    coins = await venue.spot.coins()
    assert coins["BTC"] == held and coins["USDT"] < D(2000)
    got = await venue.spot.order_by_client_id("BTCUSDT", intent.client_order_id)
    assert got is not None and got.status is OrderStatus.FILLED and got.filled_qty == D("0.01")
    # and sold back, in coin: the balance is what the buys left
    sell = spot("sn:sell:1", Side.SELL, str(held))
    await venue.spot.place_order(sell)
    assert "BTC" not in await venue.spot.coins()
    last = (await venue.spot.executions("BTCUSDT"))[-1]
    assert last.client_order_id == sell.client_order_id and last.fee_coin == "USDT"


async def test_spot_limit_rests_and_cancel_all_covers_spot_only(venue: BybitVenue,
                                                                 sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    resting = spot("sn:lim:1", Side.BUY, "0.001", order_type=OrderType.LIMIT, price=D("59000.3"))
    placed = await venue.spot.place_order(resting)
    assert placed.price is not None and placed.price <= D("59000.3")  # rounded down
    perp = OrderIntent(intent_id="perp:1", symbol="BTCUSDT", side=Side.BUY, qty=D("0.001"),
                       order_type=OrderType.LIMIT, price=D(50_000))
    await venue.place_order(perp)
    assert [o.client_order_id for o in await venue.spot.open_orders()] == [
        resting.client_order_id]
    assert [o.client_order_id for o in await venue.open_orders()] == [perp.client_order_id]
    assert await venue.spot.cancel_all() == [resting.client_order_id]
    assert await venue.spot.open_orders() == []
    assert [o.client_order_id for o in await venue.open_orders()] == [perp.client_order_id]
    assert await venue.spot.cancel_order("BTCUSDT", resting.client_order_id) is False


async def test_refusals_name_why_and_send_nothing(venue: BybitVenue, sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    for intent, code in (
            (spot("r1", Side.SELL, "0.01", reduce_only=True), "SPOT_REDUCE_ONLY"),
            (spot("r2", Side.BUY, "0.01", stop_loss=D(50_000)), "SPOT_TPSL"),
            (spot("r3", Side.BUY, "0.0000001"), "QTY_BELOW_MIN"),
            (spot("r4", Side.BUY, "0.00001", order_type=OrderType.LIMIT, price=D(60_000)),
             "VALUE_BELOW_MIN"),
            (spot("r5", Side.BUY, "0.001", order_type=OrderType.LIMIT), "NO_PRICE")):
        with pytest.raises(VenueError) as err:
            await venue.spot.place_order(intent)
        assert err.value.code == code
    assert [o for o in sim.inspect(KEY)["orders"]] == []
    with pytest.raises(VenueError) as err:  # the venue's refusal: no coins to sell
        await venue.spot.place_order(spot("r6", Side.SELL, "0.01"))
    assert err.value.code == 170131


async def test_spot_and_perp_books_by_depth(venue: BybitVenue, sim: Any) -> None:
    sim.set_price("BTCUSDT", "60000")
    bids, asks = await venue.spot.book("BTCUSDT", 5)
    assert bids and asks and bids[0][0] < asks[0][0]
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    pb, pa = await venue.spot.book("BTCUSDT", 5, category="linear")
    assert pb and pa and (bids[0][0], asks[0][0]) != (pb[0][0], pa[0][0])  # the seeded basis
    with pytest.raises(ValueError):
        await venue.spot.book("BTCUSDT", category="option")


def test_private_rows_of_the_spot_category_are_kept_apart() -> None:
    from titan.venues.bybit_wire import parse_private_message

    row = {"execId": "e1", "orderLinkId": "tn-x", "orderId": "o1", "symbol": "BTCUSDT",
           "side": "Buy", "execQty": "0.01", "execPrice": "60000", "execFee": "0.00001",
           "execTime": "1700000000000", "execType": "Trade"}
    update = parse_private_message({"topic": "execution", "data": [
        {**row, "category": "spot"}, {**row, "execId": "e2", "category": "linear"}, row]})
    assert update is not None
    assert [f.exec_id for f in update.spot_fills] == ["e1"]
    assert update.spot_fills[0].fee_coin == "BTC"  # no feeCurrency: a buy pays in the coin
    assert [f.exec_id for f in update.fills] == ["e2", "e1"]  # no category: the perpetual's
    orders = parse_private_message({"topic": "order", "data": [
        {"orderLinkId": "a", "category": "spot", "orderStatus": "New"},
        {"orderLinkId": "b", "category": "linear", "orderStatus": "New"}]})
    assert orders is not None
    assert [o.client_order_id for o in orders.spot_orders] == ["a"]
    assert [o.client_order_id for o in orders.orders] == ["b"]
