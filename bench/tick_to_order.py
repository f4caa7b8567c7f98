"""Tick-to-order, wire to wire (SPEC §13: p99 ≤ 1 ms at 2,000 trades/s across 10 symbols).

The simulator sends the Binance aggTrade that springs a trap → the simulator receives the
Bybit order-create request. Both instants are the simulator's own monotonic-ns records
(`sim.recorder`), on loopback, while the simulator streams a background load of
2,000 trades/s across 10 symbols to Titan (Binance aggTrade and Bybit publicTrade/tickers).

The path is Titan's own, in this tree: python-binance aggTrade stream → `BinanceTradeFeed`
→ `StrategyHost.on_trade` → `Scavenger.on_trade` → `SpringDetector` → `plan_entry` → `RiskEngine.size_entry` →
`ExecutionEngine.submit` (gate, intent committed to SQLite, late gate re-check) →
`BybitVenue.place_order` → pybit in the REST thread pool → the simulator. The bench arms
the traps itself (a fresh trap per sample, so no cooldown is inherited) and observes each
stage through wrappers that only take timestamps (`STAGES`).

Many samples per run, without touching a safety check: the runner's entry (a limit at the
touch) fills at once on the simulator (no book), so after each sample the bench closes it
with a reduce-only market order after moving the price 0.4 % in its favour — every round
trip is a win, the consecutive-loss breaker is never fed a loss, nothing is reset — and
moves to the next symbol with nothing open, alternating long and short per symbol so the
price does not trend into the volatility breaker. A resting entry would be cancelled.

Baselines in the same run and under the same load: an asyncio queue hop (put → get in
another task), a bare aiohttp round trip to the simulator (GET /v5/market/time), and a
bare pybit place_order (signed, in a thread): its round trip and its one-way time to the
simulator, the floor of any path through pybit. The feed's baseline (issue 22): a bare
`websockets` client in its own process (`bench/_bare_feed.py`) reads the same Binance
stream in the same run; for each sample's springing trade, sim send → parsed there
against sim send → spring detected in Titan (`feed_vs_bare`: target p50 ≤ 1.5 × bare).

    python bench/tick_to_order.py [--quick] [--samples N] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

try:
    from bench import _common as c
except ImportError:  # run as a script: bench/ is not a package on sys.path
    import _common as c  # type: ignore[no-redef]

TARGET_P99_MS = 1.0
LOAD_TPS = 2000.0


FEED_TARGET_RATIO = 1.5


class BareFeed:
    """The bare websockets client of `_bare_feed.py`, running beside Titan."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self._proc = proc

    @classmethod
    async def start(cls, base_url: str, symbols: list[str]) -> BareFeed:
        import sys
        from pathlib import Path

        streams = "/".join(f"{s.lower()}@aggTrade" for s in symbols)
        url = f"{base_url.replace('http', 'ws', 1)}/stream?streams={streams}"
        proc = await asyncio.create_subprocess_exec(
            sys.executable, str(Path(__file__).with_name("_bare_feed.py")), url,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), 30)
        if line.strip() != b"ready":
            raise RuntimeError(f"bare feed client did not start: {line!r}")
        return cls(proc)

    async def parsed_ns(self, keys: list[tuple[str, int]]) -> list[int | None]:
        import json

        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._proc.stdin.write((json.dumps(keys) + "\n").encode())
        await self._proc.stdin.drain()
        return list(json.loads(await asyncio.wait_for(self._proc.stdout.readline(), 30)))

    async def stop(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            await asyncio.wait_for(self._proc.wait(), 10)
        except TimeoutError:
            self._proc.kill()
            await self._proc.wait()


async def feed_vs_bare(bare: BareFeed, samples: list[tuple[str, int, int, int]]
                       ) -> dict[str, Any]:
    """Per sample (symbol, springing trade id, sim send ns, Titan's spring-detected ns): the
    same trade's sim send → parsed by the bare client, and the p50 ratio."""
    got = await bare.parsed_ns([(s, i) for s, i, _, _ in samples])
    titan, base = [], []
    for (_s, _i, sent, seen), ns in zip(samples, got, strict=True):
        if ns is not None:
            titan.append((seen - sent) / 1e6)
            base.append((ns - sent) / 1e6)
    t, b = c.summary_ms(titan), c.summary_ms(base)
    ratio = t["p50"] / b["p50"] if titan and b["p50"] > 0 else None
    return {"titan_wire_to_spring": t, "bare_ws_wire_to_parsed": b,
            "p50_ratio": None if ratio is None else round(ratio, 2),
            "target_ratio": FEED_TARGET_RATIO, "missing_at_bare": len(samples) - len(titan)}


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
    """A signed pybit place_order (resting limit) in a worker thread, then its cancel (not
    timed): its round trip (flatten.py's baseline too)."""
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


async def bare_pybit_order_one_way(sim: Any, n: int, symbol: str,
                                   price: Decimal) -> dict[str, dict[str, float]]:
    """A signed pybit place_order (resting limit) in a worker thread, then its cancel (not
    timed): its round trip, and its one-way times at the simulator — from the call in the
    thread (pybit's own work: payload, signature, requests, the socket) and from the loop
    (with the hop into the thread) to the order's arrival. The floor of any pybit path."""
    from pybit.unified_trading import HTTP

    http = HTTP(api_key=c.SIM_KEY, api_secret=c.SIM_SECRET, max_retries=1, retry_delay=0,
                log_requests=False)
    http.endpoint = sim.base_url
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=1)
    rtt: list[float] = []
    from_thread: list[float] = []
    from_loop: list[float] = []
    px = str(price)
    try:
        for i in range(n):
            link = f"bare-{time.time_ns()}-{i}"
            called: list[int] = []

            def place(link: str = link, called: list[int] = called) -> Any:
                called.append(time.monotonic_ns())
                return http.place_order(category="linear", symbol=symbol, side="Buy",
                                        orderType="Limit", qty="0.001", price=px,
                                        timeInForce="GTC", orderLinkId=link)
            t = time.perf_counter_ns()
            t_loop = time.monotonic_ns()
            await loop.run_in_executor(pool, place)
            rtt.append((time.perf_counter_ns() - t) / 1e6)
            arrival = await sim.arrival_ns(link)
            if arrival is not None:
                from_thread.append((arrival - called[0]) / 1e6)
                from_loop.append((arrival - t_loop) / 1e6)
            await loop.run_in_executor(pool, lambda: http.cancel_all_orders(category="linear",
                                                                             symbol=symbol))
            await asyncio.sleep(0.01)
    finally:
        pool.shutdown(wait=False)
    return {"baseline_order_rtt": c.summary_ms(rtt),
            "baseline_pybit_one_way": c.summary_ms(from_thread),
            "baseline_pybit_loop_to_arrival": c.summary_ms(from_loop)}


