"""Scoring and selection against hand-computed fixtures (SPEC §6)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.scoring import (
    ScoringParams,
    atr_pct,
    combine,
    confluence_score,
    score_tripwires,
    select_traps,
    volatility_score,
    volume_score,
)
from titan.venues.base import Kline


def kl(high: float, low: float, close: float, volume: float = 1.0) -> Kline:
    return Kline(0, close, high, low, close, volume)


def tw(level: float, symbol: str = "BTCUSDT", label: str = "peak") -> Tripwire:
    return Tripwire(symbol, TripwireKind.LIQUIDATION_CLUSTER, level, 95, 20, Direction.LONG, label)


# True ranges, price 1000:
#   k0 1000.5/999.5  c1000  → first kline: high − low = 1.0
#   k1 1001/1000     c1001  → max(1, |1001−1000|, |1000−1000|) = 1.0
#   k2 1001.5/1001   c1001  → max(0.5, 0.5, 0) = 0.5
#   k3 1000.5/1000   c1000  → max(0.5, |1000.5−1001|, |1000−1001|) = 1.0 (the gap counts)
ATR_KLINES = [
    kl(1000.5, 999.5, 1000),
    kl(1001, 1000, 1001),
    kl(1001.5, 1001, 1001),
    kl(1000.5, 1000, 1000),
]


def test_atr_pct_and_volatility_score() -> None:
    # Mean TR 3.5 / 4 = 0.875 → 0.0875 % of 1000 → 100 × 0.0875 / 0.1 = 87.5.
    assert atr_pct(ATR_KLINES, 1000.0) == pytest.approx(0.0875)
    assert volatility_score(ATR_KLINES, 1000.0) == pytest.approx(87.5)
    # Period 2: k2 0.5 and k3 1.0 (k2 still sees k1's close) → 0.75 → 0.075 % → 75.
    assert volatility_score(ATR_KLINES, 1000.0, period=2) == pytest.approx(75)
    # The old full scale (0.2 %): 0.0875 / 0.2 → 43.75.
    assert volatility_score(ATR_KLINES, 1000.0, full_scale_pct=0.2) == pytest.approx(43.75)
    # Caps at 100: ATR% 0.5 ≥ 0.1.
    assert volatility_score([kl(1002.5, 997.5, 1000)], 1000.0) == 100.0
    assert volatility_score([], 1000.0) == 0.0


def test_volume_score() -> None:
    # 55 klines of 10 and 5 of 16: baseline (550 + 80) / 60 = 10.5; recent 16;
    # r = 16 / 10.5 = 1.5238 → 50 × r = 76.19.
    klines = [kl(1, 1, 1, 10.0)] * 55 + [kl(1, 1, 1, 16.0)] * 5
    assert volume_score(klines) == pytest.approx(50 * 16 / 10.5)
    assert volume_score([kl(1, 1, 1, 7.0)] * 60) == pytest.approx(50)
    assert volume_score([kl(1, 1, 1, 1.0)] * 55 + [kl(1, 1, 1, 50.0)] * 5) == 100.0
    assert volume_score([kl(1, 1, 1, 0.0)] * 10) == 0.0


def test_confluence_score() -> None:
    # Levels 100, 100.4, 100.6, 105; within 0.5 % of each one's own level:
    #   100   (±0.500): 100.4                → 1 → 50
    #   100.4 (±0.502): 100, 100.6           → 2 → 100
    #   100.6 (±0.503): 100.4                → 1 → 50
    #   105   (±0.525): none                 → 0
    trips = [tw(100, label="a"), tw(100.4, label="b"), tw(100.6, label="c"), tw(105, label="d")]
    assert [confluence_score(t, trips) for t in trips] == [50, 100, 50, 0]
    # Other symbols never count.
    assert confluence_score(trips[0], [*trips, tw(100.1, symbol="ETHUSDT")]) == 50


def test_score_tripwires_combines_with_weights() -> None:
    # 60 identical klines 1000.25/999.75 close 1000 vol 10: TR 0.5 each → ATR% 0.05 → vol
    # 100 × 0.05 / 0.1 = 50; volume ratio 1 → 50. Tripwires 1010, 1012 (2 apart, within
    # 0.5 %) and 990:
    #   1010, 1012: 0.4×50 + 0.3×50 + 0.3×50 = 50;   990: 20 + 15 + 0 = 35.
    klines = [kl(1000.25, 999.75, 1000, 10.0)] * 60
    trips = [tw(1010, label="a"), tw(1012, label="b"), tw(990, label="c")]
    scored = score_tripwires(trips, klines, 1000.0)
    assert [s.score for s in scored] == pytest.approx([50, 50, 35])
    components = [c for s in scored for c in (s.volatility, s.volume, s.confluence)]
    assert components == pytest.approx([50, 50, 50, 50, 50, 50, 50, 50, 0])
    assert [s.distance_pct for s in scored] == pytest.approx([1.0, 1.2, 1.0])
    assert combine(100, 100, 100) == pytest.approx(100)


def test_score_tripwires_one_symbol_only() -> None:
    with pytest.raises(ValueError):
        score_tripwires([tw(1), tw(2, symbol="ETHUSDT")], [], 1.0)
    assert score_tripwires([], [], 1.0) == []


# --- selection ---------------------------------------------------------------------------


def trap(score: float, i: int, distance: float = 1.0) -> Trap:
    return Trap(tw(100 + i, symbol=f"S{i:03d}"), score, 0, 0, 0, distance)


def test_best_twenty_above_sixty() -> None:
    pool = [trap(61 + i, i) for i in range(25)] + [trap(55, 100)]
    chosen = select_traps(pool)
    assert len(chosen) == 20
    assert [t.score for t in chosen] == list(range(85, 65, -1))


def test_fallback_to_fifty_when_fewer_than_twenty_qualify() -> None:
    pool = [trap(70, i) for i in range(10)] + [trap(55, 10 + i) for i in range(5)] + [trap(50, 99)]
    chosen = select_traps(pool)
    # 10 above 60 < 20 → threshold 50: 15 traps (50 itself is not > 50).
    assert len(chosen) == 15
    assert all(t.score > 50 for t in chosen)


def test_fallback_still_caps_at_twenty_best() -> None:
    pool = [trap(70, i) for i in range(15)] + [trap(51 + i, 15 + i) for i in range(10)]
    chosen = select_traps(pool)
    assert len(chosen) == 20
    assert [t.score for t in chosen[15:]] == [60, 59, 58, 57, 56]


def test_exactly_twenty_above_sixty_no_fallback() -> None:
    pool = [trap(61, i) for i in range(20)] + [trap(59, 50 + i) for i in range(5)]
    assert all(t.score == 61 for t in select_traps(pool))
    # Exactly 60 does not qualify at the first threshold.
    assert len(select_traps([trap(60, i) for i in range(30)])) == 20  # via fallback (> 50)
    assert select_traps([trap(50, i) for i in range(30)]) == []


def test_ties_prefer_nearer_price() -> None:
    far, near = trap(70, 1, distance=2.0), trap(70, 2, distance=0.5)
    assert select_traps([far, near], max_traps=1) == [near]


@given(st.lists(st.floats(min_value=0, max_value=100), max_size=60), st.integers(0, 30))
def test_selection_properties(scores: list[float], max_traps: int) -> None:
    pool = [trap(s, i) for i, s in enumerate(scores)]
    chosen = select_traps(pool, max_traps)
    above60 = [t for t in pool if t.score > 60]
    assert len(chosen) <= max_traps
    assert all(t.score > 50 for t in chosen)
    if len(above60) >= max_traps:
        assert all(t.score > 60 for t in chosen)
        assert len(chosen) == max_traps
    else:
        assert len(chosen) == min(max_traps, len([t for t in pool if t.score > 50]))
    # Best first, and nothing left out beats anything chosen.
    assert [t.score for t in chosen] == sorted((t.score for t in chosen), reverse=True)
    if chosen:
        left_out = [t for t in pool if t not in chosen and t.score > 50]
        assert all(t.score <= chosen[-1].score for t in left_out)


def test_confluence_counts_only_the_same_side_of_price() -> None:
    up = tw(100.2, label="up")
    down = Tripwire("BTCUSDT", TripwireKind.BOLLINGER, 99.9, 90, 15, Direction.SHORT, "lower")
    assert confluence_score(up, [up, down]) == 0


def test_scoring_params_are_used() -> None:
    klines = [kl(1000.5, 999.5, 1000, 10.0)] * 60  # ATR% 0.1
    [t] = score_tripwires([tw(1010)], klines, 1000.0, ScoringParams(vol_full_scale_pct=0.4))
    assert t.volatility == pytest.approx(25)  # 100 × 0.1 / 0.4
