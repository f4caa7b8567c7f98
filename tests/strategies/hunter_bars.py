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
