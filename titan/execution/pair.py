"""A Sentinel pair entered as one position with two legs (SPEC §16): both or neither.

The spot leg first (a market buy in the coin), then — sized to what spot actually filled,
on the perpetual's lot step — the perp short through the execution engine and its gate.
If the second leg is refused (the gate, the venue) or fills nothing, the first is
reversed at once (Titan's coins of this entry sold) and `SENTINEL_LEG_FAILED` says so; a
perp that fills only partly has the spot excess sold, so the pair stays neutral. A leg
whose outcome is unknown (a lost answer still unresolved) is not reversed blindly — the
other leg may exist — and the event says UNRESOLVED: reconciliation and the delta
monitor decide. Nothing here ever leaves one naked leg without an event saying so.

Each leg's outcome is read from the venue (the order by client id, its executions
recorded once), not assumed from the create answer.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.domain.reasons import Severity
from titan.events import SentinelLegFailed, SentinelPairEntered, SentinelPairUnwound
from titan.execution.engine import ExecutionEngine
from titan.execution.spot import SpotExecutor
from titan.state.spot_book import SpotBook
from titan.venues.base import SpotVenue, VenueError
from titan.venues.instruments import round_qty, round_to_step

SETTLE_DELAYS_S = (0.02, 0.05, 0.1, 0.2, 0.4, 0.8, 1.6, 3.2)
STRATEGY = "sentinel"
SPOT_FEE = Decimal("0.001")  # Bybit spot taker, VIP 0


class PairOutcome(StrEnum):
    ENTERED = "ENTERED"
    SPOT_FAILED = "SPOT_FAILED"  # nothing bought: nothing to reverse
    PERP_FAILED = "PERP_FAILED"  # the short refused or unfilled: spot reversed
    UNRESOLVED = "UNRESOLVED"  # a leg's outcome unknown: not reversed blindly


@dataclass(frozen=True, slots=True)
class PairResult:
    outcome: PairOutcome
    pair_id: str
    spot_qty: Decimal = Decimal(0)  # coins held for the pair (net of the buy fee)
    perp_qty: Decimal = Decimal(0)
    why: str = ""
    reversal: str = "NOT_NEEDED"


class PairEntry:
    def __init__(self, *, spot: SpotVenue, spot_exec: SpotExecutor, book: SpotBook,
                 execution: ExecutionEngine, bus: EventBus, clock: Clock,
                 settle_delays: tuple[float, ...] = SETTLE_DELAYS_S,
                 spot_fee: Decimal = SPOT_FEE) -> None:
        self.spot, self.spot_exec, self.book = spot, spot_exec, book
        self.spot_fee = spot_fee
        self.execution, self.bus, self.clock = execution, bus, clock
        self.settle_delays = settle_delays

    async def enter(self, pair_id: str, symbol: str, qty: Decimal, reason: str = "", *,
                    perp_stop: Decimal | None = None) -> PairResult:
        """Long `qty` coins of spot, short the same of the perpetual. `perp_stop`: the
        perp short's exchange-side stop, when the gate asks every entry for one."""
        try:
            spot_inst = (await self.spot.load(symbol)).inst
        except VenueError as exc:  # a coin with no spot market: no pair
            return self._failed(pair_id, symbol, "spot", str(exc), "NOT_NEEDED",
                                outcome=PairOutcome.SPOT_FAILED)
        # Bybit takes a spot buy's fee in the coin: buy enough that the coins held cover
        # the short (one step more against the fee's own rounding).
        gross = round_to_step(qty / (1 - self.spot_fee), spot_inst.qty_step, ROUND_CEILING)
        buy = OrderIntent(intent_id=f"{pair_id}:spot", symbol=symbol, side=Side.BUY,
                          qty=gross + spot_inst.qty_step, order_type=OrderType.MARKET,
                          strategy=STRATEGY)
        res = await self.spot_exec.submit(buy, f"pair entry: {reason}")
        if res.status is OrderStatus.UNKNOWN:
            return self._failed(pair_id, symbol, "spot", res.error or "outcome unknown",
                                "UNRESOLVED", outcome=PairOutcome.UNRESOLVED)
        if not res.accepted:
            why = res.denial.code.value if res.denial else res.error or str(res.status)
            return self._failed(pair_id, symbol, "spot", why, "NOT_NEEDED",
                                outcome=PairOutcome.SPOT_FAILED)
        filled = await self._spot_settled(symbol, buy.client_order_id)
        held = await self._held_by(symbol, buy.client_order_id)
        if filled is None:
            return self._failed(pair_id, symbol, "spot", "its fill could not be read",
                                "UNRESOLVED", outcome=PairOutcome.UNRESOLVED)
        if held <= 0:
            return self._failed(pair_id, symbol, "spot", "nothing filled", "NOT_NEEDED",
                                outcome=PairOutcome.SPOT_FAILED)
        perp_inst = self.execution.venue.instrument(symbol)
        short = round_qty(held, perp_inst) if perp_inst is not None else Decimal(0)
        if perp_inst is None or short <= 0 or short < perp_inst.min_qty:
            return await self._reverse(pair_id, symbol, held, "perp",
                                       f"no perpetual lot for {held} coins")
        sell = OrderIntent(intent_id=f"{pair_id}:perp", symbol=symbol, side=Side.SELL,
                           qty=short, order_type=OrderType.MARKET, leverage=Decimal(1),
                           stop_loss=perp_stop, hedged=perp_stop is None, strategy=STRATEGY)
        perp = await self.execution.submit(sell, f"pair entry: {reason}")
        status = perp.status
        if status is OrderStatus.UNKNOWN:
            status = await self._perp_resolved(sell.client_order_id)
        if status is OrderStatus.UNKNOWN:
            return self._failed(pair_id, symbol, "perp", perp.error or "outcome unknown",
                                "UNRESOLVED", outcome=PairOutcome.UNRESOLVED)
        if not (perp.accepted or status in (OrderStatus.FILLED, OrderStatus.PARTIALLY_FILLED)):
            why = perp.denial.code.value if perp.denial else perp.error or str(status)
            return await self._reverse(pair_id, symbol, held, "perp", why)
        shorted = await self._perp_filled(symbol, sell.client_order_id)
        if shorted is None:
            return self._failed(pair_id, symbol, "perp", "its fill could not be read",
                                "UNRESOLVED", outcome=PairOutcome.UNRESOLVED)
        if shorted <= 0:
            return await self._reverse(pair_id, symbol, held, "perp", "nothing filled")
        excess = held - shorted
        if round_qty(excess, spot_inst) >= spot_inst.min_qty:
            sold = await self._sell(pair_id, symbol, excess, "trim")  # a partial short
            held -= sold
        self.bus.publish(SentinelPairEntered(
            ts=self.clock.now(), message=f"{symbol} pair {pair_id}: long {held} spot, short "
                                         f"{shorted} perp ({reason})",
            pair_id=pair_id, symbol=symbol, spot_qty=str(held), perp_qty=str(shorted),
            reason=reason))
        return PairResult(PairOutcome.ENTERED, pair_id, held, shorted)

    async def unwind(self, pair_id: str, symbol: str, perp_qty: Decimal, why: str, *,
                     funding: Decimal = Decimal(0)) -> tuple[Decimal, Decimal, bool]:
        """Close both legs: the perp short bought back first (reduce-only, an exit the gate
        always allows: the pair's hedge goes before its coins), then Titan's coins of the
        symbol sold (capped by the ledger, on the spot step). (perp bought, spot sold,
        complete); `complete` False when a leg could not be closed in full — the event
        says so, and the rest is the delta monitor's and reconciliation's."""
        bought = Decimal(0)
        buy = OrderIntent(intent_id=f"{pair_id}:close", symbol=symbol, side=Side.BUY,
                          qty=perp_qty, order_type=OrderType.MARKET, reduce_only=True,
                          strategy=STRATEGY)
        res = await self.execution.submit(buy, f"pair unwind: {why}")
        if res.accepted or res.status is OrderStatus.UNKNOWN:
            bought = await self._perp_filled(symbol, buy.client_order_id) or Decimal(0)
        perp_left = max(perp_qty - bought, Decimal(0))
        sold = Decimal(0)
        if bought > 0:  # never sell the coins under a short still open
            sold = await self._sell(pair_id, symbol, self.book.held(symbol[:-4]), "unwind")
        inst = self.spot.instrument(symbol)
        step = max(inst.inst.qty_step, inst.inst.min_qty) if inst is not None else Decimal(0)
        left = self.book.held(symbol[:-4])
        complete = perp_left == 0 and left < step
        rest = "" if complete else f"; NOT FLAT: {perp_left} perp short, {left} coins left"
        self.bus.publish(SentinelPairUnwound(
            ts=self.clock.now(), severity=None if complete else Severity.CRITICAL,
            message=f"{symbol} pair {pair_id} unwound ({why}): bought {bought} perp, sold "
                    f"{sold} spot, funding {funding}{rest}",
            pair_id=pair_id, symbol=symbol, why=why, spot_qty=str(sold), perp_qty=str(bought),
            funding=str(funding), complete=complete))
        return bought, sold, complete

    # -- the legs' outcomes, read from the venue -------------------------------------------

    async def _spot_settled(self, symbol: str, cid: str) -> Decimal | None:
        for delay in self.settle_delays:
            try:
                vo = await self.spot.order_by_client_id(symbol, cid)
            except VenueError:
                vo = None
            if vo is not None and vo.status.is_terminal:
                await self.book.apply_venue_order(vo)
                return vo.filled_qty
            await asyncio.sleep(delay)
        return None

    async def _held_by(self, symbol: str, cid: str) -> Decimal:
        """The coins one order of Titan's added (its executions, recorded once)."""
        try:
            fills = [f for f in await self.spot.executions(symbol) if f.client_order_id == cid]
        except VenueError:
            return Decimal(0)
        for f in fills:
            await self.book.apply_fill(f)
        return sum((f.coin_change for f in fills), Decimal(0))

    async def _perp_resolved(self, cid: str) -> OrderStatus:
        for delay in self.settle_delays:
            order = self.execution.ledger.live_orders.get(cid)
            if order is None or order.status is not OrderStatus.UNKNOWN:
                row = await self.execution.ledger.known_order(cid)
                return OrderStatus(row["status"]) if row else OrderStatus.REJECTED
            await asyncio.sleep(delay)
        return OrderStatus.UNKNOWN

    async def _perp_filled(self, symbol: str, cid: str) -> Decimal | None:
        for delay in self.settle_delays:
            try:
                vo = await self.execution.venue.order_by_client_id(symbol, cid)
            except VenueError:
                vo = None
            if vo is not None and vo.status.is_terminal:
                await self.execution.ledger.apply_venue_order(vo)
                return vo.filled_qty
            await asyncio.sleep(delay)
        return None

    # -- reversal ----------------------------------------------------------------------------

    async def _sell(self, pair_id: str, symbol: str, qty: Decimal, tag: str) -> Decimal:
        """Sell `qty` coins of this pair (down to the spot step); what was sold."""
        inst = await self.spot.load(symbol)
        qty = round_to_step(min(qty, self.book.held(symbol[:-4])), inst.inst.qty_step)
        if qty <= 0 or qty < inst.inst.min_qty:
            return Decimal(0)
        intent = OrderIntent(intent_id=f"{pair_id}:{tag}", symbol=symbol, side=Side.SELL,
                             qty=qty, order_type=OrderType.MARKET, strategy=STRATEGY)
        res = await self.spot_exec.submit(intent, f"pair {tag}")
        if not res.accepted:
            return Decimal(0)
        sold = await self._spot_settled(symbol, intent.client_order_id)
        await self._held_by(symbol, intent.client_order_id)
        return sold or Decimal(0)

    async def _reverse(self, pair_id: str, symbol: str, held: Decimal, leg: str,
                       why: str) -> PairResult:
        sold = await self._sell(pair_id, symbol, held, "reverse")
        inst = self.spot.instrument(symbol)
        step = inst.inst.qty_step if inst is not None else Decimal(0)
        done = sold > 0 and held - sold < max(step, inst.inst.min_qty if inst else step)
        return self._failed(pair_id, symbol, leg, why, "REVERSED" if done else "FAILED",
                            outcome=PairOutcome.PERP_FAILED, reversed_qty=sold)

    def _failed(self, pair_id: str, symbol: str, leg: str, why: str, reversal: str, *,
                outcome: PairOutcome, reversed_qty: Decimal | None = None) -> PairResult:
        what = {"NOT_NEEDED": "nothing to reverse", "REVERSED": f"spot reversed ({reversed_qty})",
                "FAILED": "THE SPOT LEG COULD NOT BE REVERSED: a naked leg",
                "UNRESOLVED": "its outcome is unknown: reconciliation decides"}[reversal]
        self.bus.publish(SentinelLegFailed(
            ts=self.clock.now(), severity=Severity.CRITICAL if reversal == "FAILED" else None,
            message=f"{symbol} pair {pair_id}: the {leg} leg failed "
                                         f"({why}); {what}",
            pair_id=pair_id, symbol=symbol, leg=leg, why=why, reversal=reversal,
            reversed_qty=None if reversed_qty is None else str(reversed_qty)))
        return PairResult(outcome, pair_id, why=why, reversal=reversal)
