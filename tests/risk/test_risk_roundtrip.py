from __future__ import annotations

import json
from decimal import Decimal

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.risk.arm import MasterArm
from titan.risk.breaker import CircuitBreaker
from titan.risk.config import RiskConfig
from titan.risk.daily import DayTracker
from titan.risk.halt import HaltController, HaltState
from titan.risk.phases import PhaseManager

from .conftest import FakeHaltActions


def _json(d: dict) -> dict:
    return json.loads(json.dumps(d))


async def test_each_component_round_trips(bus: EventBus, clock: ManualClock) -> None:
    arm = MasterArm(bus, clock)
    await arm.arm("go", "alice")
    halt = HaltController(bus, clock, arm, FakeHaltActions())
    await halt.set_state(HaltState.SOFT_HALT, "look", "bob")
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    await br.on_trade_closed(Decimal(-3))
    await br.on_price("BTCUSDT", 100.0, 1)
    await br.trip("manual", "MANUAL", {"x": 1})
    pm = PhaseManager(bus, clock)
    await pm.on_equity(Decimal(7000))
    day = DayTracker(bus, clock)
    await day.on_equity(Decimal("7000.5"))
    await day.on_trade_closed(Decimal("-12.34"))
    clock.advance(10)

    arm2 = MasterArm(bus, clock, _json(arm.to_state()))
    assert arm2.to_state() == arm.to_state()
    assert HaltController(bus, clock, arm2, None, _json(halt.to_state())).to_state() == halt.to_state()
    br2 = CircuitBreaker(bus, clock, arm2, RiskConfig(), state=_json(br.to_state()))
    assert br2.to_state() == br.to_state()
    assert br2.is_tripped() and br2.cooldown_until == br.cooldown_until
    assert PhaseManager(bus, clock, _json(pm.to_state())).current.number == 2
    day2 = DayTracker(bus, clock, _json(day.to_state()))
    assert day2.to_state() == day.to_state()
    assert day2.realised_today() == Decimal("-12.34")
    assert day2.drawdown(Decimal("6300.45")) == (Decimal("7000.5") - Decimal("6300.45")) / Decimal("7000.5")
