"""Soak: Titan's paper profile for hours at a steady trade rate (SPEC §13, issue 22).

Titan exactly as `titan run` starts the paper profile (the built-in simulator in the same
process, as `bench/memory.py` starts it), its aiohttp application served on loopback, the
Master Arm ARMED, the simulator's feed adding `--tps` trades/s (default 5,000) on top of its
live generator, and a console WebSocket (`/ws`, basic auth) connected and read the whole
time. Every `--sample-s` seconds (default 60) it samples:

- RSS (`/proc/self/status`; Titan and the simulator share the process, as in paper);
- open file descriptors (`/proc/self/fd`) and asyncio tasks (`titan_asyncio_tasks`, read
  from `/metrics` as an operator would);
- the database and its WAL (bytes on disk);
- event-loop lag over the interval (a 50 ms timer; p50/p99/max per interval);
- `GET /api/status` latency (a few authenticated requests per sample).

Pass (after the warm-up, `--warmup-minutes`, default 10 or a third of a shorter run):
RSS growth ≤ 5 MB per hour (least-squares slope), task and fd counts flat (the median of
the last three samples within a small slack of the first three after warm-up), loop-lag
p99 ≤ 10 ms in every interval. Writes a JSON file (default under docs/benchmarks-data/)
and prints a summary.

`--tracemalloc` also traces allocations (8 frames; it slows the process, so run it at a
lower `--tps`): a snapshot at `--trace-from-minute` (default 2) is diffed with one at the
end, and the top allocation sites (by line and by traceback) are reported.

    python bench/soak.py [--minutes 120] [--tps 5000] [--sample-s 60] [--json FILE]
                         [--tracemalloc --trace-from-minute 2]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

try:
    from bench import _common as c
    from bench.memory import slope_mb_per_hour
except ImportError:
    import _common as c  # type: ignore[no-redef]
    from memory import slope_mb_per_hour  # type: ignore[no-redef]

TARGET_RSS_MB_PER_HOUR = 5.0
TARGET_LAG_P99_MS = 10.0
TASK_SLACK = 10  # tasks come and go (request handlers, timers): "flat" allows this much
FD_SLACK = 5
STATUS_PER_SAMPLE = 10
DATA_DIR = c.ROOT / "docs" / "benchmarks-data"


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def metric(text: str, name: str) -> float | None:
    """One unlabelled sample from a Prometheus exposition."""
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    return None


def file_mb(path: Path) -> float:
    try:
        return round(path.stat().st_size / 1e6, 3)
    except OSError:
        return 0.0


def flat(values: list[float], slack: float) -> bool:
    """The last three samples' median within `slack` of the first three's (after warm-up)."""
    if len(values) < 2:
        return True
    k = min(3, len(values))
    return statistics.median(values[-k:]) - statistics.median(values[:k]) <= slack


class Console:
    """The console's WebSocket, connected and read the whole run (as a browser tab would)."""

    def __init__(self, url: str, auth: dict[str, str]) -> None:
        self.url, self.auth = url, auth
        self.messages = 0
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None

    def start(self, session: Any) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(session))

    async def _run(self, session: Any) -> None:
        while True:
            try:
                async with session.ws_connect(self.url, headers=self.auth, heartbeat=20) as ws:
                    async for _msg in ws:
                        self.messages += 1
            except asyncio.CancelledError:
                raise
            except Exception:  # counted: a soak reports, it does not stop
                pass
            self.reconnects += 1
            await asyncio.sleep(1)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass


def _top(snap_end: Any, snap_from: Any, group: str, n: int = 15) -> list[dict[str, Any]]:
    rows = []
    for d in snap_end.compare_to(snap_from, group)[:n]:
        rows.append({"kib": round(d.size_diff / 1024, 1), "count": d.count_diff,
                     "where": [f"{f.filename.split('site-packages/')[-1].replace(str(c.ROOT) + '/', '')}"
                               f":{f.lineno}" for f in d.traceback[-4:]]})
    return rows


