"""Binance USD-M conditional orders (STOP_MARKET, TAKE_PROFIT_MARKET) on the Algo Service.

Since 2025-12-09 Binance refuses conditional types on `POST /fapi/v1/order` (-4120) and
takes them on `/fapi/v1/algoOrder` (`algoType=CONDITIONAL`, `triggerPrice`,
`clientAlgoId`); python-binance's `futures_create_order` routes them there by itself.
An open algo order waits here, outside the matching engine, until a trade crosses its
trigger (last price; the simulator's mark price is the last price, so `MARK_PRICE` and
`CONTRACT_PRICE` trigger alike), then it is sent on as a reduce-only market order.
A `closePosition=true` order closes whatever position is open at that moment and
expires if there is none, as Binance's Close-All does.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan.sim.binance import BinanceError, _dec
from titan.sim.bybit_shapes import num
from titan.sim.matching import Reject

if TYPE_CHECKING:
    from titan.sim.binance import BinanceFront

TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
_OTHER_CONDITIONAL = ("STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET")


@dataclass(slots=True)
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    symbol: str
    side: str  # "BUY" | "SELL"
    order_type: str
    trigger: Decimal
    qty: Decimal | None  # None with closePosition
    close_position: bool
    reduce_only: bool
    working_type: str
    created_ms: int
    updated_ms: int
    status: str = "NEW"  # NEW → FINISHED | CANCELED | EXPIRED
    trigger_ms: int = 0
    actual_order_id: str = ""

    def crossed(self, price: Decimal) -> bool:
        # A stop sells below / buys above its trigger; a take-profit the other way round.
        down = (self.order_type == "STOP_MARKET") == (self.side == "SELL")
        return price <= self.trigger if down else price >= self.trigger


class AlgoDesk:
    """Every account's conditional orders and their triggering."""

    def __init__(self, front: BinanceFront) -> None:
        self.front = front
        self.orders: dict[str, list[AlgoOrder]] = {}  # account key → orders, oldest first
        self._ids = itertools.count(1_000_000_001)

    def routes(self) -> list[web.RouteDef]:
        h = self.front._handle
        return [
            web.post("/fapi/v1/algoOrder", h(self.create, signed=True)),
            web.get("/fapi/v1/algoOrder", h(self.get, signed=True)),
            web.delete("/fapi/v1/algoOrder", h(self.cancel, signed=True)),
            web.get("/fapi/v1/openAlgoOrders", h(self.open_orders, signed=True)),
            web.delete("/fapi/v1/algoOpenOrders", h(self.cancel_all, signed=True)),
        ]

    def open(self, key: str, symbol: str | None = None) -> list[AlgoOrder]:
        return [a for a in self.orders.get(key, []) if a.status == "NEW"
                and (symbol is None or a.symbol == symbol)]

    # ---- REST -----------------------------------------------------------------------

    def shape(self, a: AlgoOrder) -> dict[str, Any]:
        scale = self.front.sim.engine.specs[a.symbol].price_scale
        return {
            "algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "algoType": "CONDITIONAL",
            "orderType": a.order_type, "symbol": a.symbol, "side": a.side,
            "positionSide": "BOTH", "timeInForce": "GTC",
            "quantity": num(a.qty) if a.qty is not None else "0", "algoStatus": a.status,
            "actualOrderId": a.actual_order_id, "actualPrice": "0",
            "triggerPrice": num(a.trigger, scale), "price": "0", "icebergQuantity": None,
            "tpTriggerPrice": "0", "tpPrice": "0", "slTriggerPrice": "0", "slPrice": "0",
            "tpOrderType": "", "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": a.working_type, "priceMatch": "NONE",
            "closePosition": a.close_position, "priceProtect": False,
            "reduceOnly": a.reduce_only, "createTime": a.created_ms,
            "updateTime": a.updated_ms, "triggerTime": a.trigger_ms, "goodTillDate": 0,
        }

    async def create(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        """Validate everything first: a refused request leaves the account as it was."""
        sim = self.front.sim
        if p.get("algoType") != "CONDITIONAL":
            raise BinanceError(-1102, "Mandatory parameter 'algoType' was not sent, was "
                                      "empty/null, or malformed.")
        typ = p.get("type", "").upper()
        if typ in _OTHER_CONDITIONAL:
            raise BinanceError(-4120, "Order type not supported by the simulator.")
        if typ not in TYPES:
            raise BinanceError(-1116, "Invalid orderType.")
        sym = p.get("symbol", "")
        if sym not in sim.engine.specs:
            raise BinanceError(-1121, "Invalid symbol.")
        spec = sim.engine.specs[sym]
        side = p.get("side", "").upper()
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if p.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        working = p.get("workingType", "CONTRACT_PRICE")
        if working not in ("CONTRACT_PRICE", "MARK_PRICE"):
            raise BinanceError(-1115, "Invalid workingType.")
        trigger = _dec(p, "triggerPrice", required=True)
        assert trigger is not None
        if trigger <= 0 or trigger % spec.tick_size != 0:
            raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        close = p.get("closePosition", "false").lower() == "true"
        reduce = p.get("reduceOnly", "false").lower() == "true"
        qty = _dec(p, "quantity")
        if close and qty is not None:
            raise BinanceError(-1106, "Parameter 'quantity' sent when not required.")
        if close and "reduceOnly" in p:
            raise BinanceError(-1106, "Parameter 'reduceOnly' sent when not required.")
        if not close:
            if qty is None:
                raise BinanceError(-1102, "Mandatory parameter 'quantity' was not sent, was "
                                          "empty/null, or malformed.")
            if qty <= 0:
                raise BinanceError(-4003, "Quantity less than or equal to zero.")
            if qty % spec.qty_step != 0:
                raise BinanceError(-1111, "Precision is over the maximum defined for this asset.")
        cid = p.get("clientAlgoId", "")
        if not cid or len(cid) > 36:
            raise BinanceError(-1102, "Mandatory parameter 'clientAlgoId' was not sent, was "
                                      "empty/null, or malformed.")
        if any(a.client_algo_id == cid for a in self.open(key)):
            raise BinanceError(-4116, "ClientOrderId is duplicated.")
        now = sim.now_ms()
        a = AlgoOrder(next(self._ids), cid, sym, side, typ, trigger, qty, close, reduce,
                      working, now, now)
        if a.crossed(sim.engine.last[sym]):
            raise BinanceError(-2021, "Order would immediately trigger.")
        self.orders.setdefault(key, []).append(a)
        sim.notify_change()
        return self.shape(a)

    def _find(self, key: str, p: dict[str, str]) -> AlgoOrder:
        mine = self.orders.get(key, [])
        if p.get("algoId"):
            hit = [a for a in mine if str(a.algo_id) == p["algoId"]]
        elif p.get("clientAlgoId"):
            hit = [a for a in mine if a.client_algo_id == p["clientAlgoId"]]
        else:
            raise BinanceError(-1102, "Either algoId or clientAlgoId must be sent.")
        if not hit:
            raise BinanceError(-2013, "Order does not exist.")
        return hit[-1]

    async def get(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        return self.shape(self._find(key, p))

    async def cancel(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        try:
            a = self._find(key, p)
        except BinanceError as e:
            if e.code == -2013:
                raise BinanceError(-2011, "Unknown order sent.") from None
            raise
        if a.status != "NEW":
            raise BinanceError(-2011, "Unknown order sent.")
        self._finish(a, "CANCELED")
        return {"algoId": a.algo_id, "clientAlgoId": a.client_algo_id, "code": "200",
                "msg": "success"}

    async def open_orders(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        return [self.shape(a) for a in self.open(key, p.get("symbol") or None)]

    async def cancel_all(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        sym = p.get("symbol")
        if not sym:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was "
                                      "empty/null, or malformed.")
        if sym not in self.front.sim.engine.specs:
            raise BinanceError(-1121, "Invalid symbol.")
        for a in self.open(key, sym):
            self._finish(a, "CANCELED")
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _finish(self, a: AlgoOrder, status: str) -> None:
        a.status = status
        a.updated_ms = self.front.sim.now_ms()
        self.front.sim.notify_change()

    # ---- triggering -----------------------------------------------------------------

    def on_price(self, symbol: str, price: Decimal, now_ms: int) -> None:
        eng = self.front.sim.engine
        fired = False
        for key, orders in self.orders.items():
            for a in orders:
                if a.status != "NEW" or a.symbol != symbol or not a.crossed(price):
                    continue
                a.trigger_ms = a.updated_ms = now_ms
                fired = True
                pos = eng.account(key).positions.get(symbol)
                size = pos.size if pos is not None else Decimal(0)
                closing = (size > 0) == (a.side == "SELL") and size != 0
                if not closing and (a.close_position or a.reduce_only):
                    a.status = "EXPIRED"  # nothing left to close
                    continue
                qty = abs(size) if a.close_position else a.qty
                assert qty is not None
                try:
                    o = eng.place(key, symbol=symbol, side=a.side.capitalize(),
                                  order_type="Market", qty=qty, reduce_only=a.close_position
                                  or a.reduce_only, now_ms=now_ms, venue="binance",
                                  stop_order_type="StopLoss" if a.order_type == "STOP_MARKET"
                                  else "TakeProfit")
                except Reject:
                    a.status = "EXPIRED"
                    continue
                a.actual_order_id = str(o.num_id)
                a.status = "FINISHED"
        if fired:
            self.front.sim.notify_change()
