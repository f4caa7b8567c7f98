"""Hunter's points of interest on hand-built candles (STRATEGIES.md, Hunter "POI")."""

from __future__ import annotations

from tests.strategies.hunter_bars import M15, bar
from titan.strategies.hunter.poi import (
    HOUR_MS,
    Pool,
    Zone,
    fair_value_gaps,
    liquidity_pools,
    merge_pools,
    ob_base_confidence,
    ob_decay,
    order_blocks,
    pool_strength,
    with_confluence,
)
from titan.strategies.hunter.structure import Bos, Direction, Fractal, Trend


def test_bullish_fvg_and_its_midpoint() -> None:
    bars = [bar(0, 10, 10, 9, 10), bar(1, 10, 12, 10, 12), bar(2, 12, 13, 11, 13)]
    [gap] = fair_value_gaps(bars)
    assert gap.direction is Direction.LONG and (gap.low, gap.high) == (10.0, 11.0)
    assert gap.entry == 10.5


def test_fvg_mitigated_when_price_trades_through_its_far_edge() -> None:
    bars = [bar(0, 10, 10, 9, 10), bar(1, 10, 12, 10, 12), bar(2, 12, 13, 11, 13)]
    assert fair_value_gaps([*bars, bar(3, 13, 13, 10.5, 12)])  # into it, not through
    assert fair_value_gaps([*bars, bar(3, 13, 13, 9.9, 12)]) == []


def test_bearish_fvg_mirrors() -> None:
    bars = [bar(0, 13, 13, 12, 12), bar(1, 12, 12, 10, 10), bar(2, 10, 11, 9, 9)]
    [gap] = fair_value_gaps(bars)
    assert gap.direction is Direction.SHORT and (gap.low, gap.high) == (11.0, 12.0)


def test_order_block_is_the_last_opposite_candle_before_the_bos() -> None:
    bars = [bar(i, 10, 10.5, 9.5, 10.2, v=10) for i in range(20)]
    bars += [bar(20, 10.2, 10.4, 9.6, 9.8, v=20),   # bearish: an earlier one
             bar(21, 9.8, 10.1, 9.5, 10.0, v=10),   # bullish
             bar(22, 10.0, 10.1, 9.4, 9.6, v=30),   # bearish: the last before the BOS
             bar(23, 9.6, 12.0, 9.6, 11.8, v=10)]   # the breaking bar
    bos = [Bos(Fractal(15, 10.5, True), 23, Trend.BULL)]
    [ob] = order_blocks(bars, bos)
    assert ob.start_ms == 22 * M15 and ob.direction is Direction.LONG
    assert (ob.low, ob.high) == (9.4, 10.1) and ob.entry == 10.1
    avg = (18 * 10 + 20 + 10) / 20
    assert ob.base_confidence == min(90.0, 60 + 15 * 30 / avg)


def test_ob_confidence_caps_at_90() -> None:
    assert ob_base_confidence(100.0, 10.0) == 90.0
    assert ob_base_confidence(10.0, 10.0) == 75.0


def test_decay_is_computed_from_age_and_never_compounds() -> None:
    z = Zone("OB", Direction.LONG, 9.0, 10.0, 0, 80.0)
    at_84h = z.confidence(84 * HOUR_MS)
    assert at_84h == 80.0 * 0.5
    # asked again and again at the same age: the same answer (a compounding decay would
    # have halved it again each time)
    for _ in range(5):
        assert z.confidence(84 * HOUR_MS) == at_84h
    assert z.confidence(168 * HOUR_MS) == 80.0 * 0.3  # the floor
    assert z.confidence(1000 * HOUR_MS) == 80.0 * 0.3
    assert ob_decay(0.0) == 1.0


def test_pool_strength_formula() -> None:
    assert pool_strength(0.0, 10.0, 10.0) == 0.6 * 100 + 0.4 * 50
    assert pool_strength(72.0, 100.0, 10.0) == 0.6 * 50 + 0.4 * 100
    assert pool_strength(1000.0, 0.0, 10.0) == 0.0


def test_pools_kept_above_20_and_swept_past_0_1_pct() -> None:
    bars = [bar(i, 100, 101, 99, 100, v=10) for i in range(10)]
    bars[4] = bar(4, 100, 105, 99, 100, v=10)  # fractal high at 105
    frs = [Fractal(4, 105.0, True)]
    [pool] = liquidity_pools(bars, frs, now_ms=10 * M15)
    assert pool.above and not pool.swept
    wick = [*bars, bar(10, 104, 105.1, 103, 104)]  # 0.095 % beyond: not swept
    assert not liquidity_pools(wick, frs, now_ms=11 * M15)[0].swept
    swept = [*bars, bar(10, 104, 105.2, 103, 104)]
    assert liquidity_pools(swept, frs, now_ms=11 * M15)[0].swept
    # very old and thin: strength ≤ 20 is dropped
    assert liquidity_pools(bars, frs, now_ms=1000 * HOUR_MS) == []


def test_same_side_pools_within_1_pct_merge() -> None:
    pools = [Pool(100.0, True, 40.0, 0), Pool(100.9, True, 60.0, 0),
             Pool(102.5, True, 30.0, 0), Pool(100.5, False, 50.0, 0)]
    merged = merge_pools(pools)
    above = sorted((p.price, p.strength) for p in merged if p.above)
    assert above == [(100.9, 60.0), (102.5, 30.0)]
    assert [p.price for p in merged if not p.above] == [100.5]


def test_confluence_adds_25_to_pois_within_half_a_percent() -> None:
    a = Zone("OB", Direction.LONG, 99.0, 100.0, 0, 60.0)  # entry 100
    b = Zone("FVG", Direction.LONG, 99.6, 100.4, 0, 60.0)  # entry 100.0
    c = Zone("FVG", Direction.LONG, 90.0, 91.0, 0, 60.0)
    za, zb, zc = with_confluence([a, b, c])
    assert za.confidence(0) == 85.0 and zb.confidence(0) == 85.0
    assert zc.confidence(0) == 60.0
