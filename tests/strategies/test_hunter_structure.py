"""Hunter's structure rules on hand-built candles (STRATEGIES.md, Hunter "Structure")."""

from __future__ import annotations

from tests.strategies.hunter_bars import bar, from_highs_lows
from titan.strategies.hunter.structure import (
    Bos,
    DealingRange,
    Direction,
    Fractal,
    Location,
    Trend,
    atr,
    breaks,
    dealing_range,
    fractals,
    mss,
    relative_strength,
    rs_passes,
    trend_of,
    veto,
)


def test_a_fractal_high_is_strictly_above_the_two_bars_either_side() -> None:
    bars = from_highs_lows([(10, 9), (11, 9), (12, 9), (11, 9), (10, 9)])
    highs = [f for f in fractals(bars) if f.high]
    assert [(f.index, f.price) for f in highs] == [(2, 12.0)]


def test_equal_highs_are_not_a_fractal() -> None:
    # bar 2's high equals bar 4's: not strictly above both neighbours on the right
    bars = from_highs_lows([(10, 9), (11, 9), (12, 9), (11, 9), (12, 9), (10, 9), (9, 8)])
    assert all(f.index != 2 for f in fractals(bars) if f.high)
    # bar 4 equals bar 2 on its left: not one either
    assert all(f.index != 4 for f in fractals(bars) if f.high)


def test_the_last_two_bars_are_never_fractals() -> None:
    bars = from_highs_lows([(10, 9), (11, 9), (12, 9), (13, 9), (20, 9)])
    assert fractals(bars) == [] or all(f.index <= len(bars) - 3 for f in fractals(bars))
    assert all(f.index != 4 and f.index != 3 for f in fractals(bars))


def test_fractal_lows_mirror() -> None:
    bars = from_highs_lows([(10, 5), (10, 4), (10, 3), (10, 4), (10, 5)])
    assert [(f.index, f.price, f.high) for f in fractals(bars)] == [(2, 3.0, False)]


def test_a_bos_needs_a_close_beyond_not_a_wick() -> None:
    base = [bar(0, 10, 10, 9, 9.5), bar(1, 10, 11, 9, 10), bar(2, 11, 12, 10, 11),
            bar(3, 11, 11, 9, 10), bar(4, 10, 10.5, 9, 10)]
    frs = fractals(base)
    wick = [*base, bar(5, 11, 12.5, 10, 11.9)]  # wick to 12.5, close 11.9 < 12
    assert breaks(wick, frs) == []
    close = [*base, bar(5, 11, 12.5, 10, 12.1)]
    got = breaks(close, frs)
    assert [(b.index, b.direction) for b in got] == [(5, Trend.BULL)]


def test_a_fractal_is_broken_at_most_once() -> None:
    base = [bar(0, 10, 10, 9, 9.5), bar(1, 10, 11, 9, 10), bar(2, 11, 12, 10, 11),
            bar(3, 11, 11, 9, 10), bar(4, 10, 10.5, 9, 10)]
    frs = [f for f in fractals(base) if f.high]
    bars = [*base, bar(5, 11, 13, 11, 12.5), bar(6, 12, 14, 12, 13.5)]
    assert len(breaks(bars, frs)) == 1


def _bos(*dirs: Trend) -> list[Bos]:
    return [Bos(Fractal(i, 1.0, d is Trend.BULL), i + 3, d) for i, d in enumerate(dirs)]


def test_trend_needs_three_of_three() -> None:
    assert trend_of(_bos(Trend.BULL, Trend.BULL, Trend.BULL)) is Trend.BULL
    assert trend_of(_bos(Trend.BEAR, Trend.BULL, Trend.BULL)) is Trend.RANGE  # 2 of 3 is not
    assert trend_of(_bos(Trend.BEAR, Trend.BEAR, Trend.BEAR, Trend.BULL)) is Trend.RANGE
    assert trend_of(_bos(Trend.BULL, Trend.BULL)) is Trend.RANGE


def test_mss_is_the_latest_bos_against_the_prior_trend() -> None:
    assert mss(_bos(Trend.BEAR, Trend.BEAR, Trend.BEAR, Trend.BULL)) is Trend.BULL
    assert mss(_bos(Trend.BULL, Trend.BULL, Trend.BULL, Trend.BULL)) is None
    assert mss(_bos(Trend.BULL, Trend.BEAR, Trend.BEAR, Trend.BULL)) is None  # no prior trend


def test_dealing_range_location_with_equilibrium_band() -> None:
    r = DealingRange(100.0, 200.0)
    assert r.location(120.0) is Location.DISCOUNT
    assert r.location(180.0) is Location.PREMIUM
    assert r.location(154.9) is Location.EQUILIBRIUM
    assert r.location(145.0) is Location.EQUILIBRIUM
    assert r.location(144.0) is Location.DISCOUNT
    assert r.location(156.0) is Location.PREMIUM


def test_dealing_range_from_the_most_recent_swings() -> None:
    frs = [Fractal(2, 90.0, False), Fractal(4, 150.0, True), Fractal(6, 100.0, False),
           Fractal(8, 140.0, True)]
    assert dealing_range(frs) == DealingRange(100.0, 140.0)
    assert dealing_range([Fractal(2, 150.0, False), Fractal(4, 140.0, True)]) is None


def test_veto_rules() -> None:
    assert Direction.LONG in veto(Trend.BULL, Location.PREMIUM, 1.0)
    assert Direction.SHORT not in veto(Trend.BULL, Location.PREMIUM, 1.0)
    assert Direction.SHORT in veto(Trend.BEAR, Location.DISCOUNT, 1.0)
    assert veto(Trend.BULL, Location.DISCOUNT, 9.0) == {}
    both = veto(Trend.RANGE, Location.EQUILIBRIUM, 4.1)
    assert set(both) == {Direction.LONG, Direction.SHORT}
    assert veto(Trend.RANGE, Location.EQUILIBRIUM, 4.0) == {}


def test_atr_is_the_mean_true_range() -> None:
    bars = [bar(i, 10, 11, 9, 10) for i in range(15)]
    assert atr(bars, 14) == 2.0
    assert atr(bars[:14], 14) is None


def test_relative_strength_against_btc() -> None:
    sym = [bar(0, 1, 1, 1, 100.0), bar(1, 1, 1, 1, 103.0)]
    btc = [bar(0, 1, 1, 1, 100.0), bar(1, 1, 1, 1, 101.0)]
    rs = relative_strength(sym, btc)
    assert rs is not None and abs(rs - 0.02) < 1e-12
    assert rs_passes(Direction.LONG, rs) and not rs_passes(Direction.SHORT, rs)
    assert not rs_passes(Direction.LONG, None)
