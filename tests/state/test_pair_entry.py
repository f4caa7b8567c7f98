"""A Sentinel pair entered as one position with two legs, through the real gate, the
execution engine and the spot leg against the in-process simulator: both legs, or the
first reversed at once when the second is refused (by the gate, by the venue through the
simulator's faults), the event saying so."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from tests.state.conftest import Starter
from tests.state.oob_kit import KEY
from titan.core import Titan
from titan.execution.pair import PairOutcome
from titan.sim import Simulator
from titan.strategies.sentinel.strategy import Sentinel

D = Decimal
STEP = D("0.00001")  # ETHUSDT spot lot in the simulator


def coins(sim: Simulator) -> Decimal:
    return sim.engine.account(KEY).coins.get("ETH", D(0))


def short(sim: Simulator) -> Decimal:
    p = sim.engine.account(KEY).positions.get("ETHUSDT")
    return -p.size if p is not None else D(0)


async def started(sim: Simulator, start_titan: Starter) -> tuple[Titan, list[Any]]:
    sim.set_price("ETHUSDT", "3000")
    titan, _ = await start_titan()
    events: list[Any] = []
    titan.bus.subscribe(events.append)
    titan.risk.set_strategy_phases({"sentinel": (1, 2, 3)})  # only Sentinel may enter
    return titan, events


def failed(events: list[Any]) -> list[Any]:
    return [e for e in events if e.name == "SENTINEL_LEG_FAILED"]


async def test_a_pair_opens_with_both_legs_neutral(sim: Simulator, start_titan: Starter) -> None:
    titan, events = await started(sim, start_titan)
    await titan.risk.arm("test", "test")
    assert titan.spot_leg is not None
    # No stop on the short: the gate admits a hedged short against the coins held (8h).
    res = await titan.spot_leg.pairs.enter("sentinel:ETHUSDT:1", "ETHUSDT", D("0.01"), "z 2.4")
    assert res.outcome is PairOutcome.ENTERED, res
    assert res.perp_qty == D("0.01") and D("0.01") <= res.spot_qty < D("0.01") + 2 * STEP
    assert short(sim) == D("0.01") and coins(sim) == res.spot_qty  # neutral at the venue
    assert titan.spot_leg.book.held("ETH") == res.spot_qty
    [entered] = [e for e in events if e.name == "SENTINEL_PAIR_ENTERED"]
    assert entered.perp_qty == "0.01" and not failed(events)


async def test_a_refused_second_leg_reverses_the_first(sim: Simulator,
                                                       start_titan: Starter) -> None:
    titan, events = await started(sim, start_titan)
    assert titan.spot_leg is not None
    pairs = titan.spot_leg.pairs
    # Disarmed: the gate refuses the perp short after the spot buy filled.
    res = await pairs.enter("sentinel:ETHUSDT:2", "ETHUSDT", D("0.02"), "z 2.1", perp_stop=D(4500))
    assert res.outcome is PairOutcome.PERP_FAILED and res.reversal == "REVERSED", res
    assert coins(sim) < STEP and short(sim) == 0  # flat: no naked spot
    [gate] = failed(events)
    assert (gate.leg, gate.reversal, gate.why) == ("perp", "REVERSED",
                                                   "EXECUTION_DISABLED_BY_OPERATOR")
    # Armed, but the venue fails the short (its leverage call answers 503): reversed too.
    await titan.risk.arm("test", "test")
    # The short's leverage call is the one the fault fails: forget any leverage the
    # Scavenger set on ETHUSDT while arming its traps, so the call is certainly made.
    venue: Any = titan.venue
    venue._leverage.pop("ETHUSDT", None)
    sim.faults.update(http_5xx_next=1, path_prefix="/v5/position/set-leverage")
    res = await pairs.enter("sentinel:ETHUSDT:3", "ETHUSDT", D("0.02"), "z 2.2", perp_stop=D(4500))
    assert res.outcome is PairOutcome.PERP_FAILED and res.reversal == "REVERSED", res
    # what cannot be sold is below one lot per reversal (the buy fee's remainder)
    assert coins(sim) < 2 * STEP and short(sim) == 0
    venue = failed(events)[-1]
    assert venue.pair_id == "sentinel:ETHUSDT:3" and venue.reversal == "REVERSED"
    assert venue.reversed_qty is not None and D(venue.reversed_qty) > 0
    rows = await titan.db.fetch_all("SELECT intent_id, side, status FROM spot_orders"
                                    " ORDER BY created_at")
    assert [(r["intent_id"], r["side"]) for r in rows] == [
        ("sentinel:ETHUSDT:2:spot", "Buy"), ("sentinel:ETHUSDT:2:reverse", "Sell"),
        ("sentinel:ETHUSDT:3:spot", "Buy"), ("sentinel:ETHUSDT:3:reverse", "Sell")]
    # A coin with no spot market: a named outcome, nothing sent.
    res = await pairs.enter("sentinel:NOPEUSDT:4", "NOPEUSDT", D("1"), "bad symbol")
    assert res.outcome is PairOutcome.SPOT_FAILED and res.reversal == "NOT_NEEDED"
    assert "UNKNOWN_SPOT_SYMBOL" in res.why or "no spot market" in res.why
    assert failed(events)[-1].leg == "spot"


async def test_sentinel_samples_the_depth_weighted_basis_each_minute(
        sim: Simulator, start_titan: Starter) -> None:
    titan, events = await started(sim, start_titan)
    assert titan.strategies is not None
    sentinel = titan.strategies.get("sentinel")
    assert isinstance(sentinel, Sentinel) and sentinel.books is not None
    sentinel.on_params({**sentinel.params.model_dump(by_alias=True),
                        "symbols": ["ETHUSDT", "NOPEUSDT"]})
    events.clear()  # its timer's sample at start may have run already: the minute's one
    await sentinel.sample()
    # The start-up sample may still be finishing: the newest ETHUSDT sample is this one
    # (one sample a minute: the window holds one either way).
    eth = [e for e in events if e.name == "SENTINEL_BASIS" and e.symbol == "ETHUSDT"][-1]
    assert eth.symbol == "ETHUSDT" and eth.samples == 1 and eth.z is None
    assert eth.decision == "WARMING_UP"  # one sample of the 60 the z-score needs
    # 20 % of the paper equity at ~3000: the size the depth is walked for
    assert D(eth.qty) > 0 and eth.covered is True
    for px in (eth.spot_price, eth.perp_price):
        assert abs(D(px) / titan.market.prices["ETHUSDT"] - 1) < D("0.01")
    assert abs(eth.basis - float((D(eth.perp_price) - D(eth.spot_price)) / D(eth.spot_price))) \
        < 1e-9
    status = sentinel.status()
    assert status["basis"]["NOPEUSDT"]["decision"] == "BOOK_UNAVAILABLE"  # a named skip
    assert status["trading"] is False
