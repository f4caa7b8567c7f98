"""Bybit spot (category `spot`) in the unified account: the spot leg of Sentinel's pairs
(SPEC §1, §16), on the same account, REST plumbing, rate limits and order sender as the
perpetuals (`BybitVenue.spot`).

What the pair needs and no more: the spot instruments, market and limit orders with
Titan's client ids, cancels (one, all), open orders and an order by client id, the coin
balances, the spot executions and the order book (the basis is priced from its depth).

The rules kept here: a spot quantity is always in the base coin (`marketUnit=baseCoin`
on market orders too: Bybit's default for a market Buy is the quote coin, and a pair's
two legs must be sized in the same unit); there is no reduce-only and no exchange-side
stop on spot (refused here, never sent); nothing is bought on margin (`isLeverage=0`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import (
    RateLimitedError,
    SpotFill,
    SpotInstrument,
    VenueError,
    VenueOrder,
    VenueUnavailableError,
)
from titan.venues.bybit_rest import _int_or_none
from titan.venues.bybit_wire import (
    ORDER_GONE_CODES,
    dec,
    parse_coins,
    parse_levels,
    parse_order,
    parse_spot_execution,
    parse_spot_instrument,
)
from titan.venues.instruments import format_decimal, round_price, round_qty

if TYPE_CHECKING:
    from titan.venues.bybit import BybitVenue

SPOT = "spot"
PARAMS_ERROR = 10001
Levels = list[tuple[Decimal, Decimal]]


def spot_order_params(intent: OrderIntent, spot: SpotInstrument) -> dict[str, Any]:
    """The create-order body of a spot intent; a VenueError (nothing sent) when the
    intent asks for what spot does not have or is below the pair's minimums."""
    inst = spot.inst
    if intent.reduce_only:
        raise VenueError("bybit spot: there is no reduce-only on spot", code="SPOT_REDUCE_ONLY")
    if intent.stop_loss is not None or intent.take_profit is not None:
        raise VenueError("bybit spot: no exchange-side stop or target on spot",
                         code="SPOT_TPSL")
    qty = round_qty(intent.qty, inst)
    if qty <= 0 or qty < inst.min_qty:
        raise VenueError(f"bybit spot: qty {intent.qty} rounds to {qty}, below the minimum "
                         f"{inst.min_qty} of {inst.symbol}", code="QTY_BELOW_MIN")
    params: dict[str, Any] = {
        "category": SPOT, "symbol": inst.symbol, "side": intent.side.value,
        "orderType": intent.order_type.value, "qty": format_decimal(qty),
        "orderLinkId": intent.client_order_id, "isLeverage": 0,
    }
    if intent.order_type is OrderType.LIMIT:
        if intent.price is None or intent.price <= 0:
            raise VenueError("bybit spot: a limit order needs a price", code="NO_PRICE")
        price = round_price(intent.price, inst, "down" if intent.side is Side.BUY else "up")
        if inst.min_notional and qty * price < inst.min_notional:
            raise VenueError(f"bybit spot: order value {qty * price} below the minimum "
                             f"{inst.min_notional}", code="VALUE_BELOW_MIN")
        params["price"] = format_decimal(price)
        params["timeInForce"] = "PostOnly" if intent.post_only else "GTC"
    else:
        params["marketUnit"] = "baseCoin"
        params["timeInForce"] = "IOC"
    return params


