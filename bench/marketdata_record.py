"""What recording market data costs the ingest path (SPEC §15: the recorder must not
measurably slow ingest).

The same load twice in one process, the order alternated: trades delivered on the event
loop at a set rate to an armed `SpringDetector` (the Scavenger's hot path), once bare
(the baseline) and once with the recorder's sink registered beside it, its flush every
`FLUSH_S` on the loop and its writer thread turning batches into Arrow tables and
writing Parquet parts to a temporary store. Figures per run: trades delivered/s, the
event-loop lag (a 5 ms timer's lateness) p50/p99/max, the hot path's time per trade (on
the loop, including waits for the GIL the writer thread holds), the whole process's CPU
per trade (the writer's conversion and writes included), and the rows written.

    python bench/marketdata_record.py [--quick] [--rate 25000] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from bench import _common as c
    from bench.ingest import armed_detector
except ImportError:
    import _common as c  # type: ignore[no-redef]
    from ingest import armed_detector  # type: ignore[no-redef]

SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "ADAUSDT", "DOGEUSDT", "BNBUSDT",
           "LTCUSDT", "AVAXUSDT", "LINKUSDT"]
PRICES = {s: 100.0 * (i + 1) for i, s in enumerate(SYMBOLS)}
TICK_S = 0.001


async def one_run(rate: float, seconds: float, record: bool, root: Path) -> dict[str, Any]:
    from titan.marketdata.recorder import MarketDataRecorder
    from titan.marketdata.store import MarketDataStore
    from titan.venues.base import Trade

    detector = armed_detector(PRICES)
    callbacks: list[Any] = [lambda t: detector.on_trade(t.symbol, t.price, t.ts_ms)]
    rec = None
    if record:
        rec = MarketDataRecorder(MarketDataStore(root), retention_days=30,
                                 now_ms=lambda: int(time.time() * 1000), write_s=5.0)
        callbacks.append(rec.trade_sink("binance"))
        rec.start()
    loop = asyncio.get_running_loop()
    lag = c.LoopLag()
    lag.start()
    per_tick = rate * TICK_S
    owed, sent, trade_id, hot_ns = 0.0, 0, 0, 0
    start, cpu0 = loop.time(), time.process_time()
    next_flush = start + (rec.flush_s if rec else 1e18)
    while loop.time() - start < seconds:
        owed += per_tick
        t0 = time.perf_counter_ns()
        now_ms = int(time.time() * 1000)
        while owed >= 1.0:
            owed -= 1.0
            trade_id += 1
            sym = SYMBOLS[trade_id % len(SYMBOLS)]
            trade = Trade(sym, PRICES[sym] * (1 + (trade_id % 7 - 3) * 1e-5), 0.01, now_ms,
                          trade_id % 2 == 0, trade_id)
            for cb in callbacks:
                cb(trade)
            sent += 1
        hot_ns += time.perf_counter_ns() - t0
        if rec is not None and loop.time() >= next_flush:
            rec.flush()
            next_flush += rec.flush_s
        await asyncio.sleep(TICK_S)
    elapsed = loop.time() - start
    lags = await lag.stop()
    written = 0
    if rec is not None:
        rec.flush()
        await asyncio.to_thread(rec.close)  # the last write counts: it is the run's work
        written = rec.rows_written["trades"]
    cpu_s = time.process_time() - cpu0
    return {"record": record, "trades": sent, "trades_per_s": round(sent / elapsed, 1),
            "hot_ns_per_trade": round(hot_ns / max(sent, 1), 1),
            "cpu_ns_per_trade": round(cpu_s * 1e9 / max(sent, 1), 1), "lag_ms": lags,
            "rows_written": written}


async def measure(rate: float, seconds: float, rounds: int) -> dict[str, Any]:
    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(rounds):
            for record in ((False, True) if i % 2 == 0 else (True, False)):
                runs.append(await one_run(rate, seconds, record, Path(tmp) / f"r{i}"))
    return {"rate": rate, "seconds": seconds, "runs": runs}


def report(r: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for record in (False, True):
        mine = [x for x in r["runs"] if x["record"] is record]
        label = "with the recorder" if record else "baseline (no recorder)"
        lags = [x["lag_ms"]["p99"] for x in mine]
        ns = [x["hot_ns_per_trade"] for x in mine]
        cpu = [x["cpu_ns_per_trade"] for x in mine]
        tps = [x["trades_per_s"] for x in mine]
        out[label] = {"trades_per_s": tps, "lag_p99_ms": lags, "hot_ns_per_trade": ns,
                      "cpu_ns_per_trade": cpu,
                      "rows_written": [x["rows_written"] for x in mine]}
        print(f"{label:<24} trades/s {tps}  lag p99 ms {lags}  hot path ns/trade {ns}  "
              f"process CPU ns/trade {cpu}  rows written {[x['rows_written'] for x in mine]}", flush=True)
    return out


def main() -> None:
    facts = c.run_facts()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rate", type=float, default=25_000.0)
    ap.add_argument("--json")
    a = ap.parse_args()
    c.quiet_logs()
    r = asyncio.run(measure(a.rate, seconds=6.0 if a.quick else 20.0,
                            rounds=2 if a.quick else 3))
    r["summary"] = report(r)
    c.write_json(a.json, {**facts, "marketdata_record": r})


if __name__ == "__main__":
    main()
