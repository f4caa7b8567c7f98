"""`Simulator`: one aiohttp server on one port hosting every venue front.

It wires the pieces: market trades → matching engine (limit fills, SL/TP) → stream
fronts; engine account events → private streams; one fault middleware in front of the
venue REST paths; the control API under `/sim/control/`.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web

from titan.sim import persist
from titan.sim.binance import BinanceFront
from titan.sim.binance_account import account_routes
from titan.sim.binance_algo import AlgoDesk
from titan.sim.binance_market import AggTape, market_routes
from titan.sim.bybit_market import BybitMarket
from titan.sim.bybit_rest import BybitRest, envelope
from titan.sim.bybit_ws import BybitStreams
from titan.sim.config import SimConfig
from titan.sim.control import control_routes
from titan.sim.faults import AmbiguousMode, Faults
from titan.sim.funding import Funding
from titan.sim.market import Market, Trade
from titan.sim.matching import MatchingEngine, SimExecution, SimOrder
from titan.sim.recorder import Recorder
from titan.sim.spot import SpotDesk


def _now_ms() -> int:
    return time.time_ns() // 1_000_000


class Simulator:
    """The venue simulator. `await start()`, use `base_url`, `await stop()`."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        self.now_ms = _now_ms
        self.faults = Faults()
        self.recorder = Recorder(self.config.recorder_size)
        self.engine = MatchingEngine(self.config)
        self.market = Market(self.config, self.now_ms)
        self.market.backfill()
        for sym in self.engine.specs:
            self.engine.on_price(sym, self.market.last(sym), self.now_ms())
        self.spot = SpotDesk(self.engine)
        self.funding = Funding(self.engine, self.config.seed, self.now_ms())
        self.bybit_market = BybitMarket(self)
        self.rest = BybitRest(self)
        self.bybit_ws = BybitStreams(self)
        self.bybit_ws.watch_spot_books()
        self.binance = BinanceFront(self)
        self.binance_algo = AlgoDesk(self.binance)
        self.agg_tape = AggTape()
        self._state_path = Path(self.config.state_path) if self.config.state_path else None
        self._dirty = False
        self.save_error = ""  # the last refused state write, if the latest one failed
        self._inflight: asyncio.Future[None] | None = None
        saved = persist.load(self._state_path) if self._state_path else None
        if saved is not None:
            persist.restore(self, saved)
            for sym in self.engine.specs:  # the book and the triggers at the kept price
                self.engine.on_price(sym, self.market.last(sym), self.now_ms())
        self.market.add_listener(self._on_trades)
        self.engine.add_batch_listener(self._on_account_events)
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._feed: asyncio.Task[None] | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # ---- lifecycle ------------------------------------------------------------------

    def build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware])
        app.add_routes(self.rest.routes())
        app.add_routes(self.bybit_ws.routes())
        app.add_routes(self.binance.routes())
        app.add_routes(market_routes(self.binance))
        app.add_routes(account_routes(self.binance))
        app.add_routes(self.binance_algo.routes())
        app.add_routes(control_routes(self))
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._runner = web.AppRunner(self.build_app(), access_log=None,
                                     handler_cancellation=False, shutdown_timeout=2.0)
        await self._runner.setup()
        self._site = web.TCPSite(self._runner, host, port)
        await self._site.start()
        server = self._site._server
        assert server is not None
        sockets = getattr(server, "sockets", None) or []
        self._host = host
        self._port = sockets[0].getsockname()[1] if sockets else port
        if self._state_path is not None:
            self._tasks.append(asyncio.get_running_loop().create_task(self._save_loop()))
        if self.config.tick_hz > 0:
            # A live market also keeps the funding clock; a driven one (tick_hz=0, tests)
            # settles only when told, so a test never straddles a settlement by chance.
            self._tasks.append(asyncio.get_running_loop().create_task(self._generate()))
            self._tasks.append(asyncio.get_running_loop().create_task(self._funding_clock()))

    async def stop(self) -> None:
        self.stop_feed()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        self._tasks.clear()
        if self._state_path is not None:
            if self._inflight is not None:  # let a background write land before the last one
                await asyncio.wait([self._inflight])
            self.save_state()
        conns = [*self.bybit_ws.public, *self.bybit_ws.private, *self.binance.conns()]
        if conns:
            # A client that never answers the close handshake must not hold up shutdown.
            await asyncio.wait([asyncio.ensure_future(c.close()) for c in conns], timeout=2)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        """`http://host:port` — Bybit REST endpoint, Binance `API_URL`/`FUTURES_URL` base."""
        return f"http://{self._host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._host}:{self._port}"

    # ---- market driving (tests, benchmarks) -----------------------------------------

    def set_price(self, symbol: str, price: Decimal | float | str) -> Trade:
        return self.market.set_price(symbol, price)

    def emit_trades(self, symbol: str, price: Decimal | float | str, count: int,
                    spread_ms: float = 50.0) -> list[Trade]:
        return self.market.emit_trades(symbol, price, count, spread_ms)

    def add_account(self, key: str, secret: str) -> None:
        self.config.accounts[key] = secret
        self.engine.add_account(key)

    def start_feed(self, trades_per_s: float, symbols: list[str] | None = None) -> None:
        """Emit a steady `trades_per_s` across `symbols` (round robin) until `stop_feed`."""
        self.stop_feed()
        syms = symbols or list(self.engine.specs)
        self._feed = asyncio.get_running_loop().create_task(self._run_feed(trades_per_s, syms))

    def stop_feed(self) -> None:
        if self._feed is not None:
            self._feed.cancel()
            self._feed = None

    async def _run_feed(self, rate: float, syms: list[str]) -> None:
        t0 = time.monotonic()
        sent = 0
        i = 0
        mkt = self.market
        while True:
            # Catch up to the schedule, but never burst more than 50 ms worth at once:
            # a feed that falls behind should show up as a lower rate, not a flood.
            due = min(int((time.monotonic() - t0) * rate) - sent, max(1, int(rate / 20)))
            for _ in range(due):
                sym = syms[i % len(syms)]
                i += 1
                m = mkt.symbols[sym]
                px = m.quantize(float(m.last) * (1 + (m.rng.random() - 0.5) * 4e-4))
                mkt._publish(sym, [mkt.make_trade(sym, px, on_tick=True)])
            sent += max(due, 0)
            if int((time.monotonic() - t0) * rate) - sent > rate:  # more than 1 s behind
                sent = int((time.monotonic() - t0) * rate)
            await asyncio.sleep(0.001)

    async def _funding_clock(self) -> None:
        """Settle funding when the clock passes the next 8-hour mark."""
        while True:
            await asyncio.sleep(1.0)
            if self.funding.due(self.now_ms()):
                self.settle_funding()

    def settle_funding(self) -> int:
        """Settle the funding interval due next, now (tests drive the 8-hour clock); the
        tickers stream pushes the new schedule at once."""
        n = self.funding.settle()
        self.bybit_ws.push_funding()
        return n

    async def _generate(self) -> None:
        period = 1.0 / self.config.tick_hz
        last = time.monotonic()
        while True:
            await asyncio.sleep(period)
            now = time.monotonic()
            self.market.step(min(now - last, 5.0))
            last = now

    # ---- wiring ---------------------------------------------------------------------

    def _on_trades(self, symbol: str, trades: list[Trade]) -> None:
        prev: Decimal | None = None
        now = self.now_ms()
        self.bybit_market.tape.record(symbol, trades)
        self.agg_tape.record(symbol, trades)
        algo = self.binance_algo
        for t in trades:
            if t.price != prev:
                self.engine.on_price(symbol, t.price, now, not t.buyer_maker)
                self.spot.on_price(symbol, t.price, now, not t.buyer_maker)
                if algo.orders:
                    algo.on_price(symbol, t.price, now)
                prev = t.price
        self.bybit_ws.publish_trades(symbol, trades)
        self.binance.publish_trades(symbol, trades)

    def _on_account_events(self, key: str, kind: str, objs: list[object]) -> None:
        """One kind of change for one account: one object, or a batch's (one Bybit push)."""
        self._dirty = True
        self.bybit_ws.account_events(key, kind, objs)
        for obj in objs:
            if not (isinstance(obj, SimOrder | SimExecution) and obj.category == "spot"):
                self.binance.account_event(key, kind, obj)  # USD-M futures only

    def notify_change(self) -> None:
        """Account state changed outside the engine's events (Binance algo orders)."""
        self._dirty = True

    def save_state(self) -> bool:
        """Write the accounts to `state_path` now (atomically). A refused write (disk
        full, folder gone) keeps the state dirty, so the next interval tries again, and
        never stops the venue: the paper book in memory stays right."""
        if self._state_path is None:
            return False
        try:
            persist.save(self._state_path, persist.dump(self))
        except OSError as exc:
            self._dirty = True
            self.save_error = str(exc)
            return False
        self._dirty = False
        self.save_error = ""
        return True

    async def _save_loop(self) -> None:
        # Batched: a burst of fills costs one write, never one per execution. The
        # snapshot is taken here, on the loop (the records keep mutating); encoding,
        # writing and fsync run on a worker thread so the venue (and a paper Titan on the
        # same loop) does not stall on the disk.
        assert self._state_path is not None
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(persist.SAVE_INTERVAL_S)
            if not self._dirty:
                continue
            self._dirty = False
            state = persist.dump(self)
            self._inflight = loop.run_in_executor(None, persist.save, self._state_path, state)
            try:
                await asyncio.shield(self._inflight)
            except OSError as exc:
                self._dirty = True
                self.save_error = str(exc)
            else:
                self.save_error = ""

    # ---- faults ---------------------------------------------------------------------

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        path = request.path
        f = self.faults
        if (path.startswith("/sim/") or request.headers.get("Upgrade", "").lower() == "websocket"
                or not f.applies(path)):
            return await handler(request)  # type: ignore[no-any-return]
        if f.latency_ms > 0:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.take_5xx():
            return web.Response(status=f.http_5xx_status, text="<html><body><h1>"
                                f"{f.http_5xx_status} Service Unavailable</h1></body></html>",
                                content_type="text/html")
        if f.take_rate_limit():
            if path.startswith("/v5/"):
                resp = envelope({}, 10006, "Too many visits!")
                resp.headers["X-Bapi-Limit-Status"] = "0"
                resp.headers["X-Bapi-Limit-Reset-Timestamp"] = str(self.now_ms() + 50)
                return resp
            return web.json_response(
                {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is "
                 "2400 requests per minute. Please use the websocket for live updates to avoid "
                 "polling the API."}, status=429, headers={"Retry-After": "1"})
        return await handler(request)  # type: ignore[no-any-return]

    async def lose_response(self, request: web.Request, mode: AmbiguousMode) -> web.StreamResponse:
        """The order is booked; now lose the answer (ambiguous submit)."""
        if mode == "5xx":
            return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                                content_type="text/html")
        transport = request.transport
        if transport is not None:
            transport.abort()
        raise asyncio.CancelledError  # nothing can be written: the client sees a reset

    # ---- out-of-band account changes ------------------------------------------------

    def close_position_by_hand(self, key: str, symbol: str) -> bool:
        return self.engine.close_position(key, symbol, now_ms=self.now_ms()) is not None

    def open_position_by_hand(self, key: str, symbol: str, side: str, qty: Decimal) -> None:
        self.engine.open_position(key, symbol, side, qty, now_ms=self.now_ms())

    def liquidate(self, key: str, symbol: str) -> bool:
        return self.engine.liquidate(key, symbol, now_ms=self.now_ms()) is not None

    def cancel_order_by_venue(self, key: str, symbol: str, *, order_id: str | None = None,
                              link_id: str | None = None) -> None:
        self.engine.cancel(key, symbol=symbol, order_id=order_id, link_id=link_id,
                           now_ms=self.now_ms(), cancel_type="CancelByAdmin")

    async def drop_streams(self, kind: str | None = None) -> int:
        """Close stream connections of one family (or all); clients see a server close."""
        n = 0
        for k in ("bybit_public", "bybit_private"):
            if kind in (None, k):
                n += await self.bybit_ws.drop(k)
        for k in ("binance_spot", "binance_user"):
            if kind in (None, k):
                n += await self.binance.drop(k)
        return n

    def silence_streams(self, kind: str | None = None, silent: bool = True) -> None:
        kinds = {"bybit_public", "bybit_private", "binance_spot", "binance_user"} if kind is None \
            else {kind}
        if silent:
            self.faults.silent_streams |= kinds
        else:
            self.faults.silent_streams -= kinds

    def inspect(self, key: str) -> dict[str, Any]:
        """Everything about one account, Bybit-shaped, for assertions."""
        from titan.sim import bybit_shapes as shapes

        eng = self.engine
        acc = eng.account(key)
        return {
            "orders": [{**shapes.order(eng, o), "venue": o.venue} for o in acc.orders],
            "positions": [shapes.position(eng, p) for p in acc.positions.values() if p.size != 0],
            "wallet": shapes.wallet(eng, acc),
            "executions": [shapes.execution(eng, e) for e in acc.executions],
        }
