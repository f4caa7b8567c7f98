"""The benchmarks' code paths with tiny sizes, so the scripts under bench/ do not rot.

These assert only that each bench produces well-formed figures. They never assert a
wall-clock time: the figures themselves come from `python bench/run_all.py`.
"""

from __future__ import annotations

import asyncio
import importlib
import math
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def bench(name: str) -> Any:
    return importlib.import_module(f"bench.{name}")


def well_formed(s: dict[str, Any], *, samples: bool = True) -> None:
    assert set(s) >= {"n", "p50", "p99", "max"}
    assert isinstance(s["n"], int)
    if samples:
        assert s["n"] >= 1
        assert all(isinstance(s[k], float) and not math.isnan(s[k]) for k in ("p50", "p99", "max"))
        assert s["p50"] <= s["p99"] <= s["max"]


def test_statistics_helpers() -> None:
    c = bench("_common")
    assert c.percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.0
    assert c.percentile([5.0], 99) == 5.0
    assert math.isnan(c.percentile([], 50))
    well_formed(c.summary_ms([3.0, 1.0, 2.0]))
    assert bench("memory").slope_mb_per_hour([(0.0, 100.0), (3600.0, 110.0)]) == pytest.approx(10.0)
    m = c.machine()
    assert m["nproc"] and m["cpu_model"]


async def test_tick_to_order_tiny() -> None:
    t2o = bench("tick_to_order")
    r = await t2o.measure(samples=2, load_tps=40, n_symbols=2, baseline_n=10,
                          order_baseline_n=2, pace_s=0.05, budget_s=60, timeout_s=15)
    for k in ("baseline_queue_hop", "baseline_http_rtt", "baseline_order_rtt", "loop_lag"):
        well_formed(r[k])
    # At least one sprung trap must reach the simulator as an order: zero samples is a
    # broken path, not a well-formed result.
    well_formed(r["tick_to_order"])
    # Each sprung trap is either a figure or a reported failure, never silently lost.
    assert r["tick_to_order"]["n"] + r["error_count"] >= 2
    # The bare websockets client read the same stream: each sample's springing trade was
    # parsed there too, later than the simulator sent it.
    fb = r["feed_vs_bare"]
    assert fb["missing_at_bare"] == 0
    assert fb["bare_ws_wire_to_parsed"]["n"] == r["tick_to_order"]["n"]
    well_formed(fb["bare_ws_wire_to_parsed"])
    assert fb["bare_ws_wire_to_parsed"]["p50"] > 0 and fb["p50_ratio"] > 0
    assert "_feed_keys" not in r
    assert t2o.report(r) in ("MET", "MISSED")


async def test_ingest_tiny() -> None:
    ing = bench("ingest")
    r = await ing.measure([300.0], seconds=0.6, cpu_n=3000)
    cpu = r["cpu"]
    assert cpu["adapter_and_detector_per_s"] > 0 and cpu["baseline_bare_dict_per_s"] > 0
    assert len(r["wire_titan"]) == len(r["wire_baseline_bare_ws"]) == 1
    assert len(r["wire_full_titan"]) == 1
    full = r["wire_full_titan"][0]
    assert full["delivered_per_s"] > 0  # trades reached the whole process's feed
    assert full["armed_traps"] is not None
    assert r["ingest_trades_per_s"] == full["delivered_per_s"]  # the headline is the full Titan
    assert isinstance(r["ingest_feed_only_trades_per_s"], int)
    well_formed(full["loop_lag"])
    well_formed(r["wire_titan"][0]["loop_lag"])
    assert ing.report(r) in ("MET", "MISSED")


