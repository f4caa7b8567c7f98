"""The execution side of a replay: the gate, the order latency and the matching engine.

`ReplayBroker` stands where live Titan has the execution engine and Bybit: an entry is
checked by the same gate (`RiskEngine.gate_entry`, on a `MarketContext` made from the
simulated account as the live one is made from the ledger), rounded exactly as the
Bybit adapter rounds it (`bybit_wire.order_params`), and reaches the simulator's
`MatchingEngine` `latency_ms` of replay time later — fees, slippage through its book,
stop-loss/take-profit, liquidation and funding are the engine's. Every execution feeds
the round trips, the equity the phases and the breaker see, and the breaker's losses.

Speed: the engine is moved only on symbols where the account has an order or a position;
elsewhere the last price is kept and the book is re-centred on it just before an order
(the engine's `on_price` does nothing else when nothing is open).
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Coroutine
from decimal import Decimal
from typing import Any

from titan.backtest.clock import ReplayClock, Scheduler
from titan.backtest.trades import RoundTrip, RoundTrips
from titan.domain.orders import OrderIntent, OrderStatus
from titan.execution.engine import SubmitResult
from titan.risk import RiskEngine
from titan.risk.engine import MarketContext
from titan.sim.accounts import Account, Reject, SimExecution
from titan.sim.config import INSTRUMENTS, SimConfig
from titan.sim.matching import MatchingEngine
from titan.venues.base import Instrument, VenueError
from titan.venues.bybit_wire import order_params

ACCOUNT = "backtest"
ZERO = Decimal(0)

_STATUS = {"New": OrderStatus.NEW, "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
           "Filled": OrderStatus.FILLED, "Cancelled": OrderStatus.CANCELLED,
           "Rejected": OrderStatus.REJECTED, "Deactivated": OrderStatus.CANCELLED}

Spawn = Callable[[Coroutine[Any, Any, Any]], Any]


def instrument_of(symbol: str) -> Instrument | None:
    spec = INSTRUMENTS.get(symbol)
    if spec is None:
        return None
    return Instrument(symbol=symbol, tick_size=spec.tick_size, qty_step=spec.qty_step,
                      min_qty=spec.min_qty, max_leverage=spec.max_leverage,
                      min_notional=spec.min_notional)


class ReplayBroker:
    def __init__(self, *, symbols: tuple[str, ...], clock: ReplayClock, scheduler: Scheduler,
                 risk: RiskEngine, sim: SimConfig, latency_ms: int, spawn: Spawn) -> None:
        self.clock, self.scheduler, self.risk = clock, scheduler, risk
        self.latency_ms = latency_ms
        self._spawn = spawn
        # The run's own venue: one account, the run's symbols, nothing generated.
        self.sim = dataclasses.replace(sim, accounts={ACCOUNT: ACCOUNT}, symbols=symbols,
                                       tick_hz=0.0, backfill_minutes=0, recorder_size=0,
                                       state_path=None)
        self.engine = MatchingEngine(self.sim)
        self.account: Account = self.engine.account(ACCOUNT)
        self.engine.add_listener(self._on_engine)
        self.instruments = {s: i for s in symbols if (i := instrument_of(s)) is not None}
        self.last: dict[str, float] = {}
        self.seen_ms: dict[str, int] = {}
        self._taker_buy: dict[str, bool] = {}
        self._synced: dict[str, bool] = {}
        self._watch: set[str] = set()  # symbols with an order or a position on the engine
        self.inflight: dict[str, OrderIntent] = {}  # proposed, not yet at the engine
        self.strategy_of: dict[str, str] = {}  # client order id → strategy
        self.round_trips = RoundTrips()
        self.parked = 0  # tasks waiting for replay time (see Backtest._drain)
        self.orders_sent = 0
        self.orders_rejected: dict[str, int] = {}
        self.closing = False

    # -- prices --------------------------------------------------------------------------

    def on_price(self, symbol: str, price: float, taker_buy: bool) -> None:
        """The execution venue printed (or quoted) `price` now."""
        self.last[symbol] = price
        self.seen_ms[symbol] = self.clock.ms
        if symbol in self._watch:
            self.engine.on_price(symbol, Decimal(repr(price)), self.clock.ms, taker_buy)
            self._synced[symbol] = True
            if not self.account.open_orders(symbol) and not self._size(symbol):
                self._watch.discard(symbol)
        else:
            self._synced[symbol] = False
            self._taker_buy[symbol] = taker_buy

    def _sync(self, symbol: str) -> None:
        if self._synced.get(symbol, True) or symbol not in self.last:
            return
        px = Decimal(repr(self.last[symbol]))
        self.engine.last[symbol] = px
        self.engine.books[symbol].move(px, self._taker_buy.get(symbol, True), self.clock.ms)
        self._synced[symbol] = True

    def age_ms(self, symbol: str) -> float | None:
        seen = self.seen_ms.get(symbol)
        return None if seen is None else float(self.clock.ms - seen)

    # -- the account as the gate sees it --------------------------------------------------

    def _size(self, symbol: str) -> Decimal:
        pos = self.account.positions.get(symbol)
        return pos.size if pos is not None else ZERO

    def has_position(self, symbol: str) -> bool:
        return self._size(symbol) != 0

    def has_working_entry(self, symbol: str) -> bool:
        return (any(i.symbol == symbol and not i.reduce_only for i in self.inflight.values())
                or any(not o.reduce_only for o in self.account.open_orders(symbol)))

    def order_status(self, cid: str) -> OrderStatus | None:
        if cid in self.inflight:
            return OrderStatus.PENDING
        order = self.account.by_link.get(cid)
        if order is None:
            return None
        status = _STATUS.get(order.status, OrderStatus.CANCELLED)
        return None if status.is_terminal else status

    def market_context(self, symbol: str) -> MarketContext:
        account = ZERO
        open_risk = ZERO
        position = ZERO
        for sym, pos in self.account.positions.items():
            if pos.size == 0:
                continue
            notional = abs(pos.size) * pos.avg_price
            account += notional
            if sym == symbol:
                position = notional
            if pos.stop_loss is None:
                open_risk += notional
            else:
                per_unit = (pos.avg_price - pos.stop_loss) * (1 if pos.size > 0 else -1)
                open_risk += abs(pos.size) * per_unit if per_unit > 0 else ZERO
        orders = sum(1 for o in self.account.open_orders(symbol) if not o.reduce_only)
        orders += sum(1 for i in self.inflight.values()
                      if i.symbol == symbol and not i.reduce_only)
        last = self.last.get(symbol)
        return MarketContext(
            venue_connected=True, market_data_age_ms=self.age_ms(symbol),
            reference_price=Decimal(repr(last)) if last is not None else None,
            position_notional=position, account_notional=account,
            open_orders_on_symbol=orders, open_risk=open_risk)

    def equity(self) -> Decimal:
        eq = self.account.wallet_balance
        for sym, pos in self.account.positions.items():
            if pos.size and sym in self.last:
                eq += pos.size * (Decimal(repr(self.last[sym])) - pos.avg_price)
        return eq

    def unrealised(self) -> Decimal:
        return self.equity() - self.account.wallet_balance

    # -- orders ---------------------------------------------------------------------------

    async def _after(self, delay_ms: int) -> None:
        """Wait `delay_ms` of replay time (the engine's scheduler wakes us)."""
        if self.closing:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()

        def wake() -> None:
            if not fut.done():
                fut.set_result(None)

        self.scheduler.at(self.clock.ms + delay_ms, wake)
        self.parked += 1
        try:
            await fut
        finally:
            self.parked -= 1

    async def submit(self, intent: OrderIntent, reason: str) -> SubmitResult:
        cid = intent.client_order_id
        if not intent.reduce_only:
            denial = self.risk.gate_entry(intent, self.market_context(intent.symbol))
            if denial is not None:
                return SubmitResult(cid, None, denial=denial)
        self.inflight[cid] = intent
        self.strategy_of[cid] = intent.strategy
        try:
            await self._after(self.latency_ms)
        finally:
            self.inflight.pop(cid, None)
        return self._place(intent)

    def _place(self, intent: OrderIntent) -> SubmitResult:
        cid, symbol = intent.client_order_id, intent.symbol
        inst = self.instruments.get(symbol)
        if inst is None:
            return self._rejected(cid, "NO_INSTRUMENT", f"no instrument {symbol}")
        try:
            p = order_params(intent, inst, "linear")
        except VenueError as exc:
            return self._rejected(cid, str(exc.code or "PARAMS"), str(exc))
        self._sync(symbol)
        try:
            if intent.leverage > 0 and not intent.reduce_only:
                pos = self.engine.position(self.account, symbol)
                if pos.leverage != intent.leverage:
                    self.engine.set_leverage(ACCOUNT, symbol, intent.leverage)
            order = self.engine.place(
                ACCOUNT, symbol=symbol, side=p["side"], order_type=p["orderType"],
                qty=Decimal(p["qty"]), price=Decimal(p["price"]) if "price" in p else None,
                reduce_only=intent.reduce_only, link_id=cid,
                take_profit=Decimal(p["takeProfit"]) if "takeProfit" in p else None,
                stop_loss=Decimal(p["stopLoss"]) if "stopLoss" in p else None,
                now_ms=self.clock.ms)
        except Reject as exc:
            return self._rejected(cid, str(exc.code), f"{exc.code}: {exc.msg}")
        self.orders_sent += 1
        self._watch.add(symbol)
        return SubmitResult(cid, _STATUS.get(order.status, OrderStatus.CANCELLED))

    def _rejected(self, cid: str, code: str, why: str) -> SubmitResult:
        self.orders_rejected[code] = self.orders_rejected.get(code, 0) + 1
        return SubmitResult(cid, OrderStatus.REJECTED, error=why)

    async def cancel(self, cid: str, reason: str) -> bool:
        order = self.account.by_link.get(cid)
        if order is None:
            return False
        await self._after(self.latency_ms)
        try:
            self.engine.cancel(ACCOUNT, symbol=order.symbol, link_id=cid, now_ms=self.clock.ms)
        except Reject:
            return False  # filled (or gone) meanwhile
        return True

    def funding(self, symbol: str, rate: Decimal) -> None:
        if self._size(symbol):
            self._sync(symbol)
            self.engine.book_funding(ACCOUNT, symbol, rate, self.clock.ms)

    def close_all(self) -> None:
        """End of the data: cancel what rests and close what is open at the last price."""
        for symbol in sorted(self.account.positions):
            self._sync(symbol)
            self.engine.cancel_all(ACCOUNT, symbol=symbol, now_ms=self.clock.ms)
            if self._size(symbol):
                self.engine.close_position(ACCOUNT, symbol, now_ms=self.clock.ms,
                                           stop_order_type="EndOfData")

    # -- executions -----------------------------------------------------------------------

    def _on_engine(self, key: str, kind: str, obj: object) -> None:
        if kind != "execution" or key != ACCOUNT or not isinstance(obj, SimExecution):
            return
        rt = self.round_trips.open.get(obj.symbol)
        closed = self.round_trips.on_execution(obj, self._size(obj.symbol))
        if rt is None and obj.symbol in self.round_trips.open:
            opened = self.round_trips.open[obj.symbol]
            opened.strategy = self.strategy_of.get(opened.client_order_id, "unknown")
        self._spawn(self.risk.on_equity(self.equity(), self.unrealised()))
        if closed is not None:
            self._spawn(self._closed(closed))

    async def _closed(self, rt: RoundTrip) -> None:
        await self.risk.on_trade_closed(rt.net)
