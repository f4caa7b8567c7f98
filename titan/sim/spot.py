"""Bybit spot (category `spot`) in the unified account.

Spot prices follow the perpetual's market with a small seeded basis (each symbol's
spot trades `basis` below or above the perp, a few basis points, fixed per seed), and
each spot symbol has its own L2 book around that price. Orders book into the same
account as the perpetuals: USDT is the account's wallet balance, bought coins land in
`Account.coins` (valued at the spot price in the account's equity).

Bybit's rules kept: a market Buy's qty is in the quote coin unless `marketUnit` says
`baseCoin`, a market Sell's in the base coin unless `quoteCoin`; the fee of a buy is
charged in the base coin, of a sell in USDT; a buy needs the USDT, a sell the coins
(no borrowing: spot margin trading is off).
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import replace
from decimal import ROUND_HALF_UP, Decimal

from titan.sim.config import InstrumentSpec
from titan.sim.matching import ZERO, Account, MatchingEngine, Reject, SimExecution, SimOrder
from titan.sim.orderbook import Books, Level

SPOT_FEE = Decimal("0.001")  # Bybit spot, VIP 0: 0.1 % taker and maker
MIN_ORDER_AMT = Decimal(5)  # USDT
QTY_Q = Decimal("0.00000001")


def spot_spec(perp: InstrumentSpec) -> InstrumentSpec:
    """Spot lots are finer than the perpetual's (Bybit BTCUSDT spot: 0.000001 BTC)."""
    step = perp.qty_step / 1000 if perp.qty_step < 1 else perp.qty_step / 100
    return replace(perp, qty_step=step, min_qty=step, max_leverage=Decimal(1),
                   min_notional=MIN_ORDER_AMT)


def _basis(seed: int, symbol: str) -> Decimal:
    h = hashlib.blake2b(f"basis:{seed}:{symbol}".encode(), digest_size=8).digest()
    r = int.from_bytes(h, "big") / 2**64
    return Decimal(str(round((r - 0.5) * 0.0008, 6)))  # within ±4 bp


