"""Every benchmark of SPEC §13 in one go, each in its own process, one JSON object out.

    python bench/run_all.py --quick --out FILE [--skip memory] [--only flatten,ingest]

`--quick`: under 5 minutes in all (issue 22): the other benches take ~2 minutes, and the
memory run is cut to `QUICK_MEMORY_MINUTES` (its slope after a 30 s warm-up projects the
hour; the full hour is `bench/memory.py` on its own). `total_s` in the JSON says how long
the whole run took. `soak_rss_mb_per_hour` (and `soak_passed`, `soak_file`) come from the newest
`docs/benchmarks-data/soak-*.json`, if any: a soak takes hours and is run on its own
(`bench/soak.py`). The JSON holds the headline figures, the baselines measured in the same runs, each
bench's verdict and full figures, and the date, commit and machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

try:
    from bench import _common as c
except ImportError:
    import _common as c  # type: ignore[no-redef]

BENCHES = ("tick_to_order", "ingest", "flatten", "status_api", "backup_stall", "memory",
           "backtest")
TIMEOUT_S = {"memory": 5400}
# memory.py's own --quick is 5 minutes, which alone would spend run_all's 5-minute budget.
QUICK_MEMORY_MINUTES = 2.0
HERE = Path(__file__).resolve().parent


def run_one(name: str, quick: bool, extra: list[str]) -> tuple[dict[str, Any], str, float]:
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        out = Path(f.name)
    cmd = [sys.executable, str(HERE / f"{name}.py"), "--json", str(out), *extra]
    if quick:
        cmd.insert(2, "--quick")
    t = time.monotonic()
    print(f"==> {' '.join(cmd[1:])}", flush=True)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(c.ROOT),
                              timeout=TIMEOUT_S.get(name, 900))
        text = proc.stdout + (f"\n[exit {proc.returncode}] {proc.stderr[-2000:]}"
                              if proc.returncode else "")
    except subprocess.TimeoutExpired:
        text = f"[timed out after {TIMEOUT_S.get(name, 900)} s]"
    took = time.monotonic() - t
    print(text, flush=True)
    try:
        data = json.loads(out.read_text()) if out.stat().st_size else {}
    except (OSError, json.JSONDecodeError):
        data = {}
    out.unlink(missing_ok=True)
    return data.get(name, {}), text, took


def headline(res: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The flat figures the issue asks for (None where a bench did not run or failed)."""
    def g(bench: str, *path: str) -> Any:
        v: Any = res.get(bench)
        for p in path:
            if not isinstance(v, dict):
                return None
            v = v.get(p)
        return v

    return {
        "tick_to_order_p99_ms": g("tick_to_order", "tick_to_order", "p99"),
        "tick_to_order_p50_ms": g("tick_to_order", "tick_to_order", "p50"),
        "tick_to_order_max_ms": g("tick_to_order", "tick_to_order", "max"),
        "tick_to_order_samples": g("tick_to_order", "tick_to_order", "n"),
        "tick_to_order_errors": g("tick_to_order", "error_count"),
        # Through a full paper Titan (armed, API up); the feed-only figure beside it.
        "ingest_trades_per_s": g("ingest", "ingest_trades_per_s"),
        "loop_lag_p99_ms": g("ingest", "loop_lag_p99_ms"),
        "ingest_feed_only_trades_per_s": g("ingest", "ingest_feed_only_trades_per_s"),
        "ingest_feed_only_loop_lag_p99_ms": g("ingest", "ingest_feed_only_loop_lag_p99_ms"),
        "ingest_cpu_capacity_trades_per_s": g("ingest", "cpu", "decode_plus_adapter_per_s"),
        "feed_wire_to_spring_p50_ms": g("tick_to_order", "feed_vs_bare", "titan_wire_to_spring",
                                        "p50"),
        "feed_bare_ratio": g("tick_to_order", "feed_vs_bare", "p50_ratio"),
        "flatten50_rtt_ratio": g("flatten", "flatten50_rtt_ratio"),
        "flatten50_ms": g("flatten", "flatten_ms"),
        "flatten50_bare_ms": g("flatten", "flatten50_bare_ms"),
        "flatten50_bare_ratio": g("flatten", "flatten50_bare_ratio"),
        "flatten50_verified_flat": g("flatten", "verified_flat"),
        "status_p99_ms": g("status_api", "status", "p99"),
        "status_p50_ms": g("status_api", "status", "p50"),
        "status_samples": g("status_api", "status", "n"),
        "status_errors": g("status_api", "errors", "status"),
        "backtest_trades_per_s": g("backtest", "replay_trades_per_s"),
        "rss_mb": g("memory", "rss_mb"),
        "rss_slope_mb_per_hour": g("memory", "slope_mb_per_hour"),
        "rss_projected_1h_mb": g("memory", "projected_rss_1h_mb"),
        "backup_max_write_stall_ms": g("backup_stall", "backup_max_write_stall_ms"),
        "backup_p99_write_stall_ms": g("backup_stall", "backup_p99_write_stall_ms"),
        "backup_db_mb": g("backup_stall", "db_mb"),
        # Baselines, each measured in the same run as the figure it accompanies.
        "baseline_queue_hop_p99_ms": g("tick_to_order", "baseline_queue_hop", "p99"),
        "baseline_http_rtt_p50_ms": g("tick_to_order", "baseline_http_rtt", "p50"),
        "baseline_bare_ws_wire_p50_ms": g("tick_to_order", "feed_vs_bare",
                                          "bare_ws_wire_to_parsed", "p50"),
        "baseline_pybit_order_rtt_p50_ms": g("tick_to_order", "baseline_order_rtt", "p50"),
        "baseline_order_rtt_ms": g("flatten", "baseline_order_rtt", "p50"),
        "baseline_bare_ws_trades_per_s": _last(g("ingest", "wire_baseline_bare_ws"),
                                               "delivered_per_s"),
        "baseline_bare_dict_per_s": g("ingest", "cpu", "baseline_bare_dict_per_s"),
        "baseline_bare_handler_p99_ms": g("status_api", "baseline_bare_handler", "p99"),
        "baseline_write_max_ms": g("backup_stall", "baseline_write_max_ms"),
        "baseline_write_p99_ms": g("backup_stall", "baseline_write_p99_ms"),
        "baseline_bare_import_rss_mb": g("memory", "baseline_bare_import_rss_mb"),
        "baseline_backtest_read_only_per_s": g("backtest", "baseline_read_only_per_s"),
    }


