"""The market-data store: Parquet files under `root/<venue>/<symbol>/<kind>/`, one or more
per UTC day (SPEC §15).

Layout and rules (docs/marketdata.md):

* `<YYYY-MM-DD>.parquet` is a day's compacted file; `<YYYY-MM-DD>+<seq>.parquet` are the
  parts appended since. Every `append` writes new files (first under a hidden temporary
  name, then renamed: a reader never sees half a file) and never rewrites one in place,
  so nothing recorded is lost by a crash mid-write.
* A record written twice (the same trade id, the same kline start, the same gap) is read
  once: the day's files are deduplicated on read, the last written copy winning.
  `compact` folds a day's parts into its compacted file the same way.
* Reads are in time order and half-open: `start_ms <= t < end_ms`.

All methods block (file I/O): the recorder calls them from its writer thread, the CLI and
backtests from their own processes; never call them on Titan's event loop.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from titan.marketdata.schema import KINDS, Kind, kind_of
from titan.venues.base import Kline, Trade

if TYPE_CHECKING:
    from titan.settings import Settings

DAY_MS = 86_400_000
_DAY_FILE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\+[0-9a-f-]+)?\.parquet$")
IMPORTED_SUFFIX = ".imported"  # beside a day's files: that day holds imported rows
_TMP_MAX_AGE_S = 3600.0  # a temporary file this old is a crashed write's leftover
_seq = itertools.count()


def default_root(settings: Settings) -> Path:
    """`<data dir>/marketdata/`: beside the trading database, never inside it."""
    return settings.data_dir / "marketdata"


def day_name(day: int) -> str:
    """The file name stem of UTC day number `day` (days since the epoch)."""
    return datetime.fromtimestamp(day * DAY_MS / 1000, UTC).strftime("%Y-%m-%d")


def _day_number(name: str) -> int:
    return int(datetime.strptime(name, "%Y-%m-%d").replace(tzinfo=UTC).timestamp()) // 86_400


@dataclass(frozen=True, slots=True)
class InventoryRow:
    """What the store holds for one venue, symbol and kind."""

    venue: str
    symbol: str
    kind: str
    first_ms: int
    last_ms: int
    rows: int
    gaps: int  # gaps recorded for this venue and symbol within [first_ms, last_ms]
    backfilled: int = 0  # how many of those were filled from the venue's REST


def conform(table: pa.Table, kind: Kind) -> pa.Table:
    """`table` with exactly the kind's columns, in order and type (a missing column or a
    value that does not fit is a ValueError)."""
    missing = [n for n in kind.schema.names if n not in table.column_names]
    if missing:
        raise ValueError(f"{kind.name}: missing column(s) {', '.join(missing)}")
    try:
        return table.select(kind.schema.names).cast(kind.schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise ValueError(f"{kind.name}: {exc}") from None


def dedupe(table: pa.Table, kind: Kind) -> pa.Table:
    """One row per record (the last of equal keys), sorted by time."""
    if kind.keys and table.num_rows > 1:
        distinct = (pc.count_distinct(table.column(kind.keys[0])).as_py()
                    if len(kind.keys) == 1 else -1)
        if distinct != table.num_rows:  # skipped in the usual case: no duplicates at all
            others = [n for n in kind.schema.names if n not in kind.keys]
            # use_threads=False: "last" means the last row in file order (the newest write).
            grouped = table.group_by(list(kind.keys), use_threads=False).aggregate(
                [(n, "last") for n in others])
            grouped = grouped.rename_columns(
                [c.removesuffix("_last") if c.removesuffix("_last") in others else c
                 for c in grouped.column_names])
            table = grouped.select(kind.schema.names).cast(kind.schema)
    order = [(kind.time_column, "ascending"), *((c, "ascending") for c in kind.tiebreak)]
    return table.take(pc.sort_indices(table, sort_keys=order))


class MarketDataStore:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    # -- writing ------------------------------------------------------------------------

    def append(self, venue: str, symbol: str, kind: str, table: pa.Table, *,
               imported: bool = False) -> int:
        """Store the rows of `table` (the kind's columns; extra columns are dropped) as new
        part files, one per UTC day they fall on. Returns the rows written.

        `imported`: the rows are the user's (`titan data import`), not the recorder's:
        each day they fall on is marked (`<day>.imported`) and the recorder's retention
        never deletes it (`prune`)."""
        k = kind_of(kind)
        table = conform(table, k)
        if table.num_rows == 0:
            return 0
        folder = self._folder(venue, symbol, k.name)
        folder.mkdir(parents=True, exist_ok=True)
        days = pc.divide(table.column(k.time_column), DAY_MS)
        staged: list[tuple[Path, Path]] = []
        try:
            for day in sorted(pc.unique(days).to_pylist()):
                part = dedupe(table.filter(pc.equal(days, day)), k)
                tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
                seq = f"{time.time_ns():020d}-{os.getpid():x}-{next(_seq):08x}"
                staged.append((tmp, folder / f"{day_name(day)}+{seq}.parquet"))
                pq.write_table(part, tmp, compression="zstd")
        except BaseException:
            for tmp, _ in staged:  # the days already written too: a full disk gets it back
                tmp.unlink(missing_ok=True)
            raise
        if imported:  # marked before the rows land: an imported day is never prunable
            self.mark_imported(venue, symbol, k.name, table)
        # Every day written before any is renamed: an append fails whole or (short of a
        # crash between two renames) lands whole.
        for tmp, final in staged:
            os.replace(tmp, final)
        return int(table.num_rows)

    def compact(self, venue: str, symbol: str, kind: str, day: str) -> bool:
        """Fold day `day`'s (YYYY-MM-DD) parts into its compacted file. A crash at any
        point leaves every record readable (at worst twice on disk, once on read)."""
        k = kind_of(kind)
        folder = self._folder(venue, symbol, k.name)
        files = self._day_files(folder).get(day, [])
        if len(files) < 2 and not (files and files[0].name != f"{day}.parquet"):
            return False
        table = dedupe(_read_files(files, k), k)
        tmp = folder / f".tmp-{uuid.uuid4().hex}.parquet"
        try:
            pq.write_table(table, tmp, compression="zstd")
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        os.replace(tmp, folder / f"{day}.parquet")
        for f in files:
            if f.name != f"{day}.parquet":
                f.unlink(missing_ok=True)
        return True

    def compact_before(self, day: str) -> int:
        """Compact every day before `day` (YYYY-MM-DD) that has parts; returns how many."""
        done = 0
        for folder in self._kind_folders():
            venue, symbol = folder.parent.parent.name, folder.parent.name
            for d, files in self._day_files(folder).items():
                if d < day and any("+" in f.name for f in files):
                    done += self.compact(venue, symbol, folder.name, d)
        return done

    def prune(self, retention_days: int, now_ms: int) -> int:
        """Delete the recorded days that ended more than `retention_days` days before
        `now_ms`, and crashed writes' leftovers. Returns the files removed.

        A day holding imported rows (marked `<day>.imported` by `append(imported=True)`)
        is kept whole, whatever else was recorded on it: imported data is the user's, and
        the recorder's retention is about what the recorder wrote."""
        oldest_kept = (now_ms - retention_days * DAY_MS) // DAY_MS
        removed = 0
        for folder in self._kind_folders():
            for day, files in self._day_files(folder).items():
                if _day_number(day) < oldest_kept and not self._imported(folder, day):
                    for f in files:
                        f.unlink(missing_ok=True)
                        removed += 1
            for tmp in folder.glob(".tmp-*.parquet"):
                if time.time() - tmp.stat().st_mtime > _TMP_MAX_AGE_S:
                    tmp.unlink(missing_ok=True)
                    removed += 1
        self._remove_empty_folders()
        return removed

    def mark_imported(self, venue: str, symbol: str, kind: str, table: pa.Table) -> None:
        """Mark the days `table`'s rows fall on as holding imported rows (even rows the
        store held already: the user imported them, retention must not take them)."""
        k = kind_of(kind)
        if table.num_rows == 0:
            return
        folder = self._folder(venue, symbol, k.name)
        folder.mkdir(parents=True, exist_ok=True)
        for day in pc.unique(pc.divide(table.column(k.time_column), DAY_MS)).to_pylist():
            (folder / f"{day_name(day)}{IMPORTED_SUFFIX}").touch()

    @staticmethod
    def _imported(folder: Path, day: str) -> bool:
        return (folder / f"{day}{IMPORTED_SUFFIX}").exists()

    def imported_days(self, venue: str, symbol: str, kind: str) -> list[str]:
        """The days (YYYY-MM-DD) of `venue/symbol/kind` that hold imported rows."""
        folder = self._folder(venue, symbol, kind_of(kind).name)
        if not folder.is_dir():
            return []
        return sorted(f.name.removesuffix(IMPORTED_SUFFIX)
                      for f in folder.glob(f"*{IMPORTED_SUFFIX}"))

    # -- reading ------------------------------------------------------------------------

    def read(self, venue: str, symbol: str, kind: str, start_ms: int,
             end_ms: int) -> Iterator[pa.RecordBatch]:
        """The records with `start_ms <= time < end_ms`, in time order, each once."""
        k = kind_of(kind)
        folder = self._folder(venue, symbol, k.name)
        first, last = start_ms // DAY_MS, (end_ms - 1) // DAY_MS
        for day, files in sorted(self._day_files(folder).items()):
            if not first <= _day_number(day) <= last:
                continue
            flt = [(k.time_column, ">=", start_ms), (k.time_column, "<", end_ms)]
            table = dedupe(_read_files(files, k, filters=flt), k)
            yield from table.to_batches()

    def iter_trades(self, venue: str, symbol: str, start_ms: int,
                    end_ms: int) -> Iterator[Trade]:
        for b in self.read(venue, symbol, "trades", start_ms, end_ms):
            cols = [b.column(n).to_pylist() for n in ("price", "qty", "ts_ms",
                                                       "buyer_is_maker", "trade_id")]
            for price, qty, ts, maker, tid in zip(*cols, strict=True):
                yield Trade(symbol, price, qty, ts, maker, tid)

    def iter_klines(self, venue: str, symbol: str, interval_min: int, start_ms: int,
                    end_ms: int) -> Iterator[Kline]:
        for b in self.read(venue, symbol, "klines", start_ms, end_ms):
            b = b.filter(pc.equal(b.column("interval_min"), interval_min))
            cols = [b.column(n).to_pylist() for n in ("start_ms", "open", "high", "low",
                                                       "close", "volume")]
            for start, o, h, lo, c, v in zip(*cols, strict=True):
                yield Kline(start, o, h, lo, c, v)

    def new_rows(self, venue: str, symbol: str, kind: str, table: pa.Table) -> pa.Table:
        """The rows of `table` whose record the store does not hold yet (by the kind's
        keys): what an import adds. Duplicates within `table` count once."""
        k = kind_of(kind)
        table = dedupe(conform(table, k), k)
        if not k.keys or table.num_rows == 0:
            return table
        folder = self._folder(venue, symbol, k.name)
        days = {day_name(d) for d in pc.unique(
            pc.divide(table.column(k.time_column), DAY_MS)).to_pylist()}
        files = [f for day, fs in self._day_files(folder).items() if day in days for f in fs]
        if not files:
            return table
        held = _read_files(files, k, columns=list(k.keys))
        fresh = pc.invert(pc.is_in(_key(table, k), value_set=_key(held, k)))
        return table.filter(fresh)

    def inventory(self) -> list[InventoryRow]:
        out: list[InventoryRow] = []
        for folder in self._kind_folders():
            kind_name, symbol, venue = folder.name, folder.parent.name, folder.parent.parent.name
            if kind_name == "gaps":
                continue
            k = KINDS[kind_name]
            first = last = None
            rows = 0
            for files in self._day_files(folder).values():
                cols = list(dict.fromkeys((k.time_column, *k.keys)))
                t = dedupe(_read_files(files, k, columns=cols), _partial(k, cols))
                if t.num_rows == 0:
                    continue
                rows += t.num_rows
                lo, hi = t.column(k.time_column)[0].as_py(), t.column(k.time_column)[-1].as_py()
                first = lo if first is None else min(first, lo)
                last = hi if last is None else max(last, hi)
            if first is None or last is None:
                continue
            gaps = self._gaps_between(venue, symbol, first, last)
            out.append(InventoryRow(venue, symbol, kind_name, first, last, rows, len(gaps),
                                    sum(1 for g in gaps if g["backfilled"])))
        return sorted(out, key=lambda r: (r.venue, r.symbol, r.kind))

    def size_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(f.stat().st_size for f in self.root.rglob("*.parquet") if f.is_file())

    # -- files --------------------------------------------------------------------------

    def _folder(self, venue: str, symbol: str, kind: str) -> Path:
        for part in (venue, symbol):
            if not part or "/" in part or part.startswith(".") or "\\" in part:
                raise ValueError(f"not a venue or symbol name: {part!r}")
        return self.root / venue / symbol.upper() / kind

    def _kind_folders(self) -> list[Path]:
        if not self.root.exists():
            return []
        return sorted(p for p in self.root.glob("*/*/*") if p.is_dir() and p.name in KINDS)

    @staticmethod
    def _day_files(folder: Path) -> dict[str, list[Path]]:
        """Day → its files, the compacted one first, then the parts in write order."""
        days: dict[str, list[Path]] = {}
        if not folder.is_dir():
            return days
        for f in folder.iterdir():
            m = _DAY_FILE.match(f.name)
            if m:
                days.setdefault(m.group(1), []).append(f)
        for files in days.values():
            files.sort(key=lambda f: ("+" in f.name, f.name))
        return days

    def _gaps_between(self, venue: str, symbol: str, first: int,
                      last: int) -> list[dict[str, Any]]:
        gaps = self._folder(venue, symbol, "gaps")
        k = KINDS["gaps"]
        rows: list[dict[str, Any]] = []
        for files in self._day_files(gaps).values():
            rows += dedupe(_read_files(files, k), k).to_pylist()
        return [g for g in rows if g["end_ms"] >= first and g["start_ms"] <= last]

    def _remove_empty_folders(self) -> None:
        for depth in ("*/*/*", "*/*", "*"):
            for p in self.root.glob(depth):
                if p.is_dir() and not any(p.iterdir()):
                    shutil.rmtree(p, ignore_errors=True)


def _read_files(files: list[Path], kind: Kind, *, columns: list[str] | None = None,
                filters: list[tuple[str, str, int]] | None = None) -> pa.Table:
    schema = kind.schema if columns is None else pa.schema([kind.schema.field(c) for c in columns])
    tables = [pq.read_table(f, columns=columns, filters=filters) for f in files]
    return pa.concat_tables(tables) if tables else schema.empty_table()


def _partial(kind: Kind, columns: list[str]) -> Kind:
    """`kind` restricted to some of its columns (for counting records by their keys)."""
    schema = pa.schema([kind.schema.field(c) for c in columns])
    return Kind(kind.name, schema, kind.time_column, kind.keys,
                tuple(c for c in kind.tiebreak if c in columns))


def _key(table: pa.Table, kind: Kind) -> pa.Array:
    """One comparable value per row for the kind's keys (joined as text when several)."""
    if len(kind.keys) == 1:
        return table.column(kind.keys[0]).combine_chunks()
    parts = [pc.cast(table.column(c), pa.string()) for c in kind.keys]
    return pc.binary_join_element_wise(*parts, "|").combine_chunks()
