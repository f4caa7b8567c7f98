"""Reconciliation of the spot leg (SPEC §7 for the spot side of §16), one step of every
`Reconciler` run when Titan trades spot (`Reconciler.spot`).

1. The spot executions since the newest recorded (10 minutes of look-back; duplicates
   are ignored by id) are recorded: Titan's own that the stream lost move Titan's
   holdings; trades made outside Titan are recorded as theirs, never counted as Titan's.
2. The wallet's coins are read with the executions before and after (the same list
   twice: nothing traded in between, so the balances are what those executions made).
3. Per coin, the wallet minus Titan's holding is what belongs to someone else (the
   operator's own coins). Its first reading is the baseline (noted, not an alarm: coins
   held before Titan traded spot). A change of it afterwards — a hand-made spot buy or
   sell, a deposit, a withdrawal — is a mismatch `SPOT_OUTSIDE_CHANGE`, alerted like a
   hand-made perp position (SHADOW_MISMATCH), and becomes the new baseline. A wallet
   holding less than Titan bought (Titan's coins sold by hand) is `SPOT_HOLDING_SHORT`:
   Titan's holding is brought down to the wallet, so flatten never tries to sell coins
   that are gone.
4. Titan's spot orders the venue no longer lists get their final state from the venue
   (asked by client id): found → its word; not found → never placed (PENDING/UNKNOWN)
   or gone.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from titan.domain.orders import OrderStatus
from titan.state.spot_book import SpotBook
from titan.venues.base import SpotFill, SpotVenue

if TYPE_CHECKING:
    from titan.state.ledger import Ledger
    from titan.state.reconciler import Report

LOOKBACK = timedelta(minutes=10)
STATE_KEY = "spot_outside"
ATTEMPTS = 5
DUST = Decimal("0.00000001")  # the finest any Bybit coin balance goes


class SpotReconcile:
    def __init__(self, spot: SpotVenue, book: SpotBook, ledger: Ledger, *,
                 epoch_ms: int) -> None:
        self.spot, self.book, self.ledger = spot, book, ledger
        self.epoch_ms = epoch_ms
        self._inherited_pending: set[str] | None = None

    async def _executions(self) -> list[SpotFill]:
        last = await self.book.last_fill_ms()
        since = self.epoch_ms if last is None else max(
            self.epoch_ms, last - int(LOOKBACK.total_seconds() * 1000))
        fills = await self.spot.executions(since_ms=since)
        return [f for f in fills if int(f.ts.timestamp() * 1000) >= self.epoch_ms]

    async def _snapshot(self) -> tuple[list[SpotFill], dict[str, Decimal], list[Any], bool]:
        for _ in range(ATTEMPTS):
            before = {f.exec_id for f in await self._executions()}
            coins = {c: q for c, q in (await self.spot.coins()).items() if c != "USDT"}
            orders = await self.spot.open_orders()
            fills = await self._executions()
            if {f.exec_id for f in fills} == before:
                return fills, coins, orders, True
        return fills, coins, orders, False

    async def run(self, report: Report) -> None:
        """Add the spot leg's mismatches and actions to `report`. A VenueError (the venue
        unreadable) propagates: the caller fails closed as for the perpetuals."""
        from titan.state.reconciler import Mismatch

        async with self.book.exclusive():
            fills, coins, orders, stable = await self._snapshot()
            for f in fills:
                if await self.book.has_fill(f.exec_id):
                    continue
                res = await self.book.apply_fill(f)
                if res.recorded:
                    report.actions.append({
                        "action": "recorded_missed_spot_fill" if res.titan
                        else "recorded_outside_spot_fill", "symbol": f.symbol,
                        "execId": f.exec_id, "side": f.side.value, "qty": str(f.qty)})
            if not stable:
                report.actions.append({"action": "spot_sync_deferred",
                                       "detail": "the venue kept trading spot during every read"})
            else:
                saved = await self.ledger.get_state(STATE_KEY)
                first = not isinstance(saved, dict)
                baseline = {} if first else {c: Decimal(str(q)) for c, q in saved.items()}
                now: dict[str, Decimal] = {}
                for coin in sorted(set(coins) | set(self.book.holdings) | set(baseline)):
                    wallet, held = coins.get(coin, Decimal(0)), self.book.held(coin)
                    if wallet + DUST < held:
                        report.mismatches.append(Mismatch(
                            "SPOT_HOLDING_SHORT", coin + "USDT", {"held": str(held)},
                            {"wallet": str(wallet)},
                            f"the wallet holds {wallet} {coin}, less than the {held} Titan "
                            "bought: sold outside Titan"))
                        await self.book.set_holding(coin, wallet)
                        report.actions.append({"action": "spot_holding_reduced", "coin": coin,
                                               "qty": str(wallet)})
                        held = self.book.held(coin)
                    outside = wallet - held
                    if outside > DUST:
                        now[coin] = outside
                    was = baseline.get(coin, Decimal(0))
                    if not first and abs(outside - was) > DUST:
                        report.mismatches.append(Mismatch(
                            "SPOT_OUTSIDE_CHANGE", coin + "USDT", {"outside": str(was)},
                            {"outside": str(outside), "wallet": str(wallet), "held": str(held)},
                            f"{coin} held outside Titan went from {was} to {outside} (a spot "
                            "trade or transfer made by hand?)"))
                if first:
                    report.actions.append({"action": "spot_baseline",
                                           "coins": {c: str(q) for c, q in now.items()}})
                await self.ledger.put_state(STATE_KEY, {c: str(q) for c, q in now.items()})
            await self._sync_orders(orders, report)

    async def _sync_orders(self, orders: list[Any], report: Report) -> None:
        listed = {o.client_order_id for o in orders}
        for vo in orders:
            if vo.client_order_id in self.book.live_orders:
                await self.book.apply_venue_order(vo)
            elif not (await self.book.strategy_of(vo.client_order_id)):
                report.unknown_orders.append({
                    "symbol": vo.symbol, "category": "spot", "venueOrderId": vo.venue_order_id,
                    "side": vo.side.value, "qty": str(vo.qty), "price": str(vo.price or ""),
                    "detail": "open spot order without a Titan client id (placed by hand?)"})
        if self._inherited_pending is None:
            self._inherited_pending = {cid for cid, o in self.book.live_orders.items()
                                       if o.status is OrderStatus.PENDING}
        for cid, order in list(self.book.live_orders.items()):
            if cid in listed or (order.status is OrderStatus.PENDING
                                 and cid not in self._inherited_pending):
                continue  # a send of this life in flight: its answer settles it
            found = await self.spot.order_by_client_id(order.symbol, cid)
            if cid not in self.book.live_orders:
                continue
            if found is not None:
                await self.book.apply_venue_order(found)
                report.actions.append({"action": "spot_order_settled", "clientOrderId": cid,
                                       "status": found.status.value})
            elif order.status in (OrderStatus.PENDING, OrderStatus.UNKNOWN):
                await self.book.set_status(cid, OrderStatus.REJECTED,
                                           "venue has no such order: it was never placed")
                report.actions.append({"action": "spot_order_never_placed",
                                       "clientOrderId": cid})
            else:
                await self.book.set_status(cid, OrderStatus.CANCELLED, "gone from the venue")
                report.actions.append({"action": "spot_order_gone", "clientOrderId": cid})
