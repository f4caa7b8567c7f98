"""Sentinel's pure rules on hand-built fixtures: the depth-weighted basis, the one-minute
z-score, the carry-versus-fees entry test and the unwind rules, at their edges."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from titan.strategies.sentinel.basis import (
    BasisSeries,
    basis,
    depth_price,
    entry_basis,
    exit_basis,
    zscore,
)
from titan.strategies.sentinel.carry import (
    EntryOutcome,
    FundingStreak,
    UnwindReason,
    entry_test,
    pair_pnl,
    round_trip_fees,
    unwind_reason,
)
from titan.strategies.sentinel.pairs import OpenPair

ASKS = [(D(100), D(1)), (D(101), D(2)), (D(103), D(5))]
BIDS = [(D(100), D(1)), (D(99), D(2))]
M = 60_000


def test_depth_price_walks_the_book_for_the_size() -> None:
    assert depth_price(ASKS, D("0.5"), ascending=True).price == D(100)
    # 1 @ 100 + 2 @ 101 = 302 for 3 coins
    p = depth_price(ASKS, D(3), ascending=True)
    assert p.price == D(302) / 3 and p.covered
    # bids descend: 1 @ 100 + 1 @ 99
    assert depth_price(BIDS, D(2), ascending=False).price == D("99.5")


def test_depth_price_thinner_than_the_size_prices_the_rest_at_the_worst_level() -> None:
    p = depth_price(BIDS, D(5), ascending=False)
    assert not p.covered and p.price == (D(100) + 2 * D(99) + 2 * D(99)) / 5


def test_no_depth_uses_top_of_book_and_bad_books_are_refused() -> None:
    assert depth_price([], D(1), top=D(42), ascending=True) == depth_price(
        [], D(7), top=D(42), ascending=True)
    assert depth_price([], D(1), top=D(42), ascending=True).price == D(42)
    with pytest.raises(ValueError, match="no depth"):
        depth_price([], D(1), ascending=True)
    with pytest.raises(ValueError, match="order"):
        depth_price(list(reversed(ASKS)), D(1), ascending=True)
    with pytest.raises(ValueError, match="order"):
        depth_price(list(reversed(BIDS)), D(2), ascending=False)
    with pytest.raises(ValueError):
        depth_price(ASKS, D(0), ascending=True)
    with pytest.raises(ValueError):
        depth_price([(D(0), D(1))], D(1), ascending=True)


def test_basis_of_an_entry_buys_spot_asks_and_sells_perp_bids() -> None:
    spot_asks = [(D(100), D(1)), (D(102), D(1))]
    perp_bids = [(D(103), D(1)), (D(101), D(1))]
    small = entry_basis(spot_asks=spot_asks, perp_bids=perp_bids, qty=D(1))
    assert small.basis == pytest.approx(0.03)
    # the intended size moves both prices: (102 − 101) / 101
    big = entry_basis(spot_asks=spot_asks, perp_bids=perp_bids, qty=D(2))
    assert big.basis == pytest.approx(1 / 101) and big.covered
    out = exit_basis(spot_bids=[(D(99), D(5))], perp_asks=[], perp_top=D(100), qty=D(1))
    assert out.basis == pytest.approx(1 / 99) and out.perp.price == D(100)
    assert basis(D(99), D(100)) == pytest.approx(-0.01)
    with pytest.raises(ValueError):
        basis(D(0), D(100))


def test_zscore_of_the_last_sample() -> None:
    assert zscore([1.0, 2.0, 3.0]) == pytest.approx((3 - 2) / (2 / 3) ** 0.5)
    assert zscore([5.0, 5.0, 5.0]) is None  # flat: no spread
    assert zscore([1.0]) is None


def _series(values: list[float], window: int = 60, start: int = 0) -> BasisSeries:
    s = BasisSeries(window)
    for i, v in enumerate(values):
        assert s.add((start + i) * M + 1_500, v)
    return s


def test_the_z_score_needs_60_one_minute_samples() -> None:
    s = _series([0.001 * (i % 2) for i in range(59)])
    assert not s.ready and s.z() is None
    s.add(59 * M, 0.01)
    assert s.ready and len(s) == 60
    assert s.z() == pytest.approx(zscore([0.001 * (i % 2) for i in range(59)] + [0.01]))
    s.add(60 * M, 0.0)  # the 61st pushes the first out
    assert len(s) == 60 and s.values()[0] == 0.001


def test_one_sample_per_minute_older_ignored_and_a_gap_restarts_the_window() -> None:
    s = _series([0.0, 0.001])
    assert s.add(M + 59_000, 0.005) and s.values() == [0.0, 0.005]  # same minute replaces
    assert not s.add(0, 0.9)  # an older minute
    assert not s.add(3 * M, float("nan"))
    s = _series([0.001 * (i % 3) for i in range(60)])
    assert s.ready
    s.add(60 * M + 30 * M, 0.002)  # 30 minutes of nothing: the first 30 are stale
    assert len(s) == 30 and not s.ready and s.z() is None
    with pytest.raises(ValueError):
        BasisSeries(1)


def test_entry_needs_z_of_2_and_carry_above_the_four_taker_fills() -> None:
    assert round_trip_fees(0.1) == pytest.approx(0.004)
    ok = entry_test(z=2.0, basis=0.0035, funding_rate=0.0006)
    assert ok.enter and ok.carry == pytest.approx(0.0041)
    assert entry_test(z=1.999, basis=0.01, funding_rate=0.001).outcome is EntryOutcome.Z_BELOW
    equal = entry_test(z=3.0, basis=0.003, funding_rate=0.001)  # carry == fees: not beaten
    assert equal.outcome is EntryOutcome.CARRY_BELOW_FEES
    # funding against the short eats the basis
    assert entry_test(z=3.0, basis=0.0045, funding_rate=-0.001).outcome is (
        EntryOutcome.CARRY_BELOW_FEES)
    assert entry_test(z=None, basis=0.01, funding_rate=0.001).outcome is (
        EntryOutcome.WARMING_UP)
    assert entry_test(z=2.5, basis=0.01, funding_rate=None).outcome is EntryOutcome.NO_FUNDING
    # a cheaper fee schedule lets a smaller carry in
    assert entry_test(z=2.0, basis=0.0015, funding_rate=0.0001, taker_fee_pct=0.03).enter
    with pytest.raises(ValueError):
        round_trip_fees(-0.1)


def test_pair_pnl_counts_both_legs_funding_and_the_fees() -> None:
    # basis 1 % converged to 0: spot +1, perp +2 on 1 coin; funding 0.5; exit fees 0.2 %
    pnl = pair_pnl(qty_spot=D(1), spot_entry=D(100), spot_now=D(101), qty_perp=D(1),
                   perp_entry=D(101), perp_now=D(99), funding=D("0.5"), fees_paid=D("0.201"))
    assert pnl == D(1) + D(2) + D("0.5") - D("0.201") - D("0.001") * (D(101) + D(99))


def test_unwind_on_convergence_in_profit_only() -> None:
    assert unwind_reason(z=0.0, pnl=D("0.01"), funding_against=0) is UnwindReason.CONVERGED
    assert unwind_reason(z=-1.0, pnl=D(0), funding_against=0) is None  # not in profit
    assert unwind_reason(z=0.01, pnl=D(5), funding_against=0) is None
    assert unwind_reason(z=None, pnl=D(5), funding_against=0) is None


def test_unwind_after_funding_against_three_settlements_running() -> None:
    streak = FundingStreak()
    for pay in (D("-1"), D("-1")):
        streak.record(pay)
    assert unwind_reason(z=3.0, pnl=D(-1), funding_against=streak.against) is None
    streak.record(D(0))  # a zero payment is not against: the run starts again
    assert streak.against == 0
    for pay in (D("-0.1"), D("-0.1"), D("-0.1")):
        streak.record(pay)
    assert unwind_reason(z=3.0, pnl=D(-1), funding_against=streak.against) is (
        UnwindReason.FUNDING_AGAINST)
    assert streak.record(D("0.2")) == 0
    assert unwind_reason(z=3.0, pnl=D(-1), funding_against=1, funding_against_n=1) is (
        UnwindReason.FUNDING_AGAINST)


def test_a_pair_books_funding_only_for_settlements_it_waited_for() -> None:
    pair = OpenPair("p", "ETHUSDT", D("0.5"), D("0.5"), D(3000),
                    D(3010), 0.0033, 0)
    h8 = 8 * 3_600_000
    # The first schedule seen only says which settlement to wait for.
    assert pair.on_schedule(D("0.0001"), h8, D(3000)) is None
    assert pair.on_schedule(D("0.0002"), h8, D(3000)) is None  # rate revised
    # The settlement passed: booked at the rate last announced for it; the short receives.
    assert pair.on_schedule(D("-0.0003"), 2 * h8, D(3100)) == D("0.3100")
    assert pair.funding == D("0.3100") and pair.streak.against == 0
    # Then a negative rate: the short pays, one against; a missing schedule books nothing.
    assert pair.on_schedule(None, None, D(3000)) is None
    assert pair.on_schedule(D("0.0001"), 3 * h8, D(3000)) == D("-0.4500")
    assert pair.streak.against == 1 and pair.settlements == 2
    assert pair.funding == D("-0.1400")
