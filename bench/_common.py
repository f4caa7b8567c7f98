"""Shared pieces of the benchmarks: percentiles, an event-loop lag probe, machine facts,
an in-process simulator + Titan pair, and the one-line verdict.

Benchmarks print figures and never assert wall-clock times. Every figure comes with a
baseline measured in the same run, because the machine is shared and noisy.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # `python bench/NAME.py` without installing
    sys.path.insert(0, str(ROOT))

SIM_KEY = "bench-key"
SIM_SECRET = "bench-secret"


# -- statistics -----------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    s = sorted(values)
    k = max(0, min(len(s) - 1, math.ceil(q / 100.0 * len(s)) - 1))
    return float(s[k])


# Below this many samples the "p99" is just the largest sample: report it as max.
MIN_P99_SAMPLES = 300


def tail_label(n: int) -> str:
    return "p99" if n >= MIN_P99_SAMPLES else "max"


def summary_ms(values_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values_ms),
        "p50": round(percentile(values_ms, 50), 3),
        "p99": round(percentile(values_ms, 99), 3),
        "max": round(max(values_ms), 3) if values_ms else math.nan,
    }


def fmt_summary(label: str, s: dict[str, float]) -> str:
    # p99 is printed only when it is one (>= MIN_P99_SAMPLES samples); otherwise "p99*"
    # marks that the figure is the run's maximum, not a percentile.
    p99 = "p99 " if int(s["n"]) >= MIN_P99_SAMPLES else "p99*"
    return (f"{label:<44} n={int(s['n']):>6}  p50 {s['p50']:>8.3f} ms  "
            f"{p99}{s['p99']:>8.3f} ms  max {s['max']:>8.3f} ms")


def verdict(name: str, met: bool | None, text: str) -> str:
    word = "MET" if met else ("UNKNOWN" if met is None else "MISSED")
    line = f"VERDICT {name}: {word} — {text}"
    print(line, flush=True)
    return word


# -- event-loop lag -------------------------------------------------------------------


@dataclass
class LoopLag:
    """A timer task that asks to wake every `period_s`; lag = how late it woke."""

    period_s: float = 0.005
    lags_ms: list[float] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + self.period_s
            await asyncio.sleep(self.period_s)
            self.lags_ms.append(max(0.0, (loop.time() - due) * 1000.0))

    def start(self) -> None:
        self.lags_ms.clear()
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> dict[str, float]:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        return summary_ms(self.lags_ms)


# -- machine and run facts ------------------------------------------------------------


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                             capture_output=True, text=True, timeout=10)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=ROOT, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def machine() -> dict[str, Any]:
    try:
        load = os.getloadavg()
    except OSError:
        load = (math.nan, math.nan, math.nan)
    return {
        "nproc": os.cpu_count(),
        "cpu_model": cpu_model(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "loadavg_1m_at_start": round(load[0], 2),
    }


def run_facts() -> dict[str, Any]:
    return {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "commit": git_commit(),
            "machine": machine()}


def rss_mb(pid: int | None = None) -> float:
    """Resident set size in MB (from /proc)."""
    path = f"/proc/{pid or os.getpid()}/status"
    for line in Path(path).read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return math.nan


def write_json(path: str | None, data: dict[str, Any]) -> None:
    if path:
        Path(path).write_text(json.dumps(data, indent=2, default=str) + "\n")


def quiet_logs() -> None:
    """Titan logs every event with loguru; a benchmark prints figures, not event lines."""
    from loguru import logger

    logger.remove()
    logger.add(sys.stderr, level="ERROR")


# -- Titan ------------------------------------------------------------------------------


async def arm_titan(titan: Any, timeout_s: float = 15.0) -> None:
    """ARM once the venue streams are up and the wallet is known (the gate needs both)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if titan.market.venue_connected and titan.risk.equity is not None:
            break
        await asyncio.sleep(0.05)
    await titan.risk.arm("benchmark", "bench")


# -- a simulator in its own process ---------------------------------------------------