# Per-stage stamps of one sample, in the order the path passes them (CLOCK_MONOTONIC ns,
# the simulator's clock too). The hooks wrap instance attributes only: they observe, the
# code that runs is Titan's own.
STAGES: tuple[tuple[str, str, str], ...] = (
    ("sent", "seen", "sim send → spring detected (feed)"),
    ("seen", "submit", "spring → execution.submit (plan, size, task)"),
    ("submit", "gate", "submit → gate passed"),
    ("gate", "commit_start", "gate → intent write begins (task, lock)"),
    ("commit_start", "sql_start", "intent write: → BEGIN (lock; no hop on the loop path)"),
    ("sql_start", "sql_end", "intent write: BEGIN … COMMIT"),
    ("sql_end", "committed", "intent write: COMMIT → back in the caller"),
    ("committed", "place", "committed → place_order (late gate)"),
    # On the loop path (default): "thread" = the order sender called, "written" = signed and
    # handed to aiohttp. With orders_on_loop=False: pybit's thread and urllib3's headers.
    ("place", "thread", "place_order → order call (sender on the loop | pybit thread)"),
    ("thread", "written", "order call → request signed (aiohttp) | headers written (pybit)"),
    ("written", "arrival", "→ arrival (aiohttp/urllib3 write, loopback, sim's loop)"),
)