class BybitSpot:
    """The spot side of one `BybitVenue` (its `spot` attribute)."""

    def __init__(self, venue: BybitVenue) -> None:
        self._v = venue
        self._instruments: dict[str, SpotInstrument] = {}

    def instrument(self, symbol: str) -> SpotInstrument | None:
        return self._instruments.get(symbol.upper())

    async def load(self, symbol: str) -> SpotInstrument:
        """The spot instrument of `symbol` (asked once, then cached). A coin with no spot
        market is a VenueError UNKNOWN_SPOT_SYMBOL: the pair cannot exist."""
        symbol = symbol.upper()
        cached = self._instruments.get(symbol)
        if cached is not None:
            return cached
        try:
            resp = await self._v._read("get_instruments_info", category=SPOT, symbol=symbol)
        except VenueError as exc:
            if _int_or_none(exc.code) != PARAMS_ERROR:
                raise
            resp = {}  # "Not supported symbols": no spot market, as an empty list says
        rows = [r for r in (resp.get("result") or {}).get("list") or []
                if r.get("symbol") == symbol and r.get("status", "Trading") == "Trading"]
        if not rows:
            raise VenueError(f"bybit: no spot market for {symbol}", code="UNKNOWN_SPOT_SYMBOL")
        spot = parse_spot_instrument(rows[0])
        if spot.inst.tick_size <= 0 or spot.inst.qty_step <= 0:
            raise VenueError(f"bybit: spot {symbol} has no tick/step", code="BAD_INSTRUMENT")
        self._instruments[symbol] = spot
        return spot

    # -- orders --------------------------------------------------------------------------

    async def place_order(self, intent: OrderIntent) -> VenueOrder:
        spot = await self.load(intent.symbol)
        params = spot_order_params(intent, spot)
        resp = await self._v._rest("place_order", "submit", **params)
        result = resp.get("result") or {}
        return VenueOrder(
            symbol=spot.symbol,
            client_order_id=str(result.get("orderLinkId") or intent.client_order_id),
            venue_order_id=str(result.get("orderId", "")), side=intent.side,
            order_type=intent.order_type, qty=dec(params["qty"]), filled_qty=dec(0),
            price=dec(params["price"]) if "price" in params else None, avg_price=None,
            status=OrderStatus.NEW, reduce_only=False, updated_at=self._v._clock.now())

    async def cancel_order(self, symbol: str, client_order_id: str) -> bool:
        try:
            await self._v._rest("cancel_order", "cancel", category=SPOT, symbol=symbol.upper(),
                                orderLinkId=client_order_id)
        except RateLimitedError:
            raise
        except VenueError as exc:
            if _int_or_none(exc.code) in ORDER_GONE_CODES:
                return False
            raise
        return True

    async def cancel_all(self, symbol: str | None = None) -> list[str]:
        """Every open spot order (of `symbol`, or all): the emergency actions' half."""
        params: dict[str, Any] = {"category": SPOT}
        if symbol:
            params["symbol"] = symbol.upper()
        resp = await self._v._rest("cancel_all_orders", "cancel", **params)
        rows = (resp.get("result") or {}).get("list") or []
        return [str(r.get("orderLinkId") or r.get("orderId") or "") for r in rows]

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        params: dict[str, Any] = {"category": SPOT, "openOnly": 0}
        if symbol:
            params["symbol"] = symbol.upper()
        rows = await self._v._read_pages("get_open_orders", 50, **params)
        return [o for o in (parse_order(r) for r in rows) if not o.status.is_terminal]

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        for method in ("get_open_orders", "get_order_history"):
            resp = await self._v._read(method, category=SPOT, symbol=symbol.upper(),
                                       orderLinkId=client_order_id)
            for r in (resp.get("result") or {}).get("list") or []:
                if r.get("orderLinkId") == client_order_id:
                    return parse_order(r)
        return None

    # -- account ---------------------------------------------------------------------------

    async def coins(self) -> dict[str, Decimal]:
        """Every coin's wallet balance in the unified account (USDT included), non-zero."""
        resp = await self._v._read("get_wallet_balance", accountType="UNIFIED")
        rows = (resp.get("result") or {}).get("list") or []
        if not rows:
            raise VenueUnavailableError("bybit: wallet-balance returned no account")
        return parse_coins(rows[0])

    async def executions(self, symbol: str | None = None,
                         since_ms: int | None = None) -> list[SpotFill]:
        params: dict[str, Any] = {"category": SPOT}
        if symbol:
            params["symbol"] = symbol.upper()
        if since_ms is not None:
            params["startTime"] = int(since_ms)
        rows = await self._v._read_pages("get_executions", 100, **params)
        fills = [f for f in (parse_spot_execution(r) for r in rows) if f is not None]
        fills.sort(key=lambda f: (f.ts, f.exec_id))
        return fills

    # -- market data ------------------------------------------------------------------------

    async def book(self, symbol: str, depth: int = 50, *,
                   category: str = SPOT) -> tuple[Levels, Levels]:
        """(bids best first, asks best first) of the spot book, or of the perpetual's with
        `category="linear"`: the depth the pair's basis is priced from."""
        if category not in (SPOT, "linear"):
            raise ValueError("a book is spot or linear")
        resp = await self._v._read("get_orderbook", category=category, symbol=symbol.upper(),
                                   limit=max(1, min(200, depth)))
        result = resp.get("result") or {}
        return parse_levels(result.get("b")), parse_levels(result.get("a"))

