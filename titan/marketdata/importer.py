"""Import the public market-data dumps users download (SPEC §15, docs/marketdata.md):

* Binance (data.binance.vision) `aggTrades`: agg_trade_id, price, quantity,
  first_trade_id, last_trade_id, transact_time, is_buyer_maker[, is_best_match];
* Binance `klines`: open_time, open, high, low, close, volume, close_time, quote_volume,
  count, taker_buy_volume, taker_buy_quote_volume, ignore;
* Bybit (public.bybit.com/trading) trade history: timestamp (seconds, with a fraction),
  symbol, side, size, price, tickDirection, trdMatchID, grossValue, homeNotional,
  foreignNotional.

Zipped (.zip), gzipped (.gz) or plain; with or without a header row. Binance's newer
spot dumps stamp microseconds: a timestamp above `_MICROS_ABOVE` is one and is divided
by 1000. Symbol, venue, kind and interval come from the file name unless given.

All or nothing: every file is read and checked whole before anything is stored; the
first bad line refuses the file (`ImportRefused`: file, line, reason). Records the store
already holds (trade ids, kline starts) are not stored again.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa

from titan.marketdata.schema import KLINES, TRADES
from titan.marketdata.store import MarketDataStore

# Interval names of Binance's kline dumps, in minutes (1s and 1mo have no fixed minutes).
INTERVALS = {"1m": 1, "3m": 3, "5m": 5, "15m": 15, "30m": 30, "1h": 60, "2h": 120, "4h": 240,
             "6h": 360, "8h": 480, "12h": 720, "1d": 1440, "3d": 4320, "1w": 10080}
_MICROS_ABOVE = 100_000_000_000_000  # 1e14: in ms that is the year 5138; in µs, 1973
CHUNK_ROWS = 100_000
_MIN_MS, _MAX_MS = 1_230_768_000_000, 4_102_444_800_000  # 2009-01-01 .. 2100-01-01

_BINANCE_NAME = re.compile(
    r"^(?P<symbol>[A-Z0-9]+)-(?P<what>aggTrades|\d+[mhdw])-\d{4}-\d{2}(?:-\d{2})?\.(?:csv|zip)$")
_BYBIT_NAME = re.compile(r"^(?P<symbol>[A-Z0-9]+?)\d{4}-\d{2}-\d{2}\.csv(?:\.gz)?$")


class ImportRefused(Exception):
    """A file that cannot be imported; nothing of it was stored."""

    def __init__(self, path: Path, line: int | None, reason: str) -> None:
        where = f"{path.name}" + (f", line {line}" if line is not None else "")
        super().__init__(f"{where}: {reason}")
        self.path, self.line, self.reason = path, line, reason


@dataclass(frozen=True, slots=True)
class FileSpec:
    """What a file holds: the store's venue, symbol, kind (and kline interval) and format."""

    venue: str
    symbol: str
    kind: str  # "trades" or "klines"
    fmt: str  # "binance-aggtrades", "binance-klines" or "bybit-trades"
    interval_min: int = 0


@dataclass(frozen=True, slots=True)
class Parsed:
    path: Path
    spec: FileSpec
    table: pa.Table


@dataclass(frozen=True, slots=True)
class Imported:
    path: Path
    spec: FileSpec
    rows: int  # in the file
    added: int  # stored now (the rest were held already)


def spec_for(path: Path, *, symbol: str | None = None, venue: str | None = None,
             kind: str | None = None, interval: str | None = None) -> FileSpec:
    """The file's venue, symbol, kind and interval: from its name, the flags winning."""
    name = path.name
    m, b = _BINANCE_NAME.match(name), _BYBIT_NAME.match(name)
    if m is not None:
        what = m.group("what")
        guess_kind = "trades" if what == "aggTrades" else "klines"
        guess: tuple[str, str, str | None] = ("binance", m.group("symbol"), what
                                              if guess_kind == "klines" else None)
    elif b is not None:
        guess_kind, guess = "trades", ("bybit", b.group("symbol"), None)
    else:
        guess_kind, guess = "", ("", "", None)
    kind = kind or guess_kind
    venue = venue or guess[0]
    symbol = (symbol or guess[1]).upper()
    interval = interval or guess[2]
    if not kind or not symbol or not venue:
        raise ImportRefused(path, None, "cannot tell the symbol, venue and kind from the file "
                            "name; give --symbol, --venue and --kind")
    if kind == "klines":
        if interval not in INTERVALS:
            raise ImportRefused(path, None, f"kline interval {interval!r} is not one of "
                                f"{', '.join(INTERVALS)} (give --interval)")
        return FileSpec(venue, symbol, "klines", "binance-klines", INTERVALS[interval])
    if kind != "trades":
        raise ImportRefused(path, None, f"kind {kind!r}: only trades and klines are imported")
    bybit = b is not None if venue == guess[0] else venue == "bybit"
    return FileSpec(venue, symbol, "trades", "bybit-trades" if bybit else "binance-aggtrades")


def _lines(path: Path) -> Iterator[str]:
    """The file's text lines (the one CSV inside a zip; a .gz unpacked)."""
    if path.suffix == ".zip":
        with zipfile.ZipFile(path) as zf:
            members = [i for i in zf.infolist() if not i.is_dir()]
            if len(members) != 1:
                raise ImportRefused(path, None, f"the zip holds {len(members)} files, not one CSV")
            with zf.open(members[0]) as raw:
                yield from io.TextIOWrapper(raw, encoding="utf-8", newline="")
    elif path.suffix == ".gz":
        with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
            yield from fh
    else:
        with path.open(encoding="utf-8", newline="") as fh:
            yield from fh