async def test_flatten_tiny() -> None:
    fl = bench("flatten")
    r = await fl.measure(positions=3, rtt_n=2)
    assert r["opened_on_venue"] == 3
    assert r["verified_flat"] is True and r["flatten_success"] is True
    assert r["positions_closed"] == 3
    well_formed(r["baseline_order_rtt"])
    assert r["flatten50_rtt_ratio"] > 0
    # The bare client's floor, same calls on an account of its own, also ends flat.
    bare = r["baseline_bare_flatten"]
    assert bare["verified_flat"] is True and bare["verified_flat_by_control"] is True
    assert bare["refused"] == 0 and bare["stream_pushes"] > 0
    assert r["flatten50_bare_ms"] == bare["flatten_ms"] > 0
    assert r["flatten50_bare_ratio"] > 0
    # The closes go out as batch requests, their intents committed together first.
    assert r["calls"]["rest_calls"].get("place_batch_order", 0) >= 1
    assert r["calls"]["intents_committed"] >= 3
    assert fl.report(r) in ("MET", "MISSED")


async def test_status_api_tiny() -> None:
    st = bench("status_api")
    r = await st.measure(seconds=1.5, rate=20, bare_rate=5, ingest_tps=100)
    well_formed(r["status"])
    well_formed(r["baseline_bare_handler"])
    assert r["status_bytes"] > 100
    assert isinstance(r["bybit_tickers_per_s"], int) and r["bybit_tickers_per_s"] >= 0
    assert st.report(r) in ("MET", "MISSED")


async def test_memory_tiny() -> None:
    mem = bench("memory")
    # 4 s for 3 samples at 0.5 s: on a loaded machine 2 s gave only 2.
    r = await mem.measure(seconds=4.0, feed_tps=50, sample_s=0.5, warmup_s=0)
    assert r["samples"] >= 3
    assert r["rss_mb"] > 10 and r["baseline_bare_import_rss_mb"] > 10
    assert isinstance(r["slope_mb_per_hour"], float)
    assert mem.report(r) in ("MET", "MISSED")


async def _standin_backup(src: Path, backup_dir: Path, keep: int) -> Any:
    """SQLite's online backup in a thread, where `titan.ops.backup` is not on this branch."""
    def copy() -> Any:
        backup_dir.mkdir(parents=True, exist_ok=True)
        dst = backup_dir / "copy.db"
        s, d = sqlite3.connect(src), sqlite3.connect(dst)
        try:
            s.backup(d, pages=256)
        finally:
            s.close()
            d.close()
        return type("R", (), {"size_bytes": dst.stat().st_size})()

    return await asyncio.to_thread(copy)


async def test_backup_stall_tiny() -> None:
    bs = bench("backup_stall")
    try:
        importlib.import_module("titan.ops.backup")
        backup = None  # the real one
    except ImportError:
        backup = _standin_backup
    r = await bs.measure(size_mb=10, baseline_s=0.3, backup=backup)
    assert r["db_mb"] > 5
    well_formed(r["baseline_writes"])
    well_formed(r["during_backup_writes"])
    assert r["backup_max_write_stall_ms"] == r["during_backup_writes"]["max"]
    assert bs.report(r) in ("MET", "MISSED")


def test_run_all_reads_the_newest_soak_file(tmp_path: Path) -> None:
    import json

    ra = bench("run_all")
    assert ra.last_soak(tmp_path)["soak_rss_mb_per_hour"] is None  # no soak file yet
    for name, date, slope in (("soak-120min-a.json", "2026-12-07T10:00:00Z", 1.5),
                              ("soak-5min-b.json", "2026-12-07T12:00:00Z", 3.25),
                              ("soak-120min-c.json", "2026-12-06T23:00:00Z", 9.0)):
        (tmp_path / name).write_text(json.dumps(
            {"date": date, "soak": {"soak_rss_mb_per_hour": slope, "passed": True,
                                    "minutes": 5}}))
    (tmp_path / "soak-broken.json").write_text("{not json")
    got = ra.last_soak(tmp_path)
    assert got["soak_rss_mb_per_hour"] == 3.25 and got["soak_passed"] is True
    assert got["soak_file"].endswith("soak-5min-b.json")


