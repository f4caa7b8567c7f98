"""The regime in the gate (check 7a, TAIL_RISK_VETO) and in sizing (the size scale)."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from titan.domain import ReasonCode
from titan.risk.engine import RiskEngine
from titan.risk.gate import check
from titan.risk.regime import UNKNOWN_READING, Regime, RegimeReading
from titan.risk.sizing import clamp_to_limits

from .conftest import Recorder, good_market, make_ctx, make_intent

D = Decimal


def reading(alpha: float | None) -> RegimeReading:
    if alpha is None:
        return UNKNOWN_READING
    return RegimeReading(Regime.MEAN_REVERSION, alpha, 0.01, 0.0, 1000)


# -- check 7a ---------------------------------------------------------------------------------

@pytest.mark.parametrize(("alpha", "leverage", "code"), [
    (1.99, D(6), ReasonCode.TAIL_RISK_VETO),
    (1.9999999, D("5.01"), ReasonCode.TAIL_RISK_VETO),
    (1.0, D(10), ReasonCode.TAIL_RISK_VETO),
    (1.0, D(5), None),  # leverage exactly 5 passes
    (2.0, D(6), None),  # α exactly 2 passes
    (2.0, D(20), None),
    (None, D(20), None),  # regime unknown: neutral
])
def test_tail_risk_veto_edges(alpha: float | None, leverage: Decimal,
                              code: ReasonCode | None) -> None:
    denial = check(make_intent(leverage=leverage), make_ctx(tail_alpha=alpha))
    assert (denial.code if denial else None) == code
    if denial is not None:
        shown = {1.99: "1.990", 1.9999999: "1.999", 1.0: "1.000"}[alpha]  # type: ignore[index]
        assert denial.message == (f"BTCUSDT tail index {shown} < 2: leverage {leverage}x "
                                  "above 5x is refused")


def test_exits_pass_whatever_the_tail() -> None:
    assert check(make_intent(leverage=D(20), reduce_only=True), make_ctx(tail_alpha=0.5)) is None


def test_veto_comes_after_the_leverage_check_and_before_risk_per_trade() -> None:
    fat = make_ctx(tail_alpha=1.0)
    over_max = check(make_intent(leverage=D(21)), fat)  # 7 first: phase 1 allows 20x
    assert over_max is not None and over_max.code is ReasonCode.LEVERAGE_LIMIT
    too_risky = check(make_intent(qty=D("0.17")), fat)  # 8 would fail too: 7a comes first
    assert too_risky is not None and too_risky.code is ReasonCode.TAIL_RISK_VETO
    assert check(make_intent(qty=D("0.17")), make_ctx()).code is ReasonCode.RISK_PER_TRADE_LIMIT  # type: ignore[union-attr]
    stale = check(make_intent(), make_ctx(tail_alpha=1.0, venue_connected=False))
    assert stale is not None and stale.code is ReasonCode.VENUE_DISCONNECTED


def test_engine_gates_with_the_symbols_own_regime(make_engine: Callable[..., RiskEngine]) -> None:
    engine = make_engine()
    alphas = {"BTCUSDT": 1.5, "ETHUSDT": 3.2}
    engine.regime = lambda symbol: reading(alphas.get(symbol))
    assert engine.context_for("BTCUSDT", good_market()).tail_alpha == 1.5
    assert engine.context_for("ETHUSDT", good_market()).tail_alpha == 3.2
    assert engine.context_for("XRPUSDT", good_market()).tail_alpha is None
    engine.regime = None
    assert engine.context_for("BTCUSDT", good_market()).tail_alpha is None


async def test_engine_refuses_a_leveraged_entry_on_a_fat_tail(
        make_engine: Callable[..., RiskEngine], rec: Recorder) -> None:
    engine = make_engine()
    await engine.on_equity(D(4000))
    await engine.arm("test", "ops")
    engine.regime = lambda symbol: reading(1.8 if symbol == "BTCUSDT" else 2.6)
    denial = engine.gate_entry(make_intent(leverage=D(10)), good_market())
    assert denial is not None and denial.code is ReasonCode.TAIL_RISK_VETO
    rejected = rec.named("SIGNAL_REJECTED")
    assert len(rejected) == 1 and rejected[0].data["code"] == "TAIL_RISK_VETO"
    assert engine.gate_entry(make_intent(leverage=D(5)), good_market()) is None
    assert engine.gate_entry(make_intent(symbol="ETHUSDT", leverage=D(10),
                                         price=D(3000), stop_loss=D(2970)), good_market()) is None
    assert engine.gate_entry(make_intent(leverage=D(10), reduce_only=True), good_market()) is None


# -- the size scale -----------------------------------------------------------------------------

@pytest.mark.parametrize(("alpha", "qty", "hit"), [
    (None, D("0.100"), ()),
    (3.0, D("0.100"), ()),  # α = 3: scale exactly 1, nothing lost to rounding
    (2.5, D("0.070"), ("REGIME_SIZE_SCALE",)),
    (2.0, D("0.040"), ("REGIME_SIZE_SCALE",)),
    (1.5, D("0.010"), ("REGIME_SIZE_SCALE",)),  # the 0.1 floor
    (0.7, D("0.010"), ("REGIME_SIZE_SCALE",)),
])
def test_clamp_scales_by_the_regime(alpha: float | None, qty: Decimal,
                                    hit: tuple[str, ...]) -> None:
    # 0.1 BTC at 50,000, stop 49,500: risk 50 < 80 and notional 5,000 within every limit.
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("0.1"), entry=D(50_000), stop=D(49_500),
                        leverage=D(5), ctx=make_ctx(tail_alpha=alpha), qty_step=D("0.001"))
    assert d.qty == qty and d.limits_hit == hit
    assert d.reduced is bool(hit)


def test_scale_comes_before_the_limits() -> None:
    # Asked 1 BTC: risk per trade bounds it to 0.16; the scale (α = 2: × 0.4) applies to the
    # request, 0.4, so the limit still binds and both are named.
    d = clamp_to_limits(symbol="BTCUSDT", qty=D("1"), entry=D(50_000), stop=D(49_500),
                        leverage=D(5), ctx=make_ctx(tail_alpha=2.0), qty_step=D("0.001"))
    assert d.qty == D("0.160") and d.limits_hit == ("REGIME_SIZE_SCALE", "RISK_PER_TRADE_LIMIT")
    # Nothing asked, nothing scaled or named.
    z = clamp_to_limits(symbol="BTCUSDT", qty=D(0), entry=D(50_000), stop=D(49_500),
                        leverage=D(5), ctx=make_ctx(tail_alpha=2.0), qty_step=D("0.001"))
    assert z.qty == 0 and z.limits_hit == ()


async def test_size_entry_scales_kelly_by_the_regime(make_engine: Callable[..., RiskEngine]) -> None:
    engine = make_engine()
    await engine.on_equity(D(1000))
    kw = dict(symbol="BTCUSDT", confidence=85, entry=D(50_000), stop=D(49_500),
              target=D(51_500), leverage=D(1), market=good_market(), qty_step=D("0.00001"),
              publish=False)
    full = engine.size_entry(**kw)  # type: ignore[arg-type]
    # Kelly: margin 0.2 × 1000 = 200 at 1x → 0.004 BTC, within every limit.
    assert full.qty == D("0.00400") and full.limits_hit == ()
    engine.regime = lambda _s: reading(2.0)
    scaled = engine.size_entry(**kw)  # type: ignore[arg-type]
    assert scaled.qty == D("0.00160") and "REGIME_SIZE_SCALE" in scaled.limits_hit
    engine.regime = lambda _s: UNKNOWN_READING
    assert engine.size_entry(**kw).qty == full.qty  # type: ignore[arg-type]
