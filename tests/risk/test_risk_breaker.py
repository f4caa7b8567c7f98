from __future__ import annotations

from decimal import Decimal

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import Severity
from titan.risk.arm import MasterArm
from titan.risk.breaker import (
    BreakerRule,
    CircuitBreaker,
    ConsecutiveLossRule,
    DailyDrawdownRule,
    Finding,
    VolatilityRule,
)
from titan.risk.common import ReasonRequired
from titan.risk.config import RiskConfig, apply_update

from .conftest import T0, Recorder

D = Decimal
MS0 = int(T0.timestamp() * 1000)


async def armed(bus: EventBus, clock: ManualClock) -> MasterArm:
    arm = MasterArm(bus, clock)
    await arm.arm("start", "op")
    return arm


async def test_daily_drawdown_trips_and_disarms(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    assert not await br.on_equity(D(1000), D(940), D("0.07"))  # 6%: warning only
    [warn] = rec.named("RISK_WARNING")
    assert warn.alert_severity is Severity.HIGH and "6.00%" in warn.message
    assert arm.armed
    assert await br.on_equity(D(1000), D(929), D("0.07"))  # 7.1%
    assert br.is_tripped() and not arm.armed
    [trip] = rec.named("CIRCUIT_BREAKER")
    assert trip.alert_severity is Severity.CRITICAL
    assert trip.data["rule"] == "DAILY_DRAWDOWN" and "7.10%" in trip.message
    assert len(rec.named("RISK_WARNING")) == 1  # once per day
    s = br.status()
    assert s["tripped"] and s["reason"] and s["trippedAt"] == T0.isoformat()
    assert s["cooldownUntil"] == (T0.replace(hour=16)).isoformat()


async def test_drawdown_exactly_at_limit_does_not_trip(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    assert not await br.on_equity(D(1000), D(930), D("0.07"))
    assert not br.is_tripped()


async def test_drawdown_uses_effective_limit(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    assert await br.on_equity(D(100_000), D(96_900), D("0.03"))  # phase 3: 3%


async def test_consecutive_losses(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    assert not await br.on_trade_closed(D(-1))
    assert not await br.on_trade_closed(D(-1))
    assert not await br.on_trade_closed(D(0))  # break-even is not a loss: run ends
    assert not await br.on_trade_closed(D(-1))
    assert not await br.on_trade_closed(D(-1))
    assert await br.on_trade_closed(D("-0.01"))
    assert not arm.armed and br.is_tripped()
    [warn] = rec.named("RISK_WARNING")
    assert warn.alert_severity is Severity.MEDIUM and "3 consecutive" in warn.message
    assert rec.named("CIRCUIT_BREAKER")[0].data["rule"] == "CONSECUTIVE_LOSSES"


async def test_consecutive_loss_limit_configurable(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), apply_update(RiskConfig(), {"consecutiveLossLimit": 1}))
    assert await br.on_trade_closed(D(-5))


async def test_volatility_rule(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    assert not await br.on_price("BTCUSDT", 100.0, MS0)
    assert not await br.on_price("BTCUSDT", 104.9, MS0 + 30_000)
    assert not await br.on_price("DOGEUSDT", 200.0, MS0 + 30_000)  # not whitelisted
    assert not await br.on_price("DOGEUSDT", 100.0, MS0 + 31_000)
    assert await br.on_price("BTCUSDT", 105.1, MS0 + 59_000)  # +5.1% vs 100 within 60 s
    assert not arm.armed
    ev = rec.named("CIRCUIT_BREAKER")[0]
    assert ev.data["rule"] == "EXTREME_VOLATILITY" and ev.data["symbol"] == "BTCUSDT"


def test_volatility_window_expires_and_falls() -> None:
    rule = VolatilityRule(5.0, 60.0, ["ETHUSDT"])
    assert rule.on_price("ETHUSDT", 100.0, 0) is None
    assert rule.on_price("ETHUSDT", 105.5, 61_000) is None  # the 100 left the window
    assert rule.on_price("ETHUSDT", 103.0, 70_000) is None
    found = rule.on_price("ETHUSDT", 100.0, 80_000)  # -5.2% from 105.5 within 19 s
    assert found is not None and found.trip and found.data["movePct"] > 5
    rule2 = VolatilityRule(5.0, 60.0, ["ETHUSDT"])
    for i in range(1000):  # a slow drift never trips
        assert rule2.on_price("ETHUSDT", 100.0 + i * 0.01, i * 1000) is None


def test_volatility_deques_stay_small() -> None:
    rule = VolatilityRule(5.0, 5.0, ["BTCUSDT"])
    for i in range(100_000):
        rule.on_price("BTCUSDT", 100.0 + (i % 7) * 0.01, i * 10)
    w = rule._windows["BTCUSDT"]
    assert len(w.mins) <= 501 and len(w.maxs) <= 501


async def test_cooldown_clears_itself_but_stays_disarmed(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    await br.trip("test", "MANUAL")
    clock.advance(4 * 3600 - 1)
    assert br.is_tripped()
    assert not await br.tick()
    clock.advance(1)
    assert not br.is_tripped()  # pure check already sees it
    assert await br.tick()
    assert not br.tripped
    ev = rec.named("CIRCUIT_BREAKER_RESET")[0]
    assert ev.data["auto"] is True
    assert not arm.armed
    assert br.status() == {"tripped": False, "reason": None, "rule": None, "trippedAt": None,
                           "cooldownUntil": None}


async def test_cooldown_hours_setting(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), apply_update(RiskConfig(), {"cooldownHours": 0.5}))
    await br.trip("x")
    clock.advance(1800)
    assert not br.is_tripped()


async def test_reset_requires_reason(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    await br.trip("x")
    for bad in ("", "   "):
        with pytest.raises(ReasonRequired):
            await br.reset(bad, "op")
    assert br.is_tripped()
    assert await br.reset("checked the market", "alice")
    assert not br.is_tripped() and not arm.armed
    ev = rec.named("CIRCUIT_BREAKER_RESET")[0]
    assert ev.data["actor"] == "alice" and ev.data["reason"] == "checked the market"
    assert ev.data["auto"] is False


async def test_trip_while_tripped_is_a_noop(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    assert await br.trip("a")
    assert not await br.trip("b")
    assert br.reason == "a" and len(rec.named("CIRCUIT_BREAKER")) == 1


async def test_drawdown_trips_once_per_day(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    assert await br.on_equity(D(1000), D(900), D("0.07"))
    await br.reset("ok", "op")
    assert not await br.on_equity(D(1000), D(890), D("0.07"))
    clock.advance(24 * 3600)
    assert await br.on_equity(D(1000), D(900), D("0.07"))


async def test_state_round_trip(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    await br.on_trade_closed(D(-1))
    await br.on_equity(D(1000), D(900), D("0.07"))
    st = br.to_state()
    br2 = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig(), state=st)
    assert br2.to_state() == st
    assert br2.is_tripped()


class AlwaysTrips(BreakerRule):
    name = "ALWAYS"

    def on_trade_closed(self, now, net_pnl):  # type: ignore[no-untyped-def]
        return (Finding(self.name, True, "always", Severity.CRITICAL),)


async def test_a_new_trigger_is_one_class(bus: EventBus, clock: ManualClock) -> None:
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig(),
                        rules=[DailyDrawdownRule(), ConsecutiveLossRule(), AlwaysTrips()])
    assert await br.on_trade_closed(D(5))
    assert br.rule == "ALWAYS"


async def test_observe_price_is_synchronous_and_act_on_price_trips(
        bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    # The market-data path: every price is observed without a task; only a finding
    # needs the async half, and it trips exactly as on_price would.
    arm = await armed(bus, clock)
    br = CircuitBreaker(bus, clock, arm, RiskConfig())
    assert br.observe_price("BTCUSDT", 100.0, MS0) is None
    assert br.observe_price("BTCUSDT", 104.9, MS0 + 30_000) is None
    found = br.observe_price("BTCUSDT", 105.1, MS0 + 59_000)
    assert found is not None and found.trip and found.rule == "EXTREME_VOLATILITY"
    assert arm.armed and not br.is_tripped()  # nothing happens until acted on
    assert await br.act_on_price(found)
    assert br.is_tripped() and not arm.armed
    assert rec.named("CIRCUIT_BREAKER")[0].data["symbol"] == "BTCUSDT"
    assert not await br.act_on_price(found)  # already tripped: once
