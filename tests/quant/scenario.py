"""Recorded data where one Scavenger parameter is plainly bad: `minTrades` = 12.

SOLUSDT, in Titan's real market-data store (`titan.marketdata.store.MarketDataStore`).
The previous UTC day's high is 152.00 (the daily-level trap, a long breakout). Two windows
on the next day — training 10:00–10:15, hold-out 14:00–14:15 — each the same story:

* quiet trades at 150.50, one a second;
* at +2 min a burst of 15 trades at 152.00 in 15 ms — noise: a trap with minTrades ≤ 15
  springs, then the price falls to 150.00 through the long's 1 % stop;
* at +9 min (after the 5-minute cooldown) 450 trades at 152.00 in 100 ms — a real
  sweep: any minTrades from 16 to 450 springs here — then a climb through the 3 % target.

So minTrades 12 takes a loss and a win; 16–450 only the win (more PnL, less drawdown);
above 450 nothing. Only Binance data: the replay is priced from the signal trades.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from titan.marketdata.store import MarketDataStore

SYMBOL = "SOLUSDT"
DAY0 = int(datetime(2025, 3, 10, tzinfo=UTC).timestamp() * 1000)
DAY1 = DAY0 + 86_400_000
MIN = 60_000
TRAIN = (DAY1 + 10 * 3_600_000, DAY1 + 10 * 3_600_000 + 15 * MIN)
HOLDOUT = (DAY1 + 14 * 3_600_000, DAY1 + 14 * 3_600_000 + 15 * MIN)
LEVEL = 152.0


def _klines() -> pa.Table:
    rows: list[tuple[int, float, float, float, float, float]] = []
    for i in range(1440):
        mid = 150.0 + 1.8 * math.sin(i / 90.0)
        hi, lo = mid + 0.15, mid - 0.15
        if i == 720:
            hi = LEVEL
        if i == 1080:
            lo = 148.0
        rows.append((DAY0 + i * MIN, mid, hi, lo, mid, 1000.0 + (i % 7) * 10))
    for i in range(15 * 60):
        mid = 150.5 + 0.3 * math.sin(i / 20.0)
        rows.append((DAY1 + i * MIN, mid, mid + 0.1, mid - 0.1, mid, 1200.0))
    cols = list(zip(*rows, strict=True))
    return pa.table({"interval_min": pa.array([1] * len(rows), pa.int32()),
                     "start_ms": pa.array(cols[0], pa.int64()),
                     "open": cols[1], "high": cols[2], "low": cols[3], "close": cols[4],
                     "volume": cols[5]})


def _episode(start: int, tid: int) -> list[tuple[int, int, float, float, bool]]:
    out: list[tuple[int, int, float, float, bool]] = []

    def add(ts: int, px: float, qty: float = 1.0) -> None:
        nonlocal tid
        out.append((ts, tid, round(px, 2), qty, False))
        tid += 1

    noise, sweep, end = start + 2 * MIN, start + 9 * MIN, start + 15 * MIN
    ts = start
    while ts < noise:
        add(ts, 150.5)
        ts += 1_000
    for k in range(15):
        add(noise + k, LEVEL, 2.0)
    ts, px = noise + 1_000, LEVEL
    while ts < noise + 30_000:  # down through the stop, to 150.00
        add(ts, px)
        px = max(150.0, px - 0.1)
        ts += 1_000
    while ts < sweep:
        add(ts, 150.5)
        ts += 1_000
    for k in range(450):
        add(sweep + k // 5, LEVEL, 2.0)
    ts, px = sweep + 1_000, LEVEL
    while ts < end:
        add(ts, px)
        px = min(157.2, px + 0.04)
        ts += 1_000
    return out


def write(data_dir: Path) -> Path:
    store = MarketDataStore(data_dir / "marketdata")
    rows = _episode(TRAIN[0], 1)
    rows += _episode(HOLDOUT[0], rows[-1][1] + 1)
    cols = list(zip(*rows, strict=True))
    store.append("binance", SYMBOL, "trades", pa.table({
        "ts_ms": pa.array(cols[0], pa.int64()), "trade_id": pa.array(cols[1], pa.int64()),
        "price": cols[2], "qty": cols[3], "buyer_is_maker": cols[4]}))
    store.append("binance", SYMBOL, "klines", _klines())
    return data_dir
