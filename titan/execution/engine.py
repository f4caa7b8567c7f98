"""The order lifecycle: gate → commit the intent → send → track; and the emergency exits.

Nothing sends an order around `submit`: entries pass the risk gate, exits (reduce-only)
always pass. Every intent is committed before its order leaves. A submit whose outcome is
unknown puts the order in UNKNOWN and is resolved by asking the venue by client order id;
it is never resubmitted. Flatten and cancel-all are explicit, audited exits that work in
every state.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, TypeVar

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.crashpoints import crashpoint
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Position, Side
from titan.domain.reasons import Denial, ReasonCode
from titan.events import OrderSubmitted, OrderUnknown, OrderUpdated
from titan.execution.market import MarketState
from titan.execution.unjournaled import UnjournaledExits
from titan.risk import MarketContext, RiskEngine
from titan.risk.gate import HEDGED_BASIS_RISK
from titan.state.interrupted import ActionMarker
from titan.state.ledger import Ledger, LedgerOrder, is_titan_order
from titan.store.storage import is_storage_full
from titan.venues.base import (
    AmbiguousSubmitError,
    Venue,
    VenueError,
    VenueOrder,
    exit_lane,
    exit_lane_context,
    outside_exit_lane,
)

if TYPE_CHECKING:
    from titan.execution.spot_flatten import SpotFlatten

# How often an UNKNOWN order is looked up, and after how many "not found" answers it is
# declared never placed. The venue books an order before it answers, so an order it does
# not know after several looks over seconds was not received.
T = TypeVar("T")

UNKNOWN_LOOKUP_DELAYS_S = (0.2, 0.5, 1.0, 2.0, 3.0, 5.0, 10.0, 20.0, 30.0)
UNKNOWN_MISSES_TO_REJECT = 3
FLATTEN_ROUNDS = 4
FLATTEN_BACKOFF_S = (0.0, 0.25, 0.75, 2.0)


@dataclass(frozen=True, slots=True)
class SubmitResult:
    client_order_id: str
    status: OrderStatus | None  # None: denied before anything was written
    denial: Denial | None = None
    error: str = ""
    venue_order: VenueOrder | None = None

    @property
    def accepted(self) -> bool:
        return self.status in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.FILLED)


def _result(cid: str, answer: VenueOrder | VenueError) -> SubmitResult:
    """What a send came to, for the caller: placed, refused (REJECTED) or unknown."""
    if isinstance(answer, AmbiguousSubmitError):
        return SubmitResult(cid, OrderStatus.UNKNOWN, error=str(answer))
    if isinstance(answer, VenueError):
        return SubmitResult(cid, OrderStatus.REJECTED, error=str(answer))
    return SubmitResult(cid, answer.status, venue_order=answer)


class ExecutionEngine:
    def __init__(self, venue: Venue, ledger: Ledger, risk: RiskEngine, market: MarketState,
                 bus: EventBus, clock: Clock) -> None:
        self.venue = venue
        self.ledger = ledger
        self.risk = risk
        self.market = market
        self.bus = bus
        self.clock = clock
        self._inflight: set[asyncio.Task[Any]] = set()
        self.unjournaled = UnjournaledExits(ledger, venue, bus, clock)
        self.actions = ActionMarker(ledger, clock)
        self._accepting_entries = True
        self._seq = itertools.count()
        # The spot leg's emergency half (Sentinel's coins), when Titan trades spot.
        self.spot_leg: SpotFlatten | None = None

    # -- gate context -------------------------------------------------------------------

    def market_context(self, symbol: str, exclude: str = "") -> MarketContext:
        """The gate's view of `symbol`; `exclude`: the client id of the order being checked
        (its own PENDING row is not one of the symbol's other open orders)."""
        pos = self.ledger.positions.get(symbol)
        short = pos.size if pos is not None and pos.side is Side.SELL else Decimal(0)
        open_orders = sum(1 for o in self.ledger.live_orders.values()
                          if o.symbol == symbol and not o.reduce_only
                          and o.client_order_id != exclude)
        account = sum((p.notional for p in self.ledger.positions.values()), Decimal(0))
        open_risk = Decimal(0)
        for p in self.ledger.positions.values():
            # As titan.risk.exposure: a position without a stop risks its whole notional —
            # unless it is a short the spot coins Titan holds hedge (a Sentinel pair,
            # gate check 8h): then its basis share.
            if p.stop_loss is None:
                hedged = p.side is Side.SELL and self._spot_held(p.symbol) >= p.size
                open_risk += p.notional * HEDGED_BASIS_RISK if hedged else p.notional
            else:
                per_unit = (p.entry_price - p.stop_loss) * p.side.sign
                open_risk += p.size * per_unit if per_unit > 0 else Decimal(0)
        return MarketContext(
            venue_connected=self.market.venue_connected,
            market_data_age_ms=self.market.age_ms(symbol),
            reference_price=self.market.price(symbol),
            position_notional=pos.notional if pos is not None else Decimal(0),
            account_notional=account,
            open_orders_on_symbol=open_orders,
            open_risk=open_risk,
            rate_budget_available=self._rate_budget_available(),
            spot_unhedged=max(self._spot_held(symbol) - short, Decimal(0)),
        )

    def _spot_held(self, symbol: str) -> Decimal:
        """The coins of `symbol`'s base Titan holds on spot (0 with no spot leg)."""
        if self.spot_leg is None or not symbol.endswith("USDT"):
            return Decimal(0)
        return self.spot_leg.book.held(symbol[:-4])

    def _rate_budget_available(self) -> bool:
        limiter = getattr(self.venue, "limiter", None)
        if limiter is None:
            return True
        available = getattr(limiter, "available", None)
        return bool(available()) if callable(available) else True

    # -- submitting ---------------------------------------------------------------------

    def stop_accepting_entries(self) -> None:
        """At shutdown: no new entries; exits still go out."""
        self._accepting_entries = False

    async def submit(self, intent: OrderIntent, reason: str = "") -> SubmitResult:
        if not intent.reduce_only:
            if not self._accepting_entries:
                closing = Denial(ReasonCode.SYSTEM_HALTED, "Titan is shutting down")
                return SubmitResult(intent.client_order_id, None, denial=closing)
            denial = self.risk.gate_entry(intent, self.market_context(intent.symbol))
            if denial is not None:
                return SubmitResult(intent.client_order_id, None, denial=denial)
        return await self._track(self._send(intent, reason))

    async def _track(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run an order call so that a graceful shutdown waits for it."""
        task = asyncio.ensure_future(coro)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return await asyncio.shield(task)

    async def _send(self, intent: OrderIntent, reason: str) -> SubmitResult:
        cid = intent.client_order_id
        await self.ledger.record_intent(intent, reason)  # write before acting
        crashpoint("after_intent_commit")
        if not intent.reduce_only:
            # The state may have changed while the intent was being written (a halt, a trip).
            late = self.risk.gate_entry(intent, self.market_context(intent.symbol, cid))
            if late is not None:
                await self.ledger.set_status(cid, OrderStatus.CANCELLED, f"not sent: {late.code}")
                return SubmitResult(cid, OrderStatus.CANCELLED, denial=late)
        answer: VenueOrder | VenueError
        sent_ns = time.perf_counter_ns()  # the venue call's latency (a metric, not a decision)
        try:
            # Exits never wait behind entries for the request budget.
            with exit_lane() if intent.reduce_only else contextlib.nullcontext():
                answer = await self.venue.place_order(intent)
        except VenueError as exc:  # refused, rate-limited, or the answer was lost
            answer = exc
        latency_ms = (time.perf_counter_ns() - sent_ns) / 1e6
        if isinstance(answer, AmbiguousSubmitError):
            await self.ledger.set_status(cid, OrderStatus.UNKNOWN, str(answer))
            crashpoint("after_unknown")
        elif isinstance(answer, VenueError):
            await self.ledger.set_status(cid, OrderStatus.REJECTED, f"{answer.code}: {answer}")
        else:
            crashpoint("after_send")
            await self.ledger.apply_venue_order(answer)
            crashpoint("after_venue_order")
        self._announce(intent, answer, latency_ms)
        return _result(cid, answer)

    def _announce(self, intent: OrderIntent, answer: VenueOrder | VenueError,
                  latency_ms: float | None = None) -> None:
        """The event for a send's outcome, once the ledger has it; a lost answer also starts
        the lookup by client id (never a resend)."""
        cid, sym = intent.client_order_id, intent.symbol
        now = self.clock.now()
        if isinstance(answer, AmbiguousSubmitError):
            self.bus.publish(OrderUnknown(
                ts=now, message=f"{sym} order {cid} outcome unknown ({answer}); asking the venue",
                client_order_id=cid, symbol=sym, strategy=intent.strategy))
            order = self.ledger.live_orders.get(cid)
            if order is not None and order.status is OrderStatus.UNKNOWN:
                self.spawn_resolver(order)
        elif isinstance(answer, VenueError):
            self.bus.publish(OrderUpdated(
                ts=now, message=f"{sym} order {cid} refused by venue: {answer}",
                client_order_id=cid, symbol=sym, status="REJECTED", code=answer.code,
                strategy=intent.strategy))
        else:
            self.bus.publish(OrderSubmitted(
                ts=now,
                message=f"{sym} {intent.side.value} {intent.qty} {intent.order_type.value}"
                        f"{' reduce-only' if intent.reduce_only else ''} sent",
                client_order_id=cid, symbol=sym, side=intent.side.value, qty=str(intent.qty),
                status=answer.status.value, strategy=intent.strategy, latency_ms=latency_ms))

    # -- UNKNOWN resolution -------------------------------------------------------------

    def spawn_resolver(self, order: LedgerOrder) -> None:
        # A lost exit (a flatten's lost create-batch: up to 20 closes) is looked up on the
        # exits' budget: finding out whether exposure was reduced must not wait behind
        # entries and reads (issue 15). The lookups are spaced (0.2 s, 0.5 s, ...), so they
        # leave the exits' budget to the flatten's next round. An entry's lookups keep the
        # normal budget.
        context = exit_lane_context() if order.reduce_only else outside_exit_lane()
        task = asyncio.create_task(self.resolve_unknown(order), name=f"resolve-{order.client_order_id}",
                                   context=context)
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)

    async def resolve_unknown(self, order: LedgerOrder,
                              delays: tuple[float, ...] = UNKNOWN_LOOKUP_DELAYS_S) -> OrderStatus:
        """Ask the venue by client id until it says what happened. Never resubmits."""
        misses = 0
        for delay in delays:
            await asyncio.sleep(delay)
            try:
                vo = await self.venue.order_by_client_id(order.symbol, order.client_order_id)
            except VenueError as exc:
                logger.warning("ORDER_UNKNOWN lookup failed id={} error={}", order.client_order_id, exc)
                continue
            if vo is not None:
                await self.ledger.apply_venue_order(vo)
                logger.info("ORDER_RESOLVED id={} status={}", order.client_order_id, vo.status.value)
                return vo.status
            misses += 1
            if misses >= UNKNOWN_MISSES_TO_REJECT:
                await self.ledger.set_status(order.client_order_id, OrderStatus.REJECTED,
                                             "venue has no such order: it was never placed")
                logger.info("ORDER_RESOLVED id={} status=REJECTED (never placed)",
                            order.client_order_id)
                return OrderStatus.REJECTED
        return OrderStatus.UNKNOWN  # still unknown: the reconciler keeps asking

    # -- cancels ------------------------------------------------------------------------

    async def _cancel(self, order: VenueOrder) -> dict[str, Any]:
        self.ledger.note_cancel_requested(order.client_order_id)
        try:
            await self.venue.cancel_order(order.symbol, order.client_order_id)
            crashpoint("after_cancel")
        except VenueError as exc:
            # Already gone (filled or cancelled meanwhile) is not a failure of the cancel.
            still = await self._lookup(order)
            if still is not None and not still.status.is_terminal:
                return {"symbol": order.symbol, "clientOrderId": order.client_order_id,
                        "success": False, "error": str(exc)}
        if is_titan_order(order.client_order_id):
            await self.ledger.set_status(order.client_order_id, OrderStatus.CANCELLED)
        return {"symbol": order.symbol, "clientOrderId": order.client_order_id, "success": True}

    async def _lookup(self, order: VenueOrder) -> VenueOrder | None:
        try:
            return await self.venue.order_by_client_id(order.symbol, order.client_order_id)
        except VenueError:
            return None

    async def cancel_orders(self, *, titan_only: bool, entries_only: bool = False) -> dict[str, Any]:
        """Cancel open orders on every symbol, concurrently. Returns what was cancelled."""
        with exit_lane():
            return await self._cancel_orders(titan_only=titan_only, entries_only=entries_only)

    async def _cancel_orders(self, *, titan_only: bool, entries_only: bool) -> dict[str, Any]:
        try:
            orders = await self.venue.open_orders()
        except VenueError as exc:
            return {"success": False, "cancelled": [], "failed": [], "error": f"venue unreadable: {exc}"}
        chosen = [o for o in orders
                  if (not titan_only or is_titan_order(o.client_order_id))
                  and (not entries_only or not o.reduce_only)]
        results = await asyncio.gather(*(self._track(self._cancel(o)) for o in chosen))
        cancelled = [r for r in results if r["success"]]
        failed = [r for r in results if not r["success"]]
        return {"success": not failed, "cancelled": cancelled, "failed": failed}

    async def cancel_working_order(self, client_order_id: str, reason: str) -> bool:
        """A strategy's cancel of one of its own working orders (its unfilled limit entry).

        Recorded as Titan's own request first, so the venue's CANCELLED is not alerted as
        the venue's doing. Returns True when the venue cancelled it, False when it had
        already finished (filled or gone); raises `VenueError` when the venue could not
        be asked."""
        order = self.ledger.live_orders.get(client_order_id)
        if order is None or order.status.is_terminal:
            return False
        self.ledger.note_cancel_requested(client_order_id)
        gone = await self._track(self.venue.cancel_order(order.symbol, client_order_id))
        logger.info("ORDER_CANCEL_REQUESTED {} {} ({}){}", order.symbol, client_order_id, reason,
                    "" if gone else " (already gone)")
        return gone

    async def cancel_strategy_entries(self, strategy: str) -> dict[str, Any]:
        """Cancel every working entry (not reduce-only) of one strategy; positions, their
        stops and every other order stay. Used when the operator disables a strategy."""
        mine = [o for o in self.ledger.live_orders.values()
                if o.strategy == strategy and not o.reduce_only and not o.status.is_terminal]
        cancelled: list[str] = []
        failed: list[dict[str, str]] = []
        for o in mine:
            try:
                if await self.cancel_working_order(o.client_order_id, f"{strategy} disabled"):
                    cancelled.append(o.client_order_id)
            except VenueError as exc:
                failed.append({"clientOrderId": o.client_order_id, "error": str(exc)})
        return {"success": not failed, "cancelled": cancelled, "failed": failed}

    async def cancel_entry_orders(self) -> dict[str, Any]:
        return await self.cancel_orders(titan_only=True, entries_only=True)

    async def cancel_all_orders(self) -> dict[str, Any]:
        result = await self.cancel_orders(titan_only=False)
        if self.spot_leg is not None:  # cancel-all covers the spot orders too
            spot = await self.spot_leg.cancel_all()
            if spot["cancelled"] or not spot["success"]:  # shown when spot had a part in it
                result["spot"] = spot
            result["success"] = result["success"] and spot["success"]
        return result

    # -- flatten ------------------------------------------------------------------------

    async def _read_positions(self) -> list[Position]:
        last: Exception | None = None
        for delay in (0.0, 0.2, 0.5, 1.0):
            await asyncio.sleep(delay)
            try:
                return [p for p in await self.venue.positions() if p.size > 0]
            except VenueError as exc:
                last = exc
        raise VenueError(f"cannot read positions: {last}")

    def _close_intent(self, symbol: str, side: Side, size: Decimal, round_no: int) -> OrderIntent:
        """A reduce-only market order against a position of `side`: it can only ever reduce
        what is there (the venue clips it to the position, or refuses it if there is none)."""
        n = next(self._seq)
        return OrderIntent(
            intent_id=f"flatten-{symbol}-{self.clock.time_ms()}-{round_no}-{n}",
            symbol=symbol, side=side.opposite, qty=size,
            order_type=OrderType.MARKET, reduce_only=True, strategy="flatten",
        )

    async def _cancel_everything(self) -> str:
        """Every open order of the account, one request (`settleCoin`). Returns an error or ''."""
        self.ledger.note_cancel_requested(*self.ledger.live_orders)
        try:
            await self.venue.cancel_all()
            return ""
        except VenueError as exc:
            return f"cancel failed: {exc}"

    async def _commit_closes(self, intents: list[OrderIntent]) -> None:
        """Every close intent of a round in one transaction, before any of them is sent.

        Fail closed (issue 15): when the disk is full the closes still go out (they are
        reduce-only: they can only reduce exposure), un-journaled; they are kept in memory
        and booked by `UnjournaledExits` as soon as the database takes writes again."""
        if not intents:
            return
        try:
            await self.ledger.record_intents(intents, "flatten")  # write before acting
        except Exception as exc:
            if not is_storage_full(exc):
                raise
            self.unjournaled.add(intents, str(exc))
            return
        crashpoint("after_intent_commit")

    async def _send_closes(self, intents: list[OrderIntent], *,
                           committed: bool = False) -> list[SubmitResult]:
        """The intents committed in one transaction (unless `committed` already), then sent
        in batches (concurrently). The ledger's record of the answers is written by a tracked
        task (`_book_closes`) while the caller goes on to read the venue."""
        if not intents:
            return []
        if not committed:
            await self._commit_closes(intents)
        answers = await self.venue.place_orders(intents)
        crashpoint("after_send")
        results = [_result(i.client_order_id, a) for i, a in zip(intents, answers, strict=True)]
        task = asyncio.ensure_future(self._book_closes(intents, answers))
        self._inflight.add(task)
        task.add_done_callback(self._inflight.discard)
        return results

    async def _book_closes(self, intents: list[OrderIntent],
                           answers: list[VenueOrder | VenueError]) -> None:
        """What `_send` records after one order, for a batch: placed orders take the venue's
        word, lost answers go UNKNOWN (looked up by client id, never resent), refusals
        REJECTED. Runs in the background: a failure is logged (the reconciler compares the
        ledger with the venue and settles what is left PENDING)."""
        try:
            await self._book_closes_now(intents, answers)
        except Exception:
            logger.exception("FLATTEN could not book the answers of {} close(s)", len(intents))

    async def _book_closes_now(self, intents: list[OrderIntent],
                               answers: list[VenueOrder | VenueError]) -> None:
        changes: list[tuple[str, OrderStatus, str]] = []
        for intent, answer in zip(intents, answers, strict=True):
            if isinstance(answer, AmbiguousSubmitError):
                changes.append((intent.client_order_id, OrderStatus.UNKNOWN, str(answer)))
            elif isinstance(answer, VenueError):
                changes.append((intent.client_order_id, OrderStatus.REJECTED,
                                f"{answer.code}: {answer}"))
        # Only orders still PENDING: the stream may have reported one already (its word wins).
        await self.ledger.set_statuses(changes, only_pending=True)
        await self.ledger.apply_venue_orders([a for a in answers if isinstance(a, VenueOrder)])
        crashpoint("after_venue_order")
        for intent, answer in zip(intents, answers, strict=True):
            self._announce(intent, answer)

    async def flatten_all(self) -> dict[str, Any]:
        """Close every position with reduce-only market orders, all symbols at once, retried
        with backoff, then verified by reading the venue again."""
        with exit_lane():  # every call of the flatten on the exits' own request budget
            await self.actions.started("FLATTEN_ALL")  # a kill mid-way is reported at restart
            before = len(self.unjournaled.pending)
            try:
                if self.spot_leg is None:
                    result = await self._track(self._flatten_all())
                else:  # both legs at once: Titan's coins are sold beside the closes
                    both: list[Any] = await asyncio.gather(
                        self._track(self._flatten_all()), self._track(self.spot_leg.flatten()),
                        return_exceptions=True)
                    if isinstance(both[0], BaseException):
                        raise both[0]
                    result = both[0]
                    spot: dict[str, Any] = both[1] if isinstance(both[1], dict) else {
                        "success": False, "results": [], "cancelled": [],
                        "error": f"{type(both[1]).__name__}: {both[1]}"}
                    if spot["results"] or spot["cancelled"] or not spot["success"]:
                        result["spot"] = spot  # shown when spot had a part in it
                    result["success"] = result["success"] and spot["success"]
            finally:
                await self.actions.finished()
            if len(self.unjournaled.pending) > before:  # the operator is told (issue 15)
                result["unjournaled"] = [i.client_order_id
                                         for i in self.unjournaled.pending[before:]]
                result["warning"] = ("disk full: closes sent without their intents written "
                                     "first; booked as soon as the database takes writes")
            return result

    async def _flatten_all(self) -> dict[str, Any]:
        """Round 0 is one wave: cancel every order (one request), read the venue's positions,
        and close what the shadow holds (one transaction, batch requests), all at once. The
        shadow may be stale, which is safe: a reduce-only close can only reduce (a wrong side
        or a position already gone is refused, a larger qty clipped). The fresh read is what
        makes it complete: any venue position the shadow's closes do not cover (unknown to
        the shadow, other side, larger) is closed as soon as the read is back. Then the venue
        is read again, and every later round closes exactly what that read shows, until a
        read shows nothing open."""
        # The ledger's record of each batch's answers is written in the background (tracked:
        # a graceful shutdown waits for it). The answer does not wait for it: it is about the
        # venue, and it is the venue's verify read that says flat; the intents were durable
        # before anything was sent, and the fills come in by the stream meanwhile, as ever.
        errors: dict[str, str] = {}
        initial: set[str] = set()  # what the venue had open: read, or proven by a placed close

        def note(symbols: list[str], results: list[SubmitResult], cancel_err: str) -> None:
            for symbol, r in zip(symbols, results, strict=True):
                if r.accepted:
                    initial.add(symbol)
                if r.status in (OrderStatus.REJECTED, OrderStatus.UNKNOWN):
                    errors[symbol] = r.error or r.status.value
                elif cancel_err:
                    errors[symbol] = cancel_err

        shadow = [p for p in list(self.ledger.positions.values()) if p.size > 0]
        first = [self._close_intent(p.symbol, p.side, p.size, 0) for p in shadow]
        # The commit first, alone: it is on the way to the closes, the cancel and the read
        # are not (started earlier, their request threads only compete with it for the GIL).
        await self._commit_closes(first)
        cancel = asyncio.ensure_future(self._cancel_everything())
        fresh = asyncio.ensure_future(self._read_positions())
        try:
            results = await self._send_closes(first, committed=True)
        except BaseException:
            cancel.cancel()
            fresh.cancel()
            raise
        covered = {p.symbol: (p.side, p.size) for p, r in zip(shadow, results, strict=True)
                   if r.accepted}
        open_now: list[Position] | None
        try:
            open_now = await fresh
        except VenueError as exc:
            open_now = None
            errors["*"] = str(exc)
        cancel_err = await cancel
        note([p.symbol for p in shadow], results, cancel_err)
        if open_now is None and not shadow:
            return {"success": False, "positions_closed": 0, "results": [],
                    "error": f"venue unreadable, nothing was sent: {errors['*']}"}
        if open_now is not None:
            initial |= {p.symbol for p in open_now}
            missed = [p for p in open_now
                      if covered.get(p.symbol, (None, Decimal(0)))[0] is not p.side
                      or covered[p.symbol][1] < p.size]
            if missed:
                more = await self._send_closes(
                    [self._close_intent(p.symbol, p.side, p.size, 0) for p in missed])
                note([p.symbol for p in missed], more, "")
        crashpoint("mid_flatten")
        open_now = await self._verify_read(errors)
        for round_no in range(1, FLATTEN_ROUNDS):
            if not open_now:
                break
            await asyncio.sleep(FLATTEN_BACKOFF_S[min(round_no, len(FLATTEN_BACKOFF_S) - 1)])
            initial |= {p.symbol for p in open_now}
            cancel_err, results = await asyncio.gather(
                self._cancel_everything(),
                self._send_closes([self._close_intent(p.symbol, p.side, p.size, round_no)
                                   for p in open_now]))
            note([p.symbol for p in open_now], results, cancel_err)
            crashpoint("mid_flatten")
            open_now = await self._verify_read(errors)
        still = {p.symbol: p for p in open_now or []}
        out = []
        for symbol in sorted(initial | set(still)):
            if symbol in still:
                p = still[symbol]
                err = errors.get(symbol, "") or "position still open"
                out.append({"symbol": symbol, "success": False,
                            "error": f"{err} (left: {p.side.value} {p.size})"})
            else:
                out.append({"symbol": symbol, "success": True})
        verified = open_now is not None
        return {
            "success": verified and not still,
            "positions_closed": len(initial - set(still)),
            "results": out,
            **({} if verified else {"error": f"could not verify with the venue: {errors['*']}"}),
        }

    async def _verify_read(self, errors: dict[str, str]) -> list[Position] | None:
        """The venue's open positions after a round; None (and errors['*']) if unreadable."""
        try:
            open_now = await self._read_positions()
        except VenueError as exc:
            errors["*"] = str(exc)
            return None
        errors.pop("*", None)
        return open_now

    async def verify_flat(self) -> dict[str, Any]:
        """What is still open on the venue (the kill switch's check)."""
        with exit_lane():
            positions = await self._read_positions()
            orders = await self.venue.open_orders()
            spot = await self.spot_leg.verify_flat() if self.spot_leg is not None else {}
        return {
            "positions": [{"symbol": p.symbol, "side": p.side.value, "size": str(p.size)}
                          for p in positions],
            "orders": [{"symbol": o.symbol, "clientOrderId": o.client_order_id,
                        "side": o.side.value, "qty": str(o.qty)} for o in orders],
            **spot,
        }

    # -- shutdown -----------------------------------------------------------------------

    async def drain(self, limit_s: float = 10.0) -> None:
        """Wait for order calls in flight (graceful shutdown)."""
        pending = [t for t in self._inflight if not t.done()]
        if pending:
            logger.info("SHUTDOWN waiting for {} order call(s) in flight", len(pending))
            await asyncio.wait(pending, timeout=limit_s)
