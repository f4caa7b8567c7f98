"""The Scavenger as a strategy (SPEC §6): the minute's arming round and the trade-to-order path.

The pure pieces of this package put to work through the strategy interface
(`titan.strategies.base`): everything it reads or proposes goes through its context.

* **Arming** (the `arm` timer: every `rearm_every_s`, 60 s, 1.5 s after the minute, and
  once at start; run by the platform): for each whitelisted symbol
  fetch Bybit 1-minute klines (enough for the cluster lookback) and, once per UTC day,
  daily klines (the previous day's high/low); the price is the last Bybit ticker (REST
  ticker when the stream has none). `build_traps` → `SpringDetector.arm` →
  `ScavengerState.set_armed`. The armed traps are written to the `traps` table by
  `TrapStore` (one row per trap while it stays armed).
* **Springing** (`on_trade`, the Binance aggTrade callback, on the loop): while paused
  the trade is ignored before the detector. A sprung trap is re-checked (the trade is
  not stale, no position or working entry on the symbol, Bybit's price still within
  `max_drift_pct` of the level), planned (`plan_entry`: order type by velocity), sized
  (`RiskEngine.size_entry`: Kelly, then the gate's clamps) and turned into an
  `OrderIntent` whose id is the trap id and the spring's trade time, so a retry is the
  same order. The intent goes to `ctx.submit` (the execution engine; the gate runs
  inside) in a task created right there. Only **after** the submit returns come the TRAP_SPRUNG event,
  the size-reduction event, the sprung history and the database write: the path from the
  trade to the order does no logging, no formatting and no database work of its own.
* **Unfilled limits** are cancelled `limit_cancel_after_s` (2 s) after they were sent,
  through `ctx.cancel` (the execution engine records it as Titan's own cancel, so the
  venue's "cancelled" is not alerted). At stop the pending ones are cancelled at once.
* **Pause**: the Scavenger trades only while `ctx.pauses()` is empty (operator switch,
  phase, venue disconnect, HARD_HALT / kill switch, shutdown) and after `start()`.
  `on_pause_change` mirrors the pauses; on resume the traps are re-armed from fresh klines.

Where SPEC §6 is silent:

* one Scavenger position per symbol: a trap that springs while the symbol has a position
  or a working entry is not traded (an opposite entry would net the position away in
  one-way mode, a same-side one would move its stop and target);
* "price still near": Bybit's last price within `max_drift_pct` (0.5 %) of the level, so
  a breakout that has already run away is not chased;
* the velocity tracker is fed Bybit tickers stamped with Titan's clock at receipt, so a
  venue clock ahead of or behind ours cannot make fresh data look stale or vice versa.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from loguru import logger

from titan.domain.orders import OrderIntent, OrderStatus, OrderType
from titan.domain.reasons import ReasonCode
from titan.events import (
    OrderSizeReduced,
    ScavengerStateChanged,
    SignalRejected,
    SpringOrder,
    TrapSprung,
)
from titan.risk.sizing import SizeDecision
from titan.strategies.base import Cancellable, Strategy, StrategyContext, SubmitResult, Timer
from titan.strategies.scavenger.model import Trap
from titan.strategies.scavenger.orders import (
    LIMIT_CANCEL_AFTER_MS,
    MAX_STALENESS_MS,
    EntryPlan,
    EntryRefused,
    VelocityTracker,
    plan_entry,
)
from titan.strategies.scavenger.params import MAX_DRIFT_PCT, ScavengerParams
from titan.strategies.scavenger.scoring import DEFAULT_SCORING, ScoringParams
from titan.strategies.scavenger.springs import (
    BAND_PCT,
    COOLDOWN_MS,
    MIN_TRADES,
    WINDOW_MS,
    SpringDetector,
)
from titan.strategies.scavenger.state import ScavengerState
from titan.strategies.scavenger.trap_store import TrapStore
from titan.strategies.scavenger.traps import DEFAULT_TRIPWIRES, TripwireParams, build_traps
from titan.strategies.scavenger.tripwires import CLUSTER_LOOKBACK, DAY_MS
from titan.venues.base import Kline, Ticker, Trade, VenueError

STRATEGY = "scavenger"
REARM_EVERY_S = 60.0
# Seconds after the minute boundary at which a round runs: the minute's kline has closed.
REARM_OFFSET_S = 1.5
# How long a spring waits for a Bybit update at least as new as its trade (orderbook.1
# pushes every 10 ms while the top moves; nothing by then: the top did not move).
BOOK_WAIT_S = 0.02
# Closed klines needed: the cluster lookback (the longest); +5 for the open one and slack.
KLINE_LIMIT = CLUSTER_LOOKBACK + 5
# The console shows armed traps within this distance of the price; farther ones are
# counted, not listed: a trap that far cannot spring soon.
REACH_PCT = 5.0


@dataclass(slots=True)
class _Spring:
    """One sprung trap on its way to the venue (kept for the after-the-order work)."""

    trap: Trap
    price: float
    trade_ts_ms: int
    sprung_ms: int
    trade_id: int = 0
    plan: EntryPlan | None = None
    size: SizeDecision | None = None
    intent: OrderIntent | None = None


def leverage_to_prepare(traps: list[Trap], prices: Mapping[str, float]) -> dict[str, int]:
    """Per symbol, the leverage of the armed trap nearest its price (the one most likely to
    spring next; the venue holds one leverage per symbol): set ahead, so an entry is one
    order call. A symbol without a price takes its first trap's."""
    best: dict[str, tuple[float, int]] = {}
    for trap in traps:
        price = prices.get(trap.symbol)
        distance = abs(trap.level - price) if price is not None else float("inf")
        held = best.get(trap.symbol)
        if held is None or distance < held[0]:
            best[trap.symbol] = (distance, trap.leverage)
    return {sym: lev for sym, (_d, lev) in best.items()}


