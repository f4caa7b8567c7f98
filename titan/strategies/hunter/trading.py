"""Hunter's orders: the post-only entry, its cancel and retry rules, and the management
of the positions it opened. Everything goes through the strategy's context.

* **Entry**: a post-only limit at the order block (`plan.plan_entry`), sized by
  `plan.size` and clamped to the gate's limits (`ctx.clamp_entry`), the stop and target
  on the order (the venue holds them as the bracket). Intent ids are
  `hunter:{symbol}:{signal ms}:{attempt}`.
* **Working entries** are checked every `manage` round (5 s): filled → a managed position
  (its record stored before anything else); still working → the cancel rules; finished
  unfilled without Hunter cancelling it → the venue refused the post-only (it would have
  taken liquidity): retried at most twice, 1 s apart (`ctx.call_later`), then a named skip.
* **Managed positions**: `manage.step` at the last Bybit price; the record is stored
  **before** the partial or the exit is sent (write before acting: a restart never takes
  the 2R partial twice). A position gone from the ledger was closed by the venue (stop or
  target): its pnl feeds the loss streak.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any

from loguru import logger

from titan.domain.orders import OrderIntent, OrderType, Side
from titan.events import Event
from titan.strategies.base import Cancellable, StrategyContext
from titan.strategies.hunter.events import HunterCancel, HunterEntry, HunterExit, HunterSkip
from titan.strategies.hunter.manage import LossStreak, Managed, step
from titan.strategies.hunter.plan import (
    RETRY_DELAY_S,
    EntryPlan,
    cancel_reason,
    correlation,
    may_retry,
    returns,
    size,
)
from titan.strategies.hunter.store import HunterStore
from titan.strategies.hunter.structure import Direction
from titan.venues.base import VenueError

STRATEGY = "hunter"
WEEK_MS = 7 * 86_400_000
CORR_BARS = 49  # 48 one-hour returns


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def _round_down(qty: float, step: Decimal) -> Decimal:
    if step <= 0:
        return _dec(qty)
    return (_dec(qty) / step).to_integral_value(rounding=ROUND_DOWN) * step


@dataclass(slots=True)
class Working:
    plan: EntryPlan
    score: int
    intent: OrderIntent
    placed_ms: int
    attempt: int
    wick_low: float | None = None
    wick_high: float | None = None
    cancelled_by_us: bool = False
    sending: bool = False


@dataclass(slots=True)
class Trader:
    ctx: StrategyContext
    store: HunterStore | None
    decide: Callable[[Event, dict[str, Any]], None]  # publish + remember a decision
    spawn: Callable[[Any], Any]
    working: dict[str, Working] = field(default_factory=dict)
    managed: dict[str, Managed] = field(default_factory=dict)
    streak: LossStreak = field(default_factory=LossStreak)
    equity_marks: deque[tuple[int, float]] = field(default_factory=deque)
    retries: dict[str, Cancellable] = field(default_factory=dict)
    last_prices: dict[str, float] = field(default_factory=dict)

    async def load(self) -> None:
        if self.store is None:
            return
        records, self.streak.losses = await self.store.load()
        for m in records:
            self.managed[m.symbol] = m

    # -- prices -----------------------------------------------------------------------

    def on_price(self, symbol: str, price: float) -> None:
        self.last_prices[symbol] = price
        w = self.working.get(symbol)
        if w is not None:
            w.wick_low = price if w.wick_low is None else min(w.wick_low, price)
            w.wick_high = price if w.wick_high is None else max(w.wick_high, price)

    def mark_equity(self, now_ms: int) -> float:
        """Record equity; the drawdown (%) from the week's peak."""
        eq = self.ctx.equity()
        if eq is None:
            return 0.0
        self.equity_marks.append((now_ms, float(eq)))
        while self.equity_marks and self.equity_marks[0][0] < now_ms - WEEK_MS:
            self.equity_marks.popleft()
        peak = max(e for _, e in self.equity_marks)
        return 0.0 if peak <= 0 else max(0.0, (peak - float(eq)) / peak * 100.0)

    def open_risk(self) -> float:
        risk = sum(abs(m.entry - m.stop) * (m.qty - m.partial_qty) for m in self.managed.values())
        return risk + sum(w.plan.risk_per_unit * float(w.intent.qty)
                          for w in self.working.values())

    # -- entries ----------------------------------------------------------------------

    async def max_correlation(self, symbol: str) -> float | None:
        others = [s for s in self.managed if s != symbol]
        if not others:
            return None
        try:
            mine = returns([k.close for k in await self.ctx.klines(symbol, 60, CORR_BARS)])
            best: float | None = None
            for other in others:
                theirs = returns([k.close for k in await self.ctx.klines(other, 60, CORR_BARS)])
                c = correlation(mine, theirs)
                if c is not None and (best is None or c > best):
                    best = c
            return best
        except (VenueError, ValueError):
            return None

    async def enter(self, plan: EntryPlan, score: int, now_ms: int) -> str | None:
        """Size and send the entry; the failed condition's name when it is not sent."""
        inst = self.ctx.instrument(plan.symbol)
        if inst is None:
            return "SYMBOL_UNAVAILABLE"
        equity = self.ctx.equity()
        drawdown = self.mark_equity(now_ms)
        sizing = size(plan, equity=float(equity or 0), open_positions=len(self.managed),
                      open_risk=self.open_risk(), loss_streak=self.streak.losses,
                      max_correlation=await self.max_correlation(plan.symbol),
                      weekly_drawdown_pct=drawdown)
        if sizing.refused:
            return f"LIMITS: {sizing.refused}"
        clamp = self.ctx.clamp_entry(symbol=plan.symbol, qty=_round_down(sizing.qty, inst.qty_step),
                                     entry=_dec(plan.entry), stop=_dec(plan.stop),
                                     leverage=Decimal(sizing.leverage), qty_step=inst.qty_step,
                                     min_qty=inst.min_qty)
        if clamp.qty <= 0:
            return f"SIZE: no size passes the limits ({', '.join(clamp.limits_hit) or 'min qty'})"
        side = Side.BUY if plan.direction is Direction.LONG else Side.SELL
        intent = OrderIntent(
            intent_id=f"{STRATEGY}:{plan.symbol}:{now_ms}:1", symbol=plan.symbol, side=side,
            qty=clamp.qty, order_type=OrderType.LIMIT, price=_dec(plan.entry),
            stop_loss=_dec(plan.stop), take_profit=_dec(plan.target), leverage=clamp.leverage,
            strategy=STRATEGY, post_only=True)
        w = Working(plan, score, intent, now_ms, 1)
        self.working[plan.symbol] = w
        await self._send(w)
        return None

    async def _send(self, w: Working) -> None:
        w.sending = True
        try:
            result = await self.ctx.submit(w.intent, f"hunter {w.plan.direction.value} at the "
                                                     f"order block, attempt {w.attempt}")
        finally:
            w.sending = False
        p = w.plan
        status = result.status.value if result.status is not None else "NOT_SENT"
        if result.denial is not None:
            status = f"DENIED {result.denial.code.value}"
        self.decide(HunterEntry(
            ts=self.ctx.clock.now(),
            message=f"{p.symbol} {p.direction.value} post-only {w.intent.qty} @ {p.entry:.8g} "
                    f"(stop {p.stop:.8g}, target {p.target:.8g}): {status}",
            symbol=p.symbol, direction=p.direction.value,
            client_order_id=w.intent.client_order_id, status=status, qty=float(w.intent.qty),
            price=p.entry, stop=p.stop, target=p.target, attempt=w.attempt),
            {"kind": "entry", "symbol": p.symbol, "status": status})
        if not result.accepted:
            self.working.pop(p.symbol, None)

    def _retry(self, w: Working) -> None:
        """The venue refused the post-only: the same plan again, 1 s later (max twice)."""
        symbol = w.plan.symbol
        attempt = w.attempt + 1
        intent_id = w.intent.intent_id.rsplit(":", 1)[0] + f":{attempt}"
        intent = OrderIntent(
            intent_id=intent_id, symbol=symbol, side=w.intent.side, qty=w.intent.qty,
            order_type=OrderType.LIMIT, price=w.intent.price, stop_loss=w.intent.stop_loss,
            take_profit=w.intent.take_profit, leverage=w.intent.leverage, strategy=STRATEGY,
            post_only=True)
        nxt = Working(w.plan, w.score, intent, self.ctx.clock.time_ms(), attempt)
        self.working[symbol] = nxt

        def due() -> None:
            self.retries.pop(symbol, None)
            if self.working.get(symbol) is nxt:
                self.spawn(self._send(nxt))

        nxt.sending = True  # not judged until it has been sent
        self.retries[symbol] = self.ctx.call_later(RETRY_DELAY_S, due)

    # -- the manage round ---------------------------------------------------------------

    async def manage(self, atr15: Mapping[str, float | None]) -> None:
        now = self.ctx.clock.time_ms()
        for symbol, w in list(self.working.items()):
            if not w.sending and symbol not in self.retries:
                await self._check_working(w, now)
        for symbol, m in list(self.managed.items()):
            await self._manage_position(m, atr15.get(symbol), now)

    async def _check_working(self, w: Working, now: int) -> None:
        p = w.plan
        cid = w.intent.client_order_id
        status = self.ctx.order_status(cid)
        pos = self.ctx.position(p.symbol)
        want = Side.BUY if p.direction is Direction.LONG else Side.SELL
        if pos is not None and pos.side is want and (status is None or status.is_terminal):
            await self._filled(w, float(pos.size), float(pos.entry_price), now)
            return
        if status is None or status.is_terminal:
            self.working.pop(p.symbol, None)
            if w.cancelled_by_us:
                return
            if may_retry(w.attempt):
                self._retry(w)
                return
            self.decide(HunterSkip(
                ts=self.ctx.clock.now(),
                message=f"{p.symbol} post-only refused {w.attempt} times (it would take "
                        "liquidity): not entered",
                symbol=p.symbol, direction=p.direction.value, condition="POST_ONLY_REFUSED",
                numbers={"attempts": float(w.attempt), "entry": p.entry}),
                {"kind": "skip", "symbol": p.symbol, "condition": "POST_ONLY_REFUSED"})
            return
        price = self.last_prices.get(p.symbol)
        if price is None:
            return
        why = cancel_reason(p, placed_ms=w.placed_ms, now_ms=now, price=price,
                            wick_low=w.wick_low, wick_high=w.wick_high)
        if why is not None:
            await self._cancel(w, why)

    async def _cancel(self, w: Working, why: str) -> None:
        w.cancelled_by_us = True
        cid = w.intent.client_order_id
        try:
            gone = await self.ctx.cancel(cid, f"hunter: {why}")
        except VenueError as exc:
            logger.warning("HUNTER_CANCEL_FAILED {}: {}", cid, exc)
            w.cancelled_by_us = False  # judged again next round
            return
        self.decide(HunterCancel(ts=self.ctx.clock.now(),
                                 message=f"{w.plan.symbol} entry {cid} cancelled: {why}",
                                 symbol=w.plan.symbol, client_order_id=cid, reason=why),
                    {"kind": "cancel", "symbol": w.plan.symbol, "reason": why, "gone": gone})

    async def _filled(self, w: Working, qty: float, entry: float, now: int) -> None:
        p = w.plan
        self.working.pop(p.symbol, None)
        m = Managed(plan_id=w.intent.intent_id, symbol=p.symbol, direction=p.direction,
                    entry=entry, initial_stop=p.stop, stop=p.stop, target=p.target, qty=qty,
                    opened_ms=now)
        self.managed[p.symbol] = m
        await self._save(m)
        self.decide(HunterEntry(
            ts=self.ctx.clock.now(), message=f"{p.symbol} {p.direction.value} filled {qty:g} @ "
                                             f"{entry:.8g}",
            symbol=p.symbol, direction=p.direction.value,
            client_order_id=w.intent.client_order_id, status="FILLED", qty=qty, price=entry,
            stop=p.stop, target=p.target, attempt=w.attempt),
            {"kind": "filled", "symbol": p.symbol})

    async def _save(self, m: Managed, pnl: float | None = None) -> None:
        if self.store is not None:
            await self.store.save(m, self.ctx.clock.now(), pnl)

    async def _manage_position(self, m: Managed, atr15: float | None, now: int) -> None:
        pos = self.ctx.position(m.symbol)
        price = self.last_prices.get(m.symbol)
        if pos is None:  # closed by the venue's stop or target (or by hand)
            await self._gone(m, price)
            return
        if price is None:
            return
        actions = step(m, price, atr15, now)
        if not actions:
            return
        await self._save(m)  # what is done is recorded before it is done
        for a in actions:
            if a.kind in ("PARTIAL", "EXIT"):
                qty = float(pos.size) if a.kind == "EXIT" else a.qty
                sent = await self._reduce(m, a.kind, qty)
                if a.kind == "EXIT" and not sent:
                    m.closed = False  # the exit is tried again next round
            self.decide(HunterExit(
                ts=self.ctx.clock.now(), message=f"{m.symbol} {a.kind}: {a.detail}",
                symbol=m.symbol, plan_id=m.plan_id, action=a.kind, detail=a.detail, qty=a.qty,
                price=price, stop=m.stop), {"kind": a.kind.lower(), "symbol": m.symbol})

    async def _reduce(self, m: Managed, kind: str, qty: float) -> bool:
        inst = self.ctx.instrument(m.symbol)
        step_ = inst.qty_step if inst is not None else Decimal(0)
        q = _round_down(qty, step_)
        if q <= 0:
            return True
        side = Side.SELL if m.direction is Direction.LONG else Side.BUY
        intent = OrderIntent(intent_id=f"{m.plan_id}:{kind.lower()}", symbol=m.symbol,
                             side=side, qty=q, order_type=OrderType.MARKET, reduce_only=True,
                             strategy=STRATEGY)
        result = await self.ctx.submit(intent, f"hunter {kind.lower()}")
        if not result.accepted:
            logger.warning("HUNTER_REDUCE_FAILED {} {}: {}", m.symbol, kind, result.error)
        return result.accepted

    async def _gone(self, m: Managed, price: float | None) -> None:
        del self.managed[m.symbol]
        m.closed = True
        exit_px = price if price is not None else m.stop
        pnl = m.direction.sign * (exit_px - m.entry) * (m.qty - m.partial_qty)
        if m.partial_done:
            pnl += m.direction.sign * m.r_unit * 2.0 * m.partial_qty
        self.streak.record(pnl)
        await self._save(m, pnl)
        self.decide(HunterExit(
            ts=self.ctx.clock.now(), message=f"{m.symbol} position closed (pnl ≈ {pnl:.4g})",
            symbol=m.symbol, plan_id=m.plan_id, action="CLOSED",
            detail=f"position gone; loss streak {self.streak.losses}", qty=m.qty,
            price=exit_px, stop=m.stop), {"kind": "closed", "symbol": m.symbol,
                                          "pnl": None if math.isnan(pnl) else pnl})

    async def cancel_all(self, why: str) -> None:
        for handle in self.retries.values():
            handle.cancel()
        self.retries.clear()
        for w in list(self.working.values()):
            status = self.ctx.order_status(w.intent.client_order_id)
            if status is not None and not status.is_terminal:
                await self._cancel(w, why)
        self.working.clear()

    def plans(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = [
            {"planId": m.plan_id, "symbol": m.symbol, "state": "OPEN",
             "direction": m.direction.value, "entry": m.entry, "initialStop": m.initial_stop,
             "stop": m.stop, "target": m.target, "qty": m.qty,
             "done": {"breakeven": m.breakeven_done, "partial": m.partial_done,
                      "partialQty": m.partial_qty, "trailing": m.trailing},
             "price": self.last_prices.get(m.symbol),
             "r": round(m.r_multiple(self.last_prices.get(m.symbol, m.entry)), 3)}
            for m in self.managed.values()]
        out += [{"planId": w.intent.intent_id, "symbol": s, "state": "WORKING",
                 "direction": w.plan.direction.value, "entry": w.plan.entry,
                 "stop": w.plan.stop, "target": w.plan.target, "qty": float(w.intent.qty),
                 "attempt": w.attempt, "clientOrderId": w.intent.client_order_id}
                for s, w in self.working.items()]
        return out
