"""`titan backtest`: replay stored data through a strategy and write its report.

    titan backtest --strategy scavenger --symbols SOLUSDT --start 2025-03-11T09:58:00Z \
        --end 2025-03-11T10:10:00Z [--config TAG|FILE] [--latency-ms 200] [--data DIR] --out DIR

Exit codes: 0 done (DIR/report.json, DIR/report.html); 2 the run could not start (an
unknown strategy, symbol or config tag, a range with no data), with the reason on stderr.
A progress bar is drawn when stderr is a terminal; `--progress-file` (used by the API's
runs) gets `{"progress": 0.42}` as the run goes.

This module is imported by `titan.cli` to declare the arguments: everything heavy is
imported when the command runs.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any


def add_parser(sub: Any) -> None:
    p = sub.add_parser("backtest", help="replay stored market data through a strategy")
    p.add_argument("--strategy", required=True, help="a registered strategy, e.g. scavenger")
    p.add_argument("--symbols", required=True, help="comma-separated, e.g. BTCUSDT,ETHUSDT")
    p.add_argument("--start", required=True, help="ISO time (UTC if no zone), inclusive")
    p.add_argument("--end", required=True, help="ISO time (UTC if no zone), exclusive")
    p.add_argument("--config", default=None, help="a config version tag or a JSON file")
    p.add_argument("--latency-ms", type=int, default=200, dest="latency_ms",
                   help="replay time from a proposal to the matching engine (default 200)")
    p.add_argument("--data", default=None,
                   help="the data folder (market data under DIR/marketdata; default "
                        "TITAN_DATA_DIR or ./data)")
    p.add_argument("--out", required=True, help="where report.json and report.html go")
    p.add_argument("--balance", default="2000", help="starting USDT balance (default 2000)")
    p.add_argument("--progress-file", default=None, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_backtest)


def parse_time(text: str) -> int:
    """ISO 8601 to epoch milliseconds; a time without a zone is UTC."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        from titan.backtest.config import BacktestError
        raise BacktestError(f"not an ISO time: {text!r}") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


def cmd_backtest(args: argparse.Namespace) -> int:
    from titan.backtest.config import BacktestError

    try:
        report = run(args)
    except BacktestError as exc:
        print(f"titan backtest: {exc}", file=sys.stderr)
        return 2
    print(f"{report['trades']} trades, net {report['net_pnl']} USDT "
          f"(fees {report['fees']}, funding {report['funding']}); "
          f"report: {Path(args.out) / 'report.html'}")
    return 0


def run(args: argparse.Namespace, store: Any = None) -> dict[str, Any]:
    """The whole run: check the arguments, replay, write the reports; returns report.json's
    content. Raises `BacktestError` for what keeps a run from starting."""
    import asyncio
    from decimal import Decimal, InvalidOperation

    from loguru import logger

    from titan.backtest.config import BacktestError, load_config
    from titan.backtest.engine import Backtest, BacktestSpec
    from titan.backtest.html import write_html
    from titan.backtest.report import build_report, dumps, iso_ms
    from titan.backtest.source import StoreSource
    from titan.sim.config import INSTRUMENTS, SimConfig
    from titan.strategies.registry import builtin_specs

    specs = builtin_specs()
    spec = specs.get(args.strategy)
    if spec is None:
        raise BacktestError(f"unknown strategy {args.strategy!r} (known: {', '.join(sorted(specs))})")
    symbols = tuple(sorted({s.strip().upper() for s in args.symbols.split(",") if s.strip()}))
    if not symbols:
        raise BacktestError("no symbols given")
    unknown = [s for s in symbols if s not in INSTRUMENTS]
    if unknown:
        raise BacktestError(f"unknown symbols {', '.join(unknown)} (no instrument data for "
                            f"the matching engine)")
    start_ms, end_ms = parse_time(args.start), parse_time(args.end)
    if end_ms <= start_ms:
        raise BacktestError("--end must be after --start")
    if args.latency_ms < 0:
        raise BacktestError("--latency-ms cannot be negative")
    try:
        balance = Decimal(str(args.balance))
    except InvalidOperation:
        raise BacktestError(f"--balance: not a number: {args.balance!r}") from None
    data_dir = Path(args.data or os.environ.get("TITAN_DATA_DIR") or "./data")
    config = load_config(args.config, data_dir, specs)
    setting = config.strategies[spec.name]
    root = data_dir / "marketdata"
    if store is None:
        from titan.marketdata.store import MarketDataStore
        store = MarketDataStore(root)
    source = StoreSource(store, symbols, start_ms, end_ms,
                         history_ms=spec.history_days * 86_400_000)
    counts = source.counts()
    traded = sum(n for k, n in counts.items() if k.endswith("/trades") or k.endswith("/tickers"))
    if traded == 0:
        raise BacktestError(f"no market data for {', '.join(symbols)} between "
                            f"{iso_ms(start_ms)} and {iso_ms(end_ms)} in {root} "
                            f"(import some with `titan data import`)")
    logger.remove()
    logger.add(sys.stderr, level="WARNING")
    progress, close = _progress(args.progress_file)
    bt_spec = BacktestSpec(strategy=spec.name, symbols=symbols, start_ms=start_ms,
                           end_ms=end_ms, risk=config.risk, setting=setting,
                           latency_ms=args.latency_ms, sim=SimConfig(starting_balance=balance))
    try:
        result = asyncio.run(Backtest(bt_spec, source, spec, progress).run())
    finally:
        close()
    sim = bt_spec.sim
    used = config.as_dict()
    used["risk"]["whitelist"] = list(symbols)  # the run trades exactly its --symbols
    used = {**used, "latency_ms": args.latency_ms,
            "starting_balance": str(balance), "taker_fee": str(sim.taker_fee),
            "maker_fee": str(sim.maker_fee), "slippage_bps": str(sim.slippage_bps),
            "book_seed": sim.seed}
    report = build_report(result, config=used, data={"rows": counts})
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(dumps(report), encoding="utf-8")
    write_html(report, out / "report.html")
    return report


def _progress(path: str | None) -> tuple[Callable[[float], None], Callable[[], None]]:
    """A tqdm bar on a terminal and/or a small JSON file a watcher reads."""
    bar = None
    if sys.stderr.isatty():
        from tqdm import tqdm
        bar = tqdm(total=1000, unit="‰", desc="backtest", file=sys.stderr)
    shown = [0]

    def update(fraction: float) -> None:
        done = int(fraction * 1000)
        if bar is not None and done > shown[0]:
            bar.update(done - shown[0])
        shown[0] = max(shown[0], done)
        if path is not None:
            tmp = f"{path}.tmp"
            Path(tmp).write_text(json.dumps({"progress": round(fraction, 4)}), encoding="utf-8")
            os.replace(tmp, path)

    def close() -> None:
        if bar is not None:
            bar.close()

    return update, close