def _intent_params(statements: Any) -> Any:
    """The intents INSERT's parameters (intent_id, client id, …) of an intent commit: one
    row (`write_batch`) or the first of many (`write_many`)."""
    params = statements[0][1] if statements else ()
    if params and isinstance(params[0], (list, tuple)):
        params = params[0]
    return params


class RunnerProbe:
    """Titan's own Scavenger strategy (`titan.scavenger`), observed: which Binance trade
    sprang which trap (hence the order's client id), and when the order passed each stage
    of the path (`STAGES`)."""

    def __init__(self, titan: Any) -> None:
        from titan.domain.orders import client_order_id_for

        self.titan = titan
        self.runner = titan.scavenger
        self.detector = self.runner.detector
        self.pending: asyncio.Future[dict[str, Any]] | None = None
        self.trades_seen = 0
        self.stamps: dict[str, dict[str, Any]] = {}
        self._last: dict[str, int] = {}
        titan.feed._trade_cbs.insert(0, self._seen)  # before the runner's callback
        now = time.monotonic_ns
        stamps = self.stamps
        inner_trade = self.detector.on_trade

        def on_trade(symbol: str, price: float, ts_ms: int) -> Any:
            trap = inner_trade(symbol, price, ts_ms)
            if trap is not None and self.pending is not None and not self.pending.done():
                cid = client_order_id_for(f"scav:{trap.trap_id}:{ts_ms}")
                stamps[cid] = {"seen": now()}
                self.pending.set_result({"symbol": symbol, "cid": cid,
                                         "trade_id": self._last.get(symbol, -1)})
            return trap

        self.detector.on_trade = on_trade  # type: ignore[method-assign]

        ex = titan.execution
        inner_submit = ex.submit

        async def submit(intent: Any, reason: str = "") -> Any:
            st = stamps.get(intent.client_order_id)
            if st is not None:
                st["submit"] = now()
                # What the entry was priced from (issue 16): the order's price beside
                # Bybit's last ticker (price, top of book, age) when it left.
                tk = titan.venue.last_ticker(intent.symbol)
                st["priced"] = {
                    "type": intent.order_type.value, "side": intent.side.value,
                    "price": float(intent.price) if intent.price is not None else None,
                    "last": float(tk.last_price) if tk else None,
                    "top": (float(tk.ask if intent.side.value == "Buy" else tk.bid)
                            if tk and (tk.ask if intent.side.value == "Buy" else tk.bid)
                            else None),
                    "ticker_age_ms": titan.clock.time_ms() - tk.ts_ms if tk else None}
            result = await inner_submit(intent, reason)
            if st is not None:
                st["done"] = now()
                st["result"] = result
            return result

        ex.submit = submit

        risk = titan.risk
        inner_gate = risk.gate_entry

        def gate_entry(intent: Any, market: Any) -> Any:
            denial = inner_gate(intent, market)
            st = stamps.get(intent.client_order_id)
            if st is not None:
                st.setdefault("gate", now())  # the second call is the late re-check
            return denial

        risk.gate_entry = gate_entry

        db = titan.db

        def stamp_batch(inner_batch: Any) -> Any:
            async def write_batch(statements: Any) -> None:
                params = _intent_params(statements)
                st = stamps.get(params[1]) if len(params) > 1 and isinstance(params[1], str) \
                    else None
                if st is not None:
                    st["commit_start"] = now()
                await inner_batch(statements)
                if st is not None:
                    st["committed"] = now()
            return write_batch

        # Whichever the ledger uses (the loop commit, write_many_now, since issue 22; its
        # thread fallback or older trees: write_batch / write_many).
        for name in ("write_many_now", "write_batch", "write_many"):
            if hasattr(db, name):
                setattr(db, name, stamp_batch(getattr(db, name)))

        # Inside the one writer's thread: the transaction itself, apart from the two hops.
        import titan.store.db as store_db

        def stamp_run(inner_run: Any) -> Any:
            def run(conn: Any, fn: Any, args: Any) -> Any:
                # An intent commit runs its statements through one of these two.
                statement_runners = (store_db._execute_each, store_db._execute_many)
                params = _intent_params(args[0]) if fn in statement_runners else ()
                st = stamps.get(params[1]) if len(params) > 1 and isinstance(params[1], str) \
                    else None
                if st is not None:
                    st["sql_start"] = now()
                result = inner_run(conn, fn, args)
                if st is not None:
                    st["sql_end"] = now()
                return result
            return run

        store_db._run_in_transaction = stamp_run(store_db._run_in_transaction)

        venue = titan.venue
        inner_place = venue.place_order

        async def place_order(intent: Any) -> Any:
            st = stamps.get(intent.client_order_id)
            if st is not None:
                st["place"] = now()
            return await inner_place(intent)

        venue.place_order = place_order

        sender = getattr(venue, "_orders", None)
        if sender is not None:  # the order calls go out from the loop (bybit_orders.py)
            inner_post = sender.post
            inner_headers = sender.headers
            sending: dict[str, Any] = {}

            async def post(method: str, params: dict[str, Any]) -> Any:
                st = stamps.get(params.get("orderLinkId", ""))
                if st is not None:
                    st["thread"] = now()
                sending["st"] = st
                try:
                    return await inner_post(method, params)
                finally:
                    if st is not None:
                        st["reply"] = now()

            def headers(body: str, timestamp_ms: int | None = None) -> dict[str, str]:
                out = inner_headers(body, timestamp_ms)
                st = sending.pop("st", None)  # signed: the request is handed to aiohttp next
                if st is not None:
                    st.setdefault("written", now())
                return out

            sender.post = post
            sender.headers = headers
            return

        http = venue._http  # pybit's HTTP: the adapter looks the method up at call time
        inner_http = http.place_order

        current = threading.local()  # the sample's stamps, for the socket hook below

        def http_place_order(**kw: Any) -> Any:  # runs in the adapter's REST thread
            st = stamps.get(kw.get("orderLinkId", ""))
            if st is not None:
                st["thread"] = now()
            current.st = st
            try:
                return inner_http(**kw)
            finally:
                current.st = None
                if st is not None:
                    st["reply"] = now()

        http.place_order = http_place_order

        # When urllib3 has written the request line and headers to the socket (what the
        # simulator needs to record the arrival): the end of pybit's + requests' own work.
        import urllib3.connection

        conn_cls = urllib3.connection.HTTPConnection
        inner_endheaders = conn_cls.endheaders

        def endheaders(conn: Any, *a: Any, **kw: Any) -> Any:
            out = inner_endheaders(conn, *a, **kw)
            st = getattr(current, "st", None)
            if st is not None:
                st.setdefault("written", now())
            return out

        conn_cls.endheaders = endheaders  # type: ignore[method-assign]

    def _seen(self, trade: Any) -> None:
        self.trades_seen += 1
        self._last[trade.symbol] = trade.trade_id

    async def outcome(self, cid: str, before: dict[str, int], timeout_s: float) -> str:
        """Wait until the sprung trap's submit returned ("" = accepted) or the runner
        refused it before submitting; the error text otherwise."""
        st = self.stamps.get(cid, {})
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if "done" in st:
                res = st["result"]
                if res.accepted:
                    return ""
                return f"not accepted: {res.denial or res.error or res.status}"
            counters = self.runner.counters
            if counters["skipped"] > before["skipped"] or counters["denied"] > before["denied"]:
                # Refused before the submit (stale, sized to nothing, gate): its outcome.
                last = self.runner.state.sprung[-1] if self.runner.state.sprung else None
                rs = self.titan.risk.status()
                return (f"refused by the runner: {last.outcome if last else '?'} (equity "
                        f"{rs.get('equity')}, daily PnL {rs.get('dailyPnl')}, positions "
                        f"{sorted(self.titan.ledger.positions)})")
            await asyncio.sleep(0.002)
        return f"no submit within {timeout_s:.0f} s (runner {self.runner.counters})"


