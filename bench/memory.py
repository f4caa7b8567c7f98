"""Memory over simulated trading (SPEC §13: RSS ≤ 150 MB after an hour).

Titan's paper profile exactly as `titan run` starts it (the built-in simulator in the same
process, its live market generator running), ARMED, with the simulator's steady feed
adding trades on top of the generator. RSS (the whole process: Titan + simulator) is
sampled every few seconds; the slope is a least-squares fit over the samples after a
warm-up. `--quick` runs 5 minutes and projects the hour from the slope; the full run is
an hour and reports the RSS it ends with. Baseline in the same run: the RSS of a bare
Python process that imported the same modules (what Titan costs before it does anything).

    python bench/memory.py [--quick] [--minutes N] [--feed TRADES_PER_S] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

try:
    from bench import _common as c
except ImportError:
    import _common as c  # type: ignore[no-redef]

TARGET_MB = 150.0
FEED_TPS = 500.0


def slope_mb_per_hour(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB), in MB per hour."""
    if len(points) < 2:
        return 0.0
    n = len(points)
    mx = sum(p[0] for p in points) / n
    my = sum(p[1] for p in points) / n
    sxx = sum((p[0] - mx) ** 2 for p in points)
    if sxx == 0:
        return 0.0
    sxy = sum((p[0] - mx) * (p[1] - my) for p in points)
    return sxy / sxx * 3600.0


def bare_import_rss() -> float:
    code = ("import titan.core, titan.app, titan.sim, titan.venues.bybit, titan.venues.binance_feed, titan.venues.binance_futures;"
            "import re;print(next(int(l.split()[1]) for l in open('/proc/self/status') "
            "if l.startswith('VmRSS:'))/1024)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=str(c.ROOT), timeout=120)
    try:
        return round(float(out.stdout.strip().splitlines()[-1]), 1)
    except (ValueError, IndexError):
        return float("nan")


async def measure(seconds: float = 300.0, feed_tps: float = FEED_TPS, sample_s: float = 5.0,
                  warmup_s: float = 30.0, trace: bool = False) -> dict[str, Any]:
    from titan.core import Titan
    from titan.secrets import RuntimeSecrets
    from titan.settings import Settings

    r: dict[str, Any] = {"seconds": seconds, "feed_trades_per_s": feed_tps,
                         "baseline_bare_import_rss_mb": bare_import_rss()}
    with tempfile.TemporaryDirectory(prefix="titan-bench-mem-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        titan = Titan(settings, secrets=RuntimeSecrets(c.CONSOLE_USER, c.CONSOLE_PASSWORD, "4242"))
        await titan.start()
        try:
            await c.arm_titan(titan)
            r["rss_after_start_mb"] = round(c.rss_mb(), 1)
            titan.simulator.start_feed(feed_tps)
            if trace:
                tracemalloc.start(8)
            first_snap = None
            t0 = time.monotonic()
            points: list[tuple[float, float]] = []
            lag = c.LoopLag(period_s=0.05)
            lag.start()
            while (t := time.monotonic() - t0) < seconds:
                points.append((t, c.rss_mb()))
                if trace and first_snap is None and t >= min(warmup_s, seconds / 3):
                    first_snap = tracemalloc.take_snapshot()
                await asyncio.sleep(min(sample_s, max(0.01, seconds - t)))
            points.append((time.monotonic() - t0, c.rss_mb()))
            r["loop_lag"] = await lag.stop()
            if trace and first_snap is not None:
                diff = tracemalloc.take_snapshot().compare_to(first_snap, "traceback")
                r["tracemalloc_top"] = [
                    {"kib": round(d.size_diff / 1024, 1), "count": d.count_diff,
                     "where": [f"{f.filename.split('site-packages/')[-1]}:{f.lineno}"
                               for f in d.traceback[-4:]]}
                    for d in diff[:15]]
                tracemalloc.stop()
            titan.simulator.stop_feed()
            r["armed_at_end"] = titan.risk.arm_ctl.armed
        finally:
            await titan.stop()
    fit = [p for p in points if p[0] >= min(warmup_s, seconds / 3)]
    r["samples"] = len(points)
    r["rss_mb"] = round(points[-1][1], 1)
    r["rss_max_mb"] = round(max(p[1] for p in points), 1)
    r["slope_mb_per_hour"] = round(slope_mb_per_hour(fit), 1)
    r["projected_rss_1h_mb"] = round(r["rss_mb"] + r["slope_mb_per_hour"] *
                                     max(0.0, 3600.0 - seconds) / 3600.0, 1)
    r["series"] = [(round(t, 1), round(m, 1)) for t, m in points[:: max(1, len(points) // 60)]]
    return r


def report(r: dict[str, Any]) -> str:
    mins = r["seconds"] / 60
    print(f"memory: paper profile armed, live generator + feed {r['feed_trades_per_s']:.0f} trades/s, "
          f"{mins:.1f} min, {r['samples']} samples")
    print(f"  baseline: bare process importing Titan   {r['baseline_bare_import_rss_mb']:>7} MB")
    print(f"  RSS after start-up                        {r['rss_after_start_mb']:>7} MB")
    print(f"  RSS at the end                            {r['rss_mb']:>7} MB (max {r['rss_max_mb']})")
    print(f"  slope after warm-up                       {r['slope_mb_per_hour']:>7} MB/hour")
    print(f"  projected RSS at one hour                 {r['projected_rss_1h_mb']:>7} MB")
    print(c.fmt_summary("  event-loop lag (50 ms timer)", r["loop_lag"]))
    if r.get("tracemalloc_top"):
        print("  tracemalloc, growth after warm-up (KiB, blocks, innermost frames last):")
        for d in r["tracemalloc_top"]:
            print(f"    {d['kib']:>9} KiB {d['count']:>+8}  {' <- '.join(reversed(d['where']))}")
    full = r["seconds"] >= 3600
    figure = r["rss_mb"] if full else r["projected_rss_1h_mb"]
    how = "after an hour" if full else f"projected from {mins:.0f} min"
    return c.verdict("memory", figure <= TARGET_MB,
                     f"{figure} MB {how} vs target ≤ {TARGET_MB:.0f} MB")


def main() -> None:
    # Read at the start: a commit made while the bench runs must not relabel its figures.
    facts = c.run_facts()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--minutes", type=float)
    ap.add_argument("--feed", type=float, default=FEED_TPS)
    ap.add_argument("--tracemalloc", action="store_true",
                    help="show which allocations grew after warm-up (slows the process)")
    ap.add_argument("--json")
    a = ap.parse_args()
    c.quiet_logs()
    minutes = a.minutes or (5.0 if a.quick else 60.0)
    r = asyncio.run(measure(seconds=minutes * 60, feed_tps=a.feed, trace=a.tracemalloc))
    r["verdict"] = report(r)
    c.write_json(a.json, {**facts, "memory": r})


if __name__ == "__main__":
    main()
