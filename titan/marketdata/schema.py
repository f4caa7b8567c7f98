"""One Arrow schema per kind of market data, and what each kind is ordered and
deduplicated by. Times are UTC milliseconds since the epoch everywhere."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

TRADES = pa.schema([
    pa.field("ts_ms", pa.int64(), nullable=False),
    pa.field("trade_id", pa.int64(), nullable=False),
    pa.field("price", pa.float64(), nullable=False),
    pa.field("qty", pa.float64(), nullable=False),
    pa.field("buyer_is_maker", pa.bool_(), nullable=False),
])

KLINES = pa.schema([
    pa.field("interval_min", pa.int32(), nullable=False),
    pa.field("start_ms", pa.int64(), nullable=False),
    pa.field("open", pa.float64(), nullable=False),
    pa.field("high", pa.float64(), nullable=False),
    pa.field("low", pa.float64(), nullable=False),
    pa.field("close", pa.float64(), nullable=False),
    pa.field("volume", pa.float64(), nullable=False),
])

TICKERS = pa.schema([
    pa.field("ts_ms", pa.int64(), nullable=False),
    pa.field("last_price", pa.float64(), nullable=False),
    pa.field("bid", pa.float64(), nullable=True),
    pa.field("ask", pa.float64(), nullable=True),
])

FUNDING = pa.schema([
    pa.field("ts_ms", pa.int64(), nullable=False),
    pa.field("rate", pa.float64(), nullable=False),
])

GAPS = pa.schema([
    pa.field("start_ms", pa.int64(), nullable=False),
    pa.field("end_ms", pa.int64(), nullable=False),
    pa.field("reason", pa.string(), nullable=False),
    pa.field("backfilled", pa.bool_(), nullable=False),
])


@dataclass(frozen=True, slots=True)
class Kind:
    name: str
    schema: pa.Schema
    time_column: str  # files are split by the UTC day of this column; reads are in its order
    # The columns that identify one record: a record written twice is read once (the last
    # written wins). Empty: every row is its own record.
    keys: tuple[str, ...]
    tiebreak: tuple[str, ...] = ()  # sort after the time column (e.g. trade id)


KINDS: dict[str, Kind] = {k.name: k for k in (
    Kind("trades", TRADES, "ts_ms", ("trade_id",), ("trade_id",)),
    Kind("klines", KLINES, "start_ms", ("interval_min", "start_ms"), ("interval_min",)),
    Kind("tickers", TICKERS, "ts_ms", ()),
    Kind("funding", FUNDING, "ts_ms", ("ts_ms",)),
    Kind("gaps", GAPS, "start_ms", ("start_ms", "end_ms"), ("end_ms",)),
)}


def kind_of(name: str) -> Kind:
    try:
        return KINDS[name]
    except KeyError:
        raise ValueError(f"unknown market-data kind {name!r} (known: {', '.join(KINDS)})") from None