def _opposite(side: Any) -> Any:
    from titan.domain.orders import Side

    return Side.SELL if side is Side.BUY else Side.BUY


async def _wait(cond: Any, timeout_s: float, step_s: float = 0.005) -> bool:
    end = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() > end:
            return False
        await asyncio.sleep(step_s)
    return True


async def _clear_sample(titan: Any, sim: Any, symbol: str, cid: str, timeout_s: float) -> str:
    """Leave `symbol` with no entry and no position, without a loss: a resting entry is
    cancelled; a filled one is closed by a reduce-only market order through
    `execution.submit` after the simulator's price moved 0.4 % in its favour, so the round
    trip is a win (fees included) and the consecutive-loss breaker never counts it. No
    flatten (seconds, section 4 of docs/benchmarks.md), no breaker reset. Returns how."""
    from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side

    ledger = titan.ledger

    def settled() -> bool:
        o = ledger.live_orders.get(cid)
        return symbol in ledger.positions or o is None or o.status not in (
            OrderStatus.PENDING, OrderStatus.UNKNOWN)

    def live() -> bool:
        return any(o.symbol == symbol for o in ledger.live_orders.values())

    await _wait(settled, timeout_s)
    how = "none"
    if live():
        await titan.execution.cancel_orders(titan_only=True)
        how = "cancelled"
        # The cancel may lose the race with a fill: wait for the venue's last word.
        await _wait(lambda: not live(), timeout_s)
        await _wait(lambda: symbol in ledger.positions, 0.2)
    pos = ledger.positions.get(symbol)
    if pos is not None:
        favour = Decimal("1.004") if pos.side is Side.BUY else Decimal("0.996")
        await sim.set_price(symbol, pos.entry_price * favour)
        close = OrderIntent(intent_id=f"bench-close-{time.time_ns()}", symbol=symbol,
                            side=_opposite(pos.side), qty=pos.size, order_type=OrderType.MARKET,
                            reduce_only=True, strategy="bench")
        await titan.execution.submit(close, reason="bench: close the sample's entry at a profit")
        closed = await _wait(lambda: symbol not in ledger.positions, timeout_s)
        how = "closed" if closed else "close pending"
    return how


