"""Bybit v5 wire format <-> Titan domain types. Pure functions, no I/O.

Bybit sends numbers as strings ("" when absent); everything money-like becomes a Decimal.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from titan.domain.orders import Fill, OrderIntent, OrderStatus, OrderType, Position, Side
from titan.venues.base import (
    Instrument,
    Kline,
    PrivateUpdate,
    SpotFill,
    SpotInstrument,
    Ticker,
    Trade,
    VenueError,
    VenueOrder,
    Wallet,
)
from titan.venues.instruments import PriceRounding, format_decimal, round_price, round_qty

# retCodes that mean "slow down" (10006 per-UID/IP, 10018 IP ban window, 170005 spot).
RATE_LIMIT_CODES = frozenset({10006, 10018})
# retCodes a cancel answers when the order is already gone: not an error for Titan.
ORDER_GONE_CODES = frozenset({110001, 110008, 110010, 170142, 170213})
LEVERAGE_NOT_MODIFIED = 110043

_STATUS = {
    "New": OrderStatus.NEW,
    "Created": OrderStatus.NEW,
    "Untriggered": OrderStatus.NEW,
    "Triggered": OrderStatus.NEW,
    "Active": OrderStatus.NEW,
    "PartiallyFilled": OrderStatus.PARTIALLY_FILLED,
    "Filled": OrderStatus.FILLED,
    "Cancelled": OrderStatus.CANCELLED,
    "Canceled": OrderStatus.CANCELLED,
    "Deactivated": OrderStatus.CANCELLED,
    "PartiallyFilledCanceled": OrderStatus.CANCELLED,
    "Rejected": OrderStatus.REJECTED,
}


def dec(value: Any, default: Decimal = Decimal(0)) -> Decimal:
    """Decimal from a Bybit field; "" / None / garbage -> default."""
    if value is None or value == "":
        return default
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        return default


def dec_or_none(value: Any) -> Decimal | None:
    d = dec(value, Decimal(0))
    return d if d != 0 else None


def ms_to_dt(value: Any) -> datetime | None:
    try:
        ms = int(value)
    except (TypeError, ValueError):
        return None
    if ms <= 0:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC)


def parse_side(value: Any) -> Side | None:
    if value in ("Buy", "BUY", "buy"):
        return Side.BUY
    if value in ("Sell", "SELL", "sell"):
        return Side.SELL
    return None


def parse_status(value: Any) -> OrderStatus:
    return _STATUS.get(str(value), OrderStatus.NEW)


def parse_instrument(d: dict[str, Any]) -> Instrument:
    pf = d.get("priceFilter") or {}
    lf = d.get("lotSizeFilter") or {}
    lev = d.get("leverageFilter") or {}
    return Instrument(
        symbol=str(d["symbol"]),
        tick_size=dec(pf.get("tickSize")),
        qty_step=dec(lf.get("qtyStep")),
        min_qty=dec(lf.get("minOrderQty")),
        max_leverage=dec(lev.get("maxLeverage"), Decimal(100)),
        min_notional=dec(lf.get("minNotionalValue")),
    )


def parse_order(d: dict[str, Any]) -> VenueOrder:
    side = parse_side(d.get("side")) or Side.BUY
    otype = OrderType.MARKET if d.get("orderType") == "Market" else OrderType.LIMIT
    return VenueOrder(
        symbol=str(d.get("symbol", "")),
        client_order_id=str(d.get("orderLinkId", "")),
        venue_order_id=str(d.get("orderId", "")),
        side=side,
        order_type=otype,
        qty=dec(d.get("qty")),
        filled_qty=dec(d.get("cumExecQty")),
        price=dec_or_none(d.get("price")),
        avg_price=dec_or_none(d.get("avgPrice")),
        status=parse_status(d.get("orderStatus")),
        reduce_only=bool(d.get("reduceOnly", False)),
        stop_loss=dec_or_none(d.get("stopLoss")),
        take_profit=dec_or_none(d.get("takeProfit")),
        updated_at=ms_to_dt(d.get("updatedTime") or d.get("createdTime")),
        reject_reason=str(d.get("rejectReason", "") or "").replace("EC_NoError", ""),
    )


# execType values that are not trades of ours (funding is money, not a fill).
_NON_TRADE_EXEC = frozenset({"Funding", "Settle", "Delivery"})


def parse_execution(d: dict[str, Any]) -> Fill | None:
    if str(d.get("execType", "Trade")) in _NON_TRADE_EXEC:
        return None
    side = parse_side(d.get("side"))
    if side is None or not d.get("execId"):
        return None
    return Fill(
        exec_id=str(d["execId"]),
        client_order_id=str(d.get("orderLinkId", "")),
        venue_order_id=str(d.get("orderId", "")),
        symbol=str(d.get("symbol", "")),
        side=side,
        qty=dec(d.get("execQty")),
        price=dec(d.get("execPrice")),
        fee=dec(d.get("execFee")),
        ts=ms_to_dt(d.get("execTime")) or datetime.fromtimestamp(0, UTC),
        origin=execution_origin(d),
    )


def is_spot(d: dict[str, Any]) -> bool:
    """A private-stream row of the spot category (Bybit tags every row with its category;
    a row without one is the linear perpetual's, as before spot existed)."""
    return d.get("category") == "spot"


def parse_spot_execution(d: dict[str, Any]) -> SpotFill | None:
    if str(d.get("execType", "Trade")) != "Trade":
        return None
    side = parse_side(d.get("side"))
    if side is None or not d.get("execId"):
        return None
    symbol = str(d.get("symbol", ""))
    fee_coin = str(d.get("feeCurrency") or "")
    if not fee_coin:  # older answers: a buy pays in the coin bought, a sell in USDT
        fee_coin = symbol.removesuffix("USDT") if side is Side.BUY else "USDT"
    return SpotFill(
        exec_id=str(d["execId"]), client_order_id=str(d.get("orderLinkId", "")),
        venue_order_id=str(d.get("orderId", "")), symbol=symbol, side=side,
        qty=dec(d.get("execQty")), price=dec(d.get("execPrice")), fee=dec(d.get("execFee")),
        fee_coin=fee_coin, ts=ms_to_dt(d.get("execTime")) or datetime.fromtimestamp(0, UTC))


def parse_spot_instrument(d: dict[str, Any]) -> SpotInstrument:
    pf = d.get("priceFilter") or {}
    lf = d.get("lotSizeFilter") or {}
    inst = Instrument(symbol=str(d["symbol"]), tick_size=dec(pf.get("tickSize")),
                      qty_step=dec(lf.get("basePrecision")), min_qty=dec(lf.get("minOrderQty")),
                      max_leverage=Decimal(1), min_notional=dec(lf.get("minOrderAmt")))
    return SpotInstrument(inst, str(d.get("baseCoin", "")), str(d.get("quoteCoin", "USDT")))


def parse_coins(d: dict[str, Any]) -> dict[str, Decimal]:
    """Every coin's wallet balance in one account entry of wallet-balance (non-zero)."""
    out: dict[str, Decimal] = {}
    for c in d.get("coin") or []:
        qty = dec(c.get("walletBalance"))
        if c.get("coin") and qty != 0:
            out[str(c["coin"])] = qty
    return out


def parse_levels(rows: Any) -> list[tuple[Decimal, Decimal]]:
    """An orderbook side ([[price, size], ...]) as Decimals, empty levels dropped."""
    out = []
    for row in rows or []:
        if row and len(row) >= 2:
            px, qty = dec(row[0]), dec(row[1])
            if px > 0 and qty > 0:
                out.append((px, qty))
    return out


def execution_origin(d: dict[str, Any]) -> str:
    """Why the venue executed: an exchange-side stop/target of the position, a liquidation."""
    stop_type = str(d.get("stopOrderType") or "")
    if stop_type in ("StopLoss", "TakeProfit", "TrailingStop"):
        return stop_type
    if str(d.get("execType", "")) == "BustTrade" or str(d.get("createType", "")) == "CreateByLiq":
        return "Liquidation"
    return ""


def parse_position(d: dict[str, Any]) -> Position | None:
    """A position, or None when the symbol is flat (size 0 / side "")."""
    size = dec(d.get("size"))
    side = parse_side(d.get("side"))
    if size == 0 or side is None:
        return None
    entry = dec(d.get("avgPrice")) or dec(d.get("entryPrice"))
    return Position(
        symbol=str(d.get("symbol", "")),
        side=side,
        size=abs(size),
        entry_price=entry,
        unrealised_pnl=dec(d.get("unrealisedPnl")),
        leverage=dec(d.get("leverage"), Decimal(1)),
        stop_loss=dec_or_none(d.get("stopLoss")),
        take_profit=dec_or_none(d.get("takeProfit")),
    )


def parse_wallet(d: dict[str, Any], coin: str = "USDT") -> Wallet:
    """One account entry of wallet-balance / the wallet topic. Account totals first, coin row as fallback."""
    coins = [c for c in d.get("coin") or [] if c.get("coin") == coin]
    c = coins[0] if coins else {}
    equity = dec(d.get("totalEquity"), dec(c.get("equity")))
    balance = dec(d.get("totalWalletBalance"), dec(c.get("walletBalance")))
    available = dec(
        d.get("totalAvailableBalance"),
        dec(c.get("availableToWithdraw"), dec(c.get("walletBalance"))),
    )
    upl = dec(d.get("totalPerpUPL"), dec(c.get("unrealisedPnl")))
    return Wallet(equity=equity, wallet_balance=balance, available=available, unrealised_pnl=upl)


def parse_ticker(d: dict[str, Any], ts_ms: int, previous: Ticker | None = None) -> Ticker | None:
    """A ticker snapshot, or a delta merged onto `previous` (Bybit's derivative tickers
    send only what changed: a delta with a new top of book but no trade keeps the last
    price)."""
    if not d.get("symbol"):
        return None
    price = dec(d.get("lastPrice"))
    if price <= 0:
        if previous is None:
            return None
        price = previous.last_price
    bid, ask = dec(d.get("bid1Price")), dec(d.get("ask1Price"))
    # Funding: a delta carries it only when it changed; an empty string is "none".
    rate = d.get("fundingRate")
    funding = dec(rate) if rate not in (None, "") else (
        previous.funding_rate if previous else None)
    nxt = dec(d.get("nextFundingTime"))
    next_ms = int(nxt) if nxt > 0 else (previous.next_funding_ms if previous else None)
    return Ticker(symbol=str(d["symbol"]), last_price=price, ts_ms=int(ts_ms),
                  bid=bid if bid > 0 else (previous.bid if previous else None),
                  ask=ask if ask > 0 else (previous.ask if previous else None),
                  funding_rate=funding, next_funding_ms=next_ms)


def parse_kline(row: list[Any]) -> Kline:
    return Kline(
        start_ms=int(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
    )


def parse_public_trade(d: dict[str, Any]) -> Trade:
    """One entry of Bybit's publicTrade topic (S = taker side)."""
    tid = str(d.get("i", "0"))
    try:
        trade_id = int(tid)
    except ValueError:
        trade_id = 0
    return Trade(
        symbol=str(d.get("s", "")),
        price=float(d.get("p", 0)),
        qty=float(d.get("v", 0)),
        ts_ms=int(d.get("T", 0)),
        # the taker sold into a resting buyer -> the buyer was the maker
        buyer_is_maker=d.get("S") == "Sell",
        trade_id=trade_id,
    )


def interval_code(minutes: int) -> str:
    """Bybit kline interval: minutes as a number, D/W/M for longer."""
    if minutes in (1, 3, 5, 15, 30, 60, 120, 240, 360, 720):
        return str(minutes)
    if minutes == 1440:
        return "D"
    if minutes == 10080:
        return "W"
    if minutes in (43200, 44640):
        return "M"
    raise ValueError(f"Bybit has no {minutes}-minute klines")


def parse_private_message(msg: dict[str, Any], settle_coin: str = "USDT") -> PrivateUpdate | None:
    """One private-stream message (order / execution / position / wallet) as a PrivateUpdate."""
    topic = str(msg.get("topic", ""))
    data = msg.get("data") or []
    if isinstance(data, dict):
        data = [data]
    update = PrivateUpdate()
    if topic.startswith("order"):
        for d in data:
            (update.spot_orders if is_spot(d) else update.orders).append(parse_order(d))
    elif topic.startswith("execution"):
        for d in data:
            if is_spot(d):
                sf = parse_spot_execution(d)
                if sf is not None:
                    update.spot_fills.append(sf)
            else:
                f = parse_execution(d)
                if f is not None:
                    update.fills.append(f)
    elif topic.startswith("position"):
        for d in data:
            p = parse_position(d)
            if p is None:
                if d.get("symbol"):
                    update.closed_symbols.append(str(d["symbol"]))
            else:
                update.positions.append(p)
    elif topic.startswith("wallet"):
        if not data:
            return None
        update.wallet = parse_wallet(data[0], settle_coin)
    else:
        return None
    return update


def order_params(intent: OrderIntent, inst: Instrument, category: str) -> dict[str, Any]:
    """The create-order body for an intent: qty down to the step, prices on the tick, as strings."""
    qty = round_qty(intent.qty, inst)
    if qty <= 0 or qty < inst.min_qty:
        raise VenueError(
            f"bybit: qty {intent.qty} rounds to {qty}, below the minimum {inst.min_qty} of {inst.symbol}",
            code="QTY_BELOW_MIN",
        )
    params: dict[str, Any] = {
        "category": category,
        "symbol": inst.symbol,
        "side": intent.side.value,
        "orderType": intent.order_type.value,
        "qty": format_decimal(qty),
        "orderLinkId": intent.client_order_id,
        "positionIdx": 0,
    }
    if intent.reduce_only:
        params["reduceOnly"] = True
    if intent.order_type is OrderType.LIMIT:
        if intent.price is None or intent.price <= 0:
            raise VenueError("bybit: a limit order needs a price", code="NO_PRICE")
        # Round limits to the passive side: never pay more / sell for less than intended.
        how: PriceRounding = "down" if intent.side is Side.BUY else "up"
        params["price"] = format_decimal(round_price(intent.price, inst, how))
        params["timeInForce"] = "PostOnly" if intent.post_only else "GTC"
    else:
        params["timeInForce"] = "IOC"
    long = intent.side is Side.BUY
    if intent.stop_loss is not None and not intent.reduce_only:
        # Stops round toward the entry so the loss at stop is never larger than sized.
        params["stopLoss"] = format_decimal(
            round_price(intent.stop_loss, inst, "up" if long else "down")
        )
        params["slTriggerBy"] = "LastPrice"
    if intent.take_profit is not None and not intent.reduce_only:
        params["takeProfit"] = format_decimal(
            round_price(intent.take_profit, inst, "down" if long else "up")
        )
        params["tpTriggerBy"] = "LastPrice"
    if "stopLoss" in params or "takeProfit" in params:
        params["tpslMode"] = "Full"
    return params


def parse_book_top(data: dict[str, Any], ts_ms: int, last: Ticker | None) -> Ticker | None:
    """The best bid and ask of an orderbook.1 message (pybit hands the whole book it
    keeps), as a ticker on the last ticker's price; None before the first ticker."""
    if last is None:
        return None
    bids = [dec(b[0]) for b in data.get("b") or [] if b and dec(b[1]) > 0]
    asks = [dec(a[0]) for a in data.get("a") or [] if a and dec(a[1]) > 0]
    return Ticker(symbol=last.symbol, last_price=last.last_price, ts_ms=ts_ms,
                  bid=max(bids) if bids else last.bid, ask=min(asks) if asks else last.ask,
                  funding_rate=last.funding_rate, next_funding_ms=last.next_funding_ms)
