"""Sentinel's TWAP schedule and slippage abort, the delta and margin monitors, the
regime's size factor and the parameter ranges, on hand-built fixtures at their edges."""

from __future__ import annotations

import itertools
from decimal import Decimal as D

import pytest
from pydantic import ValidationError

from titan.risk.regime import Regime
from titan.strategies.config import StrategyConfigError, apply_change, default_setting
from titan.strategies.registry import builtin_specs
from titan.strategies.sentinel.monitors import (
    DeltaState,
    MarginAction,
    delta_check,
    margin_check,
    regime_size_factor,
)
from titan.strategies.sentinel.params import SentinelParams
from titan.strategies.sentinel.twap import TwapRun, schedule, slippage

STEP = D("0.001")


def test_at_or_below_5000_usd_one_clip_now() -> None:
    assert [(c.qty, c.at_s) for c in schedule(D("0.1"), D(50_000), STEP, seed="a")] == [
        (D("0.1"), 0.0)]  # exactly $5,000


def test_above_5000_clips_of_at_most_500_usd_30_to_90_s_apart_summing_to_the_total() -> None:
    clips = schedule(D("0.101"), D(50_000), STEP, seed="BTCUSDT:1")  # $5,050
    assert len(clips) == 11  # $500 holds 0.010 BTC: ceil(0.101 / 0.010)
    assert sum(c.qty for c in clips) == D("0.101")
    assert all(c.qty * 50_000 <= 500 and c.qty % STEP == 0 for c in clips)
    gaps = [b.at_s - a.at_s for a, b in itertools.pairwise(clips)]
    assert clips[0].at_s == 0.0 and all(30.0 <= g <= 90.0 for g in gaps)
    assert len(set(gaps)) > 1  # jittered, not a fixed beat


def test_the_jitter_is_seeded() -> None:
    a = schedule(D(1), D(10_000), STEP, seed="ETHUSDT:7")
    assert a == schedule(D(1), D(10_000), STEP, seed="ETHUSDT:7")
    assert [c.at_s for c in a] != [c.at_s for c in schedule(D(1), D(10_000), STEP,
                                                           seed="ETHUSDT:8")]


def test_bad_schedules_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple"):
        schedule(D("0.1005"), D(50_000), STEP, seed="x")
    with pytest.raises(ValueError, match="step"):
        schedule(D(1), D(600_000), D(1), seed="x")  # one step is $600k
    with pytest.raises(ValueError):
        schedule(D(0), D(1), STEP, seed="x")
    with pytest.raises(ValueError):
        schedule(D(1), D(10_000), STEP, seed="x", min_gap_s=90, max_gap_s=30)


def test_slippage_is_adverse_per_side() -> None:
    assert slippage(D(100), D("100.3"), buy=True) == pytest.approx(0.003)
    assert slippage(D(100), D("99.7"), buy=True) == pytest.approx(-0.003)
    assert slippage(D(100), D("99.7"), buy=False) == pytest.approx(0.003)


def test_a_clip_slipping_more_than_0_2_pct_aborts_the_rest() -> None:
    run = TwapRun(schedule(D("0.2"), D(50_000), STEP, seed="s"), D(50_000), D(50_100))
    assert run.record(D("0.01"), D(50_100), D(50_000)) is True  # exactly 0.2 %: goes on
    assert run.next_clip() is run.clips[1]
    assert run.record(D("0.01"), D(50_000), D("49999.8")) is True
    assert run.record(D("0.01"), D(50_000), D(49_999)) is False  # perp sold 0.2002 % low
    assert run.finished and run.next_clip() is None and run.filled_qty == D("0.03")
    assert run.aborted is not None and "slippage" in run.aborted
    unwind = TwapRun(schedule(D("0.01"), D(50_000), STEP, seed="u"), D(50_000), D(50_000),
                     spot_buy=False)
    assert unwind.record(D("0.01"), D(49_890), D(50_000)) is False  # spot sold 0.22 % low