async def run_samples(titan: Any, sim: Any, probe: RunnerProbe, symbols: list[str],
                      samples: int, budget_s: float, timeout_s: float, pace_s: float,
                      visits: dict[str, int], warm: int = 0) -> dict[str, Any]:
    """`samples` sprung traps, each a fresh trap (new id: no inherited cooldown) on the next
    symbol with nothing open, alternating long and short per symbol so the price does not
    drift towards the volatility breaker. Per sample: sim send → arrival and every stage."""
    from titan.strategies.scavenger import Direction, Trap, Tripwire, TripwireKind

    durations: dict[str, list[float]] = {k: [] for _, k, _ in STAGES}
    wire: list[float] = []
    feed_keys: list[tuple[str, int, int, int]] = []
    reply: list[float] = []
    errors: list[str] = []
    clears: dict[str, int] = {}
    priced: dict[str, int] = {}
    loop = asyncio.get_running_loop()
    end_at = time.monotonic() + budget_s
    rot = 0
    i = 0
    while i < samples + warm:
        if time.monotonic() > end_at:
            errors.append(f"time budget of {budget_s:.0f} s used up after {i} sprung traps")
            break
        # The next symbol with no position and no live order (the runner trades one at a time).
        sym = symbols[rot % len(symbols)]
        rot += 1
        if sym in titan.ledger.positions or any(
                o.symbol == sym for o in titan.ledger.live_orders.values()):
            how = await _clear_sample(titan, sim, sym, "", timeout_s)  # a late fill
            clears[f"late {how}"] = clears.get(f"late {how}", 0) + 1
            continue
        # Springs are rare in trading: start each with the venue's token bucket (10/s)
        # holding room for the entry, a cancel and a close, so the bench's own calls of
        # the previous sample never make the next entry wait for a token (or be denied
        # by the gate's rate-budget check).
        limiter = titan.venue.limiter
        await asyncio.sleep(limiter.wait_time(4.0))  # a refill is a time, not an event
        long = visits.get(sym, 0) % 2 == 0
        visits[sym] = visits.get(sym, 0) + 1
        last = (await sim.prices())[sym]
        level = last * (1.0005 if long else 0.9995)
        tw = Tripwire(sym, TripwireKind.BOLLINGER, level, 90, 15,
                      Direction.LONG if long else Direction.SHORT, f"bench{time.time_ns()}")
        probe.detector.arm([Trap(tw, 80.0, 0, 0, 0, 0.05)], int(time.time() * 1000))
        probe.pending = loop.create_future()
        before = dict(probe.runner.counters)
        await sim.burst(sym, level, 50, spread_ms=40)
        try:
            rec = await asyncio.wait_for(probe.pending, timeout_s)
        except TimeoutError:
            errors.append(f"{sym}: no spring within {timeout_s:.0f} s")
            probe.detector.disarm_all()
            i += 1
            continue
        finally:
            probe.pending = None
        probe.detector.disarm_all()
        cid = rec["cid"]
        err = await probe.outcome(cid, before, timeout_s)
        st = probe.stamps.pop(cid, {})
        if not err:
            st["sent"] = await sim.sent_ns(sym, rec["trade_id"])
            st["arrival"] = await sim.arrival_ns(cid)
            missing = [k for k in ("sent", "arrival") if st.get(k) is None]
            if missing:
                err = f"no {' / '.join(missing)} record at the simulator"
        if i >= warm and st.get("priced"):
            p = st["priced"]
            kind = ("market" if p["type"] == "Market" else
                    "limit at the top of the book" if p["top"] is not None
                    and p["price"] is not None and abs(p["price"] - p["top"]) < 1e-9 else
                    "limit through the top" if p["top"] is not None else
                    "limit at the last price (no top known)")
            priced[kind] = priced.get(kind, 0) + 1
        if i >= warm:
            if err:
                errors.append(f"{sym}: {err}")
            else:
                wire.append((st["arrival"] - st["sent"]) / 1e6)
                if "seen" in st and rec["trade_id"] >= 0:
                    feed_keys.append((sym, int(rec["trade_id"]), st["sent"], st["seen"]))
                for a, b, _ in STAGES:
                    if a in st and b in st:
                        durations[b].append((st[b] - st[a]) / 1e6)
                if "reply" in st:
                    reply.append((st["reply"] - st["arrival"]) / 1e6)
        i += 1
        how = await _clear_sample(titan, sim, sym, cid, timeout_s)
        clears[how] = clears.get(how, 0) + 1
        c.progress(f"sample {i}: {wire[-1] if wire else 'nan':.6} ms, {len(errors)} errors, "
                   f"entry {how}")
        await asyncio.sleep(pace_s)
    return {"tick_to_order": c.summary_ms(wire),
            "wire_to_spring": c.summary_ms(durations["seen"]),
            "spring_to_order_arrival": c.summary_ms(
                [w - s for w, s in zip(wire, durations["seen"], strict=True)]),
            "stages": {k: c.summary_ms(v) for k, v in durations.items()},
            "arrival_to_reply": c.summary_ms(reply),
            "entries": clears, "priced_from": priced,
            "errors": errors[:20], "error_count": len(errors), "_feed_keys": feed_keys}