_SIM_MAIN = r"""
import asyncio, json, sys
from aiohttp import web
from titan.sim import SimConfig, Simulator


class BenchSim(Simulator):
    # Two small lookups into the wire recorder, so a benchmark need not fetch it whole.
    def build_app(self):
        app = super().build_app()
        app.router.add_get("/bench/sent", self._sent)
        app.router.add_get("/bench/arrival", self._arrival)
        return app

    async def _sent(self, request):
        # The first send of the trade on any socket: with a second client on the stream
        # (the tick-to-order bench's bare feed baseline) each socket has its own send, and
        # the earliest is when the trade was first on the wire — for both clients alike,
        # and never later than Titan's own send (a tick-to-order figure not flattered).
        sym, tid = request.query["symbol"], int(request.query["id"])
        sends = [t.ns for t in self.recorder.trades
                 if t.stream == "binance_spot" and t.symbol == sym and t.trade_id == tid]
        return web.json_response({"ns": min(sends) if sends else None})

    async def _arrival(self, request):
        cid = request.query["cid"]
        for o in reversed(self.recorder.orders):
            if o.client_id == cid:
                return web.json_response({"ns": o.ns})
        return web.json_response({"ns": None})


async def main() -> None:
    symbols = tuple(json.loads(sys.argv[2]))
    sim = BenchSim(SimConfig(seed=7, accounts=json.loads(sys.argv[1]), symbols=symbols,
                             tick_hz=float(sys.argv[3])))
    await sim.start()
    print(sim.base_url, flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"""


class SimClient:
    """Drives a simulator process through its control API (loopback, no auth)."""

    def __init__(self, base_url: str) -> None:
        import aiohttp

        self.base_url = base_url
        self._s = aiohttp.ClientSession()

    async def close(self) -> None:
        await self._s.close()

    async def _post(self, path: str, body: dict[str, Any]) -> Any:
        async with self._s.post(f"{self.base_url}/sim/control/{path}", json=body) as r:
            return await r.json()

    async def _get(self, path: str) -> Any:
        async with self._s.get(f"{self.base_url}{path}") as r:
            return await r.json()

    async def feed(self, trades_per_s: float, symbols: Sequence[str] | None = None) -> None:
        await self._post("feed", {"trades_per_s": trades_per_s, "symbols": symbols})

    async def burst(self, symbol: str, price: float, count: int, spread_ms: float) -> Any:
        return await self._post("burst", {"symbol": symbol, "price": str(price), "count": count,
                                           "spread_ms": spread_ms})

    async def set_price(self, symbol: str, price: Any) -> Any:
        """Print one trade at `price` (both venues' streams; crossed limits, SL/TP fire)."""
        return await self._post("price", {"symbol": symbol, "price": str(price)})

    async def prices(self) -> dict[str, float]:
        body = await self._get("/sim/control/prices")
        return {k: float(v) for k, v in body["prices"].items()}

    async def sent_ns(self, symbol: str, trade_id: int) -> int | None:
        body = await self._get(f"/bench/sent?symbol={symbol}&id={trade_id}")
        return body["ns"]  # type: ignore[no-any-return]

    async def arrival_ns(self, cid: str) -> int | None:
        body = await self._get(f"/bench/arrival?cid={cid}")
        return body["ns"]  # type: ignore[no-any-return]

    async def open_position(self, symbol: str, side: str, qty: str, key: str = SIM_KEY) -> Any:
        return await self._post(f"accounts/{key}/open-position",
                                {"symbol": symbol, "side": side, "qty": qty})

    async def positions(self, key: str = SIM_KEY) -> list[dict[str, Any]]:
        body = await self._get(f"/sim/control/accounts/{key}/positions")
        rows = body.get("positions", body) if isinstance(body, dict) else body
        return [p for p in rows if float(p.get("size", 0)) != 0]


@asynccontextmanager
async def sim_process(symbols: Sequence[str] | None = None, tick_hz: float = 0.0,
                      extra_accounts: dict[str, str] | None = None) -> AsyncIterator[SimClient]:
    """`titan.sim` in a child process (its own core on a 2-core machine). Its monotonic
    clock is the same system-wide CLOCK_MONOTONIC as ours, so wire times compare.
    `extra_accounts` (key → secret) beside Titan's: e.g. a bare client's, which Titan never
    sees."""
    from titan.sim.config import DEFAULT_SYMBOLS

    # Titan streams its whole universe (the 10 default symbols): the simulator must list them.
    syms = list(DEFAULT_SYMBOLS) + [x for x in (symbols or ()) if x not in DEFAULT_SYMBOLS]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _SIM_MAIN, json.dumps({SIM_KEY: SIM_SECRET, **(extra_accounts or {})}),
        json.dumps(syms), str(tick_hz),
        cwd=str(ROOT), stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)})
    client = None
    try:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 120)
        url = line.decode().strip()
        if not url.startswith("http"):
            raise RuntimeError(f"simulator did not start: {line!r}")
        client = SimClient(url)
        yield client
    finally:
        if client is not None:
            await client.close()
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()