class Scavenger(Strategy):
    name = STRATEGY

    def __init__(
        self,
        ctx: StrategyContext,
        *,
        traps: TrapStore | None = None,
        rearm_every_s: float = REARM_EVERY_S,
        align_to_minute: bool = True,
        limit_cancel_after_s: float = LIMIT_CANCEL_AFTER_MS / 1000.0,
        cooldown_ms: int = COOLDOWN_MS,
        min_trades: int = MIN_TRADES,
        window_ms: int = WINDOW_MS,
        band_pct: float = BAND_PCT,
        max_drift_pct: float = MAX_DRIFT_PCT,
        max_staleness_ms: int = MAX_STALENESS_MS,
        scoring: ScoringParams = DEFAULT_SCORING,
        tripwires: TripwireParams = DEFAULT_TRIPWIRES,
    ) -> None:
        super().__init__(ctx)
        self._clock = ctx.clock
        self._traps = traps
        self._rearm_every_s = rearm_every_s
        self._align = align_to_minute
        self._cancel_after_s = limit_cancel_after_s
        self._max_drift = max_drift_pct / 100.0
        self._max_staleness_ms = max_staleness_ms
        self._scoring = scoring
        self._tripwires = tripwires
        self._window_ms = window_ms
        self._min_trades = min_trades
        self._cooldown_ms = cooldown_ms
        self.detector = SpringDetector(
            band_pct=band_pct, min_trades=min_trades, window_ms=window_ms, cooldown_ms=cooldown_ms
        )
        self.state = ScavengerState()
        self._trackers: dict[str, VelocityTracker] = {}
        self._daily: dict[str, tuple[int, list[Kline]]] = {}  # symbol → (UTC day, klines)
        self._pending_cancels: dict[str, Cancellable] = {}
        # Springs waiting for a Bybit book update as new as their trade: symbol → it.
        self._awaiting: dict[str, tuple[Trap, Trade, int, Cancellable]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._stopped = False
        self._rearm_lock = asyncio.Lock()
        # Symbols whose entry is between the spring and its intent commit (not yet a live order).
        self._sending: set[str] = set()
        self._started = False
        self._running = False  # the hot path's one check
        self.last_arming: dict[str, Any] | None = None
        self.counters = {"sprung": 0, "sent": 0, "denied": 0, "skipped": 0, "ignoredPaused": 0}

    # -- lifetime -----------------------------------------------------------------------

    def timers(self) -> tuple[Timer, ...]:
        aligned = self._align and self._rearm_every_s == REARM_EVERY_S
        return (Timer("arm", self._rearm_every_s, REARM_OFFSET_S if aligned else 0.0,
                      aligned=aligned, at_start=True),)

    async def start(self) -> None:
        """Trading starts once nothing pauses it; the platform runs the `arm` timer.

        Levels that sprang before a restart stay quiet until their cooldown ends (the
        `traps` table remembers when each sprang)."""
        if self._traps is not None:
            since = self._clock.time_ms() - self._cooldown_ms
            for symbol, level, direction, at_ms in await self._traps.recent_springs(since):
                self.detector.remember(symbol, level, direction, at_ms)
        self._started = True
        self.on_pause_change()

    def on_params(self, params: Mapping[str, Any]) -> None:
        """A config version changed the parameters: re-arm with them at once."""
        p = ScavengerParams.model_validate(dict(params))
        self._cooldown_ms = p.cooldown_ms
        self._min_trades, self._window_ms = p.min_trades, p.window_ms
        self._max_drift = p.max_drift_pct / 100.0
        self._cancel_after_s = p.limit_cancel_after_s
        self._scoring = ScoringParams(atr_period=p.atr_period, confluence_pct=p.confluence_pct,
                                      vol_full_scale_pct=self._scoring.vol_full_scale_pct,
                                      volume_recent=self._scoring.volume_recent,
                                      volume_baseline=self._scoring.volume_baseline)
        self._tripwires = TripwireParams(cluster_lookback=self._tripwires.cluster_lookback,
                                         cluster_bins=self._tripwires.cluster_bins,
                                         bollinger_period=p.bollinger_period,
                                         bollinger_k=p.bollinger_k)
        self.detector.retune(band_pct=p.band_pct, min_trades=p.min_trades,
                             window_ms=p.window_ms, cooldown_ms=p.cooldown_ms)
        if self._started:
            self._spawn(self.rearm())

    async def on_timer(self, name: str) -> None:
        if name == "arm":
            await self.rearm()

    async def stop(self) -> None:
        """Stop springing; cancel the entries still waiting for their 2 s."""
        self._started = False
        self._stopped = True
        self.on_pause_change()
        for symbol, (_, _, _, timer) in list(self._awaiting.items()):
            timer.cancel()  # a spring still waiting for Bybit's book is not entered
            self._sending.discard(symbol)
        self._awaiting.clear()
        pending = list(self._pending_cancels.items())
        for _, handle in pending:
            handle.cancel()
        self._pending_cancels.clear()
        for cid, _ in pending:
            await self._cancel_if_unfilled(cid)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        task = self.ctx.spawn(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- pause / resume -----------------------------------------------------------------

    def on_pause_change(self) -> None:
        """Mirror the platform's pauses (and our own start) into the running flag."""
        now = self._clock.time_ms()
        wanted = dict(self.ctx.pauses())
        if not self._started:
            wanted.setdefault("scavenger", "stopped" if self._stopped else "not started")
        was = self.state.running
        for src in [s for s in self.state.pauses if s not in wanted]:
            self.state.resume(src, now)
        for src, why in wanted.items():
            if self.state.pauses.get(src) != why:
                self.state.pause(src, why, now)
        self._running = self.state.running
        if was == self._running:
            return
        if self._running:
            message = "Scavenger running"
            # Klines may have moved while paused: arm from fresh ones before trusting old
            # traps (at start the platform's `arm` timer does the first round).
            if self.last_arming is not None:
                self._spawn(self.rearm())
        else:
            message = f"Scavenger paused: {self.state.pause_reason}"
        self.ctx.publish(ScavengerStateChanged(
            ts=self._clock.now(), message=message,
            running=self._running, pauses=dict(self.state.pauses), strategy=STRATEGY))

    @property
    def running(self) -> bool:
        return self._running

    # -- market data --------------------------------------------------------------------

    def on_ticker(self, t: Ticker) -> None:
        """Bybit price (the velocity and the touch of `plan_entry`)."""
        tracker = self._trackers.get(t.symbol)
        if tracker is None:
            tracker = self._trackers[t.symbol] = VelocityTracker(
                max_staleness_ms=self._max_staleness_ms)
        tracker.update(float(t.last_price), self._clock.time_ms(),
                       float(t.bid) if t.bid is not None else None,
                       float(t.ask) if t.ask is not None else None, t.ts_ms)
        waiting = self._awaiting.get(t.symbol)
        if waiting is not None and tracker.as_new_as(waiting[2]):
            self._book_arrived(t.symbol)

    def on_trade(self, t: Trade) -> None:
        """Binance aggTrade. The hot path: nothing here may wait, log or format."""
        if not self._running:
            return
        trap = self.detector.on_trade(t.symbol, t.price, t.ts_ms)
        if trap is not None:
            self._fire(trap, t)

    # -- the trade-to-order path ---------------------------------------------------------

    def _fire(self, trap: Trap, t: Trade) -> None:
        """A sprung trap. The entry is priced from Bybit's book: if the last Bybit update
        is older than the springing trade (Bybit pushes its top every 10 ms, its ticker
        every 100 ms, the Binance spring often arrives first), wait for one at least as
        new, at most `BOOK_WAIT_S` (no update by then: Bybit's book did not move)."""
        tracker = self._trackers.get(trap.symbol)
        symbol = trap.symbol
        # The spring's time on the venues' clock; a trade stamped ahead of ours (clock
        # skew) counts as now, so no skew can make every spring wait the full bound.
        spring_ms = min(t.ts_ms, self._clock.time_ms())
        if (tracker is not None and not tracker.as_new_as(spring_ms)
                and symbol not in self._awaiting and symbol not in self._sending):
            self._sending.add(symbol)  # one entry per symbol, the wait included
            timer = self.ctx.call_later(BOOK_WAIT_S, lambda: self._book_arrived(symbol))
            self._awaiting[symbol] = (trap, t, spring_ms, timer)
            return
        self._priced_fire(trap, t)

    def _book_arrived(self, symbol: str) -> None:
        waiting = self._awaiting.pop(symbol, None)
        if waiting is None:
            return
        trap, t, _, timer = waiting
        timer.cancel()
        self._sending.discard(symbol)
        if self._running:
            self._priced_fire(trap, t)

    def _priced_fire(self, trap: Trap, t: Trade) -> None:
        now = self._clock.time_ms()
        sp = _Spring(trap, t.price, t.ts_ms, now, t.trade_id)
        symbol = trap.symbol
        refusal: tuple[ReasonCode, str] | None = None
        if now - t.ts_ms > self._max_staleness_ms:
            refusal = (ReasonCode.STALE_MARKET_DATA, "the springing trades are stale")
        elif (symbol in self._sending or self.ctx.has_position(symbol)
              or self.ctx.has_working_entry(symbol)):
            refusal = (ReasonCode.POSITION_LIMIT, "a position or working entry is open on it")
        else:
            tracker = self._trackers.get(symbol) or VelocityTracker()
            plan = plan_entry(trap, tracker, now)
            if isinstance(plan, EntryRefused):
                refusal = (plan.code, plan.message)
            elif abs(float(plan.touch) - trap.level) > trap.level * self._max_drift:
                refusal = (ReasonCode.STALE_MARKET_DATA, "Bybit's price has moved away from the level")
            else:
                sp.plan = plan
                refusal = self._size_and_send(sp, plan)
        if refusal is not None:
            self._spawn(self._refused(sp, refusal))

    def _size_and_send(self, sp: _Spring, plan: EntryPlan) -> tuple[ReasonCode, str] | None:
        inst = self.ctx.instrument(plan.symbol)
        if inst is None:
            return (ReasonCode.ASSET_DISABLED, "the venue lists no such instrument")
        ctx = self.ctx.market_context(plan.symbol)
        size = self.ctx.size_entry(
            symbol=plan.symbol, confidence=plan.confidence, entry=plan.price,
            stop=plan.stop_loss, target=plan.take_profit, leverage=Decimal(plan.leverage),
            market=ctx, qty_step=inst.qty_step, min_qty=inst.min_qty, publish=False)
        sp.size = size
        intent = OrderIntent(
            intent_id=f"scav:{sp.trap.trap_id}:{sp.trade_ts_ms}",
            symbol=plan.symbol, side=plan.side, qty=size.qty if size.qty > 0 else size.requested_qty,
            order_type=plan.order_type,
            price=plan.price if plan.order_type is OrderType.LIMIT else None,
            stop_loss=plan.stop_loss, take_profit=plan.take_profit, leverage=size.leverage,
            strategy=STRATEGY)
        sp.intent = intent
        if size.qty <= 0:
            return (ReasonCode.RISK_PER_TRADE_LIMIT, "no size passes the risk limits")
        self._sending.add(plan.symbol)
        self._spawn(self._enter(sp, intent))
        return None

    async def _enter(self, sp: _Spring, intent: OrderIntent) -> None:
        try:
            result = await self.ctx.submit(intent, f"trap {sp.trap.trap_id} sprung")
        except Exception as exc:  # the engine answers errors as results; this is a bug
            logger.opt(exception=True).error("SCAVENGER_FAILED submit of {}", intent.client_order_id)
            result = SubmitResult(intent.client_order_id, None, error=f"{type(exc).__name__}: {exc}")
        finally:
            self._sending.discard(intent.symbol)
        # The order has left (or was denied): everything else happens now.
        try:
            self._after_submit(sp, intent, result)
        except Exception:
            logger.opt(exception=True).error("SCAVENGER_FAILED after submit of {}",
                                             intent.client_order_id)

    def _after_submit(self, sp: _Spring, intent: OrderIntent, result: SubmitResult) -> None:
        size = sp.size
        if size is not None and size.reduced and result.denial is None:
            self._publish_reduction(intent.symbol, size)
        if result.denial is not None:
            outcome = f"denied {result.denial.code.value}"
            self.counters["denied"] += 1
        elif result.status is None:
            outcome = f"not sent: {result.error}"
            self.counters["denied"] += 1
        else:
            outcome = f"order {result.client_order_id} {result.status.value}"
            self.counters["sent"] += 1
            if result.error:
                outcome += f" ({result.error})"
        if (result.accepted and intent.order_type is OrderType.LIMIT
                and result.status is not OrderStatus.FILLED):
            self._schedule_cancel(result.client_order_id)
        self._sprung(sp, outcome, SpringOrder(
            client_order_id=result.client_order_id,
            status=result.status.value if result.status is not None else None,
            code=result.denial.code.value if result.denial is not None else None,
            order_type=intent.order_type.value, side=intent.side.value, qty=str(intent.qty),
            order_price=str(intent.price) if intent.price else None,
            stop_loss=str(intent.stop_loss), take_profit=str(intent.take_profit),
            leverage=str(intent.leverage),
            velocity_pct_s=round(sp.plan.velocity_pct_s, 4) if sp.plan else None))

    async def _refused(self, sp: _Spring, refusal: tuple[ReasonCode, str]) -> None:
        code, why = refusal
        trap = sp.trap
        intent = sp.intent
        if intent is not None and sp.size is not None and sp.size.qty <= 0:
            # Sized to nothing: let the gate say why when it can (DISARMED, halted, …);
            # it publishes SIGNAL_REJECTED itself.
            denial = self.ctx.gate_entry(intent)
            if denial is not None:
                code, why = denial.code, denial.message
                self.counters["denied"] += 1
                self._sprung(sp, f"denied {code.value}", SpringOrder(code=code.value))
                return
            if sp.size.limits_hit:
                code = ReasonCode(sp.size.limits_hit[0]) if sp.size.limits_hit[0] in \
                    ReasonCode.__members__ else code
            why = f"no size passes the limits ({', '.join(sp.size.limits_hit) or 'below min qty'})"
        self.counters["skipped"] += 1
        self.ctx.publish(SignalRejected(
            ts=self._clock.now(),
            message=f"{trap.symbol} trap {trap.trap_id} not traded: {code.value}: {why}",
            code=code.value, symbol=trap.symbol, strategy=STRATEGY, trap_id=trap.trap_id,
            reason=why))
        self._sprung(sp, f"not sent: {code.value}", SpringOrder(code=code.value, reason=why))

    def _sprung(self, sp: _Spring, outcome: str, order: SpringOrder) -> None:
        trap = sp.trap
        self.counters["sprung"] += 1
        self.state.record_sprung(trap, sp.price, sp.trade_ts_ms, outcome)
        self.ctx.publish(TrapSprung(
            ts=self._clock.now(),
            message=f"{trap.symbol} {trap.kind.value}:{trap.tripwire.label} level {trap.level:.8g} "
                    f"{trap.direction.value} sprung by {self._min_trades} trades in "
                    f"{self._window_ms} ms: {outcome}",
            strategy=STRATEGY, symbol=trap.symbol, trap_id=trap.trap_id, kind=trap.kind.value,
            level=trap.level, direction=trap.direction.value, score=round(trap.score, 2),
            trades=self._min_trades, window_ms=self._window_ms, price=sp.price,
            trade_ts_ms=sp.trade_ts_ms, trade_id=sp.trade_id, outcome=outcome,
            order=order))
        row = self._traps.take_row(trap.trap_id) if self._traps is not None else None
        if row is not None and self._traps is not None:
            self._spawn(self._traps.mark_sprung(row, sp.sprung_ms, outcome))

    def _publish_reduction(self, symbol: str, size: SizeDecision) -> None:
        what = "no size passes" if size.qty == 0 else f"qty {size.requested_qty} -> {size.qty}"
        lev = (f", leverage {size.requested_leverage}x -> {size.leverage}x"
               if size.leverage < size.requested_leverage else "")
        self.ctx.publish(OrderSizeReduced(
            ts=self._clock.now(),
            message=f"{symbol} size reduced: {what}{lev} (limits: {', '.join(size.limits_hit)})",
            symbol=symbol, strategy=STRATEGY, decision=size))

    # -- unfilled limits ----------------------------------------------------------------

    def _schedule_cancel(self, cid: str) -> None:
        def due() -> None:
            self._pending_cancels.pop(cid, None)
            self._spawn(self._cancel_if_unfilled(cid))

        self._pending_cancels[cid] = self.ctx.call_later(self._cancel_after_s, due)

    async def _cancel_if_unfilled(self, cid: str) -> None:
        status = self.ctx.order_status(cid)
        if status is None or status.is_terminal:
            return  # filled (or otherwise finished) in time
        try:
            gone = await self.ctx.cancel(
                cid, f"limit entry unfilled after {self._cancel_after_s:.1f} s")
        except VenueError as exc:
            logger.warning("ENTRY_CANCEL_FAILED {}: {}", cid, exc)
            return
        logger.info("ENTRY_CANCELLED limit entry {} unfilled after {:.1f} s{}", cid,
                    self._cancel_after_s, "" if gone else " (already gone)")

    # -- arming -------------------------------------------------------------------------

    async def rearm(self) -> None:
        """One arming round for the whitelisted symbols (serialised)."""
        async with self._rearm_lock:
            await self._rearm()

    async def _rearm(self) -> None:
        symbols = list(self.ctx.symbols())
        now = self._clock.time_ms()
        fetched = await asyncio.gather(*(self._fetch(s, now) for s in symbols))
        klines: dict[str, list[Kline]] = {}
        daily: dict[str, list[Kline]] = {}
        prices: dict[str, float] = {}
        errors: dict[str, str] = {}
        for sym, (kl, dk, price, err) in zip(symbols, fetched, strict=True):
            if err:
                errors[sym] = err
                continue
            klines[sym] = kl
            if dk is not None:
                daily[sym] = dk
            if price is not None:
                prices[sym] = price
        now = self._clock.time_ms()
        result = build_traps(klines, prices, now, daily_klines=daily or None,
                             scoring=self._scoring, tripwire_params=self._tripwires)
        self.detector.arm(result.armed, now)
        self.state.set_armed(result.armed, now)
        # The per-entry set-leverage round trip off the tick-to-order path: set now.
        for sym, lev in leverage_to_prepare(result.armed, prices).items():
            self.ctx.prepare_leverage(sym, Decimal(lev))
        skipped = {**errors, **result.skipped}
        self.last_arming = {"atMs": now, "symbols": symbols, "armed": len(result.armed),
                            "candidates": len(result.candidates), "skipped": skipped}
        logger.info("TRAPS_ARMED {} of {} candidates on {}{}", len(result.armed),
                    len(result.candidates), ",".join(symbols),
                    f" skipped={skipped}" if skipped else "")
        if self._traps is not None:
            await self._traps.save_armed(result.armed, self._clock.now())

    async def _fetch(self, symbol: str, now_ms: int
                     ) -> tuple[list[Kline], list[Kline] | None, float | None, str]:
        try:
            kl = await self.ctx.klines(symbol, 1, KLINE_LIMIT)
            day = now_ms - now_ms % DAY_MS
            cached = self._daily.get(symbol)
            if cached is None or cached[0] != day:
                try:
                    dk = await self.ctx.klines(symbol, 1440, 3)
                    cached = (day, dk)
                    self._daily[symbol] = cached
                except (VenueError, ValueError):
                    cached = None  # the 1-minute klines stand in (they may not reach yesterday)
            price = self._fresh_price(symbol, now_ms)
            if price is None:
                price = await self.ctx.last_price(symbol)
        except VenueError as exc:
            return [], None, None, f"venue: {exc}"
        return kl, (cached[1] if cached else None), price, ""

    def _fresh_price(self, symbol: str, now_ms: int) -> float | None:
        tracker = self._trackers.get(symbol)
        if tracker is not None and tracker.is_fresh(now_ms):
            return tracker.last_price
        return None

    # -- operator view ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        prices = {s: float(p) for s, p in self.ctx.prices().items()}
        d = self.state.as_dict(prices)
        for row in (*d["armed"], *d["sprung"]):
            self._on_tick(row)
        d["armedTraps"] = d["armed"]
        d["reachPct"] = REACH_PCT
        d["lastArming"] = self.last_arming
        d["counters"] = dict(self.counters)
        d["pendingCancels"] = len(self._pending_cancels)
        return d

    def _on_tick(self, row: dict[str, Any]) -> None:
        """The level as the venue prices it (its tick), not a float's 8+ decimals."""
        inst = self.ctx.instrument(str(row.get("symbol")))
        level = row.get("level")
        if inst is None or not isinstance(level, int | float):
            return
        tick = inst.tick_size
        row["level"] = float((Decimal(repr(level)) / tick).to_integral_value() * tick)
        row["tick"] = str(tick)