async def measure(samples: int = 200, load_tps: float = LOAD_TPS, n_symbols: int = 10,
                  baseline_n: int = 300, order_baseline_n: int = 40,
                  pace_s: float = 0.05, budget_s: float = 60.0,
                  timeout_s: float = 10.0, light_samples: int = 0,
                  light_load_tps: float = 100.0, light_budget_s: float = 30.0) -> dict[str, Any]:
    from titan.sim.config import DEFAULT_SYMBOLS

    symbols = list(DEFAULT_SYMBOLS[:n_symbols])
    result: dict[str, Any] = {
        "path": "Titan's Scavenger (in-tree): binance feed → host → Scavenger.on_trade → "
                "SpringDetector → plan_entry → size_entry → execution.submit (gate, intent "
                "commit, late gate) → BybitVenue.place_order → the order sender on the loop "
                "(aiohttp, kept alive; titan/venues/bybit_orders.py)",
        "load_trades_per_s": load_tps, "load_symbols": len(symbols)}
    c.progress("starting the simulator (own process) and Titan")
    # The runner re-arms from klines every minute; here the bench arms the traps.
    # A trap that sprang cools down for 5 minutes, and so does a new one at the same level:
    # 1 s here, so that a symbol can be sampled again within the run (the bench disarms
    # each trap once it sprang; one burst still sends one entry).
    attrs = {"scavenger_options": {"rearm_every_s": 3600.0, "align_to_minute": False,
                                   "cooldown_ms": 1000}}
    async with c.sim_process(symbols) as sim, \
            c.titan_on(sim.base_url, arm=True, attrs=attrs) as titan:
        bare = await BareFeed.start(sim.base_url, symbols)
        try:
            await _measure_on(titan, sim, bare, symbols, result, samples=samples,
                              load_tps=load_tps, baseline_n=baseline_n,
                              order_baseline_n=order_baseline_n, pace_s=pace_s,
                              budget_s=budget_s, timeout_s=timeout_s,
                              light_samples=light_samples, light_load_tps=light_load_tps,
                              light_budget_s=light_budget_s)
        finally:
            await bare.stop()
    return result


