"""A hand-built market where the Scavenger's daily-high trap springs and hits its target.

SOLUSDT (tick 0.010, step 0.1). The previous UTC day ranges 148.00–152.00 (its high is
the daily-level tripwire 152.00, a long breakout above the price); today trades quietly
around 150.50 until 10:00:05.000, when 60 Binance trades print at 152.00 within 59 ms
(the spring), then the price climbs 0.04 a second to 157.20, through the 3 % target.

Only Binance data: the run is priced (and matched) from the signal trades, as a run over
imported Binance dumps is.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

from titan.venues.base import Kline, Trade

SYMBOL = "SOLUSDT"
DAY0 = int(datetime(2025, 3, 10, tzinfo=UTC).timestamp() * 1000)  # the previous UTC day
DAY1 = DAY0 + 86_400_000
START = DAY1 + 9 * 3_600_000 + 58 * 60_000  # 09:58:00
SPRING = DAY1 + 10 * 3_600_000 + 5_000  # 10:00:05.000
END = DAY1 + 10 * 3_600_000 + 10 * 60_000  # 10:10:00
LEVEL = 152.0


def minute_klines() -> list[Kline]:
    """Day 0: a wave 148–152 (the high touched once, at 12:00); day 1 up to 10:10: 150–151."""
    bars: list[Kline] = []
    for i in range(1440):
        mid = 150.0 + 1.8 * math.sin(i / 90.0)
        hi, lo = mid + 0.15, mid - 0.15
        if i == 720:
            hi = LEVEL
        if i == 1080:
            lo = 148.0
        bars.append(Kline(DAY0 + i * 60_000, mid, hi, lo, mid, 1000.0 + (i % 7) * 10))
    for i in range(10 * 60 + 10):
        mid = 150.5 + 0.3 * math.sin(i / 20.0)
        bars.append(Kline(DAY1 + i * 60_000, mid, mid + 0.1, mid - 0.1, mid, 1200.0))
    return bars


def binance_trades(*, after_spring: bool = True) -> list[Trade]:
    """One quiet trade a second from START, the spring burst, then a climb to the target."""
    trades: list[Trade] = []
    tid = 1
    ts = START
    while ts < SPRING:
        trades.append(Trade(SYMBOL, 150.5, 1.0, ts, False, tid))
        tid += 1
        ts += 1_000
    for k in range(60):  # 60 trades at the level in 59 ms: springs on the 50th
        trades.append(Trade(SYMBOL, LEVEL, 2.0, SPRING + k, False, tid))
        tid += 1
    if after_spring:
        # The price holds at the level 1 s (the entry arrives meanwhile), then climbs
        # 0.04 a second to 157.20 (the entry is a limit 0.2 % through, 152.30, so its
        # target is 156.87: crossed on the way).
        ts = SPRING + 1_000
        px = LEVEL
        while ts < END - 60_000:
            trades.append(Trade(SYMBOL, round(px, 2), 1.0, ts, False, tid))
            tid += 1
            ts += 1_000
            px = min(157.20, px + 0.04)
    return trades