async def measure(minutes: float = 120.0, tps: float = 5000.0, sample_s: float = 60.0,
                  warmup_minutes: float | None = None, trace: bool = False,
                  trace_from_minute: float = 2.0) -> dict[str, Any]:
    import aiohttp
    from aiohttp import web

    from titan.app import create_app
    from titan.core import Titan
    from titan.secrets import RuntimeSecrets
    from titan.settings import Settings

    seconds = minutes * 60
    warmup_s = (warmup_minutes * 60 if warmup_minutes is not None
                else min(600.0, seconds / 3))
    r: dict[str, Any] = {"minutes": minutes, "trades_per_s": tps, "sample_s": sample_s,
                         "warmup_s": warmup_s, "tracemalloc": trace}
    port = c.free_port()
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": "Basic " + base64.b64encode(
        f"{c.CONSOLE_USER}:{c.CONSOLE_PASSWORD}".encode()).decode()}
    samples: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="titan-bench-soak-") as tmp:
        settings = Settings(_env_file=None, data_dir=Path(tmp))  # type: ignore[call-arg]
        titan = Titan(settings, secrets=RuntimeSecrets(c.CONSOLE_USER, c.CONSOLE_PASSWORD, "4242"))
        runner = web.AppRunner(create_app(titan), access_log=None)
        await runner.setup()  # Titan's start-up (cleanup_ctx): paper simulator, venue, API
        db = titan.settings.database
        wal = db.with_name(db.name + "-wal")
        session = aiohttp.ClientSession()
        console = Console(f"{base}/ws", auth)
        lag = c.LoopLag(period_s=0.05)
        try:
            await web.TCPSite(runner, "127.0.0.1", port).start()
            await c.arm_titan(titan)
            console.start(session)
            titan.simulator.start_feed(tps)
            r["rss_after_start_mb"] = round(c.rss_mb(), 1)
            if trace:
                tracemalloc.start(8)
            snap_from = None
            lag.start()
            t0 = time.monotonic()
            next_at = 0.0
            while True:
                t = time.monotonic() - t0
                if trace and snap_from is None and t >= trace_from_minute * 60:
                    snap_from = tracemalloc.take_snapshot()
                    r["traced_from_s"] = round(t, 1)
                if t >= next_at:
                    samples.append(await _sample(session, base, auth, lag, db, wal, t))
                    s = samples[-1]
                    c.progress(f"{t / 60:6.1f} min  rss {s['rss_mb']} MB  fds {s['fds']}  "
                               f"tasks {s['tasks']}  lag p99 {s['lag']['p99']} ms  "
                               f"status p50 {s['status']['p50']} ms  db {s['db_mb']} MB  "
                               f"wal {s['wal_mb']} MB")
                    if t >= seconds:
                        break
                    next_at = min(next_at + sample_s, seconds)
                await asyncio.sleep(min(1.0, max(0.01, next_at - (time.monotonic() - t0))))
            if trace:
                end = tracemalloc.take_snapshot()
                if snap_from is not None:
                    r["tracemalloc_top_lines"] = _top(end, snap_from, "lineno")
                    r["tracemalloc_top_tracebacks"] = _top(end, snap_from, "traceback")
                r["tracemalloc_traced_mb"] = round(tracemalloc.get_traced_memory()[0] / 1e6, 1)
                tracemalloc.stop()
            titan.simulator.stop_feed()
            r["armed_at_end"] = titan.risk.arm_ctl.armed
            r["console_messages"] = console.messages
            r["console_reconnects"] = console.reconnects
        finally:
            await lag.stop()
            await console.stop()
            await session.close()
            await runner.cleanup()
    r["samples"] = samples
    return judge(r)


async def _sample(session: Any, base: str, auth: dict[str, str], lag: c.LoopLag, db: Path,
                  wal: Path, t: float) -> dict[str, Any]:
    interval = c.summary_ms(lag.lags_ms) if lag.lags_ms else c.summary_ms([0.0])
    lag.lags_ms.clear()  # per interval: nothing of the soak's own grows over the run
    status_ms: list[float] = []
    errors = 0
    for _ in range(STATUS_PER_SAMPLE):
        t1 = time.perf_counter()
        try:
            async with session.get(f"{base}/api/status", headers=auth) as resp:
                await resp.read()
                if resp.status != 200:
                    errors += 1
        except Exception:  # an error is a figure here
            errors += 1
        status_ms.append((time.perf_counter() - t1) * 1000)
    async with session.get(f"{base}/metrics") as resp:
        tasks = metric(await resp.text(), "titan_asyncio_tasks")
    return {"t_s": round(t, 1), "rss_mb": round(c.rss_mb(), 2), "fds": open_fds(),
            "tasks": int(tasks) if tasks is not None else None,
            "db_mb": file_mb(db), "wal_mb": file_mb(wal), "lag": interval,
            "status": c.summary_ms(status_ms), "status_errors": errors}


