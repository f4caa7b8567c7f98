"""`bench/marketdata_record.py` with tiny sizes, so it does not rot. Asserts only that
it produces well-formed figures (never a time): the figures come from running it."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


async def test_recorder_bench_tiny() -> None:
    bench = importlib.import_module("bench.marketdata_record")
    r = await bench.measure(2000.0, 0.5, 1)
    runs = {x["record"]: x for x in r["runs"]}
    assert set(runs) == {False, True}
    assert runs[False]["rows_written"] == 0
    # Every trade delivered to the recorder's sink was written by its thread.
    assert runs[True]["rows_written"] == runs[True]["trades"] > 0
    for x in runs.values():
        assert x["trades_per_s"] > 0 and x["hot_ns_per_trade"] > 0
        assert x["lag_ms"]["p50"] <= x["lag_ms"]["p99"] <= x["lag_ms"]["max"]
    summary = bench.report(r)
    assert set(summary) == {"baseline (no recorder)", "with the recorder"}
