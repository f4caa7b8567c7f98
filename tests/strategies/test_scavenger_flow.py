"""The minute's arming round and the trade-to-plan path, end to end (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from titan.domain.orders import OrderType, Side
from titan.strategies.scavenger import (
    EntryPlan,
    ScavengerState,
    SpringDetector,
    TripwireKind,
    VelocityTracker,
    build_traps,
    plan_entry,
)
from titan.venues.base import Kline

NOW = int(datetime(2025, 3, 4, 12, 0, 5, tzinfo=UTC).timestamp() * 1000)
MIN = 60_000
MINUTE_START = NOW - NOW % MIN


def symbol_klines(base: float, *, newest_closed_at: int = MINUTE_START) -> list[Kline]:
    """60 closed minutes around `base` (range ±0.05 %, closes ±0.04 %), the last 5 with triple
    volume, then the open minute with an absurd close and volume that must be ignored."""
    out = []
    first = newest_closed_at - 60 * MIN
    for i in range(60):
        c = base * (1.0004 if i % 2 else 0.9996)
        vol = 30.0 if i >= 55 else 10.0
        out.append(Kline(first + i * MIN, c, base * 1.0005, base * 0.9995, c, vol))
    out.append(Kline(newest_closed_at, base, base * 5, base, base * 5, 1e9))
    return out


def test_build_traps_selects_across_symbols_and_says_why_it_skips() -> None:
    klines = {
        "BTCUSDT": symbol_klines(1000.0),
        "ETHUSDT": symbol_klines(2000.0),
        "STALEUSDT": symbol_klines(10.0, newest_closed_at=MINUTE_START - 10 * MIN),
        "NOPRICEUSDT": symbol_klines(5.0),
    }
    prices = {"BTCUSDT": 1000.1, "ETHUSDT": 1999.9, "STALEUSDT": 10.0}
    result = build_traps(klines, prices, NOW)
    # Newest-first input (as Bybit answers) gives the same traps.
    reversed_input = {s: list(reversed(k)) for s, k in klines.items()}
    assert build_traps(reversed_input, prices, NOW) == result
    assert set(result.skipped) == {"STALEUSDT", "NOPRICEUSDT"}
    assert "stale" in result.skipped["STALEUSDT"]
    assert {t.symbol for t in result.candidates} == {"BTCUSDT", "ETHUSDT"}
    # Open kline ignored: volume ratio 30 / ((55×10 + 5×30) / 60) = 2.57 → capped 100, and the
    # bands stay near the price (the open kline's close is 5× the price).
    assert all(t.volume == 100 for t in result.candidates)
    bands = [t for t in result.candidates if t.kind is TripwireKind.BOLLINGER]
    assert bands and all(
        abs(t.level / (1000 if t.symbol == "BTCUSDT" else 2000) - 1) < 0.01 for t in bands
    )
    assert len(result.armed) <= 20
    assert all(t.score > 50 for t in result.armed)
    assert [t.score for t in result.armed] == sorted((t.score for t in result.armed), reverse=True)


def test_trade_burst_springs_an_armed_trap_into_an_entry_plan() -> None:
    result = build_traps({"BTCUSDT": symbol_klines(1000.0)}, {"BTCUSDT": 1000.0}, NOW)
    assert result.armed
    state = ScavengerState()
    state.resume("startup", NOW)
    state.set_armed(result.armed, NOW)
    detector = SpringDetector()
    detector.arm(result.armed, NOW)
    target = result.armed[0]
    bybit = VelocityTracker()
    bybit.update(1000.0, NOW)
    sprung = None
    for i in range(50):
        sprung = detector.on_trade("BTCUSDT", target.level, NOW + 1_000 + i) or sprung
    assert sprung is not None and sprung.direction is target.direction
    state.record_sprung(sprung, target.level, NOW + 1_049)
    bybit.update(target.level, NOW + 1_050)
    plan = plan_entry(sprung, bybit, NOW + 1_050)
    assert isinstance(plan, EntryPlan)
    assert plan.side is target.direction.side and plan.order_type is OrderType.LIMIT
    if plan.side is Side.BUY:
        assert plan.stop_loss < plan.price < plan.take_profit
    else:
        assert plan.take_profit < plan.price < plan.stop_loss
    assert float(abs(plan.take_profit - plan.price) / plan.price) == pytest.approx(0.03)
    assert state.as_dict()["sprung"][0]["trapId"] == sprung.trap_id
