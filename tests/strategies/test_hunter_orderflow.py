"""Hunter's order-flow confirmation on hand-built trades (STRATEGIES.md, Hunter "CVD")."""

from __future__ import annotations

from titan.strategies.hunter.orderflow import KEEP_MS, CvdTracker, strength
from titan.strategies.hunter.structure import Direction

MIN = 60_000
T0 = 1_000 * MIN


def _feed(tr: CvdTracker, minute: int, price: float, qty: float, sell: bool) -> None:
    tr.add(T0 + minute * MIN + 1_000, price, qty, buyer_is_maker=sell)


def _absorption() -> CvdTracker:
    """Lower price lows each minute, while selling fades: CVD's low rises."""
    tr = CvdTracker()
    _feed(tr, 0, 100.0, 10.0, sell=True)   # cvd −1000
    _feed(tr, 1, 99.5, 1.0, sell=True)     # low 99.5, cvd −1099.5
    _feed(tr, 1, 99.6, 8.0, sell=False)    # cvd −302.7
    _feed(tr, 2, 99.0, 0.5, sell=True)     # low 99.0, cvd −352.2
    _feed(tr, 2, 99.1, 5.0, sell=False)
    return tr


def test_cvd_is_quote_notional_signed_by_the_aggressor() -> None:
    tr = CvdTracker()
    tr.add(T0, 100.0, 2.0, buyer_is_maker=False)
    tr.add(T0 + 1, 50.0, 1.0, buyer_is_maker=True)
    assert tr.cvd(T0 + 10) == 200.0 - 50.0


def test_cvd_sums_five_minutes_and_keeps_ten() -> None:
    tr = CvdTracker()
    tr.add(T0, 1.0, 1.0, False)
    tr.add(T0 + 6 * MIN, 1.0, 2.0, False)
    assert tr.cvd(T0 + 6 * MIN + 1) == 2.0  # the first is older than 5 min
    tr.add(T0 + KEEP_MS + 1, 1.0, 1.0, False)
    assert len(tr) == 2  # the first is older than 10 min: gone


def test_absorption_confirms_a_long() -> None:
    sig = _absorption().signal(Direction.LONG, T0 + 3 * MIN)
    assert sig.pattern == "absorption"
    assert sig.strength >= 70 and sig.confirms


def test_a_short_needs_distribution_not_absorption() -> None:
    sig = _absorption().signal(Direction.SHORT, T0 + 3 * MIN)
    assert sig.pattern == "none" and not sig.confirms


def test_distribution_confirms_a_short() -> None:
    tr = CvdTracker()
    _feed(tr, 0, 100.0, 10.0, sell=False)  # cvd +1000
    _feed(tr, 1, 100.5, 1.0, sell=False)   # high 100.5
    _feed(tr, 1, 100.4, 8.0, sell=True)
    _feed(tr, 2, 101.0, 0.5, sell=False)   # high 101
    _feed(tr, 2, 100.9, 5.0, sell=True)
    short = tr.signal(Direction.SHORT, T0 + 3 * MIN)
    assert short.pattern == "distribution" and short.confirms
    assert not tr.signal(Direction.LONG, T0 + 3 * MIN).confirms


def test_lower_lows_that_are_not_strict_do_not_confirm() -> None:
    tr = CvdTracker()
    _feed(tr, 0, 100.0, 10.0, sell=True)
    _feed(tr, 1, 99.0, 1.0, sell=True)
    _feed(tr, 1, 99.6, 8.0, sell=False)
    _feed(tr, 2, 99.0, 0.5, sell=True)  # an equal low
    assert tr.signal(Direction.LONG, T0 + 3 * MIN).pattern == "none"


def test_strength_formula_and_threshold() -> None:
    assert strength(100.0, 99.0, -1000.0, -500.0) == min(100.0, 50 * (1.0 + 0.5))
    weak = strength(100.0, 99.9, -1000.0, -900.0)
    assert abs(weak - 50 * (0.1 + 0.1)) < 1e-9 and weak < 70


def test_samples_follow_trade_time_not_arrival_order() -> None:
    ordered, shuffled = _absorption(), CvdTracker()
    trades = list(ordered._trades)
    for ts, price, q in [*trades[-2:], *trades[:-2]]:  # the newest minute arrives first
        shuffled.add(ts, price, abs(q) / price, buyer_is_maker=q < 0)
    assert shuffled.samples(T0 + 3 * MIN) == ordered.samples(T0 + 3 * MIN)
