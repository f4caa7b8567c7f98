"""What the risk rules say, exactly: messages, event payloads, status shapes (issue 25).

The operator reads these (SPEC: "every decision says why"), the console and the API
serve them, and the journal keeps them; a mutation run found most of them unpinned. So
each test here compares a whole message, event or dict, not a fragment of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import OrderType, ReasonCode, Severity
from titan.risk.arm import ArmState, MasterArm
from titan.risk.breaker import (
    BreakerRule,
    CircuitBreaker,
    ConsecutiveLossRule,
    DailyDrawdownRule,
    Finding,
    VolatilityRule,
)
from titan.risk.common import ReasonRequired
from titan.risk.config import RiskConfig
from titan.risk.gate import check
from titan.risk.phases import PHASES, PhaseManager, effective_limits, phase_spec
from titan.risk.sizing import clamp_to_limits, kelly_fraction, kelly_margin, round_down

from .conftest import Recorder, Saver, make_ctx, make_intent

D = Decimal
T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

# ---- gate ---------------------------------------------------------------------------


@pytest.mark.parametrize(("ctx_kw", "intent_kw", "code", "message"), [
    ({"armed": False}, {}, ReasonCode.EXECUTION_DISABLED_BY_OPERATOR, "Master Arm is DISARMED"),
    ({"armed": False, "disarm_reason": "restart"}, {}, ReasonCode.EXECUTION_DISABLED_BY_OPERATOR,
     "Master Arm is DISARMED (restart)"),
    ({"breaker_tripped": True}, {}, ReasonCode.CIRCUIT_BREAKER_TRIPPED,
     "circuit breaker is tripped: new entries are denied until it clears and the operator re-arms"),
    ({"venue_connected": False}, {}, ReasonCode.VENUE_DISCONNECTED,
     "execution venue is disconnected"),
    ({"market_data_age_ms": None}, {}, ReasonCode.STALE_MARKET_DATA,
     "no market data for BTCUSDT (max 5000 ms)"),
    ({"market_data_age_ms": 6000.0}, {}, ReasonCode.STALE_MARKET_DATA,
     "market data is 6000 ms old for BTCUSDT (max 5000 ms)"),
    ({"account_notional": D(79_600)}, {}, ReasonCode.LEVERAGE_LIMIT,
     "account exposure 80100.00 would exceed equity 4000.00 x 20.0 = 80000.00"),
    ({}, {"stop_loss": None}, ReasonCode.RISK_PER_TRADE_LIMIT,
     "an entry needs a stop loss: its risk is unbounded"),
    ({"position_notional": D(9_600)}, {}, ReasonCode.POSITION_LIMIT,
     "BTCUSDT notional 10100.00 would exceed maxPositionNotional 10000.00"),
    ({"rate_budget_available": False}, {}, ReasonCode.RATE_LIMITED,
     "the venue's order rate budget is used up; retry later"),
])
def test_gate_denial_messages(ctx_kw: dict[str, Any], intent_kw: dict[str, Any],
                              code: ReasonCode, message: str) -> None:
    denial = check(make_intent(**intent_kw), make_ctx(**ctx_kw))
    assert denial is not None
    assert (denial.code, denial.message) == (code, message)


def test_a_market_order_is_valued_at_the_reference_price() -> None:
    assert check(make_intent(order_type=OrderType.MARKET, price=None), make_ctx()) is None
    denial = check(make_intent(order_type=OrderType.MARKET, price=None, qty=D(2)), make_ctx())
    assert denial is not None and denial.message.startswith("account exposure 100000.00")


def test_gate_equity_of_zero_is_refused_as_unknown() -> None:
    denial = check(make_intent(), make_ctx(equity=D(0)))
    assert denial is not None
    assert (denial.code, denial.message) == (ReasonCode.LEVERAGE_LIMIT,
                                             "equity is unknown or not positive (0)")


# ---- phases -------------------------------------------------------------------------


def test_phase_and_limit_shapes() -> None:
    assert PHASES[1].as_dict() == {
        "number": 2, "name": "Hunter", "lowerBound": 5000.0,
        "limits": {"maxRiskPerTrade": 0.015, "maxLeverage": 5.0, "maxDailyDrawdown": 0.05},
        "strategies": ["scavenger"],
    }
    limits = effective_limits(RiskConfig(), PHASES[1])
    assert limits.phase == 2
    assert limits.as_dict() == {
        "maxRiskPerTrade": 0.015, "maxLeverage": 5.0, "maxDailyDrawdown": 0.05,
        "maxPositionNotional": 10000.0, "maxOpenOrdersPerSymbol": 2,
    }
    with pytest.raises(ValueError, match=r"^no phase 4$"):
        phase_spec(4)


async def test_phase_events_set_rise_and_drop() -> None:
    bus, clock = EventBus(), ManualClock(T0)
    rec, saver = Recorder(bus), Saver()
    pm = PhaseManager(bus, clock, on_change=saver)
    pm.load_state({"phase": None})
    assert not pm.known
    await pm.on_equity(D(4000))
    await pm.on_equity(D(5000))
    await pm.on_equity(D(4000))
    assert [e.as_dict() for e in rec.named("PHASE_CHANGED")] == [
        {"event": "PHASE_CHANGED", "ts": T0.isoformat(), "severity": None,
         "message": "phase set to 1 (Scavenger) at equity 4000.00",
         "data": {"from": None, "to": 1, "name": "Scavenger", "equity": "4000", "drop": False,
                  "limits": PHASES[0].as_dict()["limits"]}},
        {"event": "PHASE_CHANGED", "ts": T0.isoformat(), "severity": None,
         "message": "phase rose to 2 (Hunter) from 1 (Scavenger) at equity 5000.00",
         "data": {"from": 1, "to": 2, "name": "Hunter", "equity": "5000", "drop": False,
                  "limits": PHASES[1].as_dict()["limits"]}},
        {"event": "PHASE_CHANGED", "ts": T0.isoformat(), "severity": "HIGH",
         "message": "phase dropped to 1 (Scavenger) from 2 (Hunter) at equity 4000.00",
         "data": {"from": 2, "to": 1, "name": "Scavenger", "equity": "4000", "drop": True,
                  "limits": PHASES[0].as_dict()["limits"]}},
    ]
    assert saver.saved == [{"phase": 1}, {"phase": 2}, {"phase": 1}]


async def _failing_save(state: dict[str, Any]) -> None:
    raise OSError("disk full")


def _alerts(rec: Recorder) -> list[dict[str, Any]]:
    return [e.as_dict() for e in rec.events if e.name == "ALERT"]


async def test_a_failed_phase_save_is_a_critical_alert_naming_the_phase() -> None:
    bus, clock = EventBus(), ManualClock(T0)
    rec = Recorder(bus)
    await PhaseManager(bus, clock, on_change=_failing_save).on_equity(D(4000))
    assert _alerts(rec) == [{
        "event": "ALERT", "ts": T0.isoformat(), "severity": "CRITICAL",
        "message": "phase state could not be saved: disk full",
        "data": {"component": "phase", "error": "disk full"}}]


# ---- sizing -------------------------------------------------------------------------


def test_kelly_and_round_down_refusals_say_why() -> None:
    with pytest.raises(ValueError, match=r"^stop and target distances must be positive$"):
        kelly_fraction(90, D("0.01"), D(0))
    with pytest.raises(ValueError, match=r"^qty step must be positive$"):
        round_down(D(1), D(0))
    # Equity of 1 is tiny, not absent: the margin is still 25 % of it.
    assert kelly_margin(D(1), 100, D("0.01"), D("0.03")) == D("0.25")


def test_size_decision_shape() -> None:
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                        leverage=D(25), ctx=make_ctx(), qty_step=D("0.001"))
    assert d.as_dict() == {"qty": "0.160", "leverage": "20.0", "requestedQty": "1",
                           "requestedLeverage": "25",
                           "limitsHit": ["LEVERAGE_LIMIT", "RISK_PER_TRADE_LIMIT"]}


def test_sizing_bounds_are_inclusive() -> None:
    ctx = make_ctx()
    lev = ctx.limits.max_leverage
    # Exactly the risk budget (4000 x 2 % / 500 = 0.16), exactly the max leverage and
    # exactly the minimum quantity all pass untouched.
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.16"), entry=D(50_000), stop=D(49_500),
                        leverage=lev, ctx=ctx, qty_step=D("0.001"), min_qty=D("0.16"))
    assert (d.qty, d.leverage, d.limits_hit) == (D("0.160"), lev, ())
    assert not d.reduced


def test_sizing_names_the_position_limit() -> None:
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.1"), entry=D(50_000), stop=D(49_950),
                        leverage=D(10), ctx=make_ctx(position_notional=D(7_500)),
                        qty_step=D("0.001"))
    assert (d.qty, d.limits_hit) == (D("0.050"), ("POSITION_LIMIT",))


def test_size_reduced_events() -> None:
    bus, clock = EventBus(), ManualClock(T0)
    rec = Recorder(bus)
    common: dict[str, Any] = dict(symbol="BTCUSDT", entry=D(50_000), stop=D(49_500),
                                  qty_step=D("0.001"), bus=bus, clock=clock)
    clamp_to_limits(qty=D(1), leverage=D(10), ctx=make_ctx(), **common)
    clamp_to_limits(qty=D("0.1"), leverage=D(25), ctx=make_ctx(), **common)
    clamp_to_limits(qty=D("0.1"), leverage=D(10), ctx=make_ctx(realised_pnl_today=D(-280)),
                    **common)
    assert [e.as_dict() for e in rec.named("ORDER_SIZE_REDUCED")] == [
        {"event": "ORDER_SIZE_REDUCED", "ts": T0.isoformat(), "severity": None,
         "message": "BTCUSDT size reduced: qty 1 -> 0.160 (limits: RISK_PER_TRADE_LIMIT)",
         "data": {"symbol": "BTCUSDT", "qty": "0.160", "leverage": "10", "requestedQty": "1",
                  "requestedLeverage": "10", "limitsHit": ["RISK_PER_TRADE_LIMIT"]}},
        {"event": "ORDER_SIZE_REDUCED", "ts": T0.isoformat(), "severity": None,
         "message": "BTCUSDT size reduced: qty 0.1 -> 0.100, leverage 25x -> 20.0x "
                    "(limits: LEVERAGE_LIMIT)",
         "data": {"symbol": "BTCUSDT", "qty": "0.100", "leverage": "20.0", "requestedQty": "0.1",
                  "requestedLeverage": "25", "limitsHit": ["LEVERAGE_LIMIT"]}},
        {"event": "ORDER_SIZE_REDUCED", "ts": T0.isoformat(), "severity": None,
         "message": "BTCUSDT size reduced: no size passes (limits: DAILY_LOSS_LIMIT)",
         "data": {"symbol": "BTCUSDT", "qty": "0", "leverage": "10", "requestedQty": "0.1",
                  "requestedLeverage": "10", "limitsHit": ["DAILY_LOSS_LIMIT"]}},
    ]


def test_sizing_equity_edges_and_a_negative_request() -> None:
    common: dict[str, Any] = dict(symbol="BTCUSDT", entry=D(50_000), stop=D(49_500),
                                  leverage=D(10))
    d = clamp_to_limits(qty=D(1), ctx=make_ctx(equity=D(0)), qty_step=D("0.001"), **common)
    assert (d.qty, d.limits_hit) == (0, ("INVALID_PRICES",))
    # Equity of 1 is small, not missing: 1 x 20 / 50,000 = 0.0004, then 1 x 2 % / 500.
    d = clamp_to_limits(qty=D(1), ctx=make_ctx(equity=D(1), day_start_equity=D(1)),
                        qty_step=D("0.00001"), **common)
    assert (d.qty, d.limits_hit) == (D("0.00004"), ("LEVERAGE_LIMIT", "RISK_PER_TRADE_LIMIT"))
    # A negative request is a request for nothing; the account already over its
    # leverage is still named.
    d = clamp_to_limits(qty=D(-1), ctx=make_ctx(account_notional=D(80_010)),
                        qty_step=D("0.001"), **common)
    assert (d.qty, d.limits_hit) == (0, ("LEVERAGE_LIMIT",))


def test_size_reduced_names_every_limit_hit() -> None:
    bus, clock = EventBus(), ManualClock(T0)
    rec = Recorder(bus)
    clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                    leverage=D(25), ctx=make_ctx(), qty_step=D("0.001"), bus=bus, clock=clock)
    [event] = rec.named("ORDER_SIZE_REDUCED")
    assert event.message == ("BTCUSDT size reduced: qty 1 -> 0.160, leverage 25x -> 20.0x "
                             "(limits: LEVERAGE_LIMIT, RISK_PER_TRADE_LIMIT)")


def test_kelly_with_no_equity_is_zero_before_looking_at_the_distances() -> None:
    assert kelly_margin(D(0), 90, D(0), D("0.03")) == 0


# ---- breaker rules ------------------------------------------------------------------


def _dd_data(drawdown: float, equity: str) -> dict[str, Any]:
    return {"drawdown": drawdown, "dayStartEquity": "100", "equity": equity,
            "maxDailyDrawdown": 0.07}


def test_daily_drawdown_findings() -> None:
    rule = DailyDrawdownRule()
    assert rule.to_state() == {"trippedDay": None, "warnedDay": None}
    assert list(rule.on_equity(T0, D(100), D(95), D("0.07"))) == []  # exactly 5 %: no warning
    assert list(rule.on_equity(T0, D(100), D(94), D("0.07"))) == [Finding(
        "DAILY_DRAWDOWN", False,
        "daily drawdown 6.00% is above 5% (equity 94.00 vs 100.00 at 00:00 UTC)",
        Severity.HIGH, _dd_data(0.06, "94"))]
    assert list(rule.on_equity(T0, D(100), D(92), D("0.07"))) == [Finding(
        "DAILY_DRAWDOWN", True,
        "daily drawdown 8.00% exceeds the maximum 7.00% (equity 92.00 vs 100.00 at 00:00 UTC)",
        Severity.CRITICAL, _dd_data(0.08, "92"))]
    # A day-start equity of 1 is small, not missing: it still trips.
    found = DailyDrawdownRule().on_equity(T0, D(1), D("0.5"), D("0.07"))
    assert [f.trip for f in found] == [False, True]


def test_consecutive_loss_findings_and_resets() -> None:
    rule = ConsecutiveLossRule()
    assert list(rule.on_trade_closed(T0, D(-1))) == []
    assert list(rule.on_trade_closed(T0, D(-2))) == []
    data = {"streak": 3, "limit": 3, "lastNetPnl": "-3.5"}
    message = "3 consecutive losing trades (limit 3); last net PnL -3.50"
    assert list(rule.on_trade_closed(T0, D("-3.5"))) == [
        Finding("CONSECUTIVE_LOSSES", False, message, Severity.MEDIUM, data),
        Finding("CONSECUTIVE_LOSSES", True, message, Severity.CRITICAL, data),
    ]
    rule.on_tripped()
    assert rule.to_state() == {"streak": 0}
    rule.on_trade_closed(T0, D(-1))
    rule.on_reset()
    assert rule.to_state() == {"streak": 0}


def _vol() -> VolatilityRule:
    return VolatilityRule(whitelist=["BTCUSDT", "DOGEUSDT"])


def test_volatility_defaults_are_five_percent_in_sixty_seconds() -> None:
    rule = _vol()
    assert (rule.move, rule.window_ms) == (0.05, 60_000)
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 105.5, 59_000) is not None
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 106.0, 60_500) is None
    rule.configure(RiskConfig(volatilityWindowS=10, volatilityMovePct=2, whitelist=["BTCUSDT"]))
    assert (rule.move, rule.window_ms) == (0.02, 10_000)


def test_volatility_exactly_the_limit_does_not_trip() -> None:
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 105.0, 1_000) is None  # +5 % is not "more than 5 %"
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 95.0, 1_000) is None


def test_volatility_fall_exactly_one_window_apart_still_counts() -> None:
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 94.0, 60_000) is not None


def test_volatility_sub_unit_prices_and_zero() -> None:
    rule = _vol()
    assert rule.on_price("DOGEUSDT", 0.0, 0) is None  # not a price: ignored, no division
    rule.on_price("DOGEUSDT", 0.08, 1_000)
    assert rule.on_price("DOGEUSDT", 0.085, 2_000) is not None


def test_volatility_a_late_tick_counts_as_now() -> None:
    # 96 arrives stamped t = 10 s after a tick at t = 50 s: it is kept as of 50 s, so at
    # 70.001 s it is still in the window and +5.2 % to 101 trips.
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    rule.on_price("BTCUSDT", 100.0, 50_000)
    assert rule.on_price("BTCUSDT", 96.0, 10_000) is None
    assert rule.on_price("BTCUSDT", 101.0, 70_001) is not None


def test_volatility_findings() -> None:
    rule = _vol()
    rule.on_price("BTCUSDT", 80.0, 0)
    rise = rule.on_price("BTCUSDT", 120.0, 1_000)
    assert rise == Finding(
        "EXTREME_VOLATILITY", True, "BTCUSDT moved +50.00% within 60s (80 -> 120; limit 5.00%)",
        Severity.CRITICAL,
        {"symbol": "BTCUSDT", "movePct": 50.0, "from": 80.0, "to": 120.0, "windowS": 60.0,
         "limitPct": 5.0})
    # Equal rise (from 80) and fall (from 120): reported as the rise.
    tie = rule.on_price("BTCUSDT", 96.0, 2_000)
    assert tie is not None and tie.message.startswith("BTCUSDT moved +20.00% within 60s (80 ->")
    rule = _vol()
    rule.on_price("BTCUSDT", 100.0, 0)
    fall = rule.on_price("BTCUSDT", 93.12345, 1_000)
    assert fall == Finding(
        "EXTREME_VOLATILITY", True,
        "BTCUSDT moved -6.88% within 60s (100 -> 93.1235; limit 5.00%)", Severity.CRITICAL,
        {"symbol": "BTCUSDT", "movePct": 6.8765, "from": 100.0, "to": 93.12345,
         "windowS": 60.0, "limitPct": 5.0})


# ---- the circuit breaker ------------------------------------------------------------


class _Clocked(BreakerRule):
    """Records the time each trade-closed hook is given."""

    name = "CLOCKED"

    def __init__(self) -> None:
        self.seen: list[datetime] = []

    def on_trade_closed(self, now: datetime, net_pnl: Decimal) -> Sequence[Finding]:
        self.seen.append(now)
        return ()


def _breaker(rules: Sequence[BreakerRule] | None = None,
             on_change: Any = None) -> tuple[CircuitBreaker, MasterArm, Recorder, ManualClock]:
    bus, clock = EventBus(), ManualClock(T0)
    rec = Recorder(bus)
    arm = MasterArm(bus, clock)
    arm.apply(ArmState.ARMED, "go", "op")
    return CircuitBreaker(bus, clock, arm, RiskConfig(), rules=rules,
                          on_change=on_change), arm, rec, clock


_CLEARED = {"tripped": False, "reason": None, "rule": None, "trippedAt": None,
            "cooldownUntil": None}


async def test_trip_cooldown_and_reset_say_what_happened() -> None:
    saver = Saver()
    br, arm, rec, clock = _breaker(on_change=saver)
    assert (br.reason, br.rule) == (None, None)
    assert await br.trip("test", data={"x": 1})
    until = (T0 + timedelta(hours=4)).isoformat()
    assert [e.as_dict() for e in rec.named("CIRCUIT_BREAKER")] == [{
        "event": "CIRCUIT_BREAKER", "ts": T0.isoformat(), "severity": "CRITICAL",
        "message": f"circuit breaker tripped (MANUAL): test; new entries denied, "
                   f"Master Arm DISARMED, cooldown until {until}",
        "data": {"rule": "MANUAL", "reason": "test", "trippedAt": T0.isoformat(),
                 "cooldownUntil": until, "x": 1}}]
    assert (arm.state, arm.actor) == (ArmState.DISARMED, "circuit_breaker")
    assert saver.last == br.to_state() and saver.last["tripped"] is True
    assert br.status() == {"tripped": True, "reason": "test", "rule": "MANUAL",
                           "trippedAt": T0.isoformat(), "cooldownUntil": until}
    clock.advance(4 * 3600)
    assert br.status() == _CLEARED  # over, even before tick() records it
    assert await br.tick()
    assert (br.reason, br.rule) == (None, None)
    assert not await br.reset("all good", "op")
    with pytest.raises(ReasonRequired, match=r"^circuit breaker reset needs a non-empty reason$"):
        await br.reset(" ", "op")
    after = (T0 + timedelta(hours=4)).isoformat()
    assert [e.as_dict() for e in rec.named("CIRCUIT_BREAKER_RESET")] == [
        {"event": "CIRCUIT_BREAKER_RESET", "ts": after, "severity": "MEDIUM",
         "message": "circuit breaker cleared after its cooldown; Master Arm stays DISARMED "
                    "until the operator re-arms",
         "data": {"reason": "cooldown elapsed", "actor": "system", "auto": True,
                  "wasTripped": True,
                  "previous": {"reason": "test", "rule": "MANUAL", "trippedAt": T0.isoformat()}}},
        {"event": "CIRCUIT_BREAKER_RESET", "ts": after, "severity": "MEDIUM",
         "message": "circuit breaker reset by op: all good; Master Arm stays DISARMED "
                    "until the operator re-arms",
         "data": {"reason": "all good", "actor": "op", "auto": False, "wasTripped": False,
                  "previous": {"reason": None, "rule": None, "trippedAt": None}}},
    ]
    assert saver.last == br.to_state() and saver.last["tripped"] is False


async def test_a_warning_is_published_and_is_not_a_trip() -> None:
    br, _, rec, _ = _breaker()
    assert await br.on_equity(D(100), D(94), D("0.07")) is False
    assert [e.as_dict() for e in rec.named("RISK_WARNING")] == [{
        "event": "RISK_WARNING", "ts": T0.isoformat(), "severity": "HIGH",
        "message": "daily drawdown 6.00% is above 5% (equity 94.00 vs 100.00 at 00:00 UTC)",
        "data": {"rule": "DAILY_DRAWDOWN", **_dd_data(0.06, "94")}}]


async def test_trade_closed_hooks_get_the_time() -> None:
    rule = _Clocked()
    br, _, _, _ = _breaker(rules=[rule])
    await br.on_trade_closed(D(-1))
    assert rule.seen == [T0]


async def test_a_failed_breaker_save_is_a_critical_alert_naming_the_breaker() -> None:
    br, _, rec, _ = _breaker(on_change=_failing_save)
    await br.trip("test")
    assert _alerts(rec) == [{
        "event": "ALERT", "ts": T0.isoformat(), "severity": "CRITICAL",
        "message": "circuitBreaker state could not be saved: disk full",
        "data": {"component": "circuitBreaker", "error": "disk full"}}]


def test_a_restored_state_without_a_trip_flag_is_not_tripped() -> None:
    br, _, _, _ = _breaker()
    br.load_state({"reason": "x"})
    assert not br.tripped and br.status() == _CLEARED
