"""The edges of the rules that decide whether money moves (issue: mutation testing).

Each test here pins a boundary that a one-token change to gate, breaker, phases, sizing
or positions would move without any other test noticing: a `>=` turned into `>`, an
index `[0]` turned into `[-1]`, a guard dropped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from titan.domain import ReasonCode, Side
from titan.domain.orders import Fill, OrderType
from titan.risk.breaker import (
    CircuitBreaker,
    ConsecutiveLossRule,
    DailyDrawdownRule,
    VolatilityRule,
)
from titan.risk.config import RiskConfig
from titan.risk.engine import RiskEngine
from titan.risk.gate import check
from titan.risk.phases import next_phase, phase_for_equity
from titan.risk.sizing import clamp_to_limits, kelly_fraction, kelly_margin, round_down
from titan.state.positions import ShadowPosition, apply_fill

from .conftest import good_market, make_ctx, make_intent

D = Decimal
NOW = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)

# ---- gate ---------------------------------------------------------------------------


@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_gate_denies_a_stop_exactly_at_the_entry(side: Side) -> None:
    # A stop at the entry price means "loss at stop = 0": every size would pass the
    # risk checks. It is not a stop; the entry is denied with its own code.
    denial = check(make_intent(side=side, stop_loss=D(50_000)), make_ctx())
    assert denial is not None
    assert denial.code is ReasonCode.STOP_NOT_PROTECTIVE
    where = "below" if side is Side.BUY else "above"
    assert denial.message == (f"stop 50000 does not protect a {side.value} at 50000: it must be "
                              f"strictly {where} the entry")


@pytest.mark.parametrize(("side", "stop"), [(Side.BUY, D(50_001)), (Side.SELL, D(49_999))])
def test_gate_denies_a_stop_on_the_winning_side(side: Side, stop: Decimal) -> None:
    denial = check(make_intent(side=side, stop_loss=stop), make_ctx())
    assert denial is not None and denial.code is ReasonCode.STOP_NOT_PROTECTIVE


def test_a_non_protective_stop_comes_after_leverage_and_before_the_risk_limits() -> None:
    # Check 8's place in the SPEC order: leverage (7) first, then the stop, then the
    # loss-at-stop limits (8, 9).
    ctx = make_ctx(account_notional=D(10**9))
    denial = check(make_intent(stop_loss=D(50_000)), ctx)
    assert denial is not None and denial.code is ReasonCode.LEVERAGE_LIMIT
    denial = check(make_intent(stop_loss=D(50_000)),
                   make_ctx(realised_pnl_today=D(-10**6), position_notional=D(10**9),
                            rate_budget_available=False))
    assert denial is not None and denial.code is ReasonCode.STOP_NOT_PROTECTIVE


def test_gate_denies_a_stop_of_zero() -> None:
    denial = check(make_intent(stop_loss=D(0)), make_ctx())
    assert denial is not None and denial.code is ReasonCode.RISK_PER_TRADE_LIMIT
    assert "stop loss" in denial.message


@pytest.mark.parametrize(("price", "ref"), [(D(0), D(50_000)), (None, D(0))])
def test_gate_denies_a_price_of_zero(price: Decimal | None, ref: Decimal) -> None:
    denial = check(make_intent(price=price), make_ctx(reference_price=ref))
    assert denial is not None and denial.code is ReasonCode.STALE_MARKET_DATA
    assert "no valid price" in denial.message


def test_gate_market_data_age_zero_is_fresh_negative_is_not() -> None:
    assert check(make_intent(), make_ctx(market_data_age_ms=0.0)) is None
    denial = check(make_intent(), make_ctx(market_data_age_ms=-1.0))
    assert denial is not None and denial.code is ReasonCode.STALE_MARKET_DATA


def test_gate_exposure_exactly_at_equity_times_leverage_passes() -> None:
    # equity 4000 x 20 = 80,000; the intent adds 500.
    assert check(make_intent(), make_ctx(account_notional=D(79_500))) is None
    denial = check(make_intent(), make_ctx(account_notional=D("79500.01")))
    assert denial is not None and denial.code is ReasonCode.LEVERAGE_LIMIT


def test_gate_equity_of_zero_denies_entries() -> None:
    denial = check(make_intent(), make_ctx(equity=D(0)))
    assert denial is not None and denial.code is ReasonCode.LEVERAGE_LIMIT


# ---- sizing -------------------------------------------------------------------------


def test_sizing_stop_at_entry_or_zero_entry_sizes_zero_with_a_reason() -> None:
    for entry, stop in ((D(50_000), D(50_000)), (D(0), D(49_500))):
        d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.01"), entry=entry, stop=stop,
                            leverage=D(10), ctx=make_ctx(), qty_step=D("0.001"))
        assert d.qty == 0
        assert "INVALID_PRICES" in d.limits_hit


def test_sizing_sub_unit_prices_size_by_their_real_distance() -> None:
    # DOGE at 0.08 with a stop 1 % below: distance 0.0008, far under one price unit.
    ctx = make_ctx(whitelist=frozenset({"DOGEUSDT"}), reference_price=D("0.08"))
    d = clamp_to_limits(symbol="DOGEUSDT", qty=D(10_000), entry=D("0.08"), stop=D("0.0792"),
                        leverage=D(10), ctx=ctx, qty_step=D(1))
    # risk 10,000 x 0.0008 = 8 ≤ 80: nothing to clamp.
    assert d.qty == D(10_000)
    assert d.limits_hit == ()
    # 200,000 DOGE risks 160 > 80: clamped to exactly the risk budget (80 / 0.0008).
    d = clamp_to_limits(symbol="DOGEUSDT", qty=D(200_000), entry=D("0.08"), stop=D("0.0792"),
                        leverage=D(10), ctx=ctx, qty_step=D(1))
    assert d.qty == D(100_000)
    assert "RISK_PER_TRADE_LIMIT" in d.limits_hit


def test_sizing_negative_or_zero_distances_are_refused() -> None:
    with pytest.raises(ValueError):
        kelly_fraction(90, D("0.01"), D("-0.03"))
    with pytest.raises(ValueError):
        kelly_fraction(90, D(0), D("0.03"))


def test_kelly_with_equity_not_positive_is_zero() -> None:
    assert kelly_margin(D(0), 90, D("0.01"), D("0.03")) == 0
    assert kelly_margin(D(-100), 90, D("0.01"), D("0.03")) == 0


def test_kelly_margin_is_at_most_a_quarter_of_equity_so_the_spec_cap_cannot_bind() -> None:
    # SPEC §6 caps the margin at 50 % of equity; with W ≤ 1, f ≤ 1 and 0.25 f ≤ 25 %.
    # The cap was dead code and is gone; this pins the bound it stood for.
    assert kelly_margin(D(1000), 100, D("0.01"), D("0.03")) == D(250)
    assert kelly_margin(D(1000), 95, D("0.01"), D("0.03")) == D(1000) * D("0.25") * (
        D("0.95") - D("0.05") / 3)
    for confidence in (0, 50, 85, 95, 100):
        for stop, target in ((D("0.001"), D(1)), (D("0.01"), D("0.03")), (D(1), D("0.001"))):
            margin = kelly_margin(D(1000), confidence, stop, target)
            assert D(0) <= margin <= D(250)


@pytest.mark.parametrize("confidence", [-1, 101, D("100.5")])
def test_kelly_refuses_a_confidence_that_is_not_a_percentage(confidence: Decimal | int) -> None:
    # Above 100 % f could pass 1 and the margin exceed the SPEC's 50 % cap.
    with pytest.raises(ValueError, match="not a percentage"):
        kelly_fraction(confidence, D("0.01"), D("0.03"))
    assert kelly_fraction(0, D("0.01"), D("0.03")) == D(-1) / 3
    assert kelly_fraction(100, D("0.01"), D("0.03")) == 1


def test_sizing_refuses_every_invalid_price_with_its_reason_even_for_qty_zero() -> None:
    cases = [
        (D(50_000), D(50_000), None),  # stop at the entry
        (D(0), D(49_500), None),  # no price
        (D(50_000), D(0), None),  # no stop
        (D(50_000), D(49_500), D(49_000)),  # target on the stop's side
        (D(50_000), D(49_500), D(50_000)),  # target at the entry
    ]
    for entry, stop, target in cases:
        for qty in (D(0), D("0.01")):
            d = clamp_to_limits(symbol="BTCUSDT", qty=qty, entry=entry, stop=stop,
                                leverage=D(10), ctx=make_ctx(), qty_step=D("0.001"),
                                target=target)
            assert d.qty == 0, (entry, stop, target)
            assert d.limits_hit == ("INVALID_PRICES",), (entry, stop, target)
    # A target beyond the entry, away from the stop, is fine on either side.
    for stop, target in ((D(49_500), D(51_500)), (D(50_500), D(48_500))):
        d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.01"), entry=D(50_000), stop=stop,
                            leverage=D(10), ctx=make_ctx(), qty_step=D("0.001"), target=target)
        assert d.qty == D("0.010") and d.limits_hit == ()


def test_sizing_with_a_zero_qty_step_sizes_zero_with_a_reason() -> None:
    for step in (D(0), D(-1)):
        d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.01"), entry=D(50_000), stop=D(49_500),
                            leverage=D(10), ctx=make_ctx(), qty_step=step)
        assert d.qty == 0 and d.limits_hit == ("INVALID_QTY_STEP",)


@pytest.mark.parametrize(("entry", "stop", "target"), [
    (D(50_000), D(50_000), D(51_500)),  # stop at the entry: stop distance 0 raised
    (D(0), D(49_500), D(51_500)),  # entry 0: divided by zero
    (D(50_000), D(49_500), D(48_500)),  # target below a buy: abs() made it a 3 % edge
])
async def test_engine_sizes_invalid_prices_to_zero_with_a_reason(
        make_engine: Callable[..., RiskEngine], entry: Decimal, stop: Decimal,
        target: Decimal) -> None:
    engine = make_engine()
    await engine.on_equity(D(1000))
    await engine.arm("go", "op")
    d = engine.size_entry(symbol="BTCUSDT", confidence=95, entry=entry, stop=stop, target=target,
                          leverage=D(20), market=good_market(), qty_step=D("0.001"))
    assert d.qty == 0 and d.requested_qty == 0
    assert d.limits_hit == ("INVALID_PRICES",)


def test_round_down_refuses_a_zero_step_and_keeps_exact_multiples() -> None:
    with pytest.raises(ValueError):
        round_down(D(1), D(0))
    assert round_down(D("0.160"), D("0.001")) == D("0.160")
    assert round_down(D("0.1609"), D("0.001")) == D("0.160")
    assert round_down(D(0), D("0.001")) == 0


# ---- phases -------------------------------------------------------------------------


def test_negative_equity_is_phase_one() -> None:
    assert phase_for_equity(D(-500)).number == 1
    assert next_phase(2, D(-500)) == 1
    assert next_phase(1, D(-1)) == 1


def test_phase_hysteresis_edges() -> None:
    assert phase_for_equity(D(5000)).number == 2
    assert phase_for_equity(D("4999.99")).number == 1
    assert next_phase(2, D(4500)) == 2  # exactly 0.9 x 5,000 stays
    assert next_phase(2, D("4499.99")) == 1


# ---- breaker ------------------------------------------------------------------------


def test_volatility_fall_is_measured_from_the_window_high() -> None:
    rule = VolatilityRule(move_pct=5.0, window_s=60.0, whitelist=["BTCUSDT"])
    # 100 → 104 → 101 → 98.7: the fall from the high 104 is 5.1 %; from the latest
    # peak (101) it is only 2.3 %. Only the window's highest price catches it.
    assert rule.on_price("BTCUSDT", 100.0, 0) is None
    assert rule.on_price("BTCUSDT", 104.0, 1_000) is None
    assert rule.on_price("BTCUSDT", 101.0, 2_000) is None
    found = rule.on_price("BTCUSDT", 98.7, 3_000)
    assert found is not None


def test_volatility_rise_is_measured_from_the_window_low() -> None:
    rule = VolatilityRule(move_pct=5.0, window_s=60.0, whitelist=["BTCUSDT"])
    assert rule.on_price("BTCUSDT", 100.0, 0) is None
    assert rule.on_price("BTCUSDT", 96.0, 1_000) is None
    assert rule.on_price("BTCUSDT", 99.0, 2_000) is None
    assert rule.on_price("BTCUSDT", 101.0, 3_000) is not None  # +5.2 % from 96


def test_volatility_window_boundary_and_configure() -> None:
    rule = VolatilityRule(move_pct=5.0, window_s=60.0, whitelist=["BTCUSDT"])
    rule.on_price("BTCUSDT", 100.0, 0)
    # Exactly 60 s apart is still inside the window ("less than W apart" excludes it
    # only past W): 106 at t = 60 s trips.
    assert rule.on_price("BTCUSDT", 106.0, 60_000) is not None
    rule = VolatilityRule(move_pct=5.0, window_s=60.0, whitelist=["BTCUSDT"])
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 106.0, 60_001) is None  # the old price left the window
    # The operator's window from the config replaces the constructor's.
    rule = VolatilityRule(move_pct=5.0, window_s=60.0, whitelist=["BTCUSDT"])
    rule.configure(RiskConfig(volatilityWindowS=10, whitelist=["BTCUSDT"]))
    rule.on_price("BTCUSDT", 100.0, 0)
    assert rule.on_price("BTCUSDT", 106.0, 20_000) is None
    rule.configure(RiskConfig(volatilityWindowS=30, volatilityMovePct=2, whitelist=["BTCUSDT"]))
    assert rule.on_price("BTCUSDT", 103.0, 21_000) is not None  # +3 % over 1 s > 2 %


def test_daily_drawdown_with_day_start_equity_zero_does_nothing() -> None:
    rule = DailyDrawdownRule()
    assert list(rule.on_equity(NOW, D(0), D(-10), D("0.07"))) == []
    assert list(rule.on_equity(NOW, None, D(100), D("0.07"))) == []


def test_restored_state_without_a_streak_needs_the_full_limit() -> None:
    rule = ConsecutiveLossRule(limit=3)
    rule.load_state({})
    assert list(rule.on_trade_closed(NOW, D(-1))) == []
    assert list(rule.on_trade_closed(NOW, D(-1))) == []
    assert list(rule.on_trade_closed(NOW, D(-1))) != []


def test_a_restored_trip_without_cooldown_end_stays_tripped() -> None:
    from titan.bus import EventBus
    from titan.clock import ManualClock
    from titan.risk.arm import MasterArm

    bus, clock = EventBus(), ManualClock(NOW)
    br = CircuitBreaker(bus, clock, MasterArm(bus, clock), RiskConfig())
    br.load_state({"tripped": True, "reason": "restored", "rule": "MANUAL"})
    assert br.is_tripped()
    assert br.status()["tripped"] is True


# ---- positions ----------------------------------------------------------------------


def _fill(side: Side, qty: str, price: str) -> Fill:
    return Fill(exec_id="x1", client_order_id="c", venue_order_id="v", symbol="BTCUSDT",
                side=side, qty=D(qty), price=D(price), fee=D(0), ts=NOW)


def test_a_zero_size_position_is_flat_so_an_opposite_fill_opens() -> None:
    flat = ShadowPosition(symbol="BTCUSDT", side=Side.BUY, size=D(0), entry_price=D(100),
                          opened_at=NOW)
    out = apply_fill(flat, _fill(Side.SELL, "1", "110"), max_size=D(0), orphan=False,
                     strategy="scavenger")
    assert out.closed is None  # no phantom round trip
    assert out.position is not None
    assert out.position.side is Side.SELL and out.position.size == D(1)
    assert out.position.entry_price == D(110)


def test_notional_uses_the_mark_when_known_else_the_entry() -> None:
    pos = ShadowPosition(symbol="BTCUSDT", side=Side.SELL, size=D(2), entry_price=D(100),
                         opened_at=NOW)
    assert pos.notional == D(200)  # positive for a short too: it feeds exposure checks
    assert pos.signed_size == D(-2)
    marked = ShadowPosition(symbol="BTCUSDT", side=Side.SELL, size=D(2), entry_price=D(100),
                            opened_at=NOW, mark_price=D(90))
    assert marked.notional == D(180)


def test_a_hedged_short_passes_without_a_stop_only_against_spot_coins_held() -> None:
    # Check 8h: a Sentinel pair's perp short, its spot long held. 0.01 BTC at 50,000:
    # basis risk 1 % of 500 = 5, within 4,000 x 2 %; the daily check counts the same 5.
    hedged = make_intent(side=Side.SELL, stop_loss=None, take_profit=None, hedged=True,
                         leverage=D(1), strategy="sentinel", order_type=OrderType.MARKET,
                         price=None)
    ctx = make_ctx(enabled_strategies=frozenset({"sentinel"}), spot_unhedged=D("0.01"))
    assert check(hedged, ctx) is None
    short = check(hedged, ctx._replace(spot_unhedged=D("0.009")))  # one coin short: unbounded
    assert short is not None and short.code is ReasonCode.RISK_PER_TRADE_LIMIT
    assert "spot coins held unhedged" in short.message
    # Not hedged, or a Buy: the stop rule as for every entry.
    for intent in (replace(hedged, hedged=False), replace(hedged, side=Side.BUY)):
        denial = check(intent, ctx)
        assert denial is not None and denial.code is ReasonCode.RISK_PER_TRADE_LIMIT
    # The basis risk is bounded like a loss at stop: 1 % of 0.5 BTC is 250 > 4,000 x 2 %.
    big = check(replace(hedged, qty=D("0.5")), ctx._replace(spot_unhedged=D(1)))
    assert big is not None and big.message.startswith("basis risk 250.00 exceeds")
    # ... and counted toward the day's loss (check 9): 5 more than the budget has left.
    day = check(hedged, ctx._replace(realised_pnl_today=-(ctx.daily_loss_budget - 4)))
    assert day is not None and day.code is ReasonCode.DAILY_LOSS_LIMIT
