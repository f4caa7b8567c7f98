"""Reconciliation (SPEC §7): compare the shadow with the venue, classify, then sync to the venue.

The venue is the truth about what exists. A run:
1. reads the venue's positions, open orders and executions (unreadable → fail closed:
   the Master Arm is disabled, the report says why);
2. records Titan's own executions the ledger missed (a stream message lost, a crash
   between a fill's arrival and its commit) — they are Titan's own, not differences;
3. compares positions and classifies each difference: MISSING_IN_SHADOW,
   MISSING_IN_BROKER, SIDE_MISMATCH, SIZE_MISMATCH (quantities at the venue's step);
4. syncs: records the remaining executions (hand-made trades, liquidations), which
   brings the shadow to the venue with PnL to the cent; positions still unexplained are
   adopted as orphans, or closed as RECONCILED_CLOSED;
5. brings orders up to date: venue orders with a Titan id become known again, orders
   the venue no longer lists get their final state, unknown ones are reported.
Every mismatch is a SHADOW_MISMATCH alert (HIGH). Three consecutive runs with
mismatches put Titan in SOFT_HALT (CRITICAL).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TYPE_CHECKING, Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock, iso_utc
from titan.crashpoints import crashpoint
from titan.domain.orders import EXCHANGE_EXIT_ORIGINS, Fill, OrderStatus, Position
from titan.domain.reasons import Severity
from titan.events import Alert, OrderCancelledByVenue, Reconciled, ReconcileFailed, ShadowMismatch
from titan.risk import HaltState, RiskEngine
from titan.state.ledger import LIVE_STATUSES, Ledger, is_titan_order
from titan.state.positions import ShadowPosition
from titan.venues.base import Venue, VenueError, VenueOrder

if TYPE_CHECKING:
    from titan.state.spot_reconcile import SpotReconcile

MISMATCH_RUNS_TO_SOFT_HALT = 3
REQUEST_DELAY_S = 0.3  # a requested run waits this long so a burst of requests is one run
# Executions are re-read from a little before the newest one recorded, so one that
# arrived out of order around a crash is not missed; duplicates are ignored by id.
EXECUTION_LOOKBACK = timedelta(minutes=10)
STATE_KEY = "reconciler"
SNAPSHOT_ATTEMPTS = 5


@dataclass
class Mismatch:
    type: str
    symbol: str
    shadow: dict[str, Any] | None
    venue: dict[str, Any] | None
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"type": self.type, "symbol": self.symbol, "shadow": self.shadow,
                "venue": self.venue, "detail": self.detail}


@dataclass
class Report:
    ts: str
    trigger: str
    ok: bool
    mismatches: list[Mismatch] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)
    unknown_orders: list[dict[str, Any]] = field(default_factory=list)
    error: str = ""
    consecutive_mismatch_runs: int = 0

    @property
    def clean(self) -> bool:
        return self.ok and not self.mismatches

    def as_dict(self) -> dict[str, Any]:
        return {
            "ts": self.ts, "trigger": self.trigger, "ok": self.ok, "clean": self.clean,
            "mismatches": [m.as_dict() for m in self.mismatches], "actions": self.actions,
            "unknownOrders": self.unknown_orders, "error": self.error,
            "consecutiveMismatchRuns": self.consecutive_mismatch_runs,
        }


def _pos_view(p: Position | ShadowPosition | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {"side": p.side.value, "size": str(p.size), "entryPrice": str(p.entry_price)}


class Reconciler:
    def __init__(self, venue: Venue, ledger: Ledger, risk: RiskEngine, bus: EventBus,
                 clock: Clock, *, epoch_ms: int) -> None:
        self.venue = venue
        self.ledger = ledger
        self.risk = risk
        self.bus = bus
        self.clock = clock
        self.epoch_ms = epoch_ms  # executions older than Titan's first start are not ours
        self.consecutive_mismatch_runs = 0
        self.last_report: Report | None = None
        self._lock = asyncio.Lock()
        self._pending: asyncio.Task[None] | None = None  # a run asked for by `request_soon`
        # PENDING orders inherited from a previous life (known at the first run): only they
        # can be judged "never placed" by their absence. A PENDING order of this life is a
        # send in flight — the engine settles it from the answer; a run that looks it up
        # before the request reaches the venue must not call it REJECTED.
        self._inherited_pending: set[str] | None = None
        # The spot leg's step of every run, when Titan trades spot (Sentinel's pairs).
        self.spot: SpotReconcile | None = None

    async def load(self) -> None:
        saved = await self.ledger.get_state(STATE_KEY)
        if isinstance(saved, dict):
            self.consecutive_mismatch_runs = int(saved.get("consecutiveMismatchRuns", 0))

    def _qty_step(self, symbol: str) -> Decimal:
        inst = self.venue.instrument(symbol)
        return inst.qty_step if inst is not None else Decimal("0.00000001")

    def _same_qty(self, symbol: str, a: Decimal, b: Decimal) -> bool:
        step = self._qty_step(symbol)
        return (a / step).to_integral_value(ROUND_DOWN) == (b / step).to_integral_value(ROUND_DOWN)

    def classify(self, venue_positions: dict[str, Position]) -> list[Mismatch]:
        """The shadow against `venue_positions`, one mismatch per symbol that differs
        (quantities compared at the venue's step). The operator's positions view uses it too."""
        out = []
        shadow = self.ledger.positions
        for symbol in sorted(set(shadow) | set(venue_positions)):
            s, v = shadow.get(symbol), venue_positions.get(symbol)
            if s is None and v is not None:
                out.append(Mismatch("MISSING_IN_SHADOW", symbol, None, _pos_view(v),
                                    f"venue has {v.side.value} {v.size} that the shadow does not"))
            elif s is not None and v is None:
                out.append(Mismatch("MISSING_IN_BROKER", symbol, _pos_view(s), None,
                                    f"shadow has {s.side.value} {s.size} that the venue does not"))
            elif s is not None and v is not None:
                if s.side is not v.side:
                    out.append(Mismatch("SIDE_MISMATCH", symbol, _pos_view(s), _pos_view(v),
                                        f"shadow {s.side.value}, venue {v.side.value}"))
                elif not self._same_qty(symbol, s.size, v.size):
                    out.append(Mismatch("SIZE_MISMATCH", symbol, _pos_view(s), _pos_view(v),
                                        f"shadow {s.size}, venue {v.size}"))
        return out

    async def _executions(self) -> list[Fill]:
        last = await self.ledger.last_fill_ms()
        since = self.epoch_ms if last is None else max(
            self.epoch_ms, last - int(EXECUTION_LOOKBACK.total_seconds() * 1000))
        fills = await self.venue.executions(since_ms=since)
        return [f for f in fills if int(f.ts.timestamp() * 1000) >= self.epoch_ms]

    def request_soon(self, reason: str) -> None:
        """A run shortly (the private stream saw something odd); requests that arrive
        meanwhile share it."""
        if self._pending is not None and not self._pending.done():
            return

        async def later() -> None:
            await asyncio.sleep(REQUEST_DELAY_S)
            logger.info("RECONCILE_REQUESTED reason={}", reason)
            await self.run("stream")

        self._pending = asyncio.create_task(later(), name="reconcile-request")

    def cancel_requested_run(self) -> None:
        if self._pending is not None:
            self._pending.cancel()

    async def run(self, trigger: str) -> Report:
        async with self._lock:
            report = await self._run(trigger)
        await self._record(report)
        return report

    async def _snapshot(self) -> tuple[dict[str, Position], list[VenueOrder], list[Fill], bool]:
        """Positions, open orders and executions that agree with each other.

        The executions are read before and after the positions: when both reads list the
        same executions, nothing traded in between, so the positions are exactly what those
        executions made. (A fill landing between the reads — Titan's own order, a stop, a
        resting limit — would otherwise make the shadow, which applies it, look ahead of
        the stale positions, and the sync would overwrite a correct shadow with them.)
        Returns stable=False if the venue kept trading through every attempt.
        """
        for _ in range(SNAPSHOT_ATTEMPTS):
            before = {f.exec_id for f in await self._executions()}
            venue_positions = {p.symbol: p for p in await self.venue.positions() if p.size > 0}
            venue_orders = await self.venue.open_orders()
            fills = await self._executions()
            if {f.exec_id for f in fills} == before:
                return venue_positions, venue_orders, fills, True
        return venue_positions, venue_orders, fills, False

    async def _run(self, trigger: str) -> Report:
        # The ledger is held from the first read to the end of the sync: a fill the stream
        # brings meanwhile waits, so the shadow compared is the one the snapshot explains.
        async with self.ledger.exclusive():
            return await self._run_held(trigger)

    async def _run_held(self, trigger: str) -> Report:
        report = Report(ts=iso_utc(self.clock.now()), trigger=trigger, ok=False)
        try:
            venue_positions, venue_orders, fills, stable = await self._snapshot()
        except VenueError as exc:
            report.error = f"venue unreadable: {exc}"
            await self._fail_closed(report)
            return report
        report.ok = True

        missing = [f for f in fills if not await self.ledger.has_fill(f.exec_id)]
        own = [f for f in missing
               if is_titan_order(f.client_order_id) or f.origin in EXCHANGE_EXIT_ORIGINS]
        for f in own:
            if (await self.ledger.apply_fill(f, close_reason=_reason_for(f))).recorded:
                report.actions.append({"action": "recorded_missed_fill", "symbol": f.symbol,
                                       "execId": f.exec_id})

        report.mismatches = self.classify(venue_positions)
        crashpoint("mid_reconcile")
        if trigger == "schedule":
            crashpoint("mid_scheduled_reconcile")
        for f in missing:
            if f in own:
                continue
            res = await self.ledger.apply_fill(f, close_reason="RECONCILED_CLOSED"
                                               if f.origin != "Liquidation" else "LIQUIDATION")
            if res.recorded:
                report.actions.append({"action": "recorded_venue_fill", "symbol": f.symbol,
                                       "execId": f.exec_id, "origin": f.origin or "external"})
            if res.closed is not None:
                await self.risk.on_trade_closed(res.closed.net_pnl)

        if stable:
            await self._force_sync(venue_positions, report)
        else:
            # Never overwrite the shadow from positions that may not match the executions;
            # the mismatches stand and the next run settles them.
            report.actions.append({"action": "sync_deferred",
                                   "detail": "the venue kept trading during every read"})
        await self._sync_orders(venue_orders, report)
        if self.spot is not None:
            try:
                await self.spot.run(report)
            except VenueError as exc:
                report.ok = False
                report.error = f"spot leg unreadable: {exc}"
                await self._fail_closed(report)
        return report

    async def _force_sync(self, venue_positions: dict[str, Position], report: Report) -> None:
        """Whatever executions did not explain: adopt the venue's, close the shadow's."""
        for m in self.classify(venue_positions):
            v = venue_positions.get(m.symbol)
            if v is None:
                gone = self.ledger.positions[m.symbol]
                exit_price = gone.mark_price or gone.entry_price
                trade = await self.ledger.force_close(m.symbol, exit_price, "RECONCILED_CLOSED")
                report.actions.append({"action": "closed_reconciled", "symbol": m.symbol,
                                       "estimatedExit": str(exit_price)})
                if trade is not None:
                    await self.risk.on_trade_closed(trade.net_pnl)
            else:
                await self.ledger.force_position(v)
                report.actions.append({"action": "adopted_orphan", "symbol": m.symbol,
                                       "side": v.side.value, "size": str(v.size)})
        for symbol, v in venue_positions.items():
            pos = self.ledger.positions.get(symbol)
            if pos is not None:
                self.ledger.update_marks(symbol, v.unrealised_pnl, pos.mark_price,
                                         v.stop_loss, v.take_profit)

    async def _sync_orders(self, venue_orders: list[VenueOrder], report: Report) -> None:
        listed = {o.client_order_id for o in venue_orders}
        for vo in venue_orders:
            if is_titan_order(vo.client_order_id):
                known = vo.client_order_id in self.ledger.live_orders
                await self.ledger.apply_venue_order(vo)
                if not known:
                    report.actions.append({"action": "order_recovered", "symbol": vo.symbol,
                                           "clientOrderId": vo.client_order_id})
            else:
                report.unknown_orders.append({
                    "symbol": vo.symbol, "venueOrderId": vo.venue_order_id,
                    "side": vo.side.value, "qty": str(vo.qty), "price": str(vo.price or ""),
                    "detail": "open order without a Titan client id (placed by hand?)"})
        if self._inherited_pending is None:
            self._inherited_pending = {cid for cid, o in self.ledger.live_orders.items()
                                       if o.status is OrderStatus.PENDING}
        for cid, order in list(self.ledger.live_orders.items()):
            if cid in listed or (order.status is OrderStatus.PENDING
                                 and cid not in self._inherited_pending):
                continue
            crashpoint("mid_order_sync")
            try:
                found = await self.venue.order_by_client_id(order.symbol, cid)
            except VenueError:
                continue
            if cid not in self.ledger.live_orders:
                # Settled while we asked (an UNKNOWN resolver, the stream): its record stands;
                # an order found nowhere must not turn a REJECTED into "gone" (CANCELLED).
                continue
            if found is not None:
                await self.ledger.apply_venue_order(found)
                report.actions.append({"action": "order_settled", "clientOrderId": cid,
                                       "status": found.status.value})
                if found.status is OrderStatus.CANCELLED and found.filled_qty < found.qty \
                        and not self.ledger.cancel_was_requested(cid):
                    self.bus.publish(OrderCancelledByVenue(
                        ts=self.clock.now(), severity=Severity.HIGH,
                        message=f"{order.symbol} order {cid} was cancelled by the venue while "
                                "Titan was not watching (or a cancel Titan sent just before a "
                                f"restart){': ' + found.reject_reason if found.reject_reason else ''}",
                        client_order_id=cid, symbol=order.symbol, trigger=report.trigger))
                self.ledger.cancel_settled(cid)
            elif order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                await self.ledger.set_status(cid, OrderStatus.REJECTED,
                                             "venue has no such order: it was never placed")
                report.actions.append({"action": "order_never_placed", "clientOrderId": cid})
            else:
                await self.ledger.set_status(cid, OrderStatus.CANCELLED, "gone from the venue")
                report.actions.append({"action": "order_gone", "clientOrderId": cid})
        assert all(o.status in LIVE_STATUSES for o in self.ledger.live_orders.values())

    async def _fail_closed(self, report: Report) -> None:
        if self.risk.arm_ctl.armed:
            await self.risk.disarm(f"reconciliation failed: {report.error}", "reconciler")
        self.bus.publish(ReconcileFailed(
            ts=self.clock.now(), severity=Severity.HIGH,
            message=f"reconciliation ({report.trigger}) failed closed: {report.error}",
            trigger=report.trigger))

    async def _record(self, report: Report) -> None:
        if report.ok:
            if report.mismatches:
                self.consecutive_mismatch_runs += 1
            else:
                self.consecutive_mismatch_runs = 0
        report.consecutive_mismatch_runs = self.consecutive_mismatch_runs
        for m in report.mismatches:
            self.bus.publish(ShadowMismatch(
                ts=self.clock.now(), message=f"{m.symbol} {m.type}: {m.detail}",
                mismatch_type=m.type, symbol=m.symbol, trigger=report.trigger))
        if report.ok and self.consecutive_mismatch_runs >= MISMATCH_RUNS_TO_SOFT_HALT \
                and self.risk.halt.state is HaltState.OPEN:
            reason = (f"reconciliation found mismatches on {self.consecutive_mismatch_runs} "
                      "consecutive runs")
            self.bus.publish(Alert(ts=self.clock.now(), severity=Severity.CRITICAL,
                                   message=f"SOFT_HALT: {reason}"))
            await self.risk.set_halt(HaltState.SOFT_HALT, reason, "reconciler")
        self.bus.publish(Reconciled(
            ts=self.clock.now(),
            message=f"reconciliation ({report.trigger}): "
                    + ("failed: " + report.error if not report.ok else
                       f"{len(report.mismatches)} mismatch(es), {len(report.actions)} action(s)"),
            trigger=report.trigger, ok=report.ok, clean=report.clean,
            mismatches=len(report.mismatches)))
        await self.ledger.put_state(STATE_KEY, {
            "consecutiveMismatchRuns": self.consecutive_mismatch_runs})
        await self.ledger.db.execute_write(
            "INSERT INTO reconciliations(ts, trigger, ok, mismatches, report) VALUES (?,?,?,?,?)",
            (report.ts, report.trigger, int(report.ok), len(report.mismatches),
             json.dumps(report.as_dict())))
        self.last_report = report
        if report.mismatches or not report.ok:
            logger.warning("RECONCILE trigger={} ok={} mismatches={}", report.trigger, report.ok,
                           len(report.mismatches))


def _reason_for(fill: Fill) -> str:
    return {"StopLoss": "STOP_LOSS", "TakeProfit": "TAKE_PROFIT",
            "TrailingStop": "TRAILING_STOP"}.get(fill.origin, "CLOSED")