DATA_DIR = c.ROOT / "docs" / "benchmarks-data"


def last_soak(folder: Path = DATA_DIR) -> dict[str, Any]:
    """The newest soak file's headline (by the date written in it; soaks take hours, so
    run_all never runs one: it reports the last one committed)."""
    best: tuple[str, Path, dict[str, Any]] | None = None
    for path in folder.glob("soak-*.json"):
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        soak = data.get("soak") if isinstance(data, dict) else None
        if not isinstance(soak, dict):
            continue
        if best is None or str(data.get("date", "")) > best[0]:
            best = (str(data.get("date", "")), path, data)
    if best is None:
        return {"soak_rss_mb_per_hour": None, "soak_passed": None, "soak_minutes": None,
                "soak_file": None}
    soak = best[2]["soak"]
    return {"soak_rss_mb_per_hour": soak.get("soak_rss_mb_per_hour"),
            "soak_passed": soak.get("passed"), "soak_minutes": soak.get("minutes"),
            "soak_file": str(best[1].relative_to(c.ROOT) if best[1].is_relative_to(c.ROOT)
                             else best[1])}


def _no_nan(v: Any) -> Any:
    """NaN (a figure with no samples) is not JSON: write null."""
    if isinstance(v, float) and v != v:
        return None
    if isinstance(v, dict):
        return {k: _no_nan(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_no_nan(x) for x in v]
    return v


def _last(rows: Any, key: str) -> Any:
    return rows[-1].get(key) if isinstance(rows, list) and rows else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", help="write the JSON object here (else stdout)")
    ap.add_argument("--skip", default="", help="comma-separated benches to leave out")
    ap.add_argument("--only", default="", help="comma-separated benches to run")
    ap.add_argument("--memory-minutes", type=float, help="override the memory run's length")
    a = ap.parse_args()
    chosen = [b for b in BENCHES if (not a.only or b in a.only.split(","))
              and b not in a.skip.split(",")]
    facts = c.run_facts()
    results: dict[str, dict[str, Any]] = {}
    verdicts: dict[str, str] = {}
    durations: dict[str, float] = {}
    started = time.monotonic()
    memory_minutes = a.memory_minutes or (QUICK_MEMORY_MINUTES if a.quick else None)
    for name in chosen:
        extra = ["--minutes", str(memory_minutes)] if name == "memory" and memory_minutes \
            else []
        data, text, took = run_one(name, a.quick, extra)
        results[name] = data
        durations[name] = round(took, 1)
        verdicts[name] = str(data.get("verdict", "NOT RUN (failed, see output)"))
    out = {**facts, "quick": a.quick, **headline(results), **last_soak(), "verdicts": verdicts,
           "durations_s": durations, "total_s": round(time.monotonic() - started, 1),
           "details": results}
    text = json.dumps(_no_nan(out), indent=2, default=str, allow_nan=False)
    if a.out:
        Path(a.out).write_text(text + "\n")
        print(f"wrote {a.out}")
    else:
        print(text)
    print("verdicts: " + ", ".join(f"{k} {v}" for k, v in verdicts.items()))
    print(f"total {out['total_s']:.0f} s")


if __name__ == "__main__":
    main()
