from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import ReasonCode, Severity
from titan.risk.arm import MasterArm
from titan.risk.common import ActionRefused, KillCodeRejected, ReasonRequired
from titan.risk.config import RiskConfig, apply_update
from titan.risk.engine import RiskEngine
from titan.risk.halt import HaltController, HaltState

from .conftest import KILL_CODE, T0, FakeHaltActions, Recorder, Saver, good_market, make_intent

D = Decimal


# -- Master Arm and the restart rule ------------------------------------------------------

@pytest.mark.parametrize(
    ("was_armed", "clean", "connected", "expect"),
    [(True, True, True, True), (True, False, True, False), (True, True, False, False),
     (True, False, False, False), (False, True, True, False)],
)
async def test_arm_restart_rule(bus: EventBus, clock: ManualClock, rec: Recorder,
                                was_armed: bool, clean: bool, connected: bool, expect: bool) -> None:
    arm = MasterArm(bus, clock)
    await arm.arm("go", "op")
    if not was_armed:
        await arm.disarm("stop", "op")
    saved = arm.to_state()
    rec.clear()
    restored = await MasterArm.restore(saved, clean, connected, bus=bus, clock=clock)
    assert restored.armed is expect
    if not expect:
        alerts = [e for e in rec.events if e.alert_severity is Severity.HIGH]
        assert alerts, "a HIGH alert says why"
        text = alerts[0].message
        if was_armed and not clean:
            assert "reconciliation" in text
        if was_armed and not connected:
            assert "not connected" in text


