"""One symbol's picture from its closed candles, the ranked map and the POIs: pure.

`analyse_symbol` puts the structure of the daily, 4 h and 15 m candles together with the
veto, relative strength and each direction's score; `rank` keeps the best; `pois_of`
builds the points of interest from the last 100 closed 15 m candles.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from titan.strategies.hunter.poi import (
    Pool,
    Zone,
    fair_value_gaps,
    liquidity_pools,
    order_blocks,
    with_confluence,
)
from titan.strategies.hunter.score import Score, score
from titan.strategies.hunter.structure import (
    Direction,
    Structure,
    analyse,
    atr,
    relative_strength,
    veto,
)
from titan.venues.base import Kline, ListedInstrument

DAILY_BARS, H4_BARS, M15_BARS = 100, 200, 500
POI_BARS = 100
# Fewer closed bars than this and the timeframe cannot show three BOS: a named skip.
MIN_BARS = {1440: 30, 240: 30, 15: 100}
TOP_N = 20
FOCUS_N = 5


def universe_of(listing: Sequence[ListedInstrument], whitelist: Sequence[str],
                n: int) -> list[str]:
    """The top `n` of the venue's listing by 24 h turnover (ties: by name), then only the
    whitelisted ones (all of them when no whitelist restricts it)."""
    top = [x.symbol for x in sorted(listing, key=lambda x: (-x.turnover_24h, x.symbol))[:n]]
    allowed = set(whitelist)
    return [s for s in top if s in allowed] if allowed else top


def closed(bars: Sequence[Kline], interval_min: int, now_ms: int) -> list[Kline]:
    """Only bars that have closed by `now_ms` (the venue's newest is still forming)."""
    size = interval_min * 60_000
    return [b for b in bars if b.start_ms + size <= now_ms]


@dataclass(frozen=True, slots=True)
class SymbolView:
    symbol: str
    price: float
    daily: Structure
    h4: Structure
    m15: Structure
    atr4h_pct: float | None
    atr15: float | None
    rs: float | None
    vetoes: dict[Direction, str]
    scores: dict[Direction, Score]
    at_ms: int

    @property
    def best(self) -> Score:
        long, short = self.scores[Direction.LONG], self.scores[Direction.SHORT]
        return short if short.points > long.points else long

    def as_entry(self) -> dict[str, Any]:
        best = self.best
        return {"symbol": self.symbol, "score": best.points, "grade": best.grade,
                "direction": best.direction.value, "price": self.price,
                "trends": {"daily": self.daily.trend.value, "h4": self.h4.trend.value,
                           "m15": self.m15.trend.value},
                "location": self.h4.location.value if self.h4.location else None,
                "mss": self.m15.mss.value if self.m15.mss else None,
                "veto": {d.value: why for d, why in self.vetoes.items()},
                "rs": None if self.rs is None else round(self.rs, 6),
                "atr4hPct": None if self.atr4h_pct is None else round(self.atr4h_pct, 3),
                "scores": {d.value: s.points for d, s in self.scores.items()}}


def analyse_symbol(symbol: str, daily: Sequence[Kline], h4: Sequence[Kline],
                   m15: Sequence[Kline], btc_h4: Sequence[Kline], now_ms: int,
                   regime: str | None = None) -> SymbolView | str:
    """The symbol's view, or why it cannot have one (a named skip)."""
    for interval, bars in ((1440, daily), (240, h4), (15, m15)):
        if len(bars) < MIN_BARS[interval]:
            return f"SHORT_HISTORY: {len(bars)} closed {interval} m bars (need {MIN_BARS[interval]})"
    sd, s4, s15 = analyse(daily), analyse(h4), analyse(m15)
    price = m15[-1].close
    a4 = atr(h4)
    atr4h_pct = a4 / h4[-1].close * 100.0 if a4 is not None and h4[-1].close > 0 else None
    scores = {d: score(d, daily=sd.trend, loc4h=s4.location, trend4h=s4.trend,
                       trend15=s15.trend, mss15=s15.mss, regime=regime) for d in Direction}
    return SymbolView(symbol, price, sd, s4, s15, atr4h_pct, atr(m15),
                      relative_strength(h4, btc_h4), veto(sd.trend, s4.location, atr4h_pct),
                      scores, now_ms)


def rank(views: Sequence[SymbolView], keep: int = TOP_N) -> list[SymbolView]:
    """Best score first (ties: the symbol's name, so a replay ranks the same way)."""
    return sorted(views, key=lambda v: (-v.best.points, v.symbol))[:keep]


@dataclass(frozen=True, slots=True)
class PoiSet:
    symbol: str
    zones: list[Zone]
    pools: list[Pool]
    at_ms: int
    bars: list[Kline] = field(default_factory=list)

    def as_dict(self, price: float | None, near_pct: float = 2.0) -> dict[str, Any]:
        """The zones and unswept pools within `near_pct` of the price (all without one)."""
        def near(level: float) -> bool:
            return price is None or abs(level - price) <= price * near_pct / 100

        return {"symbol": self.symbol, "atMs": self.at_ms, "price": price,
                "zones": [{"kind": z.kind, "direction": z.direction.value, "low": z.low,
                           "high": z.high, "entry": z.entry,
                           "confidence": round(z.confidence(self.at_ms), 2),
                           "confluence": z.confluence} for z in self.zones if near(z.entry)],
                "pools": [{"price": p.price, "side": "above" if p.above else "below",
                           "strength": round(p.strength, 2)}
                          for p in self.pools if not p.swept and near(p.price)]}


def pois_of(symbol: str, m15: Sequence[Kline], now_ms: int) -> PoiSet:
    """FVGs, order blocks (with confluence) and liquidity pools of the last 100 bars."""
    bars = list(m15[-POI_BARS:])
    s = analyse(bars)
    zones = with_confluence([*fair_value_gaps(bars), *order_blocks(bars, s.bos)])
    return PoiSet(symbol, zones, liquidity_pools(bars, s.fractals, now_ms), now_ms, bars)
