"""Sentinel trading on the simulator (issue 20): its entry test passing opens a pair
through the both-or-neither pair path (the perp short without a stop, gate check 8h),
sized by the regime; the simulator's 8-hourly funding settlement is booked to the pair
from the ticker; the basis converging unwinds both legs — the book flat and no coin of
Titan's left but the dust below one spot lot."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

from tests.state.conftest import Starter
from tests.state.oob_kit import eventually
from tests.state.test_pair_entry import STEP, coins, short, started
from titan.sim import Simulator
from titan.strategies.sentinel.basis import MINUTE_MS, BasisSeries
from titan.strategies.sentinel.strategy import Sentinel

D = Decimal
SYM = "ETHUSDT"
WINDOW = 20


def history(sentinel: Sentinel, now_ms: int, level: float) -> None:
    """A full window of one-minute samples before now around `level` (a fixture: the
    z-score of the live sample that follows is judged against it)."""
    series = sentinel.series[SYM] = BasisSeries(WINDOW)
    for k in range(WINDOW - 1, 0, -1):
        series.add(now_ms - k * MINUTE_MS, level + (0.0001 if k % 2 else -0.0001))


async def test_sentinel_opens_a_pair_books_funding_and_unwinds_flat(
        sim: Simulator, start_titan: Starter) -> None:
    titan, events = await started(sim, start_titan)
    assert titan.strategies is not None and titan.spot_leg is not None
    host = titan.strategies
    phase = titan.risk.phases.current.number
    host.settings["sentinel"] = dataclasses.replace(host.settings["sentinel"], phases=(phase,))
    await titan.risk.arm("test", "test")
    sentinel = host.get("sentinel")
    assert isinstance(sentinel, Sentinel) and sentinel.pairs is not None
    sentinel.on_params({**sentinel.params.model_dump(by_alias=True), "symbols": [SYM],
                        "zWindow": WINDOW})
    # The funding schedule arrives with the perpetual's ticker.
    await eventually(lambda: sentinel.funding.get(SYM), "the ticker's funding")
    # Spot 1 % under the perp: basis ≈ +1 %, against a flat history at 0: z ≫ 2, and the
    # carry beats the 0.4 % round trip.
    sim.spot._factor[SYM] = D("0.99")
    sim.set_price(SYM, "3000")
    now = titan.clock.time_ms()
    # CRASH: the test passes, the size is nothing, nothing is sent.
    sentinel._regime = lambda symbol: "CRASH"
    history(sentinel, now, 0.0)
    await sentinel.sample()
    assert sentinel.last[SYM]["decision"] == "ENTER" and not sentinel.open
    assert coins(sim) == 0 and short(sim) == 0
    # VOLATILE_BREAKOUT: half of pairEquityPct of equity.
    sentinel._regime = lambda symbol: "VOLATILE_BREAKOUT"
    history(sentinel, now, 0.0)
    await sentinel.sample()
    pair = sentinel.open[SYM]
    equity = titan.risk.equity
    assert equity is not None
    half = equity * D("0.2") * D("0.5") / D(sentinel.last[SYM]["spotPrice"])
    assert abs(pair.perp_qty - half) <= D("0.01")  # the perp's lot
    assert short(sim) == pair.perp_qty and coins(sim) == pair.spot_qty  # neutral, no stop
    assert pair.spot_qty - pair.perp_qty < 2 * STEP
    [entered] = [e for e in events if e.name == "SENTINEL_PAIR_ENTERED"]
    assert entered.pair_id == pair.pair_id
    # The 8-hourly settlement: the pair books perp qty × price × the announced rate.
    rate = pair.rate
    assert rate is not None and rate == sim.funding.current_rate(SYM)
    sim.settle_funding()
    await eventually(lambda: pair.settlements, "the settlement booked to the pair")
    [booked] = [e for e in events if e.name == "SENTINEL_FUNDING"]
    paid = D(booked.payment)
    assert paid == pair.funding and paid != 0
    assert abs(paid - pair.perp_qty * D(3000) * rate) <= abs(paid) * D("0.01")
    assert pair.streak.against == (1 if rate < 0 else 0)
    view = sentinel.status()["pairs"][0]
    assert view["carryEarned"] == str(paid) and view["settlements"] == 1
    assert view["legs"] == {"spot": str(pair.spot_qty), "perp": str(pair.perp_qty)}
    # The basis converges (spot back at the perp): z ≤ 0 against a history at +1 %, the
    # pair in profit: both legs unwound.
    sim.spot._factor[SYM] = D(1)
    sim.set_price(SYM, "3000")
    history(sentinel, titan.clock.time_ms(), 0.01)
    await sentinel.sample()
    assert not sentinel.open
    [closed] = sentinel.status()["closed"]
    assert closed["why"] == "CONVERGED" and closed["complete"] is True and D(closed["pnl"]) > 0
    [unwound] = [e for e in events if e.name == "SENTINEL_PAIR_UNWOUND"]
    assert unwound.why == "CONVERGED" and D(unwound.perp_qty) == pair.perp_qty
    assert unwound.funding == str(paid)
    # Flat: no short, and of Titan's coins only the dust below one spot lot (the buy
    # fee's remainder the venue cannot sell).
    assert short(sim) == 0 and coins(sim) < STEP
    assert titan.spot_leg.book.held("ETH") < STEP