async def test_first_start_is_disarmed_without_a_false_high_alert(
        bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    # A fresh database: never armed, never disarmed. DISARMED, said plainly at LOW; the
    # HIGH "was DISARMED before the restart" would send an operator looking for a cause.
    restored = await MasterArm.restore(None, True, True, bus=bus, clock=clock)
    assert restored.armed is False
    alerts = [e for e in rec.events if e.alert_severity is not None]
    assert [(a.alert_severity, a.message) for a in alerts] == [
        (Severity.LOW, "first start: the Master Arm starts DISARMED; ARM it when ready")]


async def test_arm_needs_reason_and_records_who(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    arm = MasterArm(bus, clock)
    with pytest.raises(ReasonRequired):
        await arm.arm("", "op")
    await arm.arm("morning start", "alice")
    st = arm.to_state()
    assert st == {"state": "ARMED", "actor": "alice", "reason": "morning start", "changedAt": T0.isoformat()}
    assert rec.named("MASTER_ARM_CHANGED")[0].data["armed"] is True


# -- halt controller ----------------------------------------------------------------------

async def test_soft_halt_cancels_entries_only(bus: EventBus, clock: ManualClock,
                                              actions: FakeHaltActions, rec: Recorder) -> None:
    arm = MasterArm(bus, clock)
    await arm.arm("go", "op")
    halt = HaltController(bus, clock, arm, actions)
    res = await halt.set_state("SOFT_HALT", "maintenance", "op")
    assert actions.calls == ["cancel_entry_orders"] and res.ok
    assert arm.armed  # SOFT_HALT does not disarm
    ev = rec.named("HALT_CHANGED")[0]
    assert ev.data == {"from": "OPEN", "to": "SOFT_HALT", "state": "SOFT_HALT",
                       "reason": "maintenance", "actor": "op"}


async def test_hard_halt_disarms_cancels_flattens_pauses(bus: EventBus, clock: ManualClock,
                                                        actions: FakeHaltActions) -> None:
    arm = MasterArm(bus, clock)
    await arm.arm("go", "op")
    halt = HaltController(bus, clock, arm, actions)
    await halt.set_state(HaltState.HARD_HALT, "emergency", "op")
    assert set(actions.calls) == {"pause_strategies", "cancel_all_orders", "flatten_all"}
    assert not arm.armed
    actions.calls.clear()
    await halt.set_state(HaltState.OPEN, "resolved", "op")
    assert actions.calls == [] and not arm.armed  # OPEN does not re-arm


async def test_halt_requires_reason_and_valid_state(bus: EventBus, clock: ManualClock) -> None:
    halt = HaltController(bus, clock, MasterArm(bus, clock), FakeHaltActions())
    with pytest.raises(ReasonRequired):
        await halt.set_state(HaltState.HARD_HALT, "  ", "op")
    with pytest.raises(ValueError):
        await halt.set_state("PAUSED", "x", "op")
    assert halt.state is HaltState.OPEN


async def test_failing_action_keeps_the_halt(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    actions = FakeHaltActions()
    actions.fail = {"cancel_all_orders"}
    halt = HaltController(bus, clock, MasterArm(bus, clock), actions)
    res = await halt.set_state(HaltState.HARD_HALT, "x", "op")
    assert halt.state is HaltState.HARD_HALT
    assert "flatten_all" in actions.calls  # the other actions still ran
    assert not res.ok and "cancel_all_orders" in res.errors
    assert any(e.alert_severity is Severity.CRITICAL and e.name == "ALERT" for e in rec.events)


# -- engine -------------------------------------------------------------------------------

async def ready(engine: RiskEngine, equity: str = "4000") -> RiskEngine:
    await engine.on_equity(D(equity))
    await engine.arm("go", "op")
    return engine


async def test_engine_gate_publishes_rejection(make_engine: Callable[..., RiskEngine], rec: Recorder) -> None:
    engine = make_engine()
    await engine.on_equity(D(4000))
    denial = engine.gate_entry(make_intent(), good_market())
    assert denial is not None and denial.code is ReasonCode.EXECUTION_DISABLED_BY_OPERATOR
    [ev] = rec.named("SIGNAL_REJECTED")
    assert ev.alert_severity is Severity.LOW
    assert ev.data["code"] == "EXECUTION_DISABLED_BY_OPERATOR" and ev.data["symbol"] == "BTCUSDT"
    await engine.arm("go", "op")
    assert engine.gate_entry(make_intent(), good_market()) is None
    assert engine.gate_entry(make_intent(), good_market(market_data_age_ms=6000.0)).code is ReasonCode.STALE_MARKET_DATA  # type: ignore[union-attr]


async def test_engine_phase_limits_apply(make_engine: Callable[..., RiskEngine]) -> None:
    engine = await ready(make_engine(), "10000")  # phase 2: 5x, 1.5%
    d = engine.gate_entry(make_intent(leverage=D(10)), good_market())
    assert d is not None and d.code is ReasonCode.LEVERAGE_LIMIT and "5" in d.message
    assert engine.status()["phase"]["number"] == 2


async def test_arm_refused_in_hard_halt_and_trip(make_engine: Callable[..., RiskEngine]) -> None:
    engine = make_engine()
    await engine.set_halt("HARD_HALT", "x", "op")
    with pytest.raises(ActionRefused):
        await engine.arm("go", "op")
    await engine.set_halt("OPEN", "done", "op")
    assert not engine.arm_ctl.armed
    await engine.trip_breaker("manual", "op")
    with pytest.raises(ActionRefused):
        await engine.arm("go", "op")
    await engine.reset_breaker("checked", "op")
    await engine.arm("go", "op")
    assert engine.arm_ctl.armed


async def test_kill_switch(make_engine: Callable[..., RiskEngine], actions: FakeHaltActions,
                           rec: Recorder) -> None:
    engine = await ready(make_engine())
    with pytest.raises(KillCodeRejected):
        await engine.kill("wrong", "op")
    assert engine.halt.state is HaltState.OPEN and engine.arm_ctl.armed
    report = await engine.kill(KILL_CODE, "op")
    assert report["success"] and report["flat"]
    assert report["haltState"] == "HARD_HALT" and report["masterArm"] == "DISARMED"
    assert {"flatten_all", "cancel_all_orders", "pause_strategies"} <= set(actions.calls)
    assert rec.named("KILL_SWITCH")[-1].data["accepted"] is True
    json.dumps(report)


async def test_kill_reports_what_is_left(make_engine: Callable[..., RiskEngine]) -> None:
    async def not_flat() -> dict[str, Any]:
        return {"positions": [{"symbol": "ETHUSDT", "size": "1"}], "orders": []}

    engine = await ready(make_engine(verify_flat=not_flat))
    report = await engine.kill(KILL_CODE, "op")
    assert not report["success"]
    assert report["remaining"] == {"positions": [{"symbol": "ETHUSDT", "size": "1"}]}

    async def broken() -> dict[str, Any]:
        raise ConnectionError("venue down")

    engine2 = make_engine(verify_flat=broken)
    report2 = await engine2.kill(KILL_CODE, "op")
    assert not report2["success"] and "venue down" in report2["verifyError"]
    with pytest.raises(KillCodeRejected):
        await engine2.kill(None, "op")
    with pytest.raises(ActionRefused):
        await make_engine(kill_code=None).kill("", "op")


async def test_status_shape(make_engine: Callable[..., RiskEngine]) -> None:
    engine = await ready(make_engine())
    await engine.on_trade_closed(D(-20))
    await engine.on_equity(D(3900), D(-80))
    s = engine.status()
    assert s["masterArm"] == "ARMED" and s["haltState"] == "OPEN"
    assert set(s["circuitBreaker"]) >= {"tripped", "reason", "trippedAt", "cooldownUntil"}
    assert s["phase"]["number"] == 1 and s["phase"]["name"] == "Scavenger"
    assert s["phase"]["limits"]["maxLeverage"] == 20
    assert s["equity"] == 3900 and s["dailyPnl"] == -20
    assert s["drawdown"] == pytest.approx(0.025)
    json.dumps(s)


async def test_state_round_trip_and_restart(make_engine: Callable[..., RiskEngine], saver: Saver,
                                            clock: ManualClock) -> None:
    engine = await ready(make_engine())
    await engine.on_trade_closed(D(-5))
    await engine.on_equity(D(3000))  # 25% drawdown: trip
    await engine.set_halt("SOFT_HALT", "look", "op")
    state = engine.to_state()
    assert saver.last == state
    json.loads(json.dumps(state))
    again = RiskEngine.from_state(json.loads(json.dumps(state)), bus=EventBus(), clock=clock)
    assert again.to_state() == state
    assert again.breaker.is_tripped() and again.halt.state is HaltState.SOFT_HALT
    assert again.status()["circuitBreaker"] == engine.status()["circuitBreaker"]


async def test_restart_holds_entries_until_startup_completes(make_engine: Callable[..., RiskEngine],
                                                             clock: ManualClock) -> None:
    engine = await ready(make_engine())
    state = engine.to_state()
    again = RiskEngine.from_state(state, bus=EventBus(), clock=clock)
    d = again.gate_entry(make_intent(), good_market())
    assert d is not None and d.code is ReasonCode.EXECUTION_DISABLED_BY_OPERATOR
    assert await again.complete_startup(True, True)
    d = again.gate_entry(make_intent(), good_market())  # equity is re-read, not restored
    assert d is not None and d.code is ReasonCode.LEVERAGE_LIMIT and "equity" in d.message
    await again.on_equity(D(4000))
    assert again.gate_entry(make_intent(), good_market()) is None
    third = RiskEngine.from_state(state, bus=EventBus(), clock=clock)
    assert not await third.complete_startup(False, True)
    assert third.to_state()["masterArm"]["state"] == "DISARMED"


async def test_failed_save_is_alerted_not_raised(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    async def broken(_: dict[str, Any]) -> None:
        raise OSError("disk full")

    engine = RiskEngine(bus=bus, clock=clock, save=broken, actions=FakeHaltActions())
    await engine.set_halt("HARD_HALT", "x", "op")
    assert engine.halt.state is HaltState.HARD_HALT
    assert any("disk full" in e.message for e in rec.named("ALERT"))


async def test_config_update_takes_effect(make_engine: Callable[..., RiskEngine]) -> None:
    engine = await ready(make_engine())
    assert engine.gate_entry(make_intent(), good_market()) is None
    engine.update_config(apply_update(RiskConfig(), {"whitelist": ["ETHUSDT"]}))
    d = engine.gate_entry(make_intent(), good_market())
    assert d is not None and d.code is ReasonCode.ASSET_DISABLED


async def test_day_roll_resets_daily_loss(make_engine: Callable[..., RiskEngine], clock: ManualClock) -> None:
    engine = await ready(make_engine())
    await engine.on_trade_closed(D(-270))
    await engine.on_equity(D(3730))
    d = engine.gate_entry(make_intent(), good_market())  # 270 + 5 <= 280 still ok
    assert d is None
    d = engine.gate_entry(make_intent(qty=D("0.03")), good_market())  # 270 + 15 > 280
    assert d is not None and d.code is ReasonCode.DAILY_LOSS_LIMIT
    clock.set(T0.replace(hour=0) + timedelta(days=1))
    await engine.tick()
    assert engine.status()["dailyPnl"] == 0
    assert engine.day.start_equity == D(3730)
    assert engine.gate_entry(make_intent(qty=D("0.03")), good_market()) is None


async def test_size_entry_kelly_then_clamp(make_engine: Callable[..., RiskEngine], rec: Recorder) -> None:
    engine = await ready(make_engine(), "1000")
    # confidence 95, stop 1%, target 3%: margin 233.33, ×20 = 4666.67 notional = 0.0933 BTC
    # risk cap: 1000 × 2% / 500 = 0.04 BTC
    d = engine.size_entry(symbol="BTCUSDT", confidence=95, entry=D(50_000), stop=D(49_500),
                          target=D(51_500), leverage=D(20), market=good_market(), qty_step=D("0.001"))
    assert d.requested_qty.quantize(D("0.0001")) == D("0.0933")
    assert d.qty == D("0.040") and d.leverage == 20
    assert rec.named("ORDER_SIZE_REDUCED")
    assert engine.gate_entry(make_intent(qty=d.qty, leverage=d.leverage), good_market()) is None


async def test_fresh_engine_waits_for_startup_reconciliation(bus: EventBus, clock: ManualClock) -> None:
    engine = RiskEngine(bus=bus, clock=clock)
    await engine.on_equity(D(4000))
    with pytest.raises(ActionRefused):
        await engine.arm("too early", "op")
    assert not await engine.complete_startup(True, True)  # was never ARMED
    await engine.arm("go", "op")
    assert engine.gate_entry(make_intent(), good_market()) is None


async def test_staleness_never_looser_than_five_seconds(make_engine: Callable[..., RiskEngine]) -> None:
    engine = await ready(make_engine())
    engine.update_config(apply_update(RiskConfig(), {"maxStalenessMs": 60_000}))
    d = engine.gate_entry(make_intent(), good_market(market_data_age_ms=5_001.0))
    assert d is not None and d.code is ReasonCode.STALE_MARKET_DATA
    engine.update_config(apply_update(RiskConfig(), {"maxStalenessMs": 1_000}))
    d = engine.gate_entry(make_intent(), good_market(market_data_age_ms=1_001.0))
    assert d is not None and d.code is ReasonCode.STALE_MARKET_DATA


async def test_unreadable_state_fails_closed(make_engine: Callable[..., RiskEngine], clock: ManualClock,
                                             bus: EventBus, rec: Recorder) -> None:
    engine = await ready(make_engine())
    state = engine.to_state()
    state["halt"] = {"state": "WHATEVER"}
    state["circuitBreaker"] = "garbage"
    again = RiskEngine.from_state(state, bus=bus, clock=clock)
    assert again.halt.state is HaltState.SOFT_HALT
    assert again.breaker.is_tripped()
    assert not again.arm_ctl.armed
    assert any(e.alert_severity is Severity.CRITICAL and "unreadable" in e.message for e in rec.events)


def _unsafe(state: dict[str, Any]) -> bool:
    return state["masterArm"]["state"] == "ARMED" and (
        state["halt"]["state"] == "HARD_HALT" or state["circuitBreaker"]["tripped"]
    )


async def test_no_saved_state_is_armed_while_halted_or_tripped(
    make_engine: Callable[..., RiskEngine], saver: Saver
) -> None:
    engine = await ready(make_engine())
    await engine.set_halt("HARD_HALT", "x", "op")
    await engine.set_halt("OPEN", "y", "op")
    await engine.arm("again", "op")
    await engine.trip_breaker("z", "op")
    await engine.reset_breaker("ok", "op")
    await engine.arm("again", "op")
    await engine.kill(KILL_CODE, "op")
    assert len(saver.saved) > 5
    assert not any(_unsafe(s) for s in saver.saved)


async def test_inconsistent_saved_state_is_disarmed(make_engine: Callable[..., RiskEngine],
                                                    bus: EventBus, clock: ManualClock) -> None:
    engine = await ready(make_engine())
    state = engine.to_state()
    state["halt"]["state"] = "HARD_HALT"
    again = RiskEngine.from_state(state, bus=bus, clock=clock)
    assert not again.arm_ctl.armed


async def test_arm_racing_a_hard_halt_is_refused(bus: EventBus, clock: ManualClock) -> None:
    import asyncio

    gate = asyncio.Event()

    async def slow_save(_: dict[str, Any]) -> None:
        await gate.wait()

    engine = RiskEngine(bus=bus, clock=clock, actions=FakeHaltActions(), require_startup=False)
    await engine.trip_breaker("x", "op")
    clock.advance(5 * 3600)  # cooldown over: arm() will clear it (and save) first
    engine._save = slow_save
    arming = asyncio.create_task(engine.arm("go", "op"))
    await asyncio.sleep(0)
    engine._save = None
    await engine.set_halt("HARD_HALT", "meanwhile", "op")
    gate.set()
    with pytest.raises(ActionRefused):
        await arming
    assert not engine.arm_ctl.armed
