"""The strategy platform at run time: each strategy's context, data, timers and switch.

`StrategyHost` builds every registered strategy with a `LiveContext`, routes the venue's
tickers and the feed's trades to them, runs their declared timers on the event loop,
and decides for each whether it may trade (`pauses`):

* `operator`: the strategy is switched off in the active config version (a disabled
  strategy's working entries are cancelled at the switch; its positions stay — flatten
  is the operator's);
* `phase`: Titan's current phase is not one the strategy runs in;
* Titan's own pauses, shared by all (`titan_pauses`: venue disconnect, halt, shutdown).

A replay (backtest) drives the same strategies through a context of its own and calls
`on_timer` on the replay clock instead of these tasks.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Callable, Coroutine, Mapping
from contextlib import suppress
from decimal import Decimal
from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Denial
from titan.domain.orders import OrderIntent, OrderStatus, Position
from titan.events import Event, StrategySwitched
from titan.execution.engine import ExecutionEngine, SubmitResult
from titan.execution.market import MarketState
from titan.risk import RiskEngine
from titan.risk.engine import MarketContext
from titan.risk.regime import UNKNOWN_READING, Regime, RegimeReading
from titan.risk.sizing import SizeDecision, clamp_to_limits
from titan.state.ledger import Ledger
from titan.strategies.base import Cancellable, Strategy, Timer
from titan.strategies.config import StrategiesConfig, StrategySetting, default_setting
from titan.strategies.registry import StrategySpec
from titan.venues.base import Instrument, Kline, ListedInstrument, Ticker, Trade, Venue, VenueError

KLINE_OFFSET_S = 1.5  # after the minute boundary: the venue has closed the bar


class LiveContext:
    """A strategy's window on live Titan (`StrategyContext`)."""

    def __init__(self, host: StrategyHost, name: str) -> None:
        self._h = host
        self._name = name

    @property
    def name(self) -> str:
        return self._name

    @property
    def clock(self) -> Clock:
        return self._h.clock

    def symbols(self) -> tuple[str, ...]:
        return tuple(self._h.risk.config.whitelist)

    def instrument(self, symbol: str) -> Instrument | None:
        return self._h.venue.instrument(symbol)

    def prices(self) -> Mapping[str, Decimal]:
        return self._h.market.prices

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        return await self._h.venue.klines(symbol, interval_min, limit)

    async def last_price(self, symbol: str) -> float:
        return float((await self._h.venue.ticker(symbol)).last_price)

    async def listing(self) -> list[ListedInstrument]:
        return await self._h.venue.listing()

    def regime(self, symbol: str) -> Regime:
        return self.regime_reading(symbol).regime

    def regime_reading(self, symbol: str) -> RegimeReading:
        # The same readings the gate uses (titan/runtime/regime.py wires them in).
        source = self._h.risk.regime
        return source(symbol) if source is not None else UNKNOWN_READING

    def has_position(self, symbol: str) -> bool:
        return symbol in self._h.ledger.positions

    def position(self, symbol: str) -> Position | None:
        p = self._h.ledger.positions.get(symbol)
        if p is None:
            return None
        return Position(symbol=p.symbol, side=p.side, size=p.size, entry_price=p.entry_price,
                        unrealised_pnl=p.unrealised_pnl, stop_loss=p.stop_loss,
                        take_profit=p.take_profit)

    def equity(self) -> Decimal | None:
        return self._h.risk.equity

    def has_working_entry(self, symbol: str) -> bool:
        return any(o.symbol == symbol and not o.reduce_only
                   for o in self._h.ledger.live_orders.values())

    def order_status(self, client_order_id: str) -> OrderStatus | None:
        order = self._h.ledger.live_orders.get(client_order_id)
        return None if order is None else order.status

    def market_context(self, symbol: str) -> MarketContext:
        return self._h.execution.market_context(symbol)

    def size_entry(self, **kwargs: Any) -> SizeDecision:
        return self._h.risk.size_entry(**kwargs)

    def clamp_entry(self, *, symbol: str, qty: Decimal, entry: Decimal, stop: Decimal,
                    leverage: Decimal, qty_step: Decimal, min_qty: Decimal) -> SizeDecision:
        gate = self._h.risk.context_for(symbol, self._h.execution.market_context(symbol))
        return clamp_to_limits(symbol=symbol, qty=qty, entry=entry, stop=stop,
                               leverage=leverage, ctx=gate, qty_step=qty_step, min_qty=min_qty)

    def gate_entry(self, intent: OrderIntent) -> Denial | None:
        return self._h.risk.gate_entry(intent, self._h.execution.market_context(intent.symbol))

    async def submit(self, intent: OrderIntent, reason: str) -> SubmitResult:
        if intent.strategy != self._name:
            raise ValueError(f"{self._name} proposed an intent of {intent.strategy!r}")
        return await self._h.execution.submit(intent, reason)

    async def cancel(self, client_order_id: str, reason: str) -> bool:
        order = self._h.ledger.live_orders.get(client_order_id)
        if order is not None and order.strategy != self._name:
            raise ValueError(f"{self._name} may not cancel {order.strategy}'s order")
        return await self._h.execution.cancel_working_order(client_order_id, reason)

    def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        if self.has_position(symbol) or self.has_working_entry(symbol):
            return
        limits = self._h.risk.context_for(symbol,
                                          self._h.execution.market_context(symbol)).limits
        self._h.spawn(self._prepare_leverage(symbol, min(leverage, limits.max_leverage)))

    async def _prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        try:
            await self._h.venue.prepare_leverage(symbol, leverage)
        except VenueError as exc:
            logger.warning("LEVERAGE_NOT_PREPARED {} {}x: {}", symbol, leverage, exc)

    def publish(self, event: Event) -> None:
        self._h.bus.publish(event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        return self._h.spawn(coro)

    def call_later(self, delay_s: float, fn: Callable[[], None]) -> Cancellable:
        return asyncio.get_running_loop().call_later(delay_s, fn)

    def pauses(self) -> Mapping[str, str]:
        return self._h.pauses_of(self._name)


class StrategyHost:
    def __init__(self, *, specs: Mapping[str, StrategySpec], venue: Venue, risk: RiskEngine,
                 execution: ExecutionEngine, ledger: Ledger, market: MarketState,
                 bus: EventBus, clock: Clock, titan_pauses: Mapping[str, str],
                 services: Mapping[str, Mapping[str, Any]] | None = None) -> None:
        self.specs = dict(specs)
        self.venue, self.risk, self.execution = venue, risk, execution
        self.ledger, self.market, self.bus, self.clock = ledger, market, bus, clock
        self._titan_pauses = titan_pauses
        self._services = services or {}
        self.settings: StrategiesConfig = {n: default_setting(s) for n, s in self.specs.items()}
        self.strategies: dict[str, Strategy] = {}
        self._timer_tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False

    # -- building and lifetime ------------------------------------------------------------

    def build(self, settings: StrategiesConfig) -> None:
        """Make every strategy (before the streams start, so none misses a tick)."""
        self.settings = dict(settings)
        for name, spec in self.specs.items():
            ctx = LiveContext(self, name)
            self.strategies[name] = spec.build(ctx, self.settings[name].params,
                                               self._services.get(name, {}))

    def get(self, name: str) -> Strategy | None:
        return self.strategies.get(name)

    async def start(self) -> None:
        self._started = True
        for name, strategy in self.strategies.items():
            await strategy.start()
            for timer in strategy.timers():
                self._timer_tasks.append(asyncio.create_task(
                    self._run_timer(strategy, timer), name=f"{name}-{timer.name}"))
        if any(s.kline_intervals for s in self.strategies.values()):
            self._timer_tasks.append(asyncio.create_task(self._run_klines(), name="klines"))

    async def stop(self) -> None:
        """Stop every timer, then every strategy (each cancels what it has waiting)."""
        self._started = False
        for task in self._timer_tasks:
            task.cancel()
        for task in self._timer_tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        self._timer_tasks.clear()
        for name, strategy in self.strategies.items():
            try:
                await strategy.stop()
            except Exception:
                logger.opt(exception=True).error("STRATEGY_STOP_FAILED strategy={}", name)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def _run_timer(self, strategy: Strategy, timer: Timer) -> None:
        if timer.at_start:
            await self._fire(strategy, timer)
        while True:
            await asyncio.sleep(self._next_delay(timer))
            await self._fire(strategy, timer)

    async def _fire(self, strategy: Strategy, timer: Timer) -> None:
        try:
            await strategy.on_timer(timer.name)
        except Exception:
            logger.opt(exception=True).error("STRATEGY_TIMER_FAILED strategy={} timer={}",
                                             strategy.name, timer.name)

    def _next_delay(self, timer: Timer) -> float:
        if not timer.aligned:
            return timer.every_s
        now_s = self.clock.time_ms() / 1000.0
        nxt = math.floor(now_s / timer.every_s) * timer.every_s + timer.every_s + timer.offset_s
        return max(1.0, nxt - now_s)

    # -- closed klines ----------------------------------------------------------------------

    async def _run_klines(self) -> None:
        """Deliver each closed bar once: at start (the last closed one), then 1.5 s after
        every minute (a bar's close is on a minute boundary)."""
        delivered: dict[tuple[str, int], int] = {}  # (symbol, interval) → last bar start
        kline_timer = Timer("klines", 60.0, KLINE_OFFSET_S, aligned=True)
        while True:
            try:
                await self._deliver_klines(delivered)
            except Exception:
                logger.opt(exception=True).error("STRATEGY_KLINES_FAILED")
            await asyncio.sleep(self._next_delay(kline_timer))

    async def _deliver_klines(self, delivered: dict[tuple[str, int], int]) -> None:
        wanted = sorted({i for s in self.strategies.values() for i in s.kline_intervals})
        now = self.clock.time_ms()
        for interval in wanted:
            size = interval * 60_000
            for symbol in tuple(self.risk.config.whitelist):
                bars = await self.venue.klines(symbol, interval, 3)
                closed = [k for k in bars if k.start_ms + size <= now
                          and k.start_ms > delivered.get((symbol, interval), -1)]
                if not closed:
                    continue
                bar = closed[-1]
                delivered[(symbol, interval)] = bar.start_ms
                for strategy in self.strategies.values():
                    if interval in strategy.kline_intervals:
                        strategy.on_kline(symbol, interval, bar)

    # -- market data (the hot path: straight through) --------------------------------------

    def on_trade(self, trade: Trade) -> None:
        for strategy in self.strategies.values():
            strategy.on_trade(trade)

    def on_ticker(self, ticker: Ticker) -> None:
        for strategy in self.strategies.values():
            strategy.on_ticker(ticker)

    # -- may it trade? ------------------------------------------------------------------

    def pauses_of(self, name: str) -> dict[str, str]:
        out = dict(self._titan_pauses)
        setting = self.settings.get(name)
        if setting is not None and not setting.enabled:
            out["operator"] = f"disabled by the operator: {setting.reason or 'no reason given'}"
        phase = self.risk.phases.current.number
        if setting is not None and phase not in setting.phases:
            runs = ", ".join(str(p) for p in setting.phases)
            out["phase"] = f"runs in phase {runs}; Titan is in phase {phase}"
        return out

    def pauses_changed(self) -> None:
        """Titan's pauses or the phase changed: every strategy re-reads its own."""
        for strategy in self.strategies.values():
            strategy.on_pause_change()

    def apply(self, settings: StrategiesConfig) -> None:
        """A new config version: switches, phases and parameters take effect at once."""
        old, self.settings = self.settings, dict(settings)
        for name, strategy in self.strategies.items():
            before, after = old.get(name), self.settings.get(name)
            if after is None or before == after:
                continue
            if before is None or before.params != after.params:
                try:
                    strategy.on_params(after.params)
                except Exception:
                    logger.opt(exception=True).error("STRATEGY_PARAMS_FAILED strategy={}", name)
            strategy.on_pause_change()
            if before is not None and before.enabled != after.enabled:
                self._switched(name, after)

    def _switched(self, name: str, setting: StrategySetting) -> None:
        word = "enabled" if setting.enabled else "disabled"
        extra = "" if setting.enabled else "; its working entries are cancelled, positions stay"
        self.bus.publish(StrategySwitched(
            ts=self.clock.now(), message=f"{name} {word}: {setting.reason or 'no reason'}{extra}",
            strategy=name, enabled=setting.enabled, reason=setting.reason))
        if not setting.enabled and self._started:
            self.spawn(self._cancel_entries(name))

    async def _cancel_entries(self, name: str) -> None:
        result = await self.execution.cancel_strategy_entries(name)
        if result["cancelled"] or result["failed"]:
            logger.info("STRATEGY_ENTRIES_CANCELLED strategy={} cancelled={} failed={}", name,
                        result["cancelled"], result["failed"])

    # -- operator view ------------------------------------------------------------------

    def describe(self, name: str) -> dict[str, Any]:
        spec, setting = self.specs[name], self.settings[name]
        strategy = self.strategies.get(name)
        pauses = self.pauses_of(name)
        state = strategy.status() if strategy is not None else {}
        return {"name": name, "description": spec.description, "enabled": setting.enabled,
                "reason": setting.reason, "phases": list(setting.phases),
                "defaultPhases": list(spec.phases),
                "running": bool(state.get("running", not pauses and self._started)),
                "pauses": pauses, "params": dict(setting.params),
                "counters": dict(state.get("counters", {}))}

    def describe_all(self) -> list[dict[str, Any]]:
        return [self.describe(n) for n in sorted(self.specs)]
