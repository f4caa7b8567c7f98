"""The recorder: what Titan receives while it runs (trades, tickers, closed klines,
funding, stream gaps), written to the market-data store in batches, off the event loop.

Why it is shaped like this (SPEC §15: recording must not slow ingest):

* The hot path is one `list.append`: `trade_sink(venue)` and `ticker_sink(venue)` hand
  out the bound `append` of a buffer, registered as the stream callback itself.
* Every `flush_s` the loop copies the buffers out (a C-level list copy) and puts the
  batch on a bounded queue for the writer thread; a full queue drops the batch and
  counts it (`titan_marketdata_dropped_total`) rather than block the loop.
* The writer thread turns each batch into Arrow tables by symbol as it arrives and
  writes a part file per venue, symbol and kind when its oldest row has waited
  `write_s`, or at `max_rows`, or on close: a day holds about 1,440 parts per symbol at
  the default, which the housekeeping (at start, then hourly) compacts once the day is
  over; it also prunes what is older than the retention.

Metrics (in the registry given): `titan_marketdata_bytes` (the store's size on disk),
`titan_marketdata_lag_seconds` (how long the oldest record not yet on disk has waited;
0 when all is written), `titan_marketdata_rows_total{kind}` and
`titan_marketdata_dropped_total`.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
from loguru import logger
from prometheus_client import CollectorRegistry, Counter, Gauge

from titan.marketdata.schema import FUNDING, GAPS, KLINES, TICKERS, TRADES
from titan.marketdata.store import DAY_MS, MarketDataStore, day_name
from titan.venues.base import Kline, Ticker, Trade

FLUSH_S = 5.0
WRITE_S = 60.0
MAX_ROWS = 200_000
QUEUE_BATCHES = 512  # batches waiting for the writer (at FLUSH_S: ~40 min of data)
HOUSEKEEPING_S = 3600.0
CLOSE_TIMEOUT_S = 30.0

Key = tuple[str, str]  # (venue, kind)


@dataclass(slots=True)
class _Batch:
    since: float  # monotonic: the earliest any record in it can have arrived
    rows: dict[Key, list[Any]] = field(default_factory=dict)


class MarketDataRecorder:
    def __init__(self, store: MarketDataStore, *, retention_days: int,
                 now_ms: Callable[[], int],
                 registry: CollectorRegistry | None = None, flush_s: float = FLUSH_S,
                 write_s: float = WRITE_S, max_rows: int = MAX_ROWS,
                 housekeeping_s: float = HOUSEKEEPING_S) -> None:
        self.store, self.retention_days, self._now_ms = store, retention_days, now_ms
        self.flush_s, self.write_s, self.max_rows = flush_s, write_s, max_rows
        self.housekeeping_s = housekeeping_s
        self._buffers: dict[Key, list[Any]] = {}
        self._queue: queue.Queue[_Batch | None] = queue.Queue(maxsize=QUEUE_BATCHES)
        self._unwritten: collections.deque[float] = collections.deque()  # batches' `since`
        self._last_handoff = time.monotonic()
        self._thread: threading.Thread | None = None
        self._bytes = 0
        self.rows_written: collections.Counter[str] = collections.Counter()
        self.dropped = 0
        self.write_errors = 0
        # (venue, symbol) → the funding (rate, next settlement ms) the last ticker showed
        self._funding: dict[tuple[str, str], tuple[Any, int]] = {}
        self._metrics(registry)

    # -- the event loop's side (cheap) ---------------------------------------------------

    def _buffer(self, venue: str, kind: str) -> list[Any]:
        return self._buffers.setdefault((venue, kind), [])

    def trade_sink(self, venue: str) -> Callable[[Trade], None]:
        """The callback for a trade stream: the buffer's own `append`."""
        return self._buffer(venue, "trades").append

    def ticker_sink(self, venue: str) -> Callable[[Ticker], None]:
        return self._buffer(venue, "tickers").append

    def add_trades(self, venue: str, trades: list[Trade]) -> None:
        self._buffer(venue, "trades").extend(trades)

    def add_klines(self, venue: str, symbol: str, interval_min: int, klines: list[Kline]) -> None:
        self._buffer(venue, "klines").extend((symbol, interval_min, k) for k in klines)

    def add_funding(self, venue: str, symbol: str, ts_ms: int, rate: float) -> None:
        self._buffer(venue, "funding").append((symbol, ts_ms, rate))

    def add_gap(self, venue: str, symbols: list[str], start_ms: int, end_ms: int, reason: str,
                backfilled: bool = False) -> None:
        """A stretch without data (recorded again with backfilled=True once filled: the
        later record wins on read)."""
        self._buffer(venue, "gaps").extend((s, start_ms, end_ms, reason, backfilled)
                                           for s in symbols)

    def flush(self) -> None:
        """Hand what the buffers hold to the writer thread (called on the loop)."""
        now = time.monotonic()
        batch = _Batch(since=self._last_handoff)
        self._last_handoff = now
        for key, buf in self._buffers.items():
            if buf:
                batch.rows[key] = buf.copy()
                buf.clear()  # the same list object: the registered `append` stays valid
        if not batch.rows:
            return
        try:
            self._queue.put_nowait(batch)
            self._unwritten.append(batch.since)
        except queue.Full:
            self.dropped += sum(len(v) for v in batch.rows.values())
            self._dropped_metric.inc(sum(len(v) for v in batch.rows.values()))
            logger.warning("MARKETDATA_DROPPED the writer is behind; {} rows not recorded",
                           sum(len(v) for v in batch.rows.values()))

    def lag_seconds(self) -> float:
        now = time.monotonic()
        if self._unwritten:
            return max(0.0, now - self._unwritten[0])
        if any(self._buffers.values()):
            return max(0.0, now - self._last_handoff)
        return 0.0

    # -- lifetime -----------------------------------------------------------------------

    def start(self) -> None:
        self._bytes = self.store.size_bytes()
        self._thread = threading.Thread(target=self._write_loop, name="marketdata-writer",
                                        daemon=True)
        self._thread.start()

    def close(self, timeout_s: float = CLOSE_TIMEOUT_S) -> None:
        """Write everything handed over and stop the writer (blocks: run it in a thread).
        A writer stuck on a hung disk is left behind after `timeout_s` (a daemon thread):
        shutdown must not wait on market data."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout_s)
        except queue.Full:
            pass
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            logger.error("MARKETDATA_CLOSE_TIMEOUT the writer did not finish in {} s; "
                         "its last batch may be lost", timeout_s)
        self._thread = None

    # -- the writer thread --------------------------------------------------------------

    def _write_loop(self) -> None:
        # Each batch becomes Arrow tables as soon as it arrives: the conversion (the part
        # that holds the GIL) is spread over the minute instead of done at once.
        pending: dict[tuple[str, str, str], list[pa.Table]] = {}  # (venue, kind, symbol)
        size = 0
        oldest: float | None = None
        batches = 0
        last_housekeeping: float | None = None  # at start, then hourly (not at stop: a
        while True:                              # day's compaction must not delay shutdown)
            try:
                item = self._queue.get(timeout=min(1.0, self.write_s))
            except queue.Empty:
                item = _Batch(since=time.monotonic())  # nothing new: time may still be up
            stop = item is None
            if item is not None and item.rows:
                for (venue, kind), rows in list(item.rows.items()):
                    if kind == "tickers":
                        self._settlements(venue, rows, item.rows)
                for (venue, kind), rows in item.rows.items():
                    for symbol, table in _tables(kind, rows).items():
                        pending.setdefault((venue, kind, symbol), []).append(table)
                        size += table.num_rows
                oldest = item.since if oldest is None else oldest
                batches += 1
            due = oldest is not None and time.monotonic() - oldest >= self.write_s
            if pending and (stop or due or size >= self.max_rows):
                self._write(pending)
                pending, size, oldest = {}, 0, None
                for _ in range(batches):
                    if self._unwritten:
                        self._unwritten.popleft()
                batches = 0
            if stop:
                return
            if last_housekeeping is None or \
                    time.monotonic() - last_housekeeping >= self.housekeeping_s:
                last_housekeeping = time.monotonic()
                self.housekeeping()

    def _settlements(self, venue: str, tickers: list[Ticker],
                     rows: dict[Key, list[Any]]) -> None:
        """The funding settlements the tickers show (writer thread, tickers in arrival
        order): one row per settlement, not per tick. A ticker carries the rate the next
        settlement applies and when that is; once `next_funding_ms` moves on, the
        previous one has settled at the last rate shown before it. It is stamped at its
        scheduled time, or when it was seen if that is earlier (a settlement driven
        early, as the simulator's tests do): the replay books it where live Titan paid
        it. The first tickers after a start only set the state (nothing settled yet)."""
        seen = self._funding
        out = rows.setdefault((venue, "funding"), [])
        for t in tickers:
            nxt, rate = t.next_funding_ms, t.funding_rate
            if nxt is None or rate is None:
                continue
            key = (venue, t.symbol)
            prev = seen.get(key)
            if prev is not None and nxt > prev[1]:
                out.append((t.symbol, min(prev[1], t.ts_ms), float(prev[0])))
            if prev is None or nxt >= prev[1]:
                seen[key] = (rate, nxt)
        if not out:
            del rows[(venue, "funding")]

    def _write(self, pending: dict[tuple[str, str, str], list[pa.Table]]) -> None:
        for (venue, kind, symbol), tables in pending.items():
            try:
                n = self.store.append(venue, symbol, kind, pa.concat_tables(tables))
            except Exception:
                # A full or broken disk: counted and logged; Titan trades on.
                self.write_errors += 1
                logger.opt(exception=True).error("MARKETDATA_WRITE_FAILED {} {} {}",
                                                 venue, symbol, kind)
                continue
            self.rows_written[kind] += n
            self._rows_metric.labels(kind=kind).inc(n)
        self._bytes = self.store.size_bytes()

    def housekeeping(self) -> None:
        """Compact the days that are over, prune what is past the retention."""
        try:
            self.store.compact_before(day_name(self._now_ms() // DAY_MS))
            removed = self.store.prune(self.retention_days, self._now_ms())
            if removed:
                logger.info("MARKETDATA_PRUNED {} files older than {} days", removed,
                            self.retention_days)
        except Exception:
            logger.opt(exception=True).error("MARKETDATA_HOUSEKEEPING_FAILED")
        self._bytes = self.store.size_bytes()

    # -- metrics ------------------------------------------------------------------------

    def _metrics(self, registry: CollectorRegistry | None) -> None:
        r = registry or CollectorRegistry()
        Gauge("titan_marketdata_bytes", "Size of the market-data store on disk",
              registry=r).set_function(lambda: self._bytes)
        Gauge("titan_marketdata_lag_seconds", "How long the oldest recorded market data "
              "not yet on disk has waited (0: all written)",
              registry=r).set_function(self.lag_seconds)
        self._rows_metric = Counter("titan_marketdata_rows", "Market-data rows written, by kind",
                                    ["kind"], registry=r)
        self._dropped_metric = Counter("titan_marketdata_dropped",
                                       "Market-data rows not recorded: the writer was behind",
                                       registry=r)


def _tables(kind: str, rows: list[Any]) -> dict[str, pa.Table]:
    """The rows of one venue and kind as one table per symbol."""
    by: dict[str, list[Any]] = {}
    if kind == "trades":
        for t in rows:
            by.setdefault(t.symbol, []).append(t)
        return {s: pa.table({"ts_ms": [t.ts_ms for t in v], "trade_id": [t.trade_id for t in v],
                             "price": [t.price for t in v], "qty": [t.qty for t in v],
                             "buyer_is_maker": [t.buyer_is_maker for t in v]}, schema=TRADES)
                for s, v in by.items()}
    if kind == "tickers":
        for t in rows:
            by.setdefault(t.symbol, []).append(t)
        return {s: pa.table({"ts_ms": [t.ts_ms for t in v],
                             "last_price": [float(t.last_price) for t in v],
                             "bid": [None if t.bid is None else float(t.bid) for t in v],
                             "ask": [None if t.ask is None else float(t.ask) for t in v]},
                            schema=TICKERS) for s, v in by.items()}
    for r in rows:
        by.setdefault(r[0], []).append(r)
    if kind == "klines":
        return {s: pa.table({"interval_min": [r[1] for r in v],
                             "start_ms": [r[2].start_ms for r in v],
                             "open": [r[2].open for r in v], "high": [r[2].high for r in v],
                             "low": [r[2].low for r in v], "close": [r[2].close for r in v],
                             "volume": [r[2].volume for r in v]}, schema=KLINES)
                for s, v in by.items()}
    if kind == "funding":
        return {s: pa.table({"ts_ms": [r[1] for r in v], "rate": [r[2] for r in v]},
                            schema=FUNDING) for s, v in by.items()}
    return {s: pa.table({"start_ms": [r[1] for r in v], "end_ms": [r[2] for r in v],
                         "reason": [r[3] for r in v], "backfilled": [r[4] for r in v]},
                        schema=GAPS) for s, v in by.items()}
