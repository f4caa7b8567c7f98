"""AI Quant's own process: `python -m titan.quant search|worker --input FILE …`.

Titan starts `search` as a child process at a lower CPU priority (never in its event
loop: trading never waits for it). It reads `input.json` (written by Titan: the active
config, the windows, the bounds), runs the search and the gate over the market-data
store, and writes `result.json`; Titan records the outcome. It opens no Titan database
and changes no config.

`worker` adds trials to the same optuna study through a shared storage
(`--storage URL` or `TITAN_QUANT_STORAGE`), on this machine or another one holding the
same recorded data: `python -m titan.quant worker --input input.json --storage
postgresql://… --worker 2`.

Exit codes: 0 done (result.json written), 2 the search could not start (reason on stderr).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str), encoding="utf-8")
    os.replace(tmp, path)


def _load(args: argparse.Namespace) -> Any:
    from titan.quant.search import SearchInput

    inp = SearchInput.from_dict(json.loads(Path(args.input).read_text(encoding="utf-8")))
    storage = getattr(args, "storage", None) or os.environ.get("TITAN_QUANT_STORAGE")
    if storage:
        inp.storage = storage
    return inp


def _store(inp: Any) -> Any:
    from titan.marketdata.store import MarketDataStore

    return MarketDataStore(Path(inp.data_dir) / "marketdata")


def _workers(inp: Any, args: argparse.Namespace) -> list[subprocess.Popen[bytes]]:
    """The extra local workers (worker 0 is this process), sharing the study's storage."""
    if inp.workers <= 1 or not inp.storage:
        return []
    procs = []
    for k in range(1, inp.workers):
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "titan.quant", "worker", "--input", args.input,
             "--storage", inp.storage, "--worker", str(k)],
            stdin=subprocess.DEVNULL))
    return procs


def cmd_search(args: argparse.Namespace) -> int:
    from titan.quant import search

    inp = _load(args)
    progress_path = Path(args.progress) if args.progress else None

    def progress(p: dict[str, Any]) -> None:
        if progress_path is not None:
            _write(progress_path, p)

    try:
        store = _store(inp)
        procs = _workers(inp, args)

        def wait_workers() -> None:
            for p in procs:
                p.wait()

        try:
            result = search.run(inp, store, progress=progress, wait_workers=wait_workers)
        finally:
            wait_workers()
    except search.SearchError as exc:
        print(f"titan quant: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:
        from titan.backtest.config import BacktestError
        if isinstance(exc, BacktestError):
            print(f"titan quant: {exc}", file=sys.stderr)
            return 2
        raise
    _write(Path(args.out), result)
    progress({"phase": "done", "trials_done": result.get("trials", 0), "trials": inp.trials})
    return 0


def cmd_worker(args: argparse.Namespace) -> int:
    from titan.quant import search

    inp = _load(args)
    if not inp.storage:
        print("titan quant worker: a shared storage is needed (--storage or "
              "TITAN_QUANT_STORAGE)", file=sys.stderr)
        return 2
    scorer = search.Scorer(inp, inp.train, _store(inp))
    search.optimize(inp, scorer, worker=args.worker)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m titan.quant")
    sub = parser.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("search", help="search, gate, write result.json")
    s.add_argument("--input", required=True)
    s.add_argument("--out", required=True)
    s.add_argument("--progress", default=None)
    s.set_defaults(func=cmd_search)
    w = sub.add_parser("worker", help="add trials to a shared study")
    w.add_argument("--input", required=True)
    w.add_argument("--storage", default=None)
    w.add_argument("--worker", type=int, default=1)
    w.set_defaults(func=cmd_worker)
    args = parser.parse_args(argv)
    from loguru import logger

    logger.remove()  # the strategies' INFO lines of every trial would flood the run's log
    logger.add(sys.stderr, level="WARNING")
    code: int = args.func(args)
    return code


if __name__ == "__main__":
    if hasattr(os, "nice"):
        try:
            os.nice(10)  # below Titan: the machine's cores trade first
        except OSError:
            pass
    sys.exit(main())
