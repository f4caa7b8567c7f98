"""Hand-built market data written into a real `titan.marketdata.store.MarketDataStore`
(the store a backtest reads: appends, one part per UTC day, records read once). Marked as
imported by default, as the user's files are: a Titan running on the same data folder
(the Research tab's test) prunes recorded days past its retention, never these."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pyarrow as pa

from titan.marketdata.store import MarketDataStore
from titan.venues.base import Kline, Trade


def write_trades(root: Path, venue: str, symbol: str, trades: Sequence[Trade], *,
                 imported: bool = True) -> int:
    return MarketDataStore(root).append(venue, symbol, "trades", pa.table({
        "ts_ms": pa.array([t.ts_ms for t in trades], pa.int64()),
        "trade_id": pa.array([t.trade_id for t in trades], pa.int64()),
        "price": pa.array([t.price for t in trades], pa.float64()),
        "qty": pa.array([t.qty for t in trades], pa.float64()),
        "buyer_is_maker": pa.array([t.buyer_is_maker for t in trades], pa.bool_()),
    }), imported=imported)


def write_klines(root: Path, venue: str, symbol: str, interval_min: int,
                 bars: Sequence[Kline], *, imported: bool = True) -> int:
    return MarketDataStore(root).append(venue, symbol, "klines", pa.table({
        "interval_min": pa.array([interval_min] * len(bars), pa.int32()),
        "start_ms": pa.array([b.start_ms for b in bars], pa.int64()),
        "open": pa.array([b.open for b in bars], pa.float64()),
        "high": pa.array([b.high for b in bars], pa.float64()),
        "low": pa.array([b.low for b in bars], pa.float64()),
        "close": pa.array([b.close for b in bars], pa.float64()),
        "volume": pa.array([b.volume for b in bars], pa.float64()),
    }), imported=imported)
