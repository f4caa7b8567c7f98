"""Tick-to-order, wire to wire (SPEC §13: p99 ≤ 1 ms at 2,000 trades/s across 10 symbols).

The simulator sends the Binance aggTrade that springs a trap → the simulator receives the
Bybit order-create request. Both instants are the simulator's own monotonic-ns records
(`sim.recorder`), on loopback, while the simulator streams a background load of
2,000 trades/s across 10 symbols to Titan (Binance aggTrade and Bybit publicTrade/tickers).

The path is Titan's real one as far as it exists on this branch:
python-binance aggTrade stream → `BinanceTradeFeed` → `SpringDetector.on_trade` →
`plan_entry` → `RiskEngine.size_entry` → `ExecutionEngine.submit` (gate, intent committed
to SQLite, late gate re-check) → `BybitVenue.place_order` → pybit in the REST thread pool →
the simulator. The Scavenger *runner* (branch `scavrun`) is not merged yet, so the glue
between the feed callback and `submit` is the minimal one below (`MiniRunner`), labelled
as such in the output. The entry is a limit that rests (so no fills, no losses tripping
the breaker between samples) and is cancelled after each sample; its shape does not
change the path measured.

Baselines in the same run and under the same load: an asyncio queue hop (put → get in
another task), a bare aiohttp round trip to the simulator (GET /v5/market/time), and a
bare pybit place_order round trip (signed, in a thread, as the adapter does).

    python bench/tick_to_order.py [--quick] [--samples N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import sys
import time
from decimal import Decimal
from typing import Any

try:
    from bench import _common as c
except ImportError:  # run as a script: bench/ is not a package on sys.path
    import _common as c  # type: ignore[no-redef]

TARGET_P99_MS = 1.0
RUNNER_BRANCH = "scavrun"
LOAD_TPS = 2000.0


async def queue_hop_baseline(n: int) -> dict[str, float]:
    """put → get across two tasks, spaced 1 ms apart (not back to back)."""
    q: asyncio.Queue[int] = asyncio.Queue()
    out: list[float] = []

    async def consumer() -> None:
        for _ in range(n):
            t = await q.get()
            out.append((time.perf_counter_ns() - t) / 1e6)

    task = asyncio.create_task(consumer())
    for _ in range(n):
        q.put_nowait(time.perf_counter_ns())
        await asyncio.sleep(0.001)
    await task
    return c.summary_ms(out)


async def bare_http_baseline(base_url: str, n: int) -> dict[str, float]:
    import aiohttp

    out: list[float] = []
    async with aiohttp.ClientSession() as s:
        for _ in range(n):
            t = time.perf_counter_ns()
            async with s.get(f"{base_url}/v5/market/time") as r:
                await r.read()
            out.append((time.perf_counter_ns() - t) / 1e6)
            await asyncio.sleep(0.002)
    return c.summary_ms(out)


async def bare_pybit_order_baseline(base_url: str, n: int, symbol: str,
                                    price: Decimal) -> dict[str, float]:
    """A signed pybit place_order (resting limit) in a worker thread, then its cancel (not timed)."""
    from pybit.unified_trading import HTTP

    http = HTTP(api_key=c.SIM_KEY, api_secret=c.SIM_SECRET, max_retries=1, retry_delay=0,
                log_requests=False)
    http.endpoint = base_url
    loop = asyncio.get_running_loop()
    out: list[float] = []
    px = str(price)
    for i in range(n):
        def place(i: int = i) -> Any:
            return http.place_order(category="linear", symbol=symbol, side="Buy",
                                    orderType="Limit", qty="0.001", price=px,
                                    timeInForce="GTC", orderLinkId=f"bare-{time.time_ns()}-{i}")
        t = time.perf_counter_ns()
        await loop.run_in_executor(None, place)
        out.append((time.perf_counter_ns() - t) / 1e6)
        await loop.run_in_executor(None, lambda: http.cancel_all_orders(category="linear",
                                                                         symbol=symbol))
    return c.summary_ms(out)


class MiniRunner:
    """The closest path to the Scavenger runner that exists: feed → spring → plan → size →
    `execution.submit`. Records when each stage happened."""

    def __init__(self, titan: Any) -> None:
        from titan.strategies.scavenger import SpringDetector, VelocityTracker

        self.titan = titan
        self.detector = SpringDetector()
        self.trackers: dict[str, Any] = {}
        self._tracker_cls = VelocityTracker
        self.pending: asyncio.Future[dict[str, Any]] | None = None
        self.n = 0
        titan.venue.on_ticker(self._on_ticker)
        titan.feed.on_trade(self._on_trade)
        self.trades_seen = 0

    def _on_ticker(self, t: Any) -> None:
        tr = self.trackers.get(t.symbol)
        if tr is None:
            tr = self.trackers[t.symbol] = self._tracker_cls()
        tr.update(float(t.last_price), int(time.time() * 1000))

    def _on_trade(self, trade: Any) -> None:
        self.trades_seen += 1
        trap = self.detector.on_trade(trade.symbol, trade.price, trade.ts_ms)
        if trap is None:
            return
        seen_ns = time.monotonic_ns()
        asyncio.get_running_loop().create_task(self._enter(trap, trade, seen_ns))

    async def _enter(self, trap: Any, trade: Any, seen_ns: int) -> None:
        from titan.domain.orders import OrderIntent, OrderType
        from titan.strategies.scavenger import EntryRefused, plan_entry, stop_and_target

        rec: dict[str, Any] = {"symbol": trade.symbol, "trade_id": trade.trade_id,
                               "seen_ns": seen_ns}
        try:
            now_ms = int(time.time() * 1000)
            plan = plan_entry(trap, self.trackers[trade.symbol], now_ms)
            if isinstance(plan, EntryRefused):
                rec["error"] = f"plan refused: {plan.message}"
                return
            # A limit 1 % under the touch rests: no fills between samples (see module doc).
            price = plan.touch * Decimal("0.99") if plan.side.value == "Buy" \
                else plan.touch * Decimal("1.01")
            stop, target = stop_and_target(plan.side, price)
            plan = dataclasses.replace(plan, order_type=OrderType.LIMIT, price=price,
                                       stop_loss=stop, take_profit=target)
            inst = self.titan.venue.instrument(trade.symbol)
            ex = self.titan.execution
            size = self.titan.risk.size_entry(
                symbol=plan.symbol, confidence=plan.confidence, entry=plan.price,
                stop=plan.stop_loss, target=plan.take_profit, leverage=Decimal(plan.leverage),
                market=ex.market_context(plan.symbol), qty_step=inst.qty_step,
                min_qty=inst.min_qty)
            self.n += 1
            intent = OrderIntent(
                intent_id=f"bench-t2o-{time.time_ns()}-{self.n}", symbol=plan.symbol,
                side=plan.side, qty=size.qty, order_type=plan.order_type, price=plan.price,
                stop_loss=plan.stop_loss, take_profit=plan.take_profit,
                leverage=Decimal(plan.leverage), strategy="scavenger")
            rec["cid"] = intent.client_order_id
            rec["submit_ns"] = time.monotonic_ns()
            result = await ex.submit(intent, reason="bench spring")
            rec["done_ns"] = time.monotonic_ns()
            if not result.accepted:
                rec["error"] = f"not accepted: {result.denial or result.error or result.status}"
        except Exception as exc:  # a benchmark reports, it does not crash mid-run
            rec["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            if self.pending is not None and not self.pending.done():
                self.pending.set_result(rec)


class RunnerProbe:
    """Titan's own `ScavengerRunner` (wired in `titan.core` on the scavrun branch). Hooks
    only observe: which Binance trade sprang which trap, hence the order's client id."""

    def __init__(self, titan: Any) -> None:
        from titan.domain.orders import client_order_id_for

        self.titan = titan
        self.runner = titan.scavenger
        self.detector = self.runner.detector
        self.pending: asyncio.Future[dict[str, Any]] | None = None
        self.trades_seen = 0
        self._last: dict[str, int] = {}
        titan.feed._trade_cbs.insert(0, self._seen)  # before the runner's callback
        inner = self.detector.on_trade

        def on_trade(symbol: str, price: float, ts_ms: int) -> Any:
            trap = inner(symbol, price, ts_ms)
            if trap is not None and self.pending is not None and not self.pending.done():
                self.pending.set_result({
                    "symbol": symbol, "trade_id": self._last.get(symbol, -1),
                    "seen_ns": time.monotonic_ns(),
                    "cid": client_order_id_for(f"scav:{trap.trap_id}:{ts_ms}")})
            return trap

        self.detector.on_trade = on_trade  # type: ignore[method-assign]

    def _seen(self, trade: Any) -> None:
        self.trades_seen += 1
        self._last[trade.symbol] = trade.trade_id