async def sim_control(url: str, path: str, body: dict[str, Any]) -> Any:
    import aiohttp

    async with aiohttp.ClientSession() as s, s.post(f"{url}/sim/control/{path}", json=body) as r:
        return await r.json()


@asynccontextmanager
async def titan_on(url: str, data_dir: Path | None = None, arm: bool = False,
                   app_port: int | None = None,
                   attrs: dict[str, Any] | None = None) -> AsyncIterator[Any]:
    """A Titan trading against the simulator at `url` through the real adapters (pybit,
    python-binance), as the paper profile does (`TITAN_VENUE=bybit`, `TITAN_BYBIT_URL`).
    With `app_port`, its aiohttp application (API, auth) is served on 127.0.0.1."""
    from titan.core import Titan
    from titan.secrets import RuntimeSecrets
    from titan.settings import Settings

    tmp = None
    if data_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="titan-bench-")
        data_dir = Path(tmp.name)
    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data_dir, venue="bybit", bybit_url=url, binance_url=url,
        bybit_api_key=SIM_KEY, bybit_api_secret=SIM_SECRET,
    )
    titan = Titan(settings, secrets=RuntimeSecrets(CONSOLE_USER, CONSOLE_PASSWORD, "4242"))
    for k, v in (attrs or {}).items():
        if hasattr(titan, k):  # e.g. scavenger_options, where the runner exists
            setattr(titan, k, v)
    runner = None
    try:
        if app_port is None:
            await titan.start()
        else:
            from aiohttp import web

            from titan.app import create_app

            runner = web.AppRunner(create_app(titan), access_log=None)
            await runner.setup()  # runs Titan's start-up (cleanup_ctx)
            await web.TCPSite(runner, "127.0.0.1", app_port).start()
        if not titan.market.venue_connected:
            raise RuntimeError("Titan did not connect to the simulator at start-up "
                               f"(streams: {titan.market.venue_streams})")
        if arm:
            await arm_titan(titan)
        yield titan
    finally:
        if runner is not None:
            await runner.cleanup()
        else:
            await titan.stop()
        if tmp is not None:
            tmp.cleanup()


CONSOLE_USER, CONSOLE_PASSWORD = "titan_admin", "bench-password"


def free_port() -> int:
    """A loopback port nobody listens on, below the kernel's ephemeral range (32768+), so no
    outgoing connection can take it as its source port before the server binds it (the
    bench runs standalone, without the test tree: this mirrors tests.helpers.free_port)."""
    import random
    import socket

    for _ in range(200):
        port = random.randrange(20000, 32000)
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free loopback port in 20000-32000")


_T0 = time.monotonic()


def progress(what: str) -> None:
    """A progress line on stderr with the seconds since start (figures go to stdout)."""
    print(f"[{time.monotonic() - _T0:7.1f}s] {what}", file=sys.stderr, flush=True)


def reexec_with_branch(branch: str, script: str, argv: list[str], label_env: str) -> int:
    """Run `script` again with `branch`'s titan/ package (and migrations) first on the
    path: how a bench measures a colleague's branch that is not merged here yet, without
    touching it. The child finds what it ran on in the environment variable `label_env`."""
    with tempfile.TemporaryDirectory(prefix=f"titan-{branch}-tree-") as tree:
        commit = subprocess.run(["git", "rev-parse", "--short", branch], cwd=ROOT,
                                capture_output=True, text=True).stdout.strip()
        archive = subprocess.run(["git", "archive", branch, "titan", "migrations"], cwd=ROOT,
                                 capture_output=True)
        if archive.returncode != 0 or not commit:
            print(f"branch {branch} cannot be read", file=sys.stderr)
            return 2
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([tree, str(ROOT)]),
               label_env: f"branch {branch} @ {commit} (not merged into this branch)"}
        return subprocess.run([sys.executable, script, *argv], env=env).returncode


def has_module(name: str) -> bool:
    import importlib.util

    try:
        return importlib.util.find_spec(name) is not None
    except ImportError:
        return False