async def _measure_on(titan: Any, sim: Any, bare: BareFeed, symbols: list[str],
                      result: dict[str, Any], *, samples: int, load_tps: float,
                      baseline_n: int, order_baseline_n: int, pace_s: float,
                      budget_s: float, timeout_s: float, light_samples: int,
                      light_load_tps: float, light_budget_s: float) -> None:
    c.progress("started")
    # The operator's whitelist (3 symbols by default) widened to the 10 of the load, as
    # the risk config allows: the springs rotate over all of them.
    risk = titan.risk
    risk.update_config(risk.config.model_copy(update={"whitelist": tuple(symbols)}))
    # Against a venue by URL Titan streams the whitelist: stream the added symbols too, as
    # a whitelist change through the API does (else only the default 3 ever spring).
    if titan.universe is not None:
        await titan.universe.follow(symbols)
        await asyncio.sleep(1.0)  # the resubscribed streams' first messages
    probe = RunnerProbe(titan)
    visits: dict[str, int] = {}
    # The bench arms its traps itself, not through the Scavenger's arming round (which sets
    # each symbol's leverage ahead, `prepare_leverage`): so it sets the leverage here.
    for sym in symbols:
        await titan.venue.set_leverage(sym, Decimal(15))
    args = {"timeout_s": timeout_s, "pace_s": pace_s, "visits": visits}
    if light_samples:
        await sim.feed(light_load_tps, symbols)
        await asyncio.sleep(1.0)
        c.progress(f"light load {light_load_tps:.0f} trades/s")
        # One warm-up sample first (the first order of the process), not counted.
        light = await run_samples(titan, sim, probe, symbols, light_samples,
                                  light_budget_s, warm=1, **args)
        light["feed_vs_bare"] = await feed_vs_bare(bare, light.pop("_feed_keys"))
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
    result.update(await bare_pybit_order_one_way(sim, order_baseline_n, symbols[0], far))
    c.progress(f"baselines done; spec load {load_tps:.0f} trades/s")
    main = await run_samples(titan, sim, probe, symbols, samples, budget_s,
                             warm=0 if light_samples else 1, **args)
    c.progress("samples done")
    await sim.feed(0)
    result["loop_lag"] = await lag.stop()
    main["feed_vs_bare"] = await feed_vs_bare(bare, main.pop("_feed_keys"))
    result.update(main)
    result["trades_seen_by_feed"] = probe.trades_seen


