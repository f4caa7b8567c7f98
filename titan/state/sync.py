"""The venue's private stream into the ledger, in arrival order, off the trading path.

Titan's own executions (its orders, and the exchange-side stop/target of its positions)
are recorded at once. Executions Titan did not cause (a trade by hand on the venue, a
liquidation) are left to the reconciler, which classifies and alerts them: the stream only
asks it to run. Wallet updates become equity for the risk engine.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from contextlib import suppress
from decimal import Decimal

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.crashpoints import crashpoint
from titan.domain.orders import EXCHANGE_EXIT_ORIGINS, Fill, OrderStatus
from titan.domain.reasons import Severity
from titan.events import OrderCancelledByVenue, OrderFilled, OrderUpdated, TradeClosed
from titan.risk import RiskEngine
from titan.state.ledger import Ledger, is_titan_order
from titan.venues.base import PrivateUpdate, VenueOrder, Wallet

ReconcileRequest = Callable[[str], None]
WalletSink = Callable[[Wallet], Awaitable[None]]
# A position size the venue reports that differs from the shadow may just be ahead of
# its execution message: give the executions this long before reconciling.
POSITION_SETTLE_S = 1.5


class StreamSync:
    def __init__(self, ledger: Ledger, risk: RiskEngine, bus: EventBus, clock: Clock,
                 request_reconcile: ReconcileRequest, on_wallet: WalletSink) -> None:
        self.ledger = ledger
        self.risk = risk
        self.bus = bus
        self.clock = clock
        self.request_reconcile = request_reconcile
        self.on_wallet = on_wallet
        self._queue: asyncio.Queue[PrivateUpdate] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._busy = False

    def on_private(self, update: PrivateUpdate) -> None:
        """The adapter's callback (on the loop): queue, never block."""
        self._queue.put_nowait(update)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="stream-sync")

    async def stop(self) -> None:
        await self.idle()
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task

    async def idle(self) -> None:
        """Wait until every queued update has been applied."""
        await self._queue.join()

    async def _run(self) -> None:
        while True:
            update = await self._queue.get()
            self._busy = True
            try:
                await self._apply(update)
            except Exception:
                logger.opt(exception=True).error("STREAM_SYNC_FAILED; asking for reconciliation")
                self.request_reconcile("stream update failed")
            finally:
                self._busy = False
                self._queue.task_done()

    async def _apply(self, u: PrivateUpdate) -> None:
        for vo in u.orders:
            await self._order(vo)
        for fill in u.fills:
            await self._fill(fill)
        for pos in u.positions:
            shadow = self.ledger.positions.get(pos.symbol)
            if shadow is not None:
                self.ledger.update_marks(pos.symbol, pos.unrealised_pnl, shadow.mark_price,
                                         pos.stop_loss, pos.take_profit)
            if shadow is None or shadow.size != pos.size or shadow.side is not pos.side:
                self._later(f"{pos.symbol} position differs from the shadow")
        for symbol in u.closed_symbols:
            if symbol in self.ledger.positions:
                self._later(f"{symbol} closed on the venue")
        if u.wallet is not None:
            await self.on_wallet(u.wallet)

    def _later(self, reason: str) -> None:
        loop = asyncio.get_running_loop()
        loop.call_later(POSITION_SETTLE_S, self._recheck, reason)

    def _recheck(self, reason: str) -> None:
        self.request_reconcile(reason)

    async def _order(self, vo: VenueOrder) -> None:
        if not is_titan_order(vo.client_order_id):
            return
        before = self.ledger.live_orders.get(vo.client_order_id)
        changed = await self.ledger.apply_venue_order(vo)
        if not changed:
            return
        if vo.status is OrderStatus.CANCELLED and not self.ledger.cancel_was_requested(vo.client_order_id) \
                and before is not None and vo.filled_qty < vo.qty:
            self.bus.publish(OrderCancelledByVenue(
                ts=self.clock.now(), severity=Severity.HIGH,
                message=f"{vo.symbol} order {vo.client_order_id} was cancelled by the venue"
                        f"{': ' + vo.reject_reason if vo.reject_reason else ''}",
                client_order_id=vo.client_order_id, symbol=vo.symbol))
        self.ledger.cancel_settled(vo.client_order_id)
        self.bus.publish(OrderUpdated(
            ts=self.clock.now(), message=f"{vo.symbol} order {vo.client_order_id} {vo.status.value}",
            client_order_id=vo.client_order_id, symbol=vo.symbol, status=vo.status.value,
            filled_qty=str(vo.filled_qty), strategy=self.ledger.strategy_of(vo.client_order_id)))

    async def _fill(self, fill: Fill) -> None:
        own = is_titan_order(fill.client_order_id) or fill.origin in EXCHANGE_EXIT_ORIGINS
        if not own:
            self.request_reconcile(f"{fill.symbol} execution not made by Titan")
            return
        reason = {"StopLoss": "STOP_LOSS", "TakeProfit": "TAKE_PROFIT",
                  "TrailingStop": "TRAILING_STOP"}.get(fill.origin, "CLOSED")
        crashpoint("before_fill_commit")
        result = await self.ledger.apply_fill(fill, close_reason=reason)
        crashpoint("after_fill_commit")
        if not result.recorded:
            return
        # A stop or target filled by the venue carries no client id of Titan's: the
        # position's round trip says whose it was.
        strategy = self.ledger.strategy_of(fill.client_order_id) or (
            result.closed.strategy if result.closed is not None else "")
        self.bus.publish(OrderFilled(
            ts=self.clock.now(),
            message=f"{fill.symbol} {fill.side.value} {fill.qty} @ {fill.price}"
                    f"{' (' + fill.origin + ')' if fill.origin else ''}",
            symbol=fill.symbol, side=fill.side.value, qty=str(fill.qty), price=str(fill.price),
            fee=str(fill.fee), exec_id=fill.exec_id, client_order_id=fill.client_order_id,
            origin=fill.origin, strategy=strategy))
        trade = result.closed
        if trade is not None:
            await self.risk.on_trade_closed(trade.net_pnl)
            self.bus.publish(TradeClosed(
                ts=self.clock.now(),
                message=f"{trade.symbol} {trade.side.value} {trade.qty} closed: net "
                        f"{trade.net_pnl.quantize(Decimal('0.0001'))} USDT ({reason})",
                symbol=trade.symbol, net_pnl=str(trade.net_pnl), reason=reason,
                strategy=trade.strategy))
