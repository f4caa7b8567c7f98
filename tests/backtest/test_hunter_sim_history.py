"""A Hunter backtest over the simulator's own history: the seeded market generator's
klines (two days of minutes, months of deeper bars) and 30 minutes of its trades, written
to a real `MarketDataStore` (Binance trades as the signal feed, the same trades as the
perpetual's), replayed by `titan backtest --strategy hunter` → a report.

Whether the random market offers a setup is not the point (it rarely does in 30
minutes): the run must read that much history, scan on schedule and write its report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from titan.backtest.engine import Backtest, BacktestSpec
from titan.backtest.report import iso_ms
from titan.backtest.source import DAY_MS, StoreSource
from titan.cli import main
from titan.marketdata.store import MarketDataStore
from titan.risk.config import RiskConfig
from titan.sim.config import SimConfig
from titan.sim.market import Market
from titan.sim.market import Trade as SimTrade
from titan.strategies.config import default_setting
from titan.strategies.hunter.wiring import HUNTER

SYMBOLS = ("BTCUSDT", "ETHUSDT")
START = int(datetime(2025, 3, 11, 8, tzinfo=UTC).timestamp() * 1000)
END = START + 30 * 60_000
INTERVALS = {"1": 1, "15": 15, "60": 60, "240": 240, "D": 1440}


def _record(root: Path) -> None:
    now = [START]
    market = Market(SimConfig(symbols=SYMBOLS, bursts_per_minute=2.0), lambda: now[0])
    market.backfill()
    trades: dict[str, list[SimTrade]] = {s: [] for s in SYMBOLS}
    market.add_listener(lambda sym, batch: trades[sym].extend(batch))
    while now[0] < END:  # 30 minutes of the generated market, a step a second
        now[0] += 1_000
        market.step(1.0)
    store = MarketDataStore(root)
    for sym in SYMBOLS:
        rows: list[dict[str, Any]] = []
        for name, minutes in INTERVALS.items():
            limit = {1: 3_000, 15: 600, 60: 60, 240: 250, 1440: 120}[minutes]
            for k in market.klines(sym, name, end=START - 1, limit=limit):
                rows.append({"interval_min": minutes, "start_ms": k.start_ms,
                             "open": float(k.open), "high": float(k.high),
                             "low": float(k.low), "close": float(k.close),
                             "volume": float(k.volume)})
        store.append("bybit", sym, "klines", pa.Table.from_pylist(rows))
        table = pa.table({"ts_ms": [t.time_ms for t in trades[sym]],
                          "trade_id": [t.trade_id for t in trades[sym]],
                          "price": [float(t.price) for t in trades[sym]],
                          "qty": [float(t.qty) for t in trades[sym]],
                          "buyer_is_maker": [t.buyer_maker for t in trades[sym]]})
        store.append("binance", sym, "trades", table)
        store.append("bybit", sym, "trades", table)


async def test_the_simulators_history_is_enough_for_hunters_scan(tmp_path: Path) -> None:
    """The same data through the engine: every scan analyses both symbols (no
    SHORT_HISTORY) and ranks them with a grade."""
    _record(tmp_path / "marketdata")
    store = MarketDataStore(tmp_path / "marketdata")
    source = StoreSource(store, SYMBOLS, START, END, history_ms=HUNTER.history_days * DAY_MS)
    spec = BacktestSpec("hunter", SYMBOLS, START, END, RiskConfig(), default_setting(HUNTER),
                        sim=SimConfig(starting_balance=Decimal(10_000)))
    bt = Backtest(spec, source, HUNTER)
    scans: list[Any] = []
    bt.bus.subscribe(lambda e: scans.append(e) if e.name == "HUNTER_SCAN" else None)
    await bt.run()
    assert len(scans) == 7
    for scan in scans:
        assert scan.skipped == {} and scan.universe == 2
        assert sorted(e["symbol"] for e in scan.ranked) == list(SYMBOLS)
        assert all(e["location"] in ("PREMIUM", "DISCOUNT", "EQUILIBRIUM") for e in scan.ranked)


def test_a_hunter_backtest_over_simulator_history_writes_its_report(
        tmp_path: Path) -> None:
    data = tmp_path / "data"
    _record(data / "marketdata")
    out = tmp_path / "out"
    code = main(["backtest", "--strategy", "hunter", "--symbols", ",".join(SYMBOLS),
                 "--start", str(iso_ms(START)), "--end", str(iso_ms(END)), "--data", str(data),
                 "--balance", "10000", "--out", str(out)])
    assert code == 0
    report: dict[str, Any] = json.loads((out / "report.json").read_text())
    assert (out / "report.html").stat().st_size > 10_000
    # A scan at the start, every 5 minutes and at the end's instant: 7 in 30 minutes.
    assert report["events_published"]["HUNTER_SCAN"] == 7
    rows = report["data_range"]["rows"]
    assert all(rows[f"binance/{s}/trades"] > 1_000 for s in SYMBOLS), rows
    assert report["trades"] == len(report["trade_list"])
    assert all(t["strategy"] == "hunter" for t in report["trade_list"])
