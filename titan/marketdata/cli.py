"""`titan data import PATH...` and `titan data list` (docs/marketdata.md).

Exit codes: 0 done, 2 bad input (a refused file, a bad setting): nothing stored then.
"""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from titan.exits import EXIT_CONFIG, fail, settings_or_exit

if TYPE_CHECKING:  # pyarrow is loaded only when a `data` command runs, not for every command
    from titan.marketdata.store import MarketDataStore

EXIT_BAD_INPUT = 2


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("data", help="market data: import public dumps, list what is stored")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    c = dsub.add_parser("import", help="import Binance aggTrades/klines or Bybit trade files "
                        "(all or nothing; nothing stored twice)")
    c.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    c.add_argument("--symbol", help="the symbol (default: from the file name)")
    c.add_argument("--venue", help="the store's venue, e.g. binance, bybit (default: from "
                   "the file name)")
    c.add_argument("--kind", choices=["trades", "klines"], help="default: from the file name")
    c.add_argument("--interval", help="kline interval, e.g. 1m, 1h (default: from the file "
                   "name)")
    dsub.add_parser("list", help="what the store holds: symbol, venue, kind, first/last "
                    "time, rows, gaps")
    p.set_defaults(func=run)


def _store() -> MarketDataStore | int:
    from titan.marketdata.store import MarketDataStore, default_root

    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    return MarketDataStore(default_root(settings))


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


def run(args: argparse.Namespace) -> int:
    store = _store()
    if isinstance(store, int):
        return store
    if args.data_command == "list":
        return _list(store)
    from titan.marketdata.importer import ImportRefused, import_files

    try:
        done = import_files(store, list(args.paths), symbol=args.symbol, venue=args.venue,
                            kind=args.kind, interval=args.interval)
    except ImportRefused as exc:
        return fail(f"refused {exc}; nothing was imported", EXIT_BAD_INPUT)
    except OSError as exc:
        return fail(f"cannot write the market-data store: {exc}", EXIT_CONFIG)
    for d in done:
        s = d.spec
        what = s.kind if s.kind == "trades" else f"{s.kind} {s.interval_min}m"
        print(f"{d.path.name}: {s.venue} {s.symbol} {what}: {d.rows} rows, {d.added} new, "
              f"{d.rows - d.added} already stored", flush=True)
    return 0


def _list(store: MarketDataStore) -> int:
    rows = store.inventory()
    if not rows:
        print(f"no market data in {store.root}")
        return 0
    head = ("SYMBOL", "VENUE", "KIND", "FIRST", "LAST", "ROWS", "GAPS")
    table = [head] + [(r.symbol, r.venue, r.kind, _iso(r.first_ms), _iso(r.last_ms),
                       str(r.rows), f"{r.gaps} ({r.backfilled} backfilled)" if r.gaps else "0")
                      for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    for row in table:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    return 0
