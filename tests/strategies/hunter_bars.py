"""Hand-built candles for the Hunter's rule tests."""

from __future__ import annotations

from titan.venues.base import Kline

M15 = 900_000


def bar(i: int, o: float, h: float, low: float, c: float, v: float = 10.0,
        step_ms: int = M15) -> Kline:
    return Kline(start_ms=i * step_ms, open=o, high=h, low=low, close=c, volume=v)


def from_highs_lows(rows: list[tuple[float, float]], step_ms: int = M15) -> list[Kline]:
    """Bars from (high, low) with open/close at the middle."""
    return [bar(i, (h + lo) / 2, h, lo, (h + lo) / 2, step_ms=step_ms)
            for i, (h, lo) in enumerate(rows)]


def zigzag_units(cycles: int) -> list[tuple[float, float, float, float]]:
    """An uptrend of (open, high, low, close) in price units: each cycle three bullish bars
    (+3 each) then three bearish ones (−2 each), so every peak is a fractal high broken by
    the next cycle's close and every trough a higher fractal low. Ends on a pullback."""
    out: list[tuple[float, float, float, float]] = []
    c = 100.0
    for _ in range(cycles):
        for _ in range(3):
            o, c = c, c + 3.0
            out.append((o, c + 0.2, o - 0.1, c))
        for _ in range(3):
            o, c = c, c - 2.0
            out.append((o, o + 0.1, c - 0.2, c))
    return out


def mapped(units: list[tuple[float, float, float, float]], a: float, b: float,
           interval_min: int, last_start_ms: int, volume: float = 10.0) -> list[Kline]:
    """The unit bars as prices a·x + b, the last one starting at `last_start_ms`."""
    step = interval_min * 60_000
    n = len(units)
    return [Kline(start_ms=last_start_ms - (n - 1 - i) * step, open=a * o + b, high=a * h + b,
                  low=a * lo + b, close=a * c + b, volume=volume)
            for i, (o, h, lo, c) in enumerate(units)]
