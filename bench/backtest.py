"""Backtest replay speed (issue 18: ≥ 100,000 trades/s for the Scavenger on this machine).

A synthetic day-like tape for one symbol — Binance aggTrades on a random walk, with bursts
at the levels the Scavenger arms (so traps spring, orders go through the gate and the
matching engine, stops and targets fire) — replayed through `titan.backtest.Backtest` with
the Scavenger, against a **baseline in the same run**: reading the very same events and
doing nothing (what reading the data costs by itself). The figure is trades/s of
replayed trades; the ratio to the baseline says what the engine and the strategy add.

By default the tape is first written to a real market-data store (Parquet, in a
temporary folder) and both the replay and the baseline read **the same files** through
`StoreSource`, as `titan backtest` does; `--memory` replays the in-memory tape instead.

    python bench/backtest.py [--quick] [--trades N] [--memory] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import random
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
from loguru import logger

from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.source import DAY_MS, ListSource, ReplaySource, StoreSource
from titan.marketdata.store import MarketDataStore
from titan.risk.config import RiskConfig
from titan.strategies.config import default_setting
from titan.strategies.registry import builtin_specs
from titan.venues.base import Kline, Trade

TARGET_TPS = 100_000.0
SYMBOL = "SOLUSDT"
DAY0 = 1_741_564_800_000  # 2025-03-10T00:00:00Z
DAY1 = DAY0 + 86_400_000


def make_source(n_trades: int, seed: int = 7) -> tuple[ListSource, int, int]:
    rng = random.Random(seed)
    bars = []
    for i in range(1440):
        mid = 150.0 + 1.8 * math.sin(i / 90.0)
        bars.append(Kline(DAY0 + i * 60_000, mid, mid + 0.2, mid - 0.2, mid, 1000.0))
    trades: list[Trade] = []
    px = 150.5
    ts = DAY1
    tid = 1
    while len(trades) < n_trades:
        ts += rng.choice((0, 0, 1, 1, 2, 5))  # a busy symbol: several trades a millisecond
        px = min(153.5, max(147.5, px + rng.gauss(0, 0.004)))
        burst = 60 if rng.random() < 0.0004 else 1  # a sweep: 60 trades in a few ms
        for k in range(burst):
            trades.append(Trade(SYMBOL, round(px, 2), 0.5, ts + k // 20, rng.random() < 0.5, tid))
            tid += 1
        ts += burst // 20
    end = trades[-1].ts_ms + 1
    minutes = (end - DAY1) // 60_000 + 2
    for i in range(minutes):
        bars.append(Kline(DAY1 + i * 60_000, 150.5, 150.8, 150.2, 150.5, 1200.0))
    return ListSource(signal_trades=trades, minute_klines={SYMBOL: bars}), DAY1, end


@dataclass(frozen=True)
class Stored:
    """The tape in a market-data store: each run opens a `StoreSource` on it (the files
    are read inside the timed part, by the replay and the baseline alike)."""

    root: Path
    start: int
    end: int

    def open(self) -> StoreSource:
        return StoreSource(MarketDataStore(self.root), (SYMBOL,), self.start, self.end,
                           history_ms=2 * DAY_MS)


def store(source: ListSource, start: int, end: int, root: Path) -> Stored:
    """Write the tape (Binance trades and 1-minute klines) to a store under `root`."""
    st = MarketDataStore(root)
    t = source.signal_trades
    st.append("binance", SYMBOL, "trades", pa.table({
        "ts_ms": [x.ts_ms for x in t], "trade_id": [x.trade_id for x in t],
        "price": [x.price for x in t], "qty": [x.qty for x in t],
        "buyer_is_maker": [x.buyer_is_maker for x in t]}))
    bars = source.minute_klines[SYMBOL]
    st.append("binance", SYMBOL, "klines", pa.table({
        "interval_min": pa.array([1] * len(bars), pa.int32()),
        "start_ms": [b.start_ms for b in bars], "open": [b.open for b in bars],
        "high": [b.high for b in bars], "low": [b.low for b in bars],
        "close": [b.close for b in bars], "volume": [b.volume for b in bars]}))
    st.compact_before("9999-12-31")  # as finished days are kept: one file a day
    return Stored(root, start, end)


def _open(source: ListSource | Stored) -> ReplaySource:
    return source.open() if isinstance(source, Stored) else source


def baseline(source: ListSource | Stored) -> tuple[int, float]:
    t0 = time.perf_counter()
    n = 0
    for _ in _open(source).events():
        n += 1
    return n, time.perf_counter() - t0


def replay(source: ListSource | Stored, start: int, end: int) -> tuple[dict[str, Any], float]:
    spec_s = builtin_specs()["scavenger"]
    spec = BacktestSpec("scavenger", (SYMBOL,), start, end, RiskConfig(), default_setting(spec_s))
    t0 = time.perf_counter()
    result = asyncio.run(Backtest(spec, _open(source), spec_s).run())
    took = time.perf_counter() - t0
    return {"round_trips": len(result.round_trips), "orders": result.orders_sent,
            "springs": result.published.get("TRAP_SPRUNG", 0)}, took


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="200,000 trades (default 1,000,000)")
    ap.add_argument("--trades", type=int, default=None)
    ap.add_argument("--json", default=None, help="write the figures to FILE")
    ap.add_argument("--memory", action="store_true",
                    help="replay the in-memory tape (default: the same files in a store)")
    args = ap.parse_args()
    n = args.trades or (200_000 if args.quick else 1_000_000)
    logger.remove()
    logger.add(lambda m: None, level="WARNING")
    tape, start, end = make_source(n)
    with tempfile.TemporaryDirectory(prefix="titan-bench-backtest-") as tmp:
        source: ListSource | Stored = tape if args.memory else \
            store(tape, start, end, Path(tmp) / "marketdata")
        n_base, t_base = baseline(source)
        what, t_run = replay(source, start, end)
        _, t_base2 = baseline(source)  # again after: the machine is shared and noisy
    base_tps = n_base / min(t_base, t_base2)
    tps = n_base / t_run
    out = {"trades": n_base, "replay_trades_per_s": round(tps),
           "baseline_read_only_per_s": round(base_tps), "replay_s": round(t_run, 3),
           "ratio_to_baseline": round(tps / base_tps, 3), **what,
           "input": "memory" if args.memory else "store files",
           "target_trades_per_s": TARGET_TPS}
    print(f"backtest replay, Scavenger, {n_base:,} trades on {SYMBOL} "
          f"({what['springs']} springs, {what['orders']} orders, {what['round_trips']} round trips)")
    print(f"  replay through the Scavenger, gate, matching  {tps:>12,.0f} trades/s ({t_run:.2f} s)")
    what_read = "events" if args.memory else "files"
    print(f"  baseline: read the same {what_read}, do nothing    {base_tps:>12,.0f} trades/s")
    verdict = "PASS" if tps >= TARGET_TPS else "MISS"
    print(f"VERDICT {verdict}: {tps:,.0f} trades/s (target ≥ {TARGET_TPS:,.0f})")
    # run_all reads each bench's verdict in the same words as the others'.
    out["verdict"] = "MET" if verdict == "PASS" else "MISSED"
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump({"backtest": out}, fh, indent=2)


if __name__ == "__main__":
    main()
