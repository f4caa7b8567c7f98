"""Hunter's universe and candle rules: the top N by 24 h turnover within the whitelist;
closed candles only; the scan's candle sets and cadence (STRATEGIES.md, Hunter)."""

from __future__ import annotations

from decimal import Decimal

from titan.strategies.hunter.params import HunterParams
from titan.strategies.hunter.scan import (
    DAILY_BARS,
    FOCUS_N,
    H4_BARS,
    M15_BARS,
    POI_BARS,
    TOP_N,
    closed,
    universe_of,
)
from titan.venues.base import Kline, ListedInstrument

M15 = 900_000


def _listing(*rows: tuple[str, int]) -> list[ListedInstrument]:
    return [ListedInstrument(symbol=s, turnover_24h=Decimal(t)) for s, t in rows]


def test_universe_is_the_top_by_turnover_then_the_whitelist() -> None:
    listing = _listing(("AAA", 10), ("BBB", 50), ("CCC", 30), ("DDD", 40), ("EEE", 20))
    assert universe_of(listing, [], 3) == ["BBB", "DDD", "CCC"]  # no whitelist: the top 3
    # The top 3 first, then the whitelist: AAA is whitelisted but not in the top 3.
    assert universe_of(listing, ["AAA", "CCC", "BBB"], 3) == ["BBB", "CCC"]
    ties = _listing(("ZZZ", 5), ("MMM", 5), ("AAA", 1))
    assert universe_of(ties, [], 2) == ["MMM", "ZZZ"]  # equal turnover: by name


def test_only_closed_candles_are_used() -> None:
    now = 10 * M15
    bars = [Kline(i * M15, 1.0, 1.0, 1.0, 1.0, 1.0) for i in range(11)]
    # the bar starting at 9 × 15 m closed exactly at now; the one at 10 × 15 m is forming
    assert [b.start_ms for b in closed(bars, 15, now)] == [i * M15 for i in range(10)]
    assert [b.start_ms for b in closed(bars, 15, now - 1)] == [i * M15 for i in range(9)]


def test_candle_sets_and_cadence_are_the_rules() -> None:
    assert (DAILY_BARS, H4_BARS, M15_BARS, POI_BARS) == (100, 200, 500, 100)
    p = HunterParams.model_validate({})
    assert (p.universe_n, p.top_n, p.focus_n) == (100, TOP_N, FOCUS_N) == (100, 20, 5)
    assert (p.scan_every_s, p.poi_every_s, p.poi_near_pct) == (300.0, 60.0, 0.5)
    assert (p.stop_pct, p.target_pct) == (1.5, 4.5)