async def _reset_between_samples(titan: Any) -> None:
    """No working entry, no position, breaker clear and ARMED: the next spring may trade."""
    await titan.execution.cancel_orders(titan_only=True)
    if titan.ledger.positions:
        await titan.execution.flatten_all()
        await asyncio.sleep(0.3)  # the closing fills (a loss each) reach the breaker first
    if titan.risk.status().get("circuitBreaker", {}).get("tripped"):
        await titan.risk.reset_breaker("benchmark: fees of flattened samples", "bench")
    if not titan.risk.arm_ctl.armed:
        await titan.risk.arm("benchmark", "bench")


async def measure(samples: int = 200, load_tps: float = LOAD_TPS, n_symbols: int = 10,
                  baseline_n: int = 300, order_baseline_n: int = 40,
                  pace_s: float = 0.35, budget_s: float = 60.0,
                  timeout_s: float = 10.0, light_samples: int = 0,
                  light_load_tps: float = 100.0, light_budget_s: float = 30.0) -> dict[str, Any]:
    from titan.sim.config import DEFAULT_SYMBOLS
    from titan.strategies.scavenger import Direction, Trap, Tripwire, TripwireKind

    symbols = list(DEFAULT_SYMBOLS[:n_symbols])
    result: dict[str, Any] = {"path": "MiniRunner (scavrun not merged): binance feed → "
                              "SpringDetector → plan_entry → size_entry → execution.submit → "
                              "BybitVenue/pybit", "load_trades_per_s": load_tps,
                              "load_symbols": len(symbols)}
    c.progress("starting the simulator (own process) and Titan")
    # The runner re-arms from klines every minute; here the bench arms the traps.
    attrs = {"scavenger_options": {"rearm_every_s": 3600.0, "align_to_minute": False}}
    async with c.sim_process(symbols) as sim, \
            c.titan_on(sim.base_url, arm=True, attrs=attrs) as titan:
        c.progress("started")
        real = getattr(titan, "scavenger", None) is not None
        runner: Any = RunnerProbe(titan) if real else MiniRunner(titan)
        if real:
            result["path"] = ("Titan's ScavengerRunner (" + os.environ.get(
                "BENCH_RUNNER_CODE", "this tree") + "): binance feed → runner.on_trade → "
                "SpringDetector → plan_entry → size_entry → execution.submit → BybitVenue/pybit")
        async def run_samples(samples: int, budget_s: float) -> dict[str, Any]:
            wire: list[float] = []
            to_callback: list[float] = []
            callback_to_arrival: list[float] = []
            errors: list[str] = []
            loop = asyncio.get_running_loop()
            # The first order on a symbol also sets its leverage: set it now, not in a sample.
            for sym in symbols:
                await titan.venue.set_leverage(sym, Decimal(15))
            warm = 0
            total = samples + warm
            samples_end = time.monotonic() + budget_s
            for i in range(total):
                if time.monotonic() > samples_end:
                    errors.append(f"time budget of {budget_s:.0f} s used up after {i} sprung traps")
                    break
                sym = symbols[i % len(symbols)]
                last = (await sim.prices())[sym]
                level = last * 1.0005  # above the price: a long breakout
                tw = Tripwire(sym, TripwireKind.BOLLINGER, level, 90, 15, Direction.LONG,
                              f"bench{time.time_ns()}")  # fresh id: no inherited cooldown
                runner.detector.arm([Trap(tw, 80.0, 0, 0, 0, 0.05)], int(time.time() * 1000))
                runner.pending = loop.create_future()
                await sim.burst(sym, level, 50, spread_ms=40)
                try:
                    rec = await asyncio.wait_for(runner.pending, timeout_s)
                except TimeoutError:
                    errors.append(f"{sym}: no spring/order within {timeout_s:.0f} s")
                    continue
                finally:
                    runner.detector.disarm_all()
                if real:  # the runner gives no callback: wait for the order on the wire
                    t_end = time.monotonic() + timeout_s
                    while await sim.arrival_ns(rec["cid"]) is None and time.monotonic() < t_end:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                if i >= warm:
                    if "error" in rec:
                        errors.append(f"{sym}: {rec['error']}")
                    else:
                        sent = await sim.sent_ns(rec["symbol"], rec["trade_id"])
                        arr = await sim.arrival_ns(rec["cid"])
                        if sent is None or arr is None:
                            what = "no order arrived" if arr is None else "trade record missing"
                            extra = f" runner {runner.runner.counters}" if real else ""
                            errors.append(f"{sym}: {what}{extra}")
                        else:
                            wire.append((arr - sent) / 1e6)
                            to_callback.append((rec["seen_ns"] - sent) / 1e6)
                            callback_to_arrival.append((arr - rec["seen_ns"]) / 1e6)
                c.progress(f"sample {i}: {wire[-1] if wire else 'nan':.6} ms, {len(errors)} errors")
                await _reset_between_samples(titan)
                await asyncio.sleep(pace_s)  # keeps the venue's token bucket (10/s) from gating
            return {"tick_to_order": c.summary_ms(wire),
                    "wire_to_spring": c.summary_ms(to_callback),
                    "spring_to_order_arrival": c.summary_ms(callback_to_arrival),
                    "errors": errors[:20], "error_count": len(errors)}

        # The first order on a symbol also sets its leverage: set it now, not in a sample.
        for sym in symbols:
            await titan.venue.set_leverage(sym, Decimal(15))
        if light_samples:
            await sim.feed(light_load_tps, symbols)
            await asyncio.sleep(1.0)
            c.progress(f"light load {light_load_tps:.0f} trades/s")
            light = await run_samples(light_samples, light_budget_s)
            result["light_load_trades_per_s"] = light_load_tps
            result["light"] = light
            result["tick_to_order_light"] = light["tick_to_order"]
        await sim.feed(load_tps, symbols)
        await asyncio.sleep(1.0)
        lag = c.LoopLag()
        lag.start()
        result["baseline_queue_hop"] = await queue_hop_baseline(baseline_n)
        result["baseline_http_rtt"] = await bare_http_baseline(sim.base_url, baseline_n // 3)
        prices = await sim.prices()
        inst = titan.venue.instrument(symbols[0])
        far = Decimal(str(prices[symbols[0]])) * Decimal("0.9")
        far = (far / inst.tick_size).to_integral_value() * inst.tick_size
        result["baseline_order_rtt"] = await bare_pybit_order_baseline(
            sim.base_url, order_baseline_n, symbols[0], far)
        c.progress(f"baselines done; spec load {load_tps:.0f} trades/s")
        main = await run_samples(samples, budget_s)
        c.progress("samples done")
        await sim.feed(0)
        result["loop_lag"] = await lag.stop()
        result.update(main)
        result["trades_seen_by_feed"] = runner.trades_seen
    return result


def report(r: dict[str, Any]) -> str:
    print(f"tick-to-order, wire to wire — {r['path']}")
    print(f"background load {r['load_trades_per_s']:.0f} trades/s across {r['load_symbols']} "
          "symbols (simulator in its own process)")
    print(c.fmt_summary("tick → order (sim send → sim receive)", r["tick_to_order"]))
    print(c.fmt_summary("  of which: sim send → spring detected", r["wire_to_spring"]))
    print(c.fmt_summary("  of which: spring detected → order arrival", r["spring_to_order_arrival"]))
    if "light" in r:
        lt = r["light"]
        print(f"at a light load of {r['light_load_trades_per_s']:.0f} trades/s (same process, before):")
        print(c.fmt_summary("  tick → order", lt["tick_to_order"]))
        print(c.fmt_summary("    of which: sim send → spring detected", lt["wire_to_spring"]))
        print(c.fmt_summary("    of which: spring detected → order arrival",
                            lt["spring_to_order_arrival"]))
        if lt["error_count"]:
            print(f"  errors: {lt['error_count']} (first: {lt['errors'][:2]})")
    print(c.fmt_summary("baseline: asyncio queue hop", r["baseline_queue_hop"]))
    print(c.fmt_summary("baseline: bare aiohttp GET round trip", r["baseline_http_rtt"]))
    print(c.fmt_summary("baseline: bare pybit place_order round trip", r["baseline_order_rtt"]))
    print(c.fmt_summary("event-loop lag during the run", r["loop_lag"]))
    if r["error_count"]:
        print(f"errors: {r['error_count']} (first: {r['errors'][:3]})")
    p99 = r["tick_to_order"]["p99"]
    if p99 != p99:  # no sample at all: the trades that should spring never made it through
        return c.verdict("tick_to_order", False, "no sprung trap reached the simulator as an "
                         f"order ({r['error_count']} failures, e.g. {r['errors'][:1]})")
    return c.verdict("tick_to_order", p99 <= TARGET_P99_MS,
                     f"p99 {p99:.3f} ms vs target ≤ {TARGET_P99_MS} ms (bare pybit order RTT "
                     f"p50 {r['baseline_order_rtt']['p50']:.3f} ms alone)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--load", type=float, default=LOAD_TPS, help="background trades/s")
    ap.add_argument("--light-samples", type=int,
                    help="samples at a light load (100 trades/s) first; 0 = none")
    ap.add_argument("--mini", action="store_true",
                    help="use the bench's minimal runner even where a branch has the real one")
    ap.add_argument("--json")
    a = ap.parse_args()
    if not a.mini and not c.has_module("titan.strategies.scavenger.runner") \
            and "BENCH_RUNNER_CODE" not in os.environ:
        # The real runner is on the scavrun branch only: measure it there, unmerged.
        rc = c.reexec_with_branch(RUNNER_BRANCH, __file__, sys.argv[1:], "BENCH_RUNNER_CODE")
        if rc == 0:
            sys.exit(0)
        print(f"the {RUNNER_BRANCH} branch could not be measured (exit {rc}); "
              "falling back to the minimal runner", file=sys.stderr)
    c.quiet_logs()
    samples = a.samples or (30 if a.quick else 300)
    r = asyncio.run(measure(samples=samples, load_tps=a.load,
                            baseline_n=200 if a.quick else 1000,
                            order_baseline_n=10 if a.quick else 100,
                            budget_s=20 if a.quick else 600,
                            light_samples=a.light_samples if a.light_samples is not None
                            else (10 if a.quick else 100),
                            light_budget_s=15 if a.quick else 300,
                            timeout_s=6 if a.quick else 10))
    r["verdict"] = report(r)
    c.write_json(a.json, {**c.run_facts(), "tick_to_order": r})


if __name__ == "__main__":
    main()
