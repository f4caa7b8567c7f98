"""A stand-in for `titan.marketdata.store.MarketDataStore` (being built on another branch):
only the read functions a backtest uses, over the same layout
(`root/<venue>/<symbol>/<kind>/<day>.parquet`) and the same columns. Tests write their
hand-built data with `write_*` and point `TITAN_MARKETDATA_STORE` at this class.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from titan.venues.base import Kline, Trade

TIME = {"trades": "ts_ms", "klines": "start_ms", "tickers": "ts_ms", "funding": "ts_ms",
        "gaps": "start_ms"}
CLASS_PATH = "tests.backtest.fixture_store:MarketDataStore"


class MarketDataStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def read(self, venue: str, symbol: str, kind: str, start_ms: int,
             end_ms: int) -> Iterator[pa.RecordBatch]:
        folder = self.root / venue / symbol / kind
        files = sorted(folder.glob("*.parquet")) if folder.is_dir() else []
        if not files:
            return
        table = pa.concat_tables([pq.read_table(f) for f in files])
        col = TIME[kind]
        mask = pc.and_(pc.greater_equal(table[col], start_ms), pc.less(table[col], end_ms))
        table = table.filter(mask)
        keys = [(col, "ascending")] + ([("trade_id", "ascending")] if kind == "trades" else [])
        yield from table.sort_by(keys).to_batches(max_chunksize=65_536)

    def iter_trades(self, venue: str, symbol: str, start_ms: int,
                    end_ms: int) -> Iterator[Trade]:
        for b in self.read(venue, symbol, "trades", start_ms, end_ms):
            for r in b.to_pylist():
                yield Trade(symbol, r["price"], r["qty"], r["ts_ms"], r["buyer_is_maker"],
                            r["trade_id"])

    def iter_klines(self, venue: str, symbol: str, interval_min: int, start_ms: int,
                    end_ms: int) -> Iterator[Kline]:
        for b in self.read(venue, symbol, "klines", start_ms, end_ms):
            for r in b.to_pylist():
                if r["interval_min"] == interval_min:
                    yield Kline(r["start_ms"], r["open"], r["high"], r["low"], r["close"],
                                r["volume"])


def write_trades(root: Path, venue: str, symbol: str, trades: Sequence[Trade]) -> None:
    folder = root / venue / symbol / "trades"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "ts_ms": pa.array([t.ts_ms for t in trades], pa.int64()),
        "trade_id": pa.array([t.trade_id for t in trades], pa.int64()),
        "price": pa.array([t.price for t in trades], pa.float64()),
        "qty": pa.array([t.qty for t in trades], pa.float64()),
        "buyer_is_maker": pa.array([t.buyer_is_maker for t in trades], pa.bool_()),
    })
    pq.write_table(table, folder / "data.parquet")


def write_klines(root: Path, venue: str, symbol: str, interval_min: int,
                 bars: Sequence[Kline]) -> None:
    folder = root / venue / symbol / "klines"
    folder.mkdir(parents=True, exist_ok=True)
    table = pa.table({
        "interval_min": pa.array([interval_min] * len(bars), pa.int32()),
        "start_ms": pa.array([b.start_ms for b in bars], pa.int64()),
        "open": pa.array([b.open for b in bars], pa.float64()),
        "high": pa.array([b.high for b in bars], pa.float64()),
        "low": pa.array([b.low for b in bars], pa.float64()),
        "close": pa.array([b.close for b in bars], pa.float64()),
        "volume": pa.array([b.volume for b in bars], pa.float64()),
    })
    pq.write_table(table, folder / f"k{interval_min}.parquet")
