"""`Backtest`: one replay of stored market data through one strategy.

The run is a single asyncio task that walks the source's events in time order. Before an
event at time t, everything scheduled up to t runs (timers, `call_later`, orders reaching
the matching engine), each at its own time; then the clock moves to t and the event is
handed out:

* execution-venue ticker or trade → the broker (the matching engine's price: fills, stops,
  targets, liquidation), then a `Ticker` to the strategy (at most one per symbol per
  10 ms, the cadence of Bybit's top-of-book stream) and to the breaker's price rules;
* signal trade → `strategy.on_trade` (for a symbol with no execution-venue data it is
  first the execution price too: the report says so);
* funding → settled on an open position.

Strategies' tasks (`ctx.spawn`) run on the same event loop; after each step the engine
lets them run until every one is either finished or waiting for replay time (`_drain`),
so nothing a strategy does can see a later event than the one being handed out. A run
uses no wall clock and iterates only ordered collections: the same input gives the same
result, byte for byte.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from titan.backtest.broker import ReplayBroker
from titan.backtest.clock import ReplayClock, Scheduler
from titan.backtest.context import ReplayContext, ReplayRegime
from titan.backtest.source import (
    CHANNEL_NAMES,
    FUNDING,
    SIGNAL_TRADE,
    VENUE_TICKER,
    VENUE_TRADE,
    FundingRate,
    ReplaySource,
)
from titan.bus import EventBus
from titan.events import Event
from titan.risk import RiskEngine
from titan.risk.config import RiskConfig
from titan.sim.config import SimConfig
from titan.strategies.base import Strategy, Timer
from titan.strategies.config import StrategySetting
from titan.strategies.registry import StrategySpec
from titan.venues.base import Ticker, Trade

TICKER_EVERY_MS = 10  # Bybit's orderbook.1 pushes every 10 ms while the top moves
KLINE_OFFSET_MS = 1_500  # closed klines are handed out 1.5 s after the minute, as live
SAMPLE_EVERY_MS = 60_000  # equity curve: one point a minute (and one per closed trade)
PROGRESS_EVERY = 65_536  # events between progress calls

Progress = Callable[[float], None]


@dataclass(frozen=True, slots=True)
class BacktestSpec:
    strategy: str
    symbols: tuple[str, ...]
    start_ms: int
    end_ms: int
    risk: RiskConfig
    setting: StrategySetting
    latency_ms: int = 200
    sim: SimConfig = field(default_factory=SimConfig)
    options: Mapping[str, Any] = field(default_factory=dict)  # strategy constructor overrides


@dataclass
class BacktestResult:
    spec: BacktestSpec
    round_trips: list[Any]
    equity: list[tuple[int, float]]
    start_equity: Decimal
    end_equity: Decimal
    events: dict[str, int]
    published: dict[str, int]
    rejections: dict[str, int]
    orders_sent: int
    orders_rejected: dict[str, int]
    venue_priced: list[str]
    first_event_ms: int | None
    last_event_ms: int | None
    signal_kinds: dict[str, str]
    prices: dict[str, list[tuple[int, float]]]
    strategy_status: dict[str, Any]


class Backtest:
    def __init__(self, spec: BacktestSpec, source: ReplaySource, strategy_spec: StrategySpec,
                 progress: Progress | None = None) -> None:
        self.spec = spec
        self.source = source
        self.strategy_spec = strategy_spec
        self.progress = progress
        self.clock = ReplayClock(spec.start_ms)
        self.scheduler = Scheduler()
        self.bus = EventBus()
        risk_cfg = spec.risk.model_copy(update={"whitelist": tuple(spec.symbols)})
        self.risk = RiskEngine(bus=self.bus, clock=self.clock, config=risk_cfg,
                               require_startup=False)
        # The regime from the replayed 1-minute bars, for the gate, sizing and the strategy.
        self.regime = ReplayRegime(self)
        self.risk.regime = self.regime.reading
        self.broker = ReplayBroker(symbols=spec.symbols, clock=self.clock,
                                   scheduler=self.scheduler, risk=self.risk, sim=spec.sim,
                                   latency_ms=spec.latency_ms, spawn=self.spawn)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._errors: list[BaseException] = []
        self._timers_on = True
        self._last_ticker: dict[str, int] = {}
        self._phase = 0
        self.equity: list[tuple[int, float]] = []
        self.published: dict[str, int] = {}
        self.rejections: dict[str, int] = {}
        self.signal_kinds: dict[str, str] = {}
        self.events: dict[str, int] = {name: 0 for name in CHANNEL_NAMES.values()}
        # Price path for the report's chart: the last price of each minute per symbol.
        self.prices: dict[str, list[tuple[int, float]]] = {s: [] for s in spec.symbols}
        self.bus.subscribe(self._on_event)
        self.strategy: Strategy | None = None

    # -- tasks on replay time ---------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._errors.append(task.exception())  # type: ignore[arg-type]

    async def _drain(self) -> None:
        """Let every runnable task run until all wait (for replay time or each other).

        The test is the loop's queue of ready callbacks (CPython's `_ready`): empty means
        no task can make progress before the replay moves on."""
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        if ready is None:  # another loop implementation: a generous fixed number of turns
            for _ in range(64):
                await asyncio.sleep(0)
            return
        while ready:  # noqa: ASYNC110 - not waiting for a condition: yielding turns
            await asyncio.sleep(0)

    async def _run_due(self, upto_ms: int) -> None:
        sched = self.scheduler
        while (due := sched.next_due) is not None and due <= upto_ms:
            handle = sched.pop()
            self.clock.advance_to(handle.due_ms)
            handle.fn()
            await self._drain()

    async def _run_task(self, coro: Coroutine[Any, Any, Any]) -> Any:
        """Run `coro` to its end, moving replay time on while it waits for it."""
        task = self.spawn(coro)
        await self._drain()
        while not task.done():
            due = self.scheduler.next_due
            if due is None:
                raise RuntimeError("a strategy waits for something that never comes")
            await self._run_due(due)
        return task.result()

    # -- the strategy's world --------------------------------------------------------------

    def pauses_of(self, name: str) -> dict[str, str]:
        setting = self.spec.setting
        out: dict[str, str] = {}
        if not setting.enabled:
            out["operator"] = f"disabled by the operator: {setting.reason or 'no reason given'}"
        phase = self.risk.phases.current.number
        if phase not in setting.phases:
            out["phase"] = (f"runs in phase {', '.join(str(p) for p in setting.phases)}; "
                            f"Titan is in phase {phase}")
        return out

    def _on_event(self, event: Event) -> None:
        self.published[event.name] = self.published.get(event.name, 0) + 1
        data = event.data
        if event.name == "TRAP_SPRUNG" and data.get("clientOrderId") and data.get("kind"):
            self.signal_kinds[str(data["clientOrderId"])] = str(data["kind"])
        elif event.name == "HUNTER_ENTRY" and data.get("clientOrderId"):
            # Hunter's entries: the kind is the setup (an order block, long or short)
            self.signal_kinds[str(data["clientOrderId"])] = (
                f"order_block_{str(data.get('direction', '')).lower()}")
        elif event.name == "SIGNAL_REJECTED":
            code = str(data.get("code", "?"))
            self.rejections[code] = self.rejections.get(code, 0) + 1

    # -- timers ----------------------------------------------------------------------------

    def _schedule_timer(self, strategy: Strategy, timer: Timer, first: bool) -> None:
        now = self.clock.ms
        if first and timer.at_start:
            due = now
        elif timer.aligned:
            every = round(timer.every_s * 1000)
            offset = round(timer.offset_s * 1000)
            nxt = math.floor(now / every) * every + every + offset
            due = now + max(1_000, nxt - now)
        else:
            due = now + round(timer.every_s * 1000)

        def fire() -> None:
            if not self._timers_on:
                return
            self.spawn(strategy.on_timer(timer.name))
            self._schedule_timer(strategy, timer, False)

        self.scheduler.at(due, fire)

    def _schedule_minute(self) -> None:
        now = self.clock.ms
        due = now - now % SAMPLE_EVERY_MS + SAMPLE_EVERY_MS

        def fire() -> None:
            if not self._timers_on:
                return
            self._sample()
            self.spawn(self.risk.tick())
            self._schedule_minute()

        self.scheduler.at(due, fire)

    def _schedule_klines(self, strategy: Strategy, delivered: dict[tuple[str, int], int]) -> None:
        now = self.clock.ms
        due = now - now % 60_000 + 60_000 + KLINE_OFFSET_MS

        def fire() -> None:
            if not self._timers_on:
                return
            ctx = ReplayContext(self, strategy.name)
            for interval in sorted(strategy.kline_intervals):
                for symbol in self.spec.symbols:
                    bars = ctx.closed_klines(symbol, interval, 1)
                    if bars and bars[-1].start_ms > delivered.get((symbol, interval), -1):
                        delivered[(symbol, interval)] = bars[-1].start_ms
                        strategy.on_kline(symbol, interval, bars[-1])
            self._schedule_klines(strategy, delivered)

        self.scheduler.at(due, fire)

    def _sample(self) -> None:
        now = self.clock.ms
        self.equity.append((now, float(self.broker.equity())))
        for sym, px in self.broker.last.items():
            if sym in self.prices:
                self.prices[sym].append((now, px))
        phase = self.risk.phases.current.number
        if phase != self._phase:
            self._phase = phase
            if self.strategy is not None:
                self.strategy.on_pause_change()

    # -- market data ---------------------------------------------------------------------

    def _ticker(self, symbol: str, ticker: Ticker | None, price: float) -> None:
        strategy = self.strategy
        assert strategy is not None
        now = self.clock.ms
        if ticker is None:
            if now - self._last_ticker.get(symbol, -TICKER_EVERY_MS) < TICKER_EVERY_MS:
                return
            ticker = Ticker(symbol, Decimal(repr(price)), now)
        self._last_ticker[symbol] = now
        strategy.on_ticker(ticker)
        found = self.risk.observe_price(symbol, price, now)
        if found is not None:
            self.spawn(self.risk.act_on_price(found))

    # -- the run ---------------------------------------------------------------------------

    async def run(self) -> BacktestResult:
        spec = self.spec
        start_equity = spec.sim.starting_balance
        self.risk.set_strategy_phases(
            {spec.strategy: spec.setting.phases} if spec.setting.enabled else {})
        await self.risk.on_equity(start_equity)
        self._phase = self.risk.phases.current.number
        await self.risk.arm("backtest", "backtest")
        ctx = ReplayContext(self, spec.strategy)
        strategy = self.strategy_spec.build(ctx, spec.setting.params,
                                            {"options": dict(spec.options)})
        self.strategy = strategy
        await self._run_task(strategy.start())
        for timer in strategy.timers():
            self._schedule_timer(strategy, timer, True)
        if strategy.kline_intervals:
            self._schedule_klines(strategy, {})
        self._sample()
        self._schedule_minute()
        await self._replay(strategy)
        self._timers_on = False
        await self._run_task(strategy.stop())
        # Orders and cancels still on their way arrive; then what is open is closed.
        while self.scheduler.next_due is not None:
            await self._run_due(self.scheduler.next_due)
        self.broker.closing = True
        self.broker.close_all()
        await self._drain()
        self._sample()
        if self._errors:
            raise self._errors[0]
        first, last = self._first, self._last
        for rt in self.broker.round_trips.closed:
            rt.signal_kind = self.signal_kinds.get(rt.client_order_id, "unknown")
        return BacktestResult(
            spec=spec, round_trips=list(self.broker.round_trips.closed), equity=self.equity,
            start_equity=start_equity, end_equity=self.broker.account.wallet_balance,
            events=self.events, published=dict(sorted(self.published.items())),
            rejections=dict(sorted(self.rejections.items())),
            orders_sent=self.broker.orders_sent,
            orders_rejected=dict(sorted(self.broker.orders_rejected.items())),
            venue_priced=sorted(self.source.venue_priced()),
            first_event_ms=first, last_event_ms=last, signal_kinds=self.signal_kinds,
            prices=self.prices, strategy_status=_plain(strategy.status()))

    async def _replay(self, strategy: Strategy) -> None:
        spec = self.spec
        start, end = spec.start_ms, spec.end_ms
        proxied = frozenset(spec.symbols) - self.source.venue_priced()
        symbols = frozenset(spec.symbols)
        sched, clock, broker = self.scheduler, self.clock, self.broker
        ready = getattr(asyncio.get_running_loop(), "_ready", None)
        counts = [0, 0, 0, 0]
        self._first: int | None = None
        self._last: int | None = None
        on_trade = strategy.on_trade
        n = 0
        span = max(1, end - start)
        for ts, channel, obj in self.source.events():
            if ts < start or ts >= end:
                continue
            if self._first is None:
                self._first = ts
            self._last = ts
            due = sched.next_due
            if due is not None and due <= ts:
                await self._run_due(ts)
            if ts > clock.ms:
                clock.ms = ts
            counts[channel] += 1
            if channel == SIGNAL_TRADE:
                t: Trade = obj
                if t.symbol in proxied:
                    broker.on_price(t.symbol, t.price, not t.buyer_is_maker)
                    self._ticker(t.symbol, None, t.price)
                on_trade(t)
            elif channel == VENUE_TRADE:
                vt: Trade = obj
                if vt.symbol in symbols:
                    broker.on_price(vt.symbol, vt.price, not vt.buyer_is_maker)
                    self._ticker(vt.symbol, None, vt.price)
            elif channel == VENUE_TICKER:
                tk: Ticker = obj
                if tk.symbol in symbols:
                    px = float(tk.last_price)
                    broker.on_price(tk.symbol, px, True)
                    self._ticker(tk.symbol, tk, px)
            elif channel == FUNDING:
                f: FundingRate = obj
                broker.funding(f.symbol, f.rate)
            if ready is None or ready:
                await self._drain()
            n += 1
            if self.progress is not None and n % PROGRESS_EVERY == 0:
                self.progress(min(1.0, (ts - start) / span))
        for ch, name in CHANNEL_NAMES.items():
            self.events[name] = counts[ch]
        await self._run_due(end)
        clock.advance_to(end)
        if self.progress is not None:
            self.progress(1.0)


def _plain(value: Any) -> Any:
    """A strategy's status as JSON-ready data (Decimals and tuples made plain)."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
