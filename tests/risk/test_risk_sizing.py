from __future__ import annotations

from decimal import Decimal

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import Side
from titan.risk.gate import check
from titan.risk.sizing import (
    clamp_to_limits,
    kelly_fraction,
    kelly_margin,
    kelly_notional,
    round_down,
)

from .conftest import Recorder, make_ctx, make_intent

D = Decimal


def test_kelly_hand_computed() -> None:
    f = kelly_fraction(95, D("0.01"), D("0.03"))
    assert f == D("0.95") - D("0.05") / 3
    assert abs(f - D("0.933333333")) < D("1e-9")
    margin = kelly_margin(D(1000), 95, D("0.01"), D("0.03"))
    assert abs(margin - D("233.3333333")) < D("1e-6")  # 1000 × 0.25 × 0.9333…
    assert abs(kelly_notional(D(1000), 95, D("0.01"), D("0.03"), D(20)) - D("4666.666666")) < D("1e-5")
    # confidence 85, 12x: f = 0.85 - 0.15/3 = 0.8; margin = 0.2 × equity
    assert kelly_margin(D(1000), 85, D("0.01"), D("0.03")) == D("200.00")


def test_kelly_negative_edge_is_zero_and_cap() -> None:
    assert kelly_margin(D(1000), 20, D("0.01"), D("0.01")) == 0  # f = 0.2 - 0.8 < 0
    # f can exceed 2 only theoretically; cap at 50% of equity
    assert kelly_margin(D(1000), 100, D("0.01"), D("0.03")) == D(250)  # 0.25 × 1.0
    assert kelly_margin(D(0), 95, D("0.01"), D("0.03")) == 0
    with pytest.raises(ValueError):
        kelly_fraction(90, D(0), D("0.03"))


def test_round_down() -> None:
    assert round_down(D("0.01999"), D("0.001")) == D("0.019")
    assert round_down(D("-1"), D("0.001")) == 0


def test_no_reduction_when_within_limits(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.01"), entry=D(50_000), stop=D(49_500),
                        leverage=D(10), ctx=make_ctx(), qty_step=D("0.001"), bus=bus, clock=clock)
    assert d.qty == D("0.01") and not d.reduced and d.limits_hit == ()
    assert rec.named("ORDER_SIZE_REDUCED") == []


def test_clamp_to_risk_per_trade(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    # equity 4000 × 2% = 80; distance 500 -> 0.16
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("1"), entry=D(50_000), stop=D(49_500),
                        leverage=D(25), ctx=make_ctx(), qty_step=D("0.001"), bus=bus, clock=clock)
    assert d.qty == D("0.160")
    assert d.leverage == 20
    assert "RISK_PER_TRADE_LIMIT" in d.limits_hit and "LEVERAGE_LIMIT" in d.limits_hit
    [ev] = rec.named("ORDER_SIZE_REDUCED")
    assert ev.data["qty"] == "0.160"


def test_clamp_to_daily_position_and_leverage() -> None:
    ctx = make_ctx(realised_pnl_today=D(-250))  # headroom 280 - 250 = 30 -> 0.06
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                        leverage=D(10), ctx=ctx, qty_step=D("0.001"))
    assert d.qty == D("0.06") and d.limits_hit[-1] == "DAILY_LOSS_LIMIT"
    ctx = make_ctx(position_notional=D(9_000))  # 1000 / 50000 = 0.02
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                        leverage=D(10), ctx=ctx, qty_step=D("0.001"))
    assert d.qty == D("0.02")
    ctx = make_ctx(account_notional=D(79_000))  # 80000 - 79000 = 1000 -> 0.02
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_990),
                        leverage=D(10), ctx=ctx, qty_step=D("0.001"))
    assert d.qty == D("0.02") and "LEVERAGE_LIMIT" in d.limits_hit


def test_nothing_passes_gives_zero(bus: EventBus, clock: ManualClock, rec: Recorder) -> None:
    ctx = make_ctx(realised_pnl_today=D(-300))
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                        leverage=D(10), ctx=ctx, qty_step=D("0.001"), bus=bus, clock=clock)
    assert d.qty == 0
    assert "no size passes" in rec.named("ORDER_SIZE_REDUCED")[0].message
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(1), entry=D(50_000), stop=D(49_500),
                        leverage=D(10), ctx=make_ctx(), qty_step=D("0.001"), min_qty=D(1))
    assert d.qty == 0


@pytest.mark.parametrize("qty", ["0.001", "0.5", "3", "100"])
@pytest.mark.parametrize("realised", ["0", "-100", "-279"])
@pytest.mark.parametrize("pos", ["0", "5000", "9990"])
@pytest.mark.parametrize("side", [Side.BUY, Side.SELL])
def test_clamped_size_passes_the_gate(qty: str, realised: str, pos: str, side: Side) -> None:
    ctx = make_ctx(realised_pnl_today=D(realised), position_notional=D(pos),
                   account_notional=D(pos), open_risk=D(0))
    stop = D(49_750) if side is Side.BUY else D(50_250)
    d = clamp_to_limits(symbol="BTCUSDT", qty=D(qty), entry=D(50_000), stop=stop,
                        leverage=D(30), ctx=ctx, qty_step=D("0.001"))
    if d.qty > 0:
        intent = make_intent(qty=d.qty, side=side, stop_loss=stop, leverage=d.leverage)
        assert check(intent, ctx) is None
        # and one step more would not pass (it is the largest), unless the request was smaller
        if d.qty < D(qty):
            bigger = make_intent(qty=d.qty + D("0.001"), side=side, stop_loss=stop, leverage=d.leverage)
            assert check(bigger, ctx) is not None