def judge(r: dict[str, Any]) -> dict[str, Any]:
    """The pass/fail figures from the samples (after warm-up)."""
    samples = r["samples"]
    after = [s for s in samples if s["t_s"] >= r["warmup_s"]] or samples[-1:]
    rss_pts = [(s["t_s"], s["rss_mb"]) for s in after]
    r["rss_mb_start"] = samples[0]["rss_mb"] if samples else None
    r["rss_mb_end"] = samples[-1]["rss_mb"] if samples else None
    r["rss_mb_max"] = max((s["rss_mb"] for s in samples), default=None)
    r["soak_rss_mb_per_hour"] = round(slope_mb_per_hour(rss_pts), 2)
    tasks = [float(s["tasks"]) for s in after if s["tasks"] is not None]
    fds = [float(s["fds"]) for s in after]
    lag_p99 = [s["lag"]["p99"] for s in samples[1:]] or [s["lag"]["p99"] for s in samples]
    r["tasks_after_warmup"] = [int(x) for x in tasks]
    r["fds_after_warmup"] = [int(x) for x in fds]
    r["loop_lag_p99_ms_worst_interval"] = max(lag_p99, default=None)
    r["status_p50_ms_median"] = round(statistics.median(s["status"]["p50"] for s in samples), 3) \
        if samples else None
    r["status_max_ms"] = max((s["status"]["max"] for s in samples), default=None)
    r["status_errors"] = sum(s["status_errors"] for s in samples)
    checks = {
        "rss_growth": r["soak_rss_mb_per_hour"] <= TARGET_RSS_MB_PER_HOUR,
        "tasks_flat": flat(tasks, TASK_SLACK),
        "fds_flat": flat(fds, FD_SLACK),
        "loop_lag_p99": all(x <= TARGET_LAG_P99_MS for x in lag_p99),
    }
    r["checks"] = checks
    r["passed"] = all(checks.values())
    return r


def report(r: dict[str, Any]) -> str:
    print(f"soak: paper profile armed, console /ws connected, {r['trades_per_s']:.0f} trades/s, "
          f"{r['minutes']} min, {len(r['samples'])} samples every {r['sample_s']:.0f} s "
          f"(warm-up {r['warmup_s'] / 60:.1f} min)")
    print(f"  {'min':>6} {'RSS MB':>8} {'fds':>5} {'tasks':>6} {'lag p99':>8} "
          f"{'status p50':>10} {'db MB':>7} {'wal MB':>7}")
    for s in r["samples"]:
        print(f"  {s['t_s'] / 60:6.1f} {s['rss_mb']:8.1f} {s['fds']:5d} {s['tasks'] or 0:6d} "
              f"{s['lag']['p99']:8.2f} {s['status']['p50']:10.2f} {s['db_mb']:7.2f} "
              f"{s['wal_mb']:7.2f}")
    print(f"  RSS after warm-up: {r['soak_rss_mb_per_hour']} MB/hour "
          f"(target ≤ {TARGET_RSS_MB_PER_HOUR}); start {r['rss_mb_start']}, end {r['rss_mb_end']}, "
          f"max {r['rss_mb_max']} MB")
    print(f"  tasks after warm-up {r['tasks_after_warmup']}; fds {r['fds_after_warmup']}")
    print(f"  loop lag p99, worst interval: {r['loop_lag_p99_ms_worst_interval']} ms "
          f"(target ≤ {TARGET_LAG_P99_MS}); /api/status p50 (median of samples) "
          f"{r['status_p50_ms_median']} ms, max {r['status_max_ms']} ms, "
          f"{r['status_errors']} errors")
    print(f"  console messages read: {r.get('console_messages')}, reconnects "
          f"{r.get('console_reconnects')}; armed at the end: {r.get('armed_at_end')}")
    for key in ("tracemalloc_top_lines", "tracemalloc_top_tracebacks"):
        if r.get(key):
            print(f"  {key} (growth from minute {r['traced_from_s'] / 60:.1f} to the end; "
                  f"KiB, blocks, innermost last):")
            for d in r[key]:
                print(f"    {d['kib']:>9} KiB {d['count']:>+8}  {' <- '.join(reversed(d['where']))}")
    failed = [k for k, ok in r["checks"].items() if not ok]
    return c.verdict("soak", r["passed"], "all checks passed" if not failed
                     else f"failed: {', '.join(failed)}")


def default_json(facts: dict[str, Any], minutes: float) -> Path:
    stamp = facts["date"].replace("-", "").replace(":", "")[:13]  # 20261207T1612
    stamp = f"{stamp[:4]}-{stamp[4:6]}-{stamp[6:8]}T{stamp[9:13]}Z"
    return DATA_DIR / f"soak-{minutes:g}min-{stamp}-{facts['commit']}.json"


def main() -> None:
    # Read at the start: a commit made while the bench runs must not relabel its figures.
    facts = c.run_facts()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=120.0)
    ap.add_argument("--tps", type=float, default=5000.0, help="trades/s fed (default 5,000)")
    ap.add_argument("--sample-s", type=float, default=60.0)
    ap.add_argument("--warmup-minutes", type=float)
    ap.add_argument("--tracemalloc", action="store_true")
    ap.add_argument("--trace-from-minute", type=float, default=2.0)
    ap.add_argument("--json", help="default: docs/benchmarks-data/soak-<N>min-<date>-<commit>.json")
    a = ap.parse_args()
    c.quiet_logs()
    r = asyncio.run(measure(a.minutes, a.tps, a.sample_s, a.warmup_minutes, a.tracemalloc,
                            a.trace_from_minute))
    r["verdict"] = report(r)
    out = Path(a.json) if a.json else default_json(facts, a.minutes)
    c.write_json(str(out), {**facts, "soak": r})
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
