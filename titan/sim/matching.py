"""Accounts, orders, positions and the USDT wallet of the simulated venue.

Pure state machine: no I/O, no clock of its own (callers pass `now_ms`), `Decimal`
throughout so PnL and fees come out to the cent exactly like a ledger would. Both the
Bybit and the Binance fronts drive this one engine, so an account is the same whichever
protocol touches it.

Market and marketable limit orders walk the symbol's L2 book (`orderbook.Book`): one
execution per price level taken, the taken liquidity leaves the book until the next
trade. `slippage_bps` adds an extra adverse shift on top of the level price (default 0).
Simplifications (documented so tests do not rely on more): resting limits fill in full
at their limit price when a trade crosses them; one-way mode only; the mark price is
the last price.
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal

from titan.sim.accounts import (
    FEE_Q,
    MMR,
    OPEN_STATUSES,
    ZERO,
    Account,
    EventKind,
    Reject,
    Side,
    SimExecution,
    SimOrder,
    SimPosition,
)
from titan.sim.config import INSTRUMENTS, InstrumentSpec, SimConfig
from titan.sim.orderbook import Books, Level

__all__ = ["FEE_Q", "MMR", "OPEN_STATUSES", "ZERO", "Account", "MatchingEngine", "Reject",
           "SimExecution", "SimOrder", "SimPosition", "quantize_to"]

Listener = Callable[[str, EventKind, object], None]
# `fn(account_key, kind, objects)`: a venue front that pushes several objects in one message.
BatchListener = Callable[[str, EventKind, list[object]], None]
# Bybit's private-stream order of topics for one execution: order, execution, position, wallet.
_KIND_ORDER: tuple[EventKind, ...] = ("order", "execution", "position", "wallet")


def quantize_to(value: Decimal, step: Decimal, rounding: str) -> Decimal:
    return (value / step).to_integral_value(rounding=rounding) * step


class MatchingEngine:
    """All accounts of the simulated venue and the rules that move them."""

    def __init__(self, config: SimConfig) -> None:
        self.config = config
        self.specs: dict[str, InstrumentSpec] = {s: INSTRUMENTS[s] for s in config.symbols}
        self.last: dict[str, Decimal] = {s: sp.start_price for s, sp in self.specs.items()}
        self.accounts: dict[str, Account] = {}
        self._listeners: list[Listener] = []
        self._batch_listeners: list[BatchListener] = []
        self._pending: list[tuple[str, EventKind, object]] | None = None  # inside `batch()`
        self._num = itertools.count(1_000_001)
        self._seq = itertools.count(1)
        self.books = Books(self.specs, config.seed, self.last)
        # Spot last prices by symbol (kept by `spot.SpotDesk`): coin balances count
        # towards the unified account's equity at these.
        self.spot_last: dict[str, Decimal] = {}
        for key in config.accounts:
            self.add_account(key)

    # ---- plumbing -------------------------------------------------------------------

    def add_listener(self, fn: Listener) -> None:
        """`fn(account_key, kind, obj)` is called synchronously on every change; it must
        format what it needs at once because the objects keep mutating."""
        self._listeners.append(fn)

    def add_batch_listener(self, fn: BatchListener) -> None:
        """`fn(account_key, kind, objects)`: as `add_listener`, but a batch's changes come
        as one call per account and kind (outside a batch, a list of one)."""
        self._batch_listeners.append(fn)

    def _emit(self, key: str, kind: EventKind, obj: object) -> None:
        if self._pending is not None:
            self._pending.append((key, kind, obj))
            return
        for fn in self._listeners:
            fn(key, kind, obj)
        for bfn in self._batch_listeners:
            bfn(key, kind, [obj])

    @contextmanager
    def batch(self) -> Iterator[None]:
        """One pass for several orders (Bybit's create-batch): every order is matched in
        turn as on its own, but what changed is handed to the listeners once, at the end,
        each object once in its final state, by account and in Bybit's topic order. A
        batch of 50 closes is then one wallet push instead of 100, and four private-stream
        messages instead of 200 — as the venue pushes a batch (its `data` is a list)."""
        if self._pending is not None:  # nested: the outer batch delivers
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            self._deliver(pending)

    def _deliver(self, pending: list[tuple[str, EventKind, object]]) -> None:
        grouped: dict[str, dict[EventKind, dict[int, object]]] = {}
        for key, kind, obj in pending:
            # dict keyed by identity: the first appearance sets the place, the object
            # itself carries its final state.
            grouped.setdefault(key, {}).setdefault(kind, {})[id(obj)] = obj
        for key, kinds in grouped.items():
            for kind in _KIND_ORDER:
                objs = list(kinds.get(kind, {}).values())
                if not objs:
                    continue
                for fn in self._listeners:
                    for obj in objs:
                        fn(key, kind, obj)
                for bfn in self._batch_listeners:
                    bfn(key, kind, objs)

    def next_ids(self) -> tuple[int, int]:
        """(order number, sequence) for an order booked outside this engine (spot)."""
        return next(self._num), next(self._seq)

    def add_account(self, key: str) -> Account:
        acc = self.accounts.get(key)
        if acc is None:
            acc = Account(key=key, wallet_balance=self.config.starting_balance)
            self.accounts[key] = acc
        return acc

    def account(self, key: str) -> Account:
        return self.accounts[key]

    def spec(self, symbol: str) -> InstrumentSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise Reject(10001, "params error: symbol invalid", -1121) from None

    def position(self, acc: Account, symbol: str) -> SimPosition:
        pos = acc.positions.get(symbol)
        if pos is None:
            lev = acc.leverage.get(symbol, self.config.default_leverage)
            pos = SimPosition(symbol=symbol, leverage=lev)
            acc.positions[symbol] = pos
        return pos

    # ---- valuation ------------------------------------------------------------------

    def unrealised(self, pos: SimPosition) -> Decimal:
        if pos.size == 0:
            return ZERO
        return pos.size * (self.last[pos.symbol] - pos.avg_price)

    def position_im(self, pos: SimPosition) -> Decimal:
        return abs(pos.size) * pos.avg_price / pos.leverage

    def order_im(self, acc: Account) -> Decimal:
        total = ZERO
        for o in acc.open_orders():
            if o.reduce_only or o.price is None:
                continue
            lev = self.position(acc, o.symbol).leverage
            total += o.leaves_qty * o.price / lev
        return total

    def coin_value(self, acc: Account) -> Decimal:
        return sum((q * self.spot_last.get(c + "USDT", ZERO) for c, q in acc.coins.items()),
                   ZERO)

    def spot_locked(self, acc: Account) -> Decimal:
        """USDT held by open spot buy orders."""
        return sum((o.leaves_qty * (o.price or ZERO) for o in acc.open_orders(category="spot")
                    if o.side == "Buy"), ZERO)

    def equity(self, acc: Account) -> Decimal:
        return acc.wallet_balance + self.coin_value(acc) + sum(
            (self.unrealised(p) for p in acc.positions.values()), ZERO)

    def total_position_im(self, acc: Account) -> Decimal:
        return sum((self.position_im(p) for p in acc.positions.values()), ZERO)

    def available(self, acc: Account) -> Decimal:
        return (self.equity(acc) - self.total_position_im(acc) - self.order_im(acc)
                - self.spot_locked(acc))

    # ---- orders ---------------------------------------------------------------------

    def find_order(self, key: str, *, order_id: str | None = None, link_id: str | None = None,
                   num_id: int | None = None) -> SimOrder | None:
        acc = self.accounts[key]
        if order_id:
            return acc.by_id.get(order_id)
        if link_id:
            return acc.by_link.get(link_id)
        if num_id is not None:
            return acc.by_num.get(num_id)
        return None

    def place(self, key: str, *, symbol: str, side: str, order_type: str, qty: Decimal,
              price: Decimal | None = None, tif: str = "GTC", reduce_only: bool = False,
              link_id: str = "", take_profit: Decimal | None = None,
              stop_loss: Decimal | None = None, now_ms: int, venue: str = "bybit",
              create_type: str = "CreateByUser", stop_order_type: str = "") -> SimOrder:
        """Validate, book and (if marketable) fill an order. Raises `Reject` when refused;
        a refused order is never booked, as on Bybit."""
        acc = self.accounts[key]
        spec = self.spec(symbol)
        if side not in ("Buy", "Sell"):
            raise Reject(10001, "params error: side invalid", -1117)
        if order_type not in ("Market", "Limit"):
            raise Reject(10001, "params error: orderType invalid", -1116)
        if link_id and link_id in acc.by_link:
            raise Reject(110072, "OrderLinkedID is duplicate", -4116)
        if len(link_id) > 36:
            raise Reject(10001, "params error: orderLinkId too long", -4015)
        if qty <= 0 or qty % spec.qty_step != 0:
            raise Reject(10001, f"Qty invalid: qty must be a multiple of qtyStep {spec.qty_step}",
                         -1111)
        if qty < spec.min_qty:
            raise Reject(10001, "The number of contracts exceeds minimum limit allowed", -4003)
        if qty > spec.max_qty:
            raise Reject(10001, "The number of contracts exceeds maximum limit allowed", -4005)
        if order_type == "Limit":
            if price is None or price <= 0:
                raise Reject(10001, "params error: price is required for limit orders", -1102)
            if price % spec.tick_size != 0:
                raise Reject(10001, f"Price invalid: price must be a multiple of tickSize "
                                    f"{spec.tick_size}", -1111)
        else:
            price = None
        last = self.last[symbol]
        for name, level in (("TakeProfit", take_profit), ("StopLoss", stop_loss)):
            if level is None:
                continue
            if level % spec.tick_size != 0:
                raise Reject(10001, f"{name} price invalid: not a multiple of tickSize", -1111)
            above = level > last
            want_above = (name == "TakeProfit") == (side == "Buy")
            if above != want_above:
                rel = "higher" if want_above else "lower"
                raise Reject(10001, f"{name}:{level} set for {side} position should be {rel} "
                                    f"than base_price:{last}??LastPrice", -2021)
        # Read, not created: a refused order must leave the account exactly as it was.
        pos = acc.positions.get(symbol) or SimPosition(
            symbol=symbol, leverage=acc.leverage.get(symbol, self.config.default_leverage))
        signed = qty if side == "Buy" else -qty
        if reduce_only:
            if pos.size == 0 or (pos.size > 0) == (signed > 0):
                raise Reject(110017, "Reduce-only rule not satisfied: current position is zero "
                                     "or on the same side", -2022)
            qty = min(qty, abs(pos.size))  # Bybit clips a reduce-only qty to the position
        else:
            opening = qty if pos.size == 0 or (pos.size > 0) == (signed > 0) else max(
                ZERO, qty - abs(pos.size))
            ref = price if price is not None else last
            need = opening * ref / pos.leverage + opening * ref * self.config.taker_fee
            if opening > 0 and need > self.available(acc):
                raise Reject(110007, "ab not enough for new order", -2019)

        order = SimOrder(
            order_id=str(uuid.uuid4()), num_id=next(self._num), link_id=link_id,
            symbol=symbol, side=side,  # type: ignore[arg-type]
            order_type=order_type, qty=qty, price=price,
            tif="IOC" if order_type == "Market" else tif, reduce_only=reduce_only,
            take_profit=take_profit, stop_loss=stop_loss, created_ms=now_ms, updated_ms=now_ms,
            create_type=create_type, stop_order_type=stop_order_type, venue=venue)
        acc.book(order)

        if order_type == "Market":
            self.take_liquidity(acc, order, order.qty, None, now_ms)
            return order
        assert price is not None
        book = self.books[symbol]
        touch = book.best()[1 if side == "Buy" else 0][0]
        marketable = price >= touch if side == "Buy" else price <= touch
        if marketable and tif == "PostOnly":
            self._finish(acc, order, "Cancelled", now_ms, cancel_type="UNKNOWN",
                         reject_reason="EC_PostOnlyWillTakeLiquidity")
        elif marketable and tif == "FOK" and sum(
                (q for _, q in book.plan(side, order.qty, price)), ZERO) < order.qty:
            self._finish(acc, order, "Cancelled", now_ms, cancel_type="UNKNOWN",
                         reject_reason="EC_FOKWillNotFill")
        elif marketable:
            # Taker: walks the book up to the limit; what is left rests (GTC) as maker.
            self.take_liquidity(acc, order, order.qty, price, now_ms)
            if order.is_open and tif == "IOC":
                self._finish(acc, order, "Cancelled", now_ms, cancel_type="UNKNOWN",
                             reject_reason="EC_NoImmediateQtyToFill")
            elif order.is_open:
                self._emit(key, "order", order)
        elif tif in ("IOC", "FOK"):
            self._finish(acc, order, "Cancelled", now_ms, cancel_type="UNKNOWN",
                         reject_reason="EC_NoImmediateQtyToFill")
        else:
            self._emit(key, "order", order)
            self._emit(key, "wallet", acc)
        return order

    def _slipped(self, symbol: str, side: str, level: Decimal) -> Decimal:
        """The level price moved by the configured extra slippage (adverse)."""
        if not self.config.slippage_bps:
            return level
        tick = self.specs[symbol].tick_size
        slip = level * self.config.slippage_bps / Decimal(10000)
        if side == "Buy":
            return quantize_to(level + slip, tick, ROUND_CEILING)
        return quantize_to(level - slip, tick, ROUND_FLOOR)

    def take_liquidity(self, acc: Account, order: SimOrder, qty: Decimal,
                       limit: Decimal | None, now_ms: int, exec_type: str = "Trade") -> None:
        """Walk the book for `qty` (up to `limit`): one taker execution per level. A
        market order's remainder the book cannot fill is cancelled, as Bybit does."""
        pos = self.position(acc, order.symbol)
        if order.reduce_only and pos.size != 0:
            qty = min(qty, abs(pos.size))
        book = self.books[order.symbol]
        fills: list[Level] = book.plan(order.side, qty, limit)
        for px, q in fills:
            if not order.is_open:
                break
            self._fill(acc, order, self._slipped(order.symbol, order.side, px), qty=q,
                       is_maker=False, now_ms=now_ms, exec_type=exec_type)
        book.take(fills, now_ms)
        self.books.changed(book)
        if order.is_open and order.order_type == "Market":
            # Derivatives: "Cancelled" with the executed qty kept (PartiallyFilledCanceled
            # is spot's status only).
            self._finish(acc, order, "Cancelled", now_ms, cancel_type="UNKNOWN",
                         reject_reason="EC_NoImmediateQtyToFill")

    def _finish(self, acc: Account, order: SimOrder, status: str, now_ms: int, *,
                cancel_type: str = "UNKNOWN", reject_reason: str = "EC_NoError") -> None:
        order.status = status
        acc.sync(order)
        order.cancel_type = cancel_type
        order.reject_reason = reject_reason
        order.updated_ms = now_ms
        self._emit(acc.key, "order", order)
        self._emit(acc.key, "wallet", acc)

    finish = _finish  # public for the spot desk, which books through this engine
    emit = _emit

    def cancel(self, key: str, *, symbol: str, order_id: str | None = None,
               link_id: str | None = None, num_id: int | None = None, now_ms: int,
               cancel_type: str = "CancelByUser", category: str = "linear") -> SimOrder:
        order = self.find_order(key, order_id=order_id, link_id=link_id, num_id=num_id)
        if (order is None or order.symbol != symbol or not order.is_open
                or order.category != category):
            raise Reject(110001, "Order does not exist.", -2011)
        self._finish(self.accounts[key], order, "Cancelled", now_ms, cancel_type=cancel_type)
        return order

    def cancel_all(self, key: str, *, symbol: str | None, now_ms: int,
                   cancel_type: str = "CancelByUser", category: str = "linear") -> list[SimOrder]:
        acc = self.accounts[key]
        done = acc.open_orders(symbol, category)
        for o in done:
            self._finish(acc, o, "Cancelled", now_ms, cancel_type=cancel_type)
        return done

    def set_leverage(self, key: str, symbol: str, leverage: Decimal) -> None:
        spec = self.spec(symbol)
        acc = self.accounts[key]
        if leverage < 1 or leverage > spec.max_leverage:
            raise Reject(10001, "leverage invalid", -4028)
        pos = self.position(acc, symbol)
        if pos.leverage == leverage:
            raise Reject(110043, "leverage not modified", -4028)
        needed = abs(pos.size) * pos.avg_price / leverage
        if pos.size != 0 and needed - self.position_im(pos) > self.available(acc):
            raise Reject(110012, "Insufficient available balance.", -2027)
        pos.leverage = leverage
        acc.leverage[symbol] = leverage
        self._emit(key, "position", pos)

    def set_trading_stop(self, key: str, symbol: str, *, take_profit: Decimal | None,
                         stop_loss: Decimal | None, now_ms: int) -> None:
        acc = self.accounts[key]
        pos = self.position(acc, symbol)
        if pos.size == 0:
            raise Reject(10001, "can not set tp/sl/ts for zero position", -2022)
        if take_profit is not None:
            pos.take_profit = take_profit or None
        if stop_loss is not None:
            pos.stop_loss = stop_loss or None
        pos.updated_ms = now_ms
        self._emit(key, "position", pos)

    # ---- fills ----------------------------------------------------------------------

    def _fill(self, acc: Account, order: SimOrder, price: Decimal, *, is_maker: bool,
              now_ms: int, exec_type: str = "Trade", qty: Decimal | None = None) -> None:
        pos = self.position(acc, order.symbol)
        qty = order.qty - order.cum_qty if qty is None else min(qty, order.qty - order.cum_qty)
        signed = qty if order.side == "Buy" else -qty
        if order.reduce_only:
            if pos.size == 0 or (pos.size > 0) == (signed > 0):
                self._finish(acc, order, "Cancelled", now_ms, cancel_type="CancelByReduceOnly")
                return
            qty = min(qty, abs(pos.size))
            signed = qty if order.side == "Buy" else -qty
        fee_rate = self.config.maker_fee if is_maker else self.config.taker_fee
        value = price * qty
        fee = (value * fee_rate).quantize(FEE_Q, rounding=ROUND_HALF_UP)
        pnl = ZERO
        closed = ZERO
        if pos.size == 0 or (pos.size > 0) == (signed > 0):
            if pos.size == 0:
                pos.created_ms = now_ms
                pos.cur_realised = ZERO
            new_abs = abs(pos.size) + qty
            pos.avg_price = (abs(pos.size) * pos.avg_price + value) / new_abs
            pos.size += signed
            if order.take_profit is not None:
                pos.take_profit = order.take_profit
            if order.stop_loss is not None:
                pos.stop_loss = order.stop_loss
        else:
            closed = min(qty, abs(pos.size))
            # Money is booked to 1e-8 USDT like Bybit, so the ledger sums exactly even
            # when the average entry price does not terminate (e.g. 3000.666…).
            pnl = (closed * (price - pos.avg_price) * (1 if pos.size > 0 else -1)).quantize(
                FEE_Q, rounding=ROUND_HALF_UP)
            old_sign = pos.size > 0
            pos.size += signed
            if pos.size == 0:
                pos.avg_price = ZERO
                pos.take_profit = pos.stop_loss = None
            elif (pos.size > 0) != old_sign:  # flipped: the remainder opened at this price
                pos.avg_price = price
                pos.take_profit = order.take_profit
                pos.stop_loss = order.stop_loss
        acc.wallet_balance += pnl - fee
        acc.cum_realised += pnl - fee
        pos.cum_realised += pnl - fee
        pos.cur_realised += pnl - fee
        pos.updated_ms = now_ms
        pos.seq = next(self._seq)
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.updated_ms = now_ms
        if order.reduce_only and order.cum_qty < order.qty and pos.size == 0:
            order.qty = order.cum_qty  # the clipped remainder can never execute
        order.status = "Filled" if order.cum_qty >= order.qty else "PartiallyFilled"
        acc.sync(order)
        ex = SimExecution(
            exec_id=str(uuid.uuid4()), seq=pos.seq, order_id=order.order_id,
            num_id=order.num_id, link_id=order.link_id, symbol=order.symbol, side=order.side,
            order_type=order.order_type, order_price=order.price, order_qty=order.qty,
            leaves_qty=order.leaves_qty, price=price, qty=qty, value=value, fee=fee,
            fee_rate=fee_rate, is_maker=is_maker, exec_type=exec_type, time_ms=now_ms,
            closed_size=closed, realised_pnl=pnl, stop_order_type=order.stop_order_type,
            create_type=order.create_type, mark_price=self.last[order.symbol])
        acc.executions.append(ex)
        # Bybit's private stream order: order, execution, position, wallet.
        self._emit(acc.key, "order", order)
        self._emit(acc.key, "execution", ex)
        self._emit(acc.key, "position", pos)
        self._emit(acc.key, "wallet", acc)
        # A position that shrank may leave reduce-only orders that can no longer execute.
        if pos.size == 0:
            for o in acc.open_orders(order.symbol):
                if o.reduce_only:
                    self._finish(acc, o, "Cancelled", now_ms, cancel_type="CancelByReduceOnly")

    # ---- price moves ----------------------------------------------------------------

    def on_price(self, symbol: str, price: Decimal, now_ms: int,
                 taker_buy: bool = True) -> None:
        """A trade printed at `price`: move the book, fill crossed limits, fire SL/TP."""
        self.last[symbol] = price
        book = self.books[symbol]
        book.move(price, taker_buy, now_ms)
        self.books.changed(book)
        for acc in self.accounts.values():
            for o in acc.open_orders(symbol):
                if o.order_type != "Limit" or o.price is None:
                    continue
                if (o.side == "Buy" and price <= o.price) or (o.side == "Sell" and price >= o.price):
                    self._fill(acc, o, o.price, is_maker=True, now_ms=now_ms)
            pos = acc.positions.get(symbol)
            if pos is None or pos.size == 0:
                continue
            long = pos.size > 0
            hit: str | None = None
            if pos.stop_loss is not None and (price <= pos.stop_loss if long
                                              else price >= pos.stop_loss):
                hit = "StopLoss"
            elif pos.take_profit is not None and (price >= pos.take_profit if long
                                                  else price <= pos.take_profit):
                hit = "TakeProfit"
            if hit is not None:
                self.close_position(acc.key, symbol, now_ms=now_ms,
                                    create_type=f"CreateBy{hit}", stop_order_type=hit)
                continue
            liq = self.liq_price(pos)
            if liq is not None and (price <= liq if long else price >= liq):
                self.liquidate(acc.key, symbol, now_ms=now_ms)

    def liq_price(self, pos: SimPosition) -> Decimal | None:
        """Where the position's margin falls to maintenance (isolated-style: the
        position's own initial margin backs it): long avg·(1 − 1/lev + MMR)."""
        if pos.size == 0:
            return None
        tick = self.specs[pos.symbol].tick_size
        if pos.size > 0:
            return quantize_to(pos.avg_price * (1 - 1 / pos.leverage + MMR), tick, ROUND_CEILING)
        return quantize_to(pos.avg_price * (1 + 1 / pos.leverage - MMR), tick, ROUND_FLOOR)

    def bust_price(self, pos: SimPosition) -> Decimal | None:
        """Where the position's initial margin is all lost (Bybit's bankruptcy price)."""
        if pos.size == 0:
            return None
        tick = self.specs[pos.symbol].tick_size
        move = pos.avg_price / pos.leverage
        if pos.size > 0:
            return quantize_to(pos.avg_price - move, tick, ROUND_CEILING)
        return quantize_to(pos.avg_price + move, tick, ROUND_FLOOR)

    def book_funding(self, key: str, symbol: str, rate: Decimal, now_ms: int) -> None:
        """Settle one funding interval on the position: longs pay shorts when the rate is
        positive. Booked as Bybit does: an execution with execType "Funding" whose execFee
        is the payment (negative = received), and the wallet moves by it."""
        acc = self.accounts[key]
        pos = acc.positions.get(symbol)
        if pos is None or pos.size == 0:
            return
        mark = self.last[symbol]
        value = abs(pos.size) * mark
        fee = (pos.size * mark * rate).quantize(FEE_Q, rounding=ROUND_HALF_UP)
        acc.wallet_balance -= fee
        acc.cum_realised -= fee
        pos.cum_realised -= fee
        pos.cur_realised -= fee
        pos.updated_ms = now_ms
        pos.seq = next(self._seq)
        ex = SimExecution(
            exec_id=str(uuid.uuid4()), seq=pos.seq, order_id="", num_id=0, link_id="",
            symbol=symbol, side="Buy" if pos.size > 0 else "Sell", order_type="UNKNOWN",
            order_price=None, order_qty=ZERO, leaves_qty=ZERO, price=mark, qty=abs(pos.size),
            value=value, fee=fee, fee_rate=rate, is_maker=False, exec_type="Funding",
            time_ms=now_ms, closed_size=ZERO, realised_pnl=ZERO, stop_order_type="UNKNOWN",
            create_type="", mark_price=mark)
        acc.executions.append(ex)
        self._emit(key, "execution", ex)
        self._emit(key, "position", pos)
        self._emit(key, "wallet", acc)

    def close_position(self, key: str, symbol: str, *, now_ms: int,
                       create_type: str = "CreateByUser", stop_order_type: str = "",
                       price: Decimal | None = None, exec_type: str = "Trade") -> SimOrder | None:
        """Close the whole position by market (SL/TP trigger, hand close, liquidation)."""
        acc = self.accounts[key]
        pos = self.position(acc, symbol)
        if pos.size == 0:
            return None
        side: Side = "Sell" if pos.size > 0 else "Buy"
        order = SimOrder(
            order_id=str(uuid.uuid4()), num_id=next(self._num), link_id="", symbol=symbol,
            side=side, order_type="Market", qty=abs(pos.size), price=None, tif="IOC",
            reduce_only=True, take_profit=None, stop_loss=None, created_ms=now_ms,
            updated_ms=now_ms, create_type=create_type, stop_order_type=stop_order_type,
            venue="venue")
        acc.book(order)
        if price is not None:  # a liquidation: taken over at the bankruptcy price
            self._fill(acc, order, price, is_maker=False, now_ms=now_ms, exec_type=exec_type)
        else:
            self.take_liquidity(acc, order, order.qty, None, now_ms, exec_type=exec_type)
        return order

    def liquidate(self, key: str, symbol: str, *, now_ms: int) -> SimOrder | None:
        """Take the position over at its bankruptcy price, as a liquidation does: the
        position's whole initial margin is lost (plus the fee)."""
        acc = self.accounts[key]
        pos = self.position(acc, symbol)
        if pos.size == 0:
            return None
        for o in acc.open_orders(symbol):
            self._finish(acc, o, "Cancelled", now_ms, cancel_type="CancelAllBeforeLiq")
        bust = self.bust_price(pos)
        assert bust is not None
        return self.close_position(key, symbol, now_ms=now_ms, create_type="CreateByLiq",
                                   price=bust, exec_type="BustTrade")

    def open_position(self, key: str, symbol: str, side: str, qty: Decimal, *,
                      now_ms: int) -> SimOrder:
        """Open (or add to) a position by hand on the venue, bypassing margin checks."""
        acc = self.accounts[key]
        order = SimOrder(
            order_id=str(uuid.uuid4()), num_id=next(self._num), link_id="", symbol=symbol,
            side=side,  # type: ignore[arg-type]
            order_type="Market", qty=qty, price=None, tif="IOC", reduce_only=False,
            take_profit=None, stop_loss=None, created_ms=now_ms, updated_ms=now_ms,
            venue="venue")
        acc.book(order)
        self.take_liquidity(acc, order, qty, None, now_ms)
        return order
