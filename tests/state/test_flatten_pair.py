"""Emergency actions close both legs of a spot/perp pair (SPEC §8, §16), through the
real execution engine against the in-process simulator: flatten and the kill switch sell
the coins Titan bought (not the operator's own) and close the perpetual, verified against
the venue; cancel-all covers spot orders."""

from __future__ import annotations

from decimal import Decimal

from tests.helpers import KILL_CODE, auth_header
from tests.state.conftest import Starter
from tests.state.oob_kit import KEY, eventually
from titan.core import Titan
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.sim import Simulator

D = Decimal


def spot_buy(n: int, qty: str, order_type: OrderType = OrderType.MARKET,
             price: Decimal | None = None) -> OrderIntent:
    return OrderIntent(intent_id=f"sentinel:ETHUSDT:{n}", symbol="ETHUSDT", side=Side.BUY,
                       qty=D(qty), order_type=order_type, price=price, strategy="sentinel")


async def open_pair(sim: Simulator, titan: Titan) -> Decimal:
    """Long 0.1 ETH spot (Titan's order) against a 0.1 ETH perp short."""
    leg = titan.spot_leg
    assert leg is not None
    assert (await leg.executor.submit(spot_buy(1, "0.1"), "pair entry")).accepted
    sim.open_position_by_hand(KEY, "ETHUSDT", "Sell", D("0.1"))
    await eventually(lambda: leg.book.held("ETH") > 0, "the spot fill recorded")
    await eventually(lambda: "ETHUSDT" in titan.ledger.positions, "the perp leg known")
    return leg.book.held("ETH")


def coins(sim: Simulator) -> Decimal:
    return sim.engine.account(KEY).coins.get("ETH", D(0))


async def test_flatten_with_an_open_pair_sells_titans_coins_and_closes_the_perp(
        sim: Simulator, start_titan: Starter) -> None:
    sim.set_price("ETHUSDT", "3000")
    sim.spot.place(KEY, symbol="ETHUSDT", side="Buy", order_type="Market", qty=D("0.05"),
                   price=None, market_unit="baseCoin", tif="IOC", link_id="", now_ms=0)
    own = coins(sim)  # the operator's coins, there before Titan started
    titan, client = await start_titan()
    assert titan.spot_leg is not None
    held = await open_pair(sim, titan)
    resp = await client.get("/api/strategies/sentinel", headers=auth_header())
    assert resp.status == 200, await resp.text()
    view = await resp.json()
    assert view["trading"] is False and view["reason"] and view["pairs"] == []
    assert view["spot"]["holdings"] == [{"coin": "ETH", "qty": str(held),
                                         "cost": view["spot"]["holdings"][0]["cost"],
                                         "strategy": "sentinel"}]
    assert coins(sim) == own + held
    resting = spot_buy(2, "0.01", OrderType.LIMIT, D(2000))
    assert (await titan.spot_leg.executor.submit(resting)).accepted
    before = await titan.execution.verify_flat()
    assert before["spot_holdings"] == [{"coin": "ETH", "qty": str(held.quantize(D("0.00001"),
                                                                                 "ROUND_DOWN"))}]
    assert [o["clientOrderId"] for o in before["spot_orders"]] == [resting.client_order_id]

    result = await titan.execution.flatten_all()
    assert result["success"] is True, result
    assert result["spot"]["success"] is True and result["spot"]["coins_sold"] == 1
    assert resting.client_order_id in result["spot"]["cancelled"]
    # at the venue: no perp position, no spot order, only the operator's coins (and dust
    # below one lot step of Titan's)
    assert all(p.size == 0 for p in sim.engine.account(KEY).positions.values())
    assert sim.engine.account(KEY).open_orders(category="spot") == []
    assert own <= coins(sim) < own + D("0.00001")
    assert titan.spot_leg.book.held("ETH") < D("0.00001")
    after = await titan.execution.verify_flat()
    assert after["positions"] == [] and after["spot_holdings"] == [] and after["spot_orders"] == []
    sold = await titan.db.fetch_all("SELECT side, strategy, status FROM spot_orders"
                                    " WHERE strategy='flatten'")
    assert sold and all(r == {"side": "Sell", "strategy": "flatten", "status": "FILLED"}
                        for r in sold)


async def test_the_kill_switch_and_cancel_all_cover_the_spot_leg(
        sim: Simulator, start_titan: Starter) -> None:
    sim.set_price("ETHUSDT", "3000")
    titan, _ = await start_titan()
    assert titan.spot_leg is not None
    resting = spot_buy(5, "0.01", OrderType.LIMIT, D(2000))
    assert (await titan.spot_leg.executor.submit(resting)).accepted
    cancelled = await titan.execution.cancel_all_orders()
    assert cancelled["spot"]["cancelled"] == [resting.client_order_id]
    assert sim.engine.account(KEY).open_orders(category="spot") == []

    await open_pair(sim, titan)
    report = await titan.risk.kill(KILL_CODE, "test", "pair test")
    assert report["flat"] is True, report
    assert coins(sim) < D("0.00001")
    assert all(p.size == 0 for p in sim.engine.account(KEY).positions.values())


async def test_flatten_sells_a_buy_the_stream_has_not_reported(
        sim: Simulator, start_titan: Starter) -> None:
    sim.set_price("ETHUSDT", "3000")
    titan, _ = await start_titan()
    assert titan.spot_leg is not None
    sim.silence_streams("bybit_private")  # Titan hears nothing of the fill
    assert (await titan.spot_leg.executor.submit(spot_buy(7, "0.05"))).accepted
    assert titan.spot_leg.book.held("ETH") == 0 and coins(sim) > 0
    result = await titan.execution.flatten_all()
    assert result["success"] is True and result["spot"]["coins_sold"] == 1, result
    assert coins(sim) < D("0.00001")