class SpotDesk:
    def __init__(self, engine: MatchingEngine) -> None:
        self.engine = engine
        seed = engine.config.seed
        self.specs = {s: spot_spec(sp) for s, sp in engine.specs.items()}
        self.basis = {s: _basis(seed, s) for s in self.specs}
        self._factor = {s: 1 + b for s, b in self.basis.items()}
        self.last: dict[str, Decimal] = engine.spot_last
        for s in self.specs:
            self.last[s] = self.spot_price(s, engine.last[s])
        self.books = Books(self.specs, seed, self.last, salt=":spot")

    def spot_price(self, symbol: str, perp_price: Decimal) -> Decimal:
        tick = self.specs[symbol].tick_size
        return (perp_price * self._factor[symbol] / tick).to_integral_value(
            ROUND_HALF_UP) * tick

    def spec(self, symbol: str) -> InstrumentSpec:
        try:
            return self.specs[symbol]
        except KeyError:
            raise Reject(10001, "params error: symbol invalid") from None

    # ---- market ---------------------------------------------------------------------

    def on_price(self, symbol: str, perp_price: Decimal, now_ms: int, taker_buy: bool) -> None:
        """The perp traded: move the spot price and book, fill crossed spot limits."""
        if symbol not in self.specs:
            return
        px = self.spot_price(symbol, perp_price)
        self.last[symbol] = px
        book = self.books[symbol]
        book.move(px, taker_buy, now_ms)
        self.books.changed(book)
        for acc in self.engine.accounts.values():
            if not acc.open:
                continue  # the common case on a busy feed: nothing to check
            for o in acc.open_orders(symbol, "spot"):
                if o.price is not None and (
                        (o.side == "Buy" and px <= o.price) or (o.side == "Sell" and px >= o.price)):
                    self._fill(acc, o, o.price, o.qty - o.cum_qty, True, now_ms)

    # ---- orders ---------------------------------------------------------------------

    def free_coin(self, acc: Account, coin: str) -> Decimal:
        held = sum((o.qty - o.cum_qty for o in acc.open_orders(category="spot")
                    if o.side == "Sell" and o.symbol == coin + "USDT"), ZERO)
        return acc.coins.get(coin, ZERO) - held

    def spendable(self, acc: Account) -> Decimal:
        return min(acc.wallet_balance - self.engine.spot_locked(acc), self.engine.available(acc))

    def place(self, key: str, *, symbol: str, side: str, order_type: str, qty: Decimal,
              price: Decimal | None, market_unit: str, tif: str, link_id: str,
              now_ms: int) -> SimOrder:
        """Validate, book and fill a spot order; `Reject` (nothing booked) if refused."""
        acc = self.engine.accounts[key]
        spec = self.spec(symbol)
        base = spec.base_coin
        if side not in ("Buy", "Sell"):
            raise Reject(10001, "params error: side invalid")
        if order_type not in ("Market", "Limit"):
            raise Reject(10001, "params error: orderType invalid")
        if link_id and link_id in acc.by_link:
            raise Reject(170141, "Duplicate clientOrderId.")
        if qty <= 0:
            raise Reject(170130, "Data sent for paramter 'qty' is not valid.")
        book = self.books[symbol]
        if order_type == "Market":
            unit = market_unit or ("quoteCoin" if side == "Buy" else "baseCoin")
            if unit not in ("baseCoin", "quoteCoin"):
                raise Reject(10001, "params error: marketUnit invalid")
            if unit == "quoteCoin":
                fills = book.plan(side, None, None, quote=qty)
            else:
                if qty % spec.qty_step != 0:
                    raise Reject(170137, "Order quantity has too many decimals.")
                fills = book.plan(side, qty, None)
            price = None
        else:
            unit = ""
            if price is None or price <= 0 or price % spec.tick_size != 0:
                raise Reject(170134, "Order price has too many decimals.")
            if qty % spec.qty_step != 0:
                raise Reject(170137, "Order quantity has too many decimals.")
            fills = book.plan(side, qty, price)
            if tif == "PostOnly" and fills:
                fills = []  # checked below: a post-only that would take is cancelled
        base_qty = sum((q for _, q in fills), ZERO)
        value = sum((p * q for p, q in fills), ZERO)
        ref_value = value if order_type == "Market" else qty * (price or ZERO)
        if ref_value < MIN_ORDER_AMT or (base_qty == 0 and order_type == "Market"):
            raise Reject(170140, "Order value exceeded lower limit.")
        if side == "Buy" and ref_value > self.spendable(acc):
            raise Reject(170131, "Insufficient balance.")
        sell_qty = qty if order_type == "Limit" else base_qty
        if side == "Sell" and sell_qty > self.free_coin(acc, base):
            raise Reject(170131, "Insufficient balance.")

        num, _ = self.engine.next_ids()
        order = SimOrder(
            order_id=str(uuid.uuid4()), num_id=num, link_id=link_id, symbol=symbol,
            side=side,  # type: ignore[arg-type]
            order_type=order_type, qty=qty if order_type == "Limit" else base_qty,
            price=price, tif="IOC" if order_type == "Market" else tif, reduce_only=False,
            take_profit=None, stop_loss=None, created_ms=now_ms, updated_ms=now_ms,
            category="spot", market_unit=unit, fee_coin=base if side == "Buy" else "USDT")
        acc.book(order)
        if order_type == "Limit" and tif == "PostOnly" and book.plan(side, qty, price):
            self.engine.finish(acc, order, "Cancelled", now_ms,
                               reject_reason="EC_PostOnlyWillTakeLiquidity")
            return order
        self._take(acc, order, fills, now_ms)
        if order.is_open and (order_type == "Market" or tif in ("IOC", "FOK")):
            self.engine.finish(acc, order, "PartiallyFilledCanceled" if order.cum_qty else
                               "Cancelled", now_ms, reject_reason="EC_NoImmediateQtyToFill")
        elif order.is_open:
            self.engine.emit(key, "order", order)
            self.engine.emit(key, "wallet", acc)
        return order

    def _take(self, acc: Account, order: SimOrder, fills: list[Level], now_ms: int) -> None:
        for px, q in fills:
            self._fill(acc, order, px, q, False, now_ms)
        book = self.books[order.symbol]
        book.take(fills, now_ms)
        self.books.changed(book)

    def _fill(self, acc: Account, order: SimOrder, price: Decimal, qty: Decimal,
              is_maker: bool, now_ms: int) -> None:
        base = self.specs[order.symbol].base_coin
        value = price * qty
        if order.side == "Buy":
            fee = (qty * SPOT_FEE).quantize(QTY_Q, rounding=ROUND_HALF_UP)
            acc.wallet_balance -= value
            acc.coins[base] = acc.coins.get(base, ZERO) + qty - fee
        else:
            fee = (value * SPOT_FEE).quantize(QTY_Q, rounding=ROUND_HALF_UP)
            acc.coins[base] = acc.coins.get(base, ZERO) - qty
            acc.wallet_balance += value - fee
        order.cum_qty += qty
        order.cum_value += value
        order.cum_fee += fee
        order.updated_ms = now_ms
        order.status = "Filled" if order.cum_qty >= order.qty else "PartiallyFilled"
        acc.sync(order)
        _, seq = self.engine.next_ids()
        ex = SimExecution(
            exec_id=str(uuid.uuid4()), seq=seq, order_id=order.order_id, num_id=order.num_id,
            link_id=order.link_id, symbol=order.symbol, side=order.side,
            order_type=order.order_type, order_price=order.price, order_qty=order.qty,
            leaves_qty=order.leaves_qty, price=price, qty=qty, value=value, fee=fee,
            fee_rate=SPOT_FEE, is_maker=is_maker, exec_type="Trade", time_ms=now_ms,
            closed_size=ZERO, realised_pnl=ZERO, stop_order_type="", create_type="CreateByUser",
            mark_price=self.last[order.symbol], category="spot", fee_coin=order.fee_coin,
            market_unit=order.market_unit)
        acc.executions.append(ex)
        self.engine.emit(acc.key, "order", order)
        self.engine.emit(acc.key, "execution", ex)
        self.engine.emit(acc.key, "wallet", acc)