def _report_phase(r: dict[str, Any], indent: str = "") -> None:
    print(c.fmt_summary(f"{indent}tick → order (sim send → sim receive)", r["tick_to_order"]))
    print(c.fmt_summary(f"{indent}  of which: sim send → spring detected", r["wire_to_spring"]))
    print(c.fmt_summary(f"{indent}  of which: spring detected → order arrival",
                        r["spring_to_order_arrival"]))
    print(f"{indent}  stages:")
    for _, key, label in STAGES:
        print(c.fmt_summary(f"{indent}    {label}", r["stages"][key]))
    print(c.fmt_summary(f"{indent}  (after: arrival → pybit has the reply)",
                        r["arrival_to_reply"]))
    fb = r.get("feed_vs_bare")
    if fb:
        print(c.fmt_summary(f"{indent}  feed: Titan, sim send → spring detected",
                            fb["titan_wire_to_spring"]))
        print(c.fmt_summary(f"{indent}  feed baseline: bare websockets, sim send → parsed",
                            fb["bare_ws_wire_to_parsed"]))
        print(f"{indent}  feed p50 ratio Titan / bare: {fb['p50_ratio']} "
              f"(target ≤ {fb['target_ratio']}; {fb['missing_at_bare']} not seen by the bare client)")
    print(f"{indent}  entries after the sample: {r['entries']}")
    print(f"{indent}  entries priced from (Bybit's ticker when the order left): "
          f"{r.get('priced_from', {})}")
    if r["error_count"]:
        print(f"{indent}  errors: {r['error_count']} (first: {r['errors'][:3]})")


def report(r: dict[str, Any]) -> str:
    print(f"tick-to-order, wire to wire — {r['path']}")
    if "light" in r:
        print(f"at a light load of {r['light_load_trades_per_s']:.0f} trades/s (same process, "
              "first):")
        _report_phase(r["light"], "  ")
    print(f"at the spec load of {r['load_trades_per_s']:.0f} trades/s across "
          f"{r['load_symbols']} symbols (simulator in its own process):")
    _report_phase(r, "  ")
    print(c.fmt_summary("baseline: asyncio queue hop", r["baseline_queue_hop"]))
    print(c.fmt_summary("baseline: bare aiohttp GET round trip", r["baseline_http_rtt"]))
    print(c.fmt_summary("baseline: bare pybit place_order round trip", r["baseline_order_rtt"]))
    print(c.fmt_summary("baseline: bare pybit call in thread → sim", r["baseline_pybit_one_way"]))
    print(c.fmt_summary("baseline: bare pybit loop → thread → sim",
                        r["baseline_pybit_loop_to_arrival"]))
    print(c.fmt_summary("event-loop lag during the spec-load run", r["loop_lag"]))
    p99 = r["tick_to_order"]["p99"]
    if p99 != p99:  # no sample at all: the trades that should spring never made it through
        return c.verdict("tick_to_order", False, "no sprung trap reached the simulator as an "
                         f"order ({r['error_count']} failures, e.g. {r['errors'][:1]})")
    n = int(r["tick_to_order"]["n"])
    # A sprung trap that failed or timed out is a miss, not a sample left out.
    errors = int(r["error_count"])
    return c.verdict("tick_to_order", p99 <= TARGET_P99_MS and errors == 0,
                     f"{c.tail_label(n)} {p99:.3f} ms (n = {n}, {errors} errors/timeouts; "
                     f"set-leverage is not in the timed path) vs target ≤ "
                     f"{TARGET_P99_MS} ms (bare aiohttp GET round trip p50 "
                     f"{r['baseline_http_rtt']['p50']:.3f} ms; bare pybit one-way p50 "
                     f"{r['baseline_pybit_one_way']['p50']:.3f} ms)")


def main() -> None:
    # Read at the start: a commit made while the bench runs must not relabel its figures.
    facts = c.run_facts()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--samples", type=int)
    ap.add_argument("--load", type=float, default=LOAD_TPS, help="background trades/s")
    ap.add_argument("--light-samples", type=int,
                    help="samples at a light load (100 trades/s) first; 0 = none")
    ap.add_argument("--json")
    a = ap.parse_args()
    c.quiet_logs()
    samples = a.samples or (40 if a.quick else 300)
    r = asyncio.run(measure(samples=samples, load_tps=a.load,
                            baseline_n=200 if a.quick else 1000,
                            order_baseline_n=20 if a.quick else 100,
                            budget_s=30 if a.quick else 600,
                            light_samples=a.light_samples if a.light_samples is not None
                            else (40 if a.quick else 100),
                            light_budget_s=30 if a.quick else 300,
                            timeout_s=6 if a.quick else 10))
    r["verdict"] = report(r)
    c.write_json(a.json, {**facts, "tick_to_order": r})


if __name__ == "__main__":
    main()
