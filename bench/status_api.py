"""`/api/status` under load (SPEC §13: p99 ≤ 10 ms at 200 req/s while ingesting 5,000 trades/s).

Titan's aiohttp application (auth middleware, error middleware, routes) is served on
127.0.0.1 while a simulator in its own process streams 5,000 trades/s across 10 symbols to
it (Binance aggTrade for the signal; Bybit tickers at the venue's cadence, at most one per
symbol per 100 ms; Titan subscribes no Bybit publicTrade, as in production). A load generator in a
second process sends GET /api/status with basic auth at 200 req/s (open loop: requests
start on schedule, at most 64 in flight, each with a 5 s timeout) and, interleaved, GET to a
bare aiohttp handler served by the same process on another port (the baseline: the same
event loop, the same load, no Titan work) at 40 req/s. Latency is measured by the
generator, from request start to the last byte.

    python bench/status_api.py [--quick] [--seconds N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

try:
    from bench import _common as c
except ImportError:
    import _common as c  # type: ignore[no-redef]

TARGET_P99_MS = 10.0
REQ_PER_S = 200.0
BARE_PER_S = 40.0
INGEST_TPS = 5000.0

_LOADGEN = r"""
import asyncio, base64, json, sys, time
import aiohttp

async def main() -> None:
    status_url, bare_url, auth, rate, bare_rate, seconds = sys.argv[1:7]
    rate, bare_rate, seconds = float(rate), float(bare_rate), float(seconds)
    headers = {"Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    lat = {"status": [], "bare": []}
    errors = {"status": 0, "bare": 0}
    sem = asyncio.Semaphore(64)
    tasks = set()
    conn = aiohttp.TCPConnector(limit=64)
    timeout = aiohttp.ClientTimeout(total=5)
    async with aiohttp.ClientSession(connector=conn, timeout=timeout) as s:
        async def one(kind, url):
            async with sem:
                t = time.perf_counter()
                try:
                    async with s.get(url, headers=headers) as r:
                        await r.read()
                        ok = r.status == 200
                except Exception:
                    ok = False
                if ok:
                    lat[kind].append((time.perf_counter() - t) * 1000)
                else:
                    errors[kind] += 1
        t0 = time.perf_counter()
        n = nb = 0
        while True:
            now = time.perf_counter() - t0
            if now >= seconds:
                break
            while n < now * rate:
                n += 1
                tk = asyncio.ensure_future(one("status", status_url)); tasks.add(tk)
                tk.add_done_callback(tasks.discard)
            while nb < now * bare_rate:
                nb += 1
                tk = asyncio.ensure_future(one("bare", bare_url)); tasks.add(tk)
                tk.add_done_callback(tasks.discard)
            await asyncio.sleep(0.002)
        if tasks:
            await asyncio.wait(tasks, timeout=10)
        elapsed = time.perf_counter() - t0
    print(json.dumps({"lat": lat, "errors": errors, "sent": {"status": n, "bare": nb},
                      "elapsed_s": elapsed}))

asyncio.run(main())
"""


async def measure(seconds: float = 20.0, rate: float = REQ_PER_S, bare_rate: float = BARE_PER_S,
                  ingest_tps: float = INGEST_TPS) -> dict[str, Any]:
    from aiohttp import web

    from titan.sim.config import DEFAULT_SYMBOLS

    symbols = list(DEFAULT_SYMBOLS)
    app_port, bare_port = c.free_port(), c.free_port()
    r: dict[str, Any] = {"req_per_s": rate, "bare_req_per_s": bare_rate,
                         "ingest_trades_per_s": ingest_tps, "seconds": seconds}

    async def bare(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    bare_app = web.Application()
    bare_app.router.add_get("/bare", bare)
    bare_runner = web.AppRunner(bare_app, access_log=None)
    await bare_runner.setup()
    await web.TCPSite(bare_runner, "127.0.0.1", bare_port).start()
    c.progress("starting the simulator (own process) and Titan's app")
    try:
        async with c.sim_process(symbols) as sim, \
                c.titan_on(sim.base_url, arm=True, app_port=app_port) as titan:
            n = 0

            def count(_: Any) -> None:
                nonlocal n
                n += 1

            titan.feed.on_trade(count)
            tk = 0

            def count_ticker(_: Any) -> None:
                nonlocal tk
                tk += 1

            titan.venue.on_ticker(count_ticker)
            await sim.feed(ingest_tps, symbols)
            await asyncio.sleep(2.0)
            from titan.api.views import status_view

            r["status_bytes"] = len(json.dumps(status_view(titan), default=str))
            lag = c.LoopLag()
            lag.start()
            n0, tk0 = n, tk
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            c.progress("load generator running")
            proc = await asyncio.create_subprocess_exec(
                sys.executable, "-c", _LOADGEN,
                f"http://127.0.0.1:{app_port}/api/status", f"http://127.0.0.1:{bare_port}/bare",
                f"{c.CONSOLE_USER}:{c.CONSOLE_PASSWORD}", str(rate), str(bare_rate), str(seconds),
                stdout=asyncio.subprocess.PIPE)
            out, _ = await asyncio.wait_for(proc.communicate(), seconds + 60)
            r["ingested_per_s"] = round((n - n0) / (loop.time() - t0))
            r["bybit_tickers_per_s"] = round((tk - tk0) / (loop.time() - t0))
            r["loop_lag"] = await lag.stop()
            await sim.feed(0)
    finally:
        await bare_runner.cleanup()
    gen = json.loads(out.decode().strip().splitlines()[-1])
    r["status"] = c.summary_ms(gen["lat"]["status"])
    r["baseline_bare_handler"] = c.summary_ms(gen["lat"]["bare"])
    r["errors"] = gen["errors"]
    r["sent"] = gen["sent"]
    r["achieved_req_per_s"] = round(gen["sent"]["status"] / gen["elapsed_s"], 1)
    return r


def report(r: dict[str, Any]) -> str:
    print(f"/api/status at {r['req_per_s']:.0f} req/s (achieved {r['achieved_req_per_s']}) while the "
          f"simulator offers {r['ingest_trades_per_s']:.0f} trades/s; Titan ingested "
          f"{r['ingested_per_s']:,}/s and {r.get('bybit_tickers_per_s', 0):,} Bybit tickers/s; "
          f"status body {r['status_bytes']:,} bytes")
    print(c.fmt_summary("GET /api/status (auth, status_view(titan))", r["status"]))
    print(c.fmt_summary("baseline: bare aiohttp handler, same loop", r["baseline_bare_handler"]))
    print(c.fmt_summary("event-loop lag during the run", r["loop_lag"]))
    print(f"errors/timeouts: {r['errors']}  sent: {r['sent']}")
    p99 = r["status"]["p99"]
    n = int(r["status"]["n"])
    # An error or timeout is a request the operator did not get answered: it fails the verdict.
    errors = int(r["errors"]["status"])
    met = p99 <= TARGET_P99_MS and errors == 0 if p99 == p99 else False
    return c.verdict("status_api", met,
                     f"{c.tail_label(n)} {p99:.2f} ms (n = {n}, {errors} errors/timeouts) "
                     f"vs target ≤ {TARGET_P99_MS} ms (bare handler p99 "
                     f"{r['baseline_bare_handler']['p99']:.2f} ms in the same run)")


def main() -> None:
    # Read at the start: a commit made while the bench runs must not relabel its figures.
    facts = c.run_facts()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--seconds", type=float)
    ap.add_argument("--json")
    a = ap.parse_args()
    c.quiet_logs()
    r = asyncio.run(measure(seconds=a.seconds or (12.0 if a.quick else 60.0)))
    r["verdict"] = report(r)
    c.write_json(a.json, {**facts, "status_api": r})


if __name__ == "__main__":
    main()
