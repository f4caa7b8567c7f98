"""Hunter's entry plan, sizing, limits, cancel/retry and management rules."""

from __future__ import annotations

from typing import Any

from titan.strategies.hunter.manage import LossStreak, Managed, step
from titan.strategies.hunter.plan import (
    EntryPlan,
    cancel_reason,
    correlation,
    may_retry,
    plan_entry,
    size,
)
from titan.strategies.hunter.poi import Zone
from titan.strategies.hunter.structure import Direction

H = 3_600_000


def _plan() -> EntryPlan:
    return plan_entry("ETHUSDT", Direction.LONG, Zone("OB", Direction.LONG, 98.0, 100.0, 0, 80))


def test_entry_at_the_block_top_with_stop_and_3r_target() -> None:
    p = _plan()
    assert p.entry == 100.0 and round(p.stop, 9) == 98.5 and round(p.target, 9) == 104.5
    s = plan_entry("X", Direction.SHORT, Zone("OB", Direction.SHORT, 100.0, 102.0, 0, 80))
    assert s.entry == 100.0 and round(s.stop, 9) == 101.5 and round(s.target, 9) == 95.5


def _size(**kw: Any) -> float:
    args: dict[str, Any] = {"equity": 10_000.0, "open_positions": 0, "open_risk": 0.0,
                              "loss_streak": 0, "max_correlation": None,
                              "weekly_drawdown_pct": 0.0}
    args.update(kw)
    return size(_plan(), **args).qty


def test_risk_is_2_pct_over_open_positions_plus_one() -> None:
    assert round(_size(), 6) == round(200.0 / 1.5, 6)
    assert round(_size(open_positions=1, open_risk=10.0), 6) == round(100.0 / 1.5, 6)


def test_loss_streak_cuts_30_pct_until_a_win() -> None:
    streak = LossStreak()
    for pnl in (-1.0, -1.0, -1.0):
        streak.record(pnl)
    assert round(_size(loss_streak=streak.losses), 6) == round(0.7 * 200.0 / 1.5, 6)
    streak.record(5.0)
    assert streak.losses == 0 and round(_size(loss_streak=streak.losses), 6) == round(
        200.0 / 1.5, 6)
    assert round(_size(loss_streak=2), 6) == round(200.0 / 1.5, 6)


def test_limits_positions_heat_correlation_and_leverage() -> None:
    assert size(_plan(), equity=1e4, open_positions=5, open_risk=0, loss_streak=0,
                max_correlation=None, weekly_drawdown_pct=0).refused
    assert size(_plan(), equity=1e4, open_positions=1, open_risk=1_450, loss_streak=0,
                max_correlation=None, weekly_drawdown_pct=0).refused.startswith("heat")
    assert round(_size(max_correlation=0.75), 6) == round(100.0 / 1.5, 6)
    assert _size(max_correlation=0.9) == 0.0
    assert size(_plan(), equity=1e4, open_positions=0, open_risk=0, loss_streak=0,
                max_correlation=None, weekly_drawdown_pct=10.5).leverage == 3
    assert size(_plan(), equity=1e4, open_positions=0, open_risk=0, loss_streak=0,
                max_correlation=None, weekly_drawdown_pct=9.0).leverage == 5


def test_correlation() -> None:
    a = [0.01, -0.02, 0.03, 0.0, 0.01]
    c = correlation(a, [2 * x for x in a])
    assert c is not None and abs(c - 1.0) < 1e-12
    c = correlation(a, [-x for x in a])
    assert c is not None and abs(c + 1.0) < 1e-12
    assert correlation([0.0, 0.0, 0.0], a) is None


def test_cancel_rules() -> None:
    p = _plan()
    kw: dict[str, Any] = {"placed_ms": 0, "wick_low": None, "wick_high": None}
    assert cancel_reason(p, now_ms=59_999, price=100.5, **kw) is None  # too soon
    assert cancel_reason(p, now_ms=60_000, price=100.15, **kw) is None  # near enough
    assert cancel_reason(p, now_ms=60_000, price=100.2, **kw) is not None
    assert cancel_reason(p, placed_ms=0, now_ms=1, price=100.0, wick_low=98.0 * 0.994,
                         wick_high=None) is not None
    assert cancel_reason(p, placed_ms=0, now_ms=1, price=100.0, wick_low=98.0 * 0.996,
                         wick_high=None) is None


def test_a_refused_post_only_is_retried_at_most_twice() -> None:
    assert [may_retry(n) for n in (1, 2, 3)] == [True, True, False]


def _managed() -> Managed:
    return Managed("p1", "ETHUSDT", Direction.LONG, entry=100.0, initial_stop=98.0, stop=98.0,
                   target=106.0, qty=10.0, opened_ms=0)


def test_break_even_at_1_5r() -> None:
    m = _managed()
    assert step(m, 102.9, None, H) == [] and m.stop == 98.0
    [a] = step(m, 103.0, None, H)
    assert a.kind == "BREAKEVEN" and m.stop == 100.0


def test_the_2r_partial_happens_once_even_after_a_restart() -> None:
    m = _managed()
    kinds = [a.kind for a in step(m, 104.0, None, H)]
    assert kinds == ["BREAKEVEN", "PARTIAL"] and m.partial_qty == 5.0
    assert [a.kind for a in step(m, 104.5, None, H)] == []  # not again
    restored = Managed.from_json(m.to_json())  # the stored record after a restart
    assert restored.partial_done
    assert all(a.kind != "PARTIAL" for a in step(restored, 105.0, 0.5, H))


def test_r_is_from_the_initial_stop_and_the_trail_tightens_only() -> None:
    m = _managed()
    step(m, 104.0, None, H)  # stop at break-even; r unit stays 2 (not entry − stop = 0)
    assert m.r_multiple(104.0) == 2.0
    step(m, 105.0, 1.0, H)
    assert m.stop == 104.0  # 1 ATR under
    step(m, 104.5, 1.0, H)
    assert m.stop == 104.0  # never loosens
    step(m, 106.0, 1.0, 49 * H)
    assert m.stop == 105.5  # 0.5 ATR after 48 h


def test_exit_when_price_crosses_the_managed_stop() -> None:
    m = _managed()
    step(m, 104.0, None, H)
    [a] = step(m, 100.0, None, H)
    assert a.kind == "EXIT" and a.qty == 5.0 and m.closed
    assert step(m, 99.0, None, H) == []
