"""Binance wire format (spot aggTrade, USD-M futures REST and user stream) -> Titan types. Pure."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from titan.domain.orders import Fill, OrderStatus, OrderType, Position, Side
from titan.venues.base import Instrument, Kline, Ticker, Trade, VenueOrder, Wallet
from titan.venues.bybit_wire import dec, dec_or_none, ms_to_dt

# Binance error codes meaning "slow down" / "the outcome is unknown" / "no such order".
RATE_LIMIT_CODES = frozenset({-1003, -1015})
UNKNOWN_OUTCOME_CODES = frozenset({-1006, -1007})
ORDER_GONE_CODES = frozenset({-2011, -2013})
NO_NEED_TO_CHANGE = frozenset({-4046, -4059})

_STATUS = {
    "NEW": OrderStatus.NEW,
    "PARTIALLY_FILLED": OrderStatus.PARTIALLY_FILLED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELLED,
    "EXPIRED": OrderStatus.CANCELLED,
    "EXPIRED_IN_MATCH": OrderStatus.CANCELLED,
    "REJECTED": OrderStatus.REJECTED,
}


def side_of(value: Any) -> Side:
    return Side.BUY if str(value).upper() == "BUY" else Side.SELL


def wire_side(side: Side) -> str:
    return "BUY" if side is Side.BUY else "SELL"


def parse_agg_trade(msg: dict[str, Any]) -> Trade | None:
    """An aggTrade event, bare or wrapped in a combined-stream envelope; None for anything else."""
    data = msg.get("data", msg)
    if not isinstance(data, dict) or data.get("e") != "aggTrade":
        return None
    # Fast path for the shape Binance sends (every field present, JSON-typed as documented):
    # the same values as the general conversion below, without its defaults and re-casts.
    # Anything else (a missing field, a string where a number belongs) takes the general path.
    try:
        sym, ts, maker, agg_id = data["s"], data["T"], data["m"], data["a"]
        if type(sym) is str and type(ts) is int and ts and type(maker) is bool and (
            type(agg_id) is int
        ):
            return Trade(sym.upper(), float(data["p"]), float(data["q"]), ts, maker, agg_id)
    except KeyError:
        pass
    return Trade(
        symbol=str(data.get("s", "")).upper(),
        price=float(data.get("p", 0)),
        qty=float(data.get("q", 0)),
        ts_ms=int(data.get("T") or data.get("E") or 0),
        buyer_is_maker=bool(data.get("m", False)),
        trade_id=int(data.get("a", 0)),
    )


def parse_instrument(d: dict[str, Any]) -> Instrument | None:
    filters = {f.get("filterType"): f for f in d.get("filters") or []}
    pf = filters.get("PRICE_FILTER") or {}
    lot = filters.get("LOT_SIZE") or {}
    mn = filters.get("MIN_NOTIONAL") or {}
    tick, step = dec(pf.get("tickSize")), dec(lot.get("stepSize"))
    if tick <= 0 or step <= 0:
        return None
    return Instrument(
        symbol=str(d["symbol"]),
        tick_size=tick.normalize(),
        qty_step=step.normalize(),
        min_qty=dec(lot.get("minQty")).normalize(),
        min_notional=dec(mn.get("notional")),
    )


def parse_order(d: dict[str, Any]) -> VenueOrder:
    otype = (
        OrderType.MARKET
        if str(d.get("type", d.get("origType", ""))) == "MARKET"
        else OrderType.LIMIT
    )
    return VenueOrder(
        symbol=str(d.get("symbol", "")),
        client_order_id=str(d.get("clientOrderId", "")),
        venue_order_id=str(d.get("orderId", "")),
        side=side_of(d.get("side")),
        order_type=otype,
        qty=dec(d.get("origQty")),
        filled_qty=dec(d.get("executedQty")),
        price=dec_or_none(d.get("price")),
        avg_price=dec_or_none(d.get("avgPrice")),
        status=_STATUS.get(str(d.get("status", "")), OrderStatus.NEW),
        reduce_only=bool(d.get("reduceOnly", False)),
        updated_at=ms_to_dt(d.get("updateTime") or d.get("time")),
    )


def parse_position(d: dict[str, Any]) -> Position | None:
    amt = dec(d.get("positionAmt"))
    if amt == 0:
        return None
    return Position(
        symbol=str(d.get("symbol", "")),
        side=Side.BUY if amt > 0 else Side.SELL,
        size=abs(amt),
        entry_price=dec(d.get("entryPrice")),
        unrealised_pnl=dec(d.get("unRealizedProfit", d.get("unrealizedProfit"))),
        leverage=dec(d.get("leverage"), Decimal(1)),
    )


def parse_balance(rows: list[dict[str, Any]], asset: str = "USDT") -> Wallet:
    row = next((r for r in rows if r.get("asset") == asset), {})
    balance = dec(row.get("balance", row.get("walletBalance")))
    upl = dec(row.get("crossUnPnl", row.get("unrealizedProfit")))
    return Wallet(
        equity=balance + upl,
        wallet_balance=balance,
        available=dec(row.get("availableBalance")),
        unrealised_pnl=upl,
    )


def parse_user_trade(d: dict[str, Any], client_ids: dict[str, str]) -> Fill:
    oid = str(d.get("orderId", ""))
    return Fill(
        exec_id=str(d.get("id", "")),
        client_order_id=client_ids.get(oid, ""),
        venue_order_id=oid,
        symbol=str(d.get("symbol", "")),
        side=side_of(d.get("side")),
        qty=dec(d.get("qty")),
        price=dec(d.get("price")),
        fee=dec(d.get("commission")),
        ts=ms_to_dt(d.get("time")) or datetime.fromtimestamp(0, UTC),
    )


def parse_kline(row: list[Any]) -> Kline:
    return Kline(
        start_ms=int(row[0]),
        open=float(row[1]),
        high=float(row[2]),
        low=float(row[3]),
        close=float(row[4]),
        volume=float(row[5]),
    )


def parse_ticker(d: dict[str, Any], now_ms: int) -> Ticker:
    return Ticker(
        symbol=str(d.get("symbol", "")),
        last_price=dec(d.get("price")),
        ts_ms=int(d.get("time") or now_ms),
    )


def interval_code(minutes: int) -> str:
    table = {1: "1m", 3: "3m", 5: "5m", 15: "15m", 30: "30m", 60: "1h", 120: "2h", 240: "4h"}
    table.update({360: "6h", 480: "8h", 720: "12h", 1440: "1d", 4320: "3d", 10080: "1w"})
    if minutes not in table:
        raise ValueError(f"Binance has no {minutes}-minute klines")
    return table[minutes]


def parse_user_event(
    msg: dict[str, Any], asset: str = "USDT"
) -> tuple[list[VenueOrder], list[Fill], list[Position], list[str], Wallet | None]:
    """ORDER_TRADE_UPDATE / ACCOUNT_UPDATE of the USD-M user stream."""
    orders: list[VenueOrder] = []
    fills: list[Fill] = []
    positions: list[Position] = []
    closed: list[str] = []
    wallet: Wallet | None = None
    event = msg.get("e")
    if event == "ORDER_TRADE_UPDATE":
        o = msg.get("o") or {}
        orders.append(
            VenueOrder(
                symbol=str(o.get("s", "")),
                client_order_id=str(o.get("c", "")),
                venue_order_id=str(o.get("i", "")),
                side=side_of(o.get("S")),
                order_type=OrderType.MARKET if o.get("o") == "MARKET" else OrderType.LIMIT,
                qty=dec(o.get("q")),
                filled_qty=dec(o.get("z")),
                price=dec_or_none(o.get("p")),
                avg_price=dec_or_none(o.get("ap")),
                status=_STATUS.get(str(o.get("X", "")), OrderStatus.NEW),
                reduce_only=bool(o.get("R", False)),
                updated_at=ms_to_dt(o.get("T") or msg.get("T")),
            )
        )
        if o.get("x") == "TRADE" and dec(o.get("l")) > 0:
            fills.append(
                Fill(
                    exec_id=f"{o.get('s')}-{o.get('t')}",
                    client_order_id=str(o.get("c", "")),
                    venue_order_id=str(o.get("i", "")),
                    symbol=str(o.get("s", "")),
                    side=side_of(o.get("S")),
                    qty=dec(o.get("l")),
                    price=dec(o.get("L")),
                    fee=dec(o.get("n")),
                    ts=ms_to_dt(o.get("T") or msg.get("T")) or datetime.fromtimestamp(0, UTC),
                )
            )
    elif event == "ACCOUNT_UPDATE":
        a = msg.get("a") or {}
        for b in a.get("B") or []:
            if b.get("a") == asset:
                wb = dec(b.get("wb"))
                wallet = Wallet(
                    equity=wb,
                    wallet_balance=wb,
                    available=dec(b.get("cw")),
                    unrealised_pnl=Decimal(0),
                )
        for p in a.get("P") or []:
            amt = dec(p.get("pa"))
            if amt == 0:
                closed.append(str(p.get("s", "")))
            else:
                positions.append(
                    Position(
                        symbol=str(p.get("s", "")),
                        side=Side.BUY if amt > 0 else Side.SELL,
                        size=abs(amt),
                        entry_price=dec(p.get("ep")),
                        unrealised_pnl=dec(p.get("up")),
                    )
                )
    return orders, fills, positions, closed, wallet