def test_soak_judges_its_samples() -> None:
    soak = bench("soak")

    def sample(t: float, rss: float, tasks: int = 40, fds: int = 50, lag: float = 1.0) -> dict:
        return {"t_s": t, "rss_mb": rss, "tasks": tasks, "fds": fds,
                "lag": {"n": 10, "p50": lag / 2, "p99": lag, "max": lag},
                "status": {"n": 10, "p50": 1.0, "p99": 2.0, "max": 2.0}, "status_errors": 0}

    steady = [sample(60.0 * i, 100.0 + (30.0 if i else 0.0) + 0.01 * i) for i in range(10)]
    r = soak.judge({"warmup_s": 60.0, "samples": steady})
    assert r["passed"] is True and r["soak_rss_mb_per_hour"] == pytest.approx(0.6, abs=0.01)
    leaking = [sample(60.0 * i, 100.0 + 0.5 * i, tasks=40 + 5 * i, lag=12.0 if i == 4 else 1.0)
               for i in range(10)]
    r = soak.judge({"warmup_s": 60.0, "samples": leaking})
    assert r["checks"] == {"rss_growth": False, "tasks_flat": False, "fds_flat": True,
                           "loop_lag_p99": False}
    assert r["passed"] is False
    assert soak.metric("# HELP x\ntitan_asyncio_tasks 42.0\n", "titan_asyncio_tasks") == 42.0


async def test_soak_tiny() -> None:
    soak = bench("soak")
    # 12 s for 3 samples at 1 s: on a loaded machine (CI on 3 xdist workers) one sample
    # took 4 s, and 3 s gave only 2.
    r = await soak.measure(minutes=0.2, tps=50, sample_s=1.0, warmup_minutes=0)
    assert len(r["samples"]) >= 3
    s = r["samples"][-1]
    assert s["rss_mb"] > 10 and s["fds"] > 0 and s["tasks"] and s["tasks"] > 5
    assert s["status_errors"] == 0 and s["status"]["n"] == soak.STATUS_PER_SAMPLE
    assert r["console_messages"] > 0 and r["armed_at_end"] is True
    assert isinstance(r["soak_rss_mb_per_hour"], float)
    assert soak.report(r) in ("MET", "MISSED")


def test_run_all_headline_keys() -> None:
    ra = bench("run_all")
    h = ra.headline({})
    for k in ("tick_to_order_p99_ms", "ingest_trades_per_s", "loop_lag_p99_ms",
              "flatten50_rtt_ratio", "flatten50_bare_ratio", "flatten50_bare_ms", "status_p99_ms", "rss_mb", "backup_max_write_stall_ms",
              "baseline_queue_hop_p99_ms", "baseline_order_rtt_ms",
              "baseline_bare_handler_p99_ms", "backtest_trades_per_s"):
        assert k in h and h[k] is None
    h = ra.headline({"flatten": {"flatten50_rtt_ratio": 3.5, "baseline_order_rtt": {"p50": 2.0}},
                     "backtest": {"replay_trades_per_s": 123_456}})
    assert h["flatten50_rtt_ratio"] == 3.5 and h["baseline_order_rtt_ms"] == 2.0
    assert h["backtest_trades_per_s"] == 123_456


def test_backtest_bench_figures() -> None:
    b = bench("backtest")
    source, start, end = b.make_source(3_000)
    n, took = b.baseline(source)
    assert n == 3_000 and took > 0
    what, t_run = b.replay(source, start, end)
    assert t_run > 0 and set(what) == {"round_trips", "orders", "springs"}


def test_backtest_bench_reads_the_same_store_files(tmp_path: Path) -> None:
    b = bench("backtest")
    tape, start, end = b.make_source(3_000)
    stored = b.store(tape, start, end, tmp_path / "marketdata")
    assert b.baseline(stored)[0] == 3_000  # every trade read back from the Parquet files
    what, _ = b.replay(stored, start, end)
    assert what == b.replay(tape, start, end)[0]  # the same run as from memory
