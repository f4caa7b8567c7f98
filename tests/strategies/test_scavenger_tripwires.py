"""Tripwires against hand-computed fixtures (SPEC §6)."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest

from titan.strategies.scavenger.model import Direction, TripwireKind
from titan.strategies.scavenger.tripwires import (
    bollinger,
    bollinger_bands,
    closed_klines,
    compute_tripwires,
    daily_levels,
    liquidation_cluster,
    previous_utc_day_range,
    volume_profile,
)
from titan.venues.base import Kline


def k(
    low: float, high: float, volume: float, start_ms: int = 0, close: float | None = None
) -> Kline:
    c = (low + high) / 2 if close is None else close
    return Kline(start_ms, c, high, low, c, volume)


def ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


# --- liquidation cluster -----------------------------------------------------------------

# Range [100, 108] in 4 bins of width 2: [100,102) [102,104) [104,106) [106,108].
#   K1 100–104 vol 40 → 10 per unit of price → bin0 20, bin1 20
#   K2 102–106 vol 20 →  5 per unit         → bin1 10, bin2 10
#   K3 104–108 vol  8 →  2 per unit         → bin2  4, bin3  4
#   K4 103–103 vol  5 → all in bin1 (int((103-100)/2) = 1)
# Profile: [20, 35, 14, 4] → peak bin1, centre 103.
CLUSTER_KLINES = [k(100, 104, 40), k(102, 106, 20), k(104, 108, 8), k(103, 103, 5)]


def test_volume_profile_spreads_volume_over_high_low() -> None:
    bottom, width, profile = volume_profile(CLUSTER_KLINES, 4)
    assert (bottom, width) == (100, 2)
    assert profile == pytest.approx([20, 35, 14, 4])
    assert sum(profile) == pytest.approx(73)


def test_cluster_is_peak_bin_centre_with_direction_by_price() -> None:
    above = liquidation_cluster("BTCUSDT", CLUSTER_KLINES, 101.0, bins=4)
    assert above is not None
    assert above.level == pytest.approx(103)
    assert above.direction is Direction.LONG
    assert (above.kind, above.confidence, above.leverage) == (
        TripwireKind.LIQUIDATION_CLUSTER,
        95,
        20,
    )
    below = liquidation_cluster("BTCUSDT", CLUSTER_KLINES, 105.0, bins=4)
    assert below is not None and below.direction is Direction.SHORT


def test_cluster_uses_only_the_lookback() -> None:
    # A huge-volume kline far away, older than the lookback of 4, changes nothing.
    klines = [k(200, 210, 10_000), *CLUSTER_KLINES]
    t = liquidation_cluster("X", klines, 101.0, lookback=4, bins=4)
    assert t is not None and t.level == pytest.approx(103)


def test_cluster_tie_goes_to_bin_nearest_price() -> None:
    # Range [0, 4], 2 bins of width 2; 10 volume in each → tie; centres 1 and 3.
    klines = [k(0, 2, 10), k(2, 4, 10)]
    near_top = liquidation_cluster("X", klines, 3.5, bins=2)
    near_bottom = liquidation_cluster("X", klines, 0.5, bins=2)
    assert near_top is not None and near_top.level == pytest.approx(3)
    assert near_bottom is not None and near_bottom.level == pytest.approx(1)


def test_cluster_none_without_volume_or_at_price() -> None:
    assert liquidation_cluster("X", [k(1, 2, 0), k(2, 3, 0)], 5.0) is None
    assert liquidation_cluster("X", [], 5.0) is None
    assert liquidation_cluster("X", CLUSTER_KLINES, 103.0, bins=4) is None


def test_cluster_flat_range_is_that_price() -> None:
    t = liquidation_cluster("X", [k(50, 50, 3), k(50, 50, 4)], 49.0)
    assert t is not None and t.level == 50 and t.direction is Direction.LONG


# --- daily level -------------------------------------------------------------------------

DAY_KLINES = [
    k(1, 500, 1, ms(2024, 12, 31, 23, 59)),  # two days ago: ignored
    k(95, 110, 1, ms(2025, 1, 1, 0, 0)),  # yesterday's first minute
    k(99, 120, 1, ms(2025, 1, 1, 12, 0)),  # yesterday's high 120
    k(90, 115, 1, ms(2025, 1, 1, 23, 59)),  # yesterday's last minute, low 90
    k(80, 130, 1, ms(2025, 1, 2, 0, 0)),  # today's first minute: ignored
]


def test_previous_utc_day_high_low_across_day_boundary() -> None:
    assert previous_utc_day_range(DAY_KLINES, ms(2025, 1, 2, 0, 30)) == (120, 90)
    # At exactly midnight the previous day is already 1 January.
    assert previous_utc_day_range(DAY_KLINES, ms(2025, 1, 2)) == (120, 90)
    # One ms before midnight the previous day is 31 December: only the 23:59 kline.
    assert previous_utc_day_range(DAY_KLINES, ms(2025, 1, 2) - 1) == (500, 1)
    assert previous_utc_day_range(DAY_KLINES, ms(2025, 1, 5)) is None


def test_daily_levels_two_tripwires_with_sides() -> None:
    trips = daily_levels("ETHUSDT", DAY_KLINES, 100.0, ms(2025, 1, 2, 0, 30))
    assert [(t.label, t.level, t.direction) for t in trips] == [
        ("high", 120, Direction.LONG),
        ("low", 90, Direction.SHORT),
    ]
    assert all(
        (t.kind, t.confidence, t.leverage) == (TripwireKind.DAILY_LEVEL, 85, 12) for t in trips
    )


def test_daily_level_from_a_daily_kline() -> None:
    daily = [k(3000, 3300, 1, ms(2025, 1, 1)), k(2900, 3400, 1, ms(2025, 1, 2))]
    trips = compute_tripwires("ETHUSDT", [], 3100.0, ms(2025, 1, 2, 8), daily_klines=daily)
    assert [(t.label, t.level) for t in trips] == [("high", 3300), ("low", 3000)]


# --- Bollinger ---------------------------------------------------------------------------


def closes_klines(closes: list[float]) -> list[Kline]:
    return [Kline(i * 60_000, c, c, c, c, 1.0) for i, c in enumerate(closes)]


def test_bollinger_population_sigma_alternating() -> None:
    # 9, 11 × 10: mean 10, every deviation ±1 → population σ = 1 → bands 8 and 12.
    # (The sample σ, √(20/19) ≈ 1.026, would give 7.948 / 12.052.)
    closes = [9.0, 11.0] * 10
    lower, mid, upper = bollinger_bands(closes) or (0, 0, 0)
    assert (lower, mid, upper) == pytest.approx((8, 10, 12))
    trips = bollinger("X", closes_klines(closes), 10.5)
    assert [(t.label, t.direction) for t in trips] == [
        ("upper", Direction.LONG),
        ("lower", Direction.SHORT),
    ]
    assert [t.level for t in trips] == pytest.approx([12, 8])
    assert all((t.confidence, t.leverage) == (90, 15) for t in trips)


def test_bollinger_one_to_twenty() -> None:
    # Closes 1..20: mean 10.5; Σ(x − 10.5)² = 2 × (0.5² + 1.5² + … + 9.5²) = 665;
    # variance 665 / 20 = 33.25; σ = 5.766281297; 2σ = 11.532562595.
    closes = [float(i) for i in range(1, 21)]
    lower, mid, upper = bollinger_bands(closes) or (0, 0, 0)
    assert mid == pytest.approx(10.5)
    assert upper == pytest.approx(22.032562595, abs=1e-8)
    assert lower == pytest.approx(-1.032562595, abs=1e-8)
    # Only the last 20 closes count.
    assert bollinger_bands([1000.0, *closes]) == pytest.approx((lower, mid, upper))


def test_bollinger_needs_twenty() -> None:
    assert bollinger("X", closes_klines([1.0] * 19), 1.0) == []
    assert bollinger_bands([1.0] * 19) is None


# --- all together ------------------------------------------------------------------------


def test_compute_tripwires_yields_all_five() -> None:
    now = ms(2025, 1, 2, 0, 30)
    base = ms(2025, 1, 2)
    klines = [k(99, 101, 10, ms(2025, 1, 1, 12)), k(97, 102, 10, ms(2025, 1, 1, 13))]
    klines += [
        Kline(base + i * 60_000, c, c + 0.5, c - 0.5, c, 5.0)
        for i, c in enumerate([100.0, 100.4] * 10)
    ]
    trips = compute_tripwires("BTCUSDT", klines, 100.2, now)
    ids = sorted(t.trap_id for t in trips)
    assert ids == sorted(
        [
            "BTCUSDT:liquidation_cluster:peak",
            "BTCUSDT:daily_level:high",
            "BTCUSDT:daily_level:low",
            "BTCUSDT:bollinger:upper",
            "BTCUSDT:bollinger:lower",
        ]
    )
    for t in trips:
        assert t.direction is (Direction.LONG if t.level > 100.2 else Direction.SHORT)
        assert math.isfinite(t.level)


@pytest.mark.parametrize(
    ("level", "price", "expected"),
    [(101.0, 100.0, Direction.LONG), (99.0, 100.0, Direction.SHORT), (100.0, 100.0, None)],
)
def test_direction_by_side_of_price(level: float, price: float, expected: Direction | None) -> None:
    assert Direction.of_level(level, price) is expected


def test_closed_klines_drops_the_open_one() -> None:
    klines = [Kline(0, 1, 1, 1, 1, 1), Kline(60_000, 1, 1, 1, 1, 1)]
    assert closed_klines(klines, 119_999) == klines[:1]
    assert closed_klines(klines, 120_000) == klines
