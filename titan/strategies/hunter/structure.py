"""Market structure on closed candles (STRATEGIES.md, Hunter "Structure"): pure functions.

Fractals → breaks of structure (BOS) → trend from the last three BOS, the 15 m market
structure shift (MSS), the dealing range and its location, the veto and relative
strength against BTC. Every function takes closed candles only (the caller drops the
venue's forming bar) and reads no clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from titan.venues.base import Kline

EQUILIBRIUM_BAND = 0.05  # ±5 % of the range around its midpoint
VETO_ATR_PCT = 4.0  # 4 h ATR(14) above 4 % of price at EQUILIBRIUM blocks both sides
ATR_PERIOD = 14


class Trend(StrEnum):
    BULL = "BULL"
    BEAR = "BEAR"
    RANGE = "RANGE"


class Location(StrEnum):
    PREMIUM = "PREMIUM"
    DISCOUNT = "DISCOUNT"
    EQUILIBRIUM = "EQUILIBRIUM"


class Direction(StrEnum):
    LONG = "LONG"
    SHORT = "SHORT"

    @property
    def trend(self) -> Trend:
        return Trend.BULL if self is Direction.LONG else Trend.BEAR

    @property
    def sign(self) -> int:
        return 1 if self is Direction.LONG else -1


@dataclass(frozen=True, slots=True)
class Fractal:
    index: int
    price: float
    high: bool  # a fractal high (True) or low (False)


@dataclass(frozen=True, slots=True)
class Bos:
    """A close strictly beyond a fractal: BULL through a high, BEAR through a low."""

    fractal: Fractal
    index: int  # the bar whose close broke it
    direction: Trend


def fractals(bars: Sequence[Kline]) -> list[Fractal]:
    """Bar i is a fractal high when its high is strictly above the highs of i−2, i−1,
    i+1 and i+2 (an equal high is no fractal); lows mirror. The last two bars lack two
    bars after them, so they never are."""
    out: list[Fractal] = []
    for i in range(2, len(bars) - 2):
        around = (bars[i - 2], bars[i - 1], bars[i + 1], bars[i + 2])
        if all(bars[i].high > b.high for b in around):
            out.append(Fractal(i, bars[i].high, True))
        if all(bars[i].low < b.low for b in around):
            out.append(Fractal(i, bars[i].low, False))
    return out


def breaks(bars: Sequence[Kline], frs: Sequence[Fractal]) -> list[Bos]:
    """Each fractal's first later close strictly beyond it (a wick is not a break), at
    most once per fractal; in the order they happened."""
    out: list[Bos] = []
    for f in frs:
        for j in range(f.index + 1, len(bars)):
            c = bars[j].close
            if (f.high and c > f.price) or (not f.high and c < f.price):
                out.append(Bos(f, j, Trend.BULL if f.high else Trend.BEAR))
                break
    out.sort(key=lambda b: (b.index, b.fractal.index))
    return out


def trend_of(bos: Sequence[Bos]) -> Trend:
    """The last three BOS all one way → that trend; otherwise (or fewer) RANGE (3 of 3)."""
    last = bos[-3:]
    if len(last) == 3 and len({b.direction for b in last}) == 1:
        return last[0].direction
    return Trend.RANGE


def mss(bos: Sequence[Bos]) -> Trend | None:
    """Market structure shift: the latest BOS opposes the trend the three BOS before it
    made (the trend *including* the latest could never be opposed by it). Returns the
    shift's direction, or None."""
    if len(bos) < 4:
        return None
    prior = trend_of(bos[:-1])
    latest = bos[-1].direction
    if prior is not Trend.RANGE and latest is not prior:
        return latest
    return None


@dataclass(frozen=True, slots=True)
class DealingRange:
    low: float
    high: float

    def position(self, price: float) -> float:
        return (price - self.low) / (self.high - self.low)

    def location(self, price: float) -> Location:
        pos = self.position(price)
        if abs(pos - 0.5) <= EQUILIBRIUM_BAND:
            return Location.EQUILIBRIUM
        return Location.DISCOUNT if pos < 0.5 else Location.PREMIUM


def dealing_range(frs: Sequence[Fractal]) -> DealingRange | None:
    """From the most recent swing low to the most recent swing high; None when either is
    missing or they do not make a range (the low at or above the high)."""
    hi = next((f for f in reversed(frs) if f.high), None)
    lo = next((f for f in reversed(frs) if not f.high), None)
    if hi is None or lo is None or lo.price >= hi.price:
        return None
    return DealingRange(lo.price, hi.price)


def atr(bars: Sequence[Kline], period: int = ATR_PERIOD) -> float | None:
    """Mean true range of the last `period` bars (a simple mean: replays agree exactly)."""
    if len(bars) < period + 1:
        return None
    trs = [max(b.high - b.low, abs(b.high - p.close), abs(b.low - p.close))
           for p, b in zip(bars[-period - 1:-1], bars[-period:], strict=True)]
    return sum(trs) / period


def veto(daily: Trend, loc4h: Location | None, atr4h_pct: float | None) -> dict[Direction, str]:
    """Which directions are blocked and why (empty: none)."""
    out: dict[Direction, str] = {}
    if daily is Trend.BULL and loc4h is Location.PREMIUM:
        out[Direction.LONG] = "daily BULL with 4 h in PREMIUM"
    if daily is Trend.BEAR and loc4h is Location.DISCOUNT:
        out[Direction.SHORT] = "daily BEAR with 4 h in DISCOUNT"
    if loc4h is Location.EQUILIBRIUM and atr4h_pct is not None and atr4h_pct > VETO_ATR_PCT:
        why = f"4 h ATR {atr4h_pct:.2f} % > {VETO_ATR_PCT:g} % at EQUILIBRIUM"
        out.setdefault(Direction.LONG, why)
        out.setdefault(Direction.SHORT, why)
    return out


def relative_strength(symbol_4h: Sequence[Kline], btc_4h: Sequence[Kline]) -> float | None:
    """The symbol's return minus BTC's between the last two 4 h closes (a fraction)."""
    if len(symbol_4h) < 2 or len(btc_4h) < 2:
        return None
    a, b = symbol_4h[-2].close, symbol_4h[-1].close
    x, y = btc_4h[-2].close, btc_4h[-1].close
    if a <= 0 or x <= 0:
        return None
    return (b / a - 1.0) - (y / x - 1.0)


def rs_passes(direction: Direction, rs: float | None) -> bool:
    """A long needs RS > 0, a short RS < 0 (no RS: fails)."""
    if rs is None:
        return False
    return rs > 0 if direction is Direction.LONG else rs < 0


@dataclass(frozen=True, slots=True)
class Structure:
    """One timeframe's structure."""

    fractals: list[Fractal]
    bos: list[Bos]
    trend: Trend
    mss: Trend | None
    range: DealingRange | None
    location: Location | None


def analyse(bars: Sequence[Kline]) -> Structure:
    frs = fractals(bars)
    bos = breaks(bars, frs)
    rng = dealing_range(frs)
    loc = rng.location(bars[-1].close) if rng is not None and bars else None
    return Structure(frs, bos, trend_of(bos), mss(bos), rng, loc)