def test_delta_warns_above_2_pct_and_rebalances_above_5_by_trimming_the_larger_leg() -> None:
    assert delta_check(D(1), D(1), qty_step=STEP).state is DeltaState.OK
    assert delta_check(D("1.02"), D(1), qty_step=STEP).state is DeltaState.OK  # 1.96 %
    warn = delta_check(D(1), D("0.979"), qty_step=STEP)
    assert warn.state is DeltaState.WARN and warn.pct == pytest.approx(2.1)
    edge = delta_check(D(1), D("0.95"), qty_step=STEP)  # exactly 5 %: a warning
    assert edge.state is DeltaState.WARN
    spot_heavy = delta_check(D("1.06"), D(1), qty_step=STEP)
    assert spot_heavy.state is DeltaState.REBALANCE
    assert (spot_heavy.trim_leg, spot_heavy.trim_qty) == ("spot", D("0.06"))
    perp_heavy = delta_check(D("0.9"), D("1.0005"), qty_step=STEP)
    assert (perp_heavy.trim_leg, perp_heavy.trim_qty) == ("perp", D("0.1"))  # to the step
    naked = delta_check(D(0), D(1), qty_step=STEP)
    assert naked.state is DeltaState.REBALANCE and naked.pct == 100.0
    assert delta_check(D(0), D(0), qty_step=STEP).state is DeltaState.OK
    with pytest.raises(ValueError):
        delta_check(D(-1), D(1), qty_step=STEP)


def test_margin_above_30_pct_adds_margin_or_reduces_the_pair() -> None:
    assert margin_check(required=D(30), held=D(100), free=D(0)).action is MarginAction.OK
    add = margin_check(required=D(40), held=D(100), free=D(50))
    assert add.action is MarginAction.ADD_MARGIN and add.use_pct == pytest.approx(40.0)
    assert add.add == D(40) / D("0.3") - 100  # 133.33 held brings 40 to 30 %
    cut = margin_check(required=D(40), held=D(100), free=D(10))
    assert cut.action is MarginAction.REDUCE
    assert cut.reduce_share == D("0.2500")  # 40 × 0.75 = 30 on the same 100
    gone = margin_check(required=D(5), held=D(0), free=D(0))
    assert gone.action is MarginAction.REDUCE and gone.reduce_share == D(1)
    assert margin_check(required=D(0), held=D(0), free=D(0)).action is MarginAction.OK
    with pytest.raises(ValueError):
        margin_check(required=D(-1), held=D(1), free=D(0))


def test_regime_halves_in_breakout_stops_in_crash_and_is_neutral_otherwise() -> None:
    assert regime_size_factor(Regime.VOLATILE_BREAKOUT) == D("0.5")
    assert regime_size_factor("CRASH") == D(0)
    for r in (Regime.UNKNOWN, Regime.STABLE, Regime.MEAN_REVERSION):
        assert regime_size_factor(r) == D(1)
    with pytest.raises(ValueError):
        regime_size_factor("CRASHED")


def test_sentinel_is_registered_for_phase_3_with_ranged_parameters() -> None:
    spec = builtin_specs()["sentinel"]
    assert spec.phases == (3,)
    setting = default_setting(spec)
    assert setting.params["zEntry"] == 2.0 and setting.params["zWindow"] == 60
    assert setting.params["symbols"] == ["BTCUSDT", "ETHUSDT"]
    assert setting.params["takerFeePct"] == 0.1 and setting.params["clipUsd"] == 500.0
    changed = apply_change(setting, spec, {"params": {"zEntry": 2.5}})
    assert changed.params["zEntry"] == 2.5
    for bad in ({"zEntry": 0.5}, {"deltaWarnPct": 6.0}, {"minGapS": 100.0},
                {"symbols": ["BTC"]}, {"symbols": []}, {"clipUsd": 4_000.0, "twapAboveUsd":
                                                        2_000.0}, {"spread": 1}):
        with pytest.raises(StrategyConfigError):
            apply_change(setting, spec, {"params": bad})
    with pytest.raises(ValidationError):
        SentinelParams.model_validate({"symbols": ["BTCUSDT", "BTCUSDT"]})
