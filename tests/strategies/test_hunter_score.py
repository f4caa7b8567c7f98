"""Hunter's score, grade and sessions (STRATEGIES.md, Hunter "Score")."""

from __future__ import annotations

import itertools

from titan.strategies.hunter.score import grade_of, in_killzone, score, session_of
from titan.strategies.hunter.structure import Direction, Location, Trend

H = 3_600_000


def test_parts_add_up_per_direction() -> None:
    long = score(Direction.LONG, daily=Trend.BULL, loc4h=Location.DISCOUNT,
                 trend4h=Trend.BULL, trend15=Trend.BULL, mss15=Trend.BULL)
    assert long.points == 100 and long.grade == "A+"
    short = score(Direction.SHORT, daily=Trend.BULL, loc4h=Location.DISCOUNT,
                  trend4h=Trend.BULL, trend15=Trend.BULL, mss15=Trend.BULL)
    assert short.points == 0 and short.grade == "-"


def test_no_a_plus_without_a_15m_trigger() -> None:
    # every combination of the non-15 m inputs, with no 15 m trend or MSS for the long
    best = 0
    for daily, loc, t4 in itertools.product(Trend, [*Location, None], Trend):
        s = score(Direction.LONG, daily=daily, loc4h=loc, trend4h=t4, trend15=Trend.RANGE,
                  mss15=None)
        best = max(best, s.points)
        assert s.grade != "A+"
    assert best == 50


def test_grades_and_the_volatile_regime_raise() -> None:
    assert [grade_of(p) for p in (59, 60, 69, 70, 79, 80)] == ["-", "B", "B", "A", "A", "A+"]
    assert grade_of(80, "VOLATILE_BREAKOUT") == "A"
    assert grade_of(85, "CRASH") == "A+"
    assert grade_of(64, "CRASH") == "-"
    assert grade_of(80, None) == "A+"  # no regime yet: neutral
    assert grade_of(80, "UNKNOWN") == "A+" and grade_of(60, "UNKNOWN") == "B"  # warm-up
    assert grade_of(80, "STABLE") == "A+" and grade_of(80, "MEAN_REVERSION") == "A+"


def test_short_agreement_is_bear_and_premium() -> None:
    s = score(Direction.SHORT, daily=Trend.BEAR, loc4h=Location.PREMIUM, trend4h=Trend.BEAR,
              trend15=Trend.BEAR, mss15=None)
    assert s.points == 80 and s.parts == {"htf": 50, "ltfTrend": 30, "mss": 0}


def test_killzone_is_london_or_new_york() -> None:
    assert session_of(3 * H) == "ASIA" and not in_killzone(3 * H)
    assert session_of(7 * H) == "LONDON" and in_killzone(7 * H)
    assert not in_killzone(10 * H) and session_of(10 * H) == "OFF"
    assert in_killzone(15 * H + 59 * 60_000) and not in_killzone(16 * H)
    assert in_killzone(24 * H + 13 * H)