def _ms(text: str) -> int:
    v = int(text)
    if v > _MICROS_ABOVE:
        v //= 1000
    if not _MIN_MS <= v <= _MAX_MS:
        raise ValueError(f"timestamp {text} is not a time between 2009 and 2100")
    return v


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low not in ("true", "false"):
        raise ValueError(f"{text!r} is not true or false")
    return low == "true"


def _positive(text: str, what: str) -> float:
    v = float(text)
    if not v > 0 or v == float("inf"):
        raise ValueError(f"{what} {text} is not a positive number")
    return v


def _bybit_id(text: str) -> int:
    """Bybit's trdMatchID is a UUID: a stable 63-bit number from it (numbers kept as is)."""
    if text.isdigit():
        return int(text)
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1


_COLUMNS = {"binance-aggtrades": (7, 8), "binance-klines": (12, 12), "bybit-trades": (10, 10)}


def parse_file(path: Path, spec: FileSpec) -> Parsed:
    """Read and check the whole file; ImportRefused at the first bad line."""
    schema = KLINES if spec.kind == "klines" else TRADES
    cols: dict[str, list[object]] = {}
    chunks: list[pa.Table] = []  # every CHUNK_ROWS rows as Arrow: a busy day's file is
    lo, hi = _COLUMNS[spec.fmt]  # millions of rows, too many to hold as Python objects
    line = 0
    try:
        for line, row in enumerate(csv.reader(_lines(path)), 1):
            if len(cols.get("ts_ms", cols.get("start_ms", ()))) >= CHUNK_ROWS:
                chunks.append(pa.table(cols, schema=schema))
                cols = {}
            if not row:
                raise ImportRefused(path, line, "empty line")
            if line == 1 and not row[0].replace(".", "", 1).isdigit():
                continue  # the header row (Binance's newer dumps and Bybit's have one)
            if not lo <= len(row) <= hi:
                want = f"{lo}" if lo == hi else f"{lo} or {hi}"
                raise ImportRefused(path, line, f"{len(row)} columns, a {spec.fmt} file has {want}")
            try:
                values = _row(spec, row)
            except ValueError as exc:
                raise ImportRefused(path, line, str(exc)) from None
            for k, v in values.items():
                cols.setdefault(k, []).append(v)
    except ImportRefused:
        raise
    except (zipfile.BadZipFile, EOFError, gzip.BadGzipFile, OSError, UnicodeDecodeError,
            csv.Error, zipfile.LargeZipFile) as exc:
        raise ImportRefused(path, line + 1 if line else None,
                            f"unreadable ({type(exc).__name__}: {exc})") from None
    if cols:
        chunks.append(pa.table(cols, schema=schema))
    if not chunks:
        raise ImportRefused(path, None, "no data rows")
    return Parsed(path, spec, pa.concat_tables(chunks).combine_chunks())


def _row(spec: FileSpec, row: list[str]) -> dict[str, object]:
    if spec.fmt == "binance-aggtrades":
        return {"ts_ms": _ms(row[5]), "trade_id": int(row[0]),
                "price": _positive(row[1], "price"), "qty": _positive(row[2], "quantity"),
                "buyer_is_maker": _bool(row[6])}
    if spec.fmt == "bybit-trades":
        side = row[2]
        if side not in ("Buy", "Sell"):
            raise ValueError(f"side {side!r} is not Buy or Sell")
        if spec.symbol and row[1] != spec.symbol:
            raise ValueError(f"symbol {row[1]} in a file of {spec.symbol}")
        ts = round(float(row[0]) * 1000)
        if not _MIN_MS <= ts <= _MAX_MS:
            raise ValueError(f"timestamp {row[0]} is not a time between 2009 and 2100")
        # side is the taker's: a Sell hit a resting buyer (the buyer was the maker).
        return {"ts_ms": ts, "trade_id": _bybit_id(row[6]), "price": _positive(row[4], "price"),
                "qty": _positive(row[3], "size"), "buyer_is_maker": side == "Sell"}
    start, end = _ms(row[0]), _ms(row[6])
    o, h, lo, c = (_positive(row[i], n) for i, n in ((1, "open"), (2, "high"), (3, "low"),
                                                      (4, "close")))
    vol = float(row[5])
    if end <= start or h < lo or vol < 0:
        raise ValueError("not a kline (close time before open time, high below low or "
                         "negative volume)")
    return {"interval_min": spec.interval_min, "start_ms": start, "open": o, "high": h,
            "low": lo, "close": c, "volume": vol}


def import_files(store: MarketDataStore, paths: list[Path], *, symbol: str | None = None,
                 venue: str | None = None, kind: str | None = None,
                 interval: str | None = None) -> list[Imported]:
    """Check every file, then store what the store does not hold yet. One bad file and
    nothing is stored (ImportRefused)."""
    parsed = []
    for path in paths:
        if not path.is_file():
            raise ImportRefused(path, None, "no such file")
        spec = spec_for(path, symbol=symbol, venue=venue, kind=kind, interval=interval)
        parsed.append(parse_file(path, spec))
    out = []
    for p in parsed:
        s = p.spec
        fresh = store.new_rows(s.venue, s.symbol, s.kind, p.table)
        # Every day the file covers is the user's now, the rows already held included.
        store.mark_imported(s.venue, s.symbol, s.kind, p.table)
        added = store.append(s.venue, s.symbol, s.kind, fresh, imported=True)
        out.append(Imported(p.path, s, p.table.num_rows, added))
    return out
