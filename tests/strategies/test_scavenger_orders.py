"""Order type by Bybit velocity, limit prices, stop and target (SPEC §6)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from titan.domain.orders import OrderType, Side
from titan.domain.reasons import ReasonCode
from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.orders import (
    EntryPlan,
    EntryRefused,
    VelocityTracker,
    order_type_for,
    plan_entry,
    stop_and_target,
)


def trap(direction: Direction) -> Trap:
    t = Tripwire("BTCUSDT", TripwireKind.BOLLINGER, 100.0, 90, 15, direction, "upper")
    return Trap(t, 75.0, 0, 0, 0, 1.0)


def tracker(*samples: tuple[float, int]) -> VelocityTracker:
    v = VelocityTracker()
    for p, ts in samples:
        v.update(p, ts)
    return v


def plan(direction: Direction, *samples: tuple[float, int], now: int = 5_000) -> EntryPlan:
    p = plan_entry(trap(direction), tracker(*samples), now)
    assert isinstance(p, EntryPlan)
    return p


@pytest.mark.parametrize(
    ("velocity", "expected"),
    [
        (0.0, (OrderType.LIMIT, Decimal(0))),
        (0.0999, (OrderType.LIMIT, Decimal(0))),
        (0.1, (OrderType.LIMIT, Decimal("0.2"))),
        (0.3, (OrderType.LIMIT, Decimal("0.2"))),
        (0.5, (OrderType.LIMIT, Decimal("0.2"))),
        (0.5001, (OrderType.MARKET, Decimal(0))),
        (5.0, (OrderType.MARKET, Decimal(0))),
    ],
)
def test_velocity_thresholds(velocity: float, expected: tuple[OrderType, Decimal]) -> None:
    assert order_type_for(velocity) == expected


def test_velocity_over_last_five_seconds() -> None:
    # 100 → 101 in 5 s: 1 % / 5 s = 0.2 %/s.
    assert tracker((100, 0), (101, 5_000)).velocity_pct_per_s(5_000) == pytest.approx(0.2)
    # Falling counts the same (the sign is ignored).
    assert tracker((100, 0), (99, 5_000)).velocity_pct_per_s(5_000) == pytest.approx(0.2)
    # The reference is the last price known 5 s before now.
    v = tracker((100, 0), (110, 3_000), (101, 6_000))
    assert v.velocity_pct_per_s(6_000) == pytest.approx(0.2)  # vs 100 (at ts 0 ≤ 1_000)
    assert v.velocity_pct_per_s(8_000) == pytest.approx(9 / 110 * 100 / 5)  # vs 110 (3_000)
    # One price only: no movement known.
    assert tracker((100, 0)).velocity_pct_per_s(10) == 0.0


def test_out_of_order_or_bad_price_is_ignored() -> None:
    v = tracker((100, 1_000), (50, 500), (0, 1_100), (float("nan"), 1_200))
    assert v.last_price == 100 and v.last_ts_ms == 1_000


def test_stale_market_data_refuses() -> None:
    v = tracker((100, 0))
    assert v.is_fresh(5_000)
    assert not v.is_fresh(5_001)
    r = plan_entry(trap(Direction.LONG), v, 5_001)
    assert isinstance(r, EntryRefused) and r.code is ReasonCode.STALE_MARKET_DATA
    r = plan_entry(trap(Direction.LONG), VelocityTracker(), 0)
    assert isinstance(r, EntryRefused) and r.code is ReasonCode.STALE_MARKET_DATA


def test_fast_market_order_long() -> None:
    # 100 → 103 in 5 s = 0.6 %/s > 0.5 → market; entry estimate 103;
    # stop 103 × 0.99 = 101.97; target 103 × 1.03 = 106.09.
    p = plan(Direction.LONG, (100, 0), (103, 5_000))
    assert (p.order_type, p.side, p.price) == (OrderType.MARKET, Side.BUY, Decimal("103"))
    assert (p.stop_loss, p.take_profit) == (Decimal("101.97"), Decimal("106.09"))
    assert p.cancel_after_ms is None
    assert (p.confidence, p.leverage, p.symbol, p.trap_id) == (
        90,
        15,
        "BTCUSDT",
        "BTCUSDT:bollinger:upper",
    )


def test_medium_limit_through_the_touch_long_and_short() -> None:
    # 100 → 101 in 5 s = 0.2 %/s → limit 0.2 % through the touch (101).
    # Long:  101 × 1.002 = 101.202; stop × 0.99 = 100.18998; target × 1.03 = 104.23806.
    p = plan(Direction.LONG, (100, 0), (101, 5_000))
    assert (p.order_type, p.side) == (OrderType.LIMIT, Side.BUY)
    assert p.price == Decimal("101.202")
    assert (p.stop_loss, p.take_profit) == (Decimal("100.18998"), Decimal("104.23806"))
    assert p.cancel_after_ms == 2_000
    # Short: 101 × 0.998 = 100.798; stop × 1.01 = 101.80598; target × 0.97 = 97.77406.
    s = plan(Direction.SHORT, (100, 0), (101, 5_000))
    assert (s.order_type, s.side) == (OrderType.LIMIT, Side.SELL)
    assert s.price == Decimal("100.798")
    assert (s.stop_loss, s.take_profit) == (Decimal("101.80598"), Decimal("97.77406"))


def test_slow_limit_at_the_touch() -> None:
    # 100 → 100.2 in 5 s = 0.04 %/s → limit at the touch 100.2.
    p = plan(Direction.SHORT, (100, 0), (100.2, 5_000))
    assert (p.order_type, p.price, p.cancel_after_ms) == (OrderType.LIMIT, Decimal("100.2"), 2_000)
    # Short: stop 100.2 × 1.01 = 101.202 above; target 100.2 × 0.97 = 97.194 below.
    assert (p.stop_loss, p.take_profit) == (Decimal("101.202"), Decimal("97.194"))


def test_stop_and_target_sides() -> None:
    assert stop_and_target(Side.BUY, Decimal(200)) == (Decimal(198), Decimal(206))
    assert stop_and_target(Side.SELL, Decimal(200)) == (Decimal(202), Decimal(194))


def test_a_limit_at_the_touch_is_priced_at_the_top_of_the_book_it_takes() -> None:
    # Quiet market (a LIMIT at the touch); last trade 100.0, book 99.9 / 100.1.
    v = VelocityTracker()
    v.update(100.0, 0)
    v.update(100.0, 4_900, bid=99.9, ask=100.1)
    long_ = plan_entry(trap(Direction.LONG), v, 5_000)
    short = plan_entry(trap(Direction.SHORT), v, 5_000)
    assert isinstance(long_, EntryPlan) and isinstance(short, EntryPlan)
    assert long_.order_type is OrderType.LIMIT and long_.side is Side.BUY
    assert long_.price == Decimal("100.1")  # a buy meets the ask, not the last trade
    assert short.price == Decimal("99.9")  # a sell meets the bid
    # A ticker without a top (or a venue whose ticker has none): the last price.
    v.update(100.0, 4_950)
    fallback = plan_entry(trap(Direction.LONG), v, 5_000)
    assert isinstance(fallback, EntryPlan) and fallback.price == Decimal("100.0")
