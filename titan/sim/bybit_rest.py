"""Bybit v5 REST front: signature checks, Bybit's reply envelope and error codes.

Only the endpoints Titan uses are served; each translates Bybit's parameters into a
`MatchingEngine` call and renders the result with `bybit_shapes`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan.sim import bybit_shapes as shapes
from titan.sim.bybit_shapes import num
from titan.sim.market import INTERVAL_MINUTES
from titan.sim.matching import Reject, SimOrder

if TYPE_CHECKING:
    from titan.sim.server import Simulator


class BybitError(Exception):
    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


# /v5/order/create-batch: at most this many orders per request (linear).
BATCH_MAX_ORDERS = 20


class Batch:
    """A create-batch answer: `result.list` and `retExtInfo.list`, one entry per order."""

    def __init__(self, rows: list[dict[str, Any]], infos: list[dict[str, Any]]) -> None:
        self.rows = rows
        self.infos = infos


def envelope(result: Any, code: int = 0, msg: str = "OK",
             ext: dict[str, Any] | None = None) -> web.Response:
    body = {"retCode": code, "retMsg": msg, "result": result if result is not None else {},
            "retExtInfo": ext or {}, "time": time.time_ns() // 1_000_000}
    return web.json_response(body)


def _dec(params: dict[str, Any], name: str, *, required: bool = False) -> Decimal | None:
    raw = params.get(name)
    if raw is None or raw == "":
        if required:
            raise BybitError(10001, f"params error: {name} is required")
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        raise BybitError(10001, f"params error: {name} invalid") from None


def _page(rows: list[Any], p: dict[str, Any], *, default: int,
          maximum: int) -> tuple[list[Any], str]:
    """Bybit-style cursor paging; the cursor is an opaque offset."""
    limit = max(1, min(int(p.get("limit") or default), maximum))
    try:
        start = int(p.get("cursor") or 0)
    except ValueError:
        raise BybitError(10001, "params error: cursor invalid") from None
    end = start + limit
    return rows[start:end], (str(end) if end < len(rows) else "")


def _bool(v: Any) -> bool:
    return v is True or str(v).lower() == "true"


class BybitRest:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        h = self._handle
        return [
            web.post("/v5/order/create", h(self.create, auth=True)),
            web.post("/v5/order/create-batch", h(self.create_batch, auth=True)),
            web.post("/v5/order/cancel", h(self.cancel, auth=True)),
            web.post("/v5/order/cancel-all", h(self.cancel_all, auth=True)),
            web.get("/v5/order/realtime", h(self.realtime, auth=True)),
            web.get("/v5/order/history", h(self.history, auth=True)),
            web.get("/v5/position/list", h(self.positions, auth=True)),
            web.post("/v5/position/set-leverage", h(self.set_leverage, auth=True)),
            web.post("/v5/position/trading-stop", h(self.trading_stop, auth=True)),
            web.get("/v5/account/wallet-balance", h(self.wallet, auth=True)),
            web.get("/v5/execution/list", h(self.executions, auth=True)),
            web.get("/v5/market/kline", h(self.kline)),
            web.get("/v5/market/tickers", h(self.tickers)),
            web.get("/v5/market/instruments-info", h(self.instruments)),
            web.get("/v5/market/time", h(self.server_time)),
        ]

    # ---- plumbing -------------------------------------------------------------------

    def _handle(self, fn: Any, auth: bool = False) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            arrival = time.monotonic_ns()
            try:
                if auth:
                    key, params = await self._authenticate(request)
                else:
                    key, params = "", dict(request.query)
                if request.path == "/v5/order/create":
                    self.sim.recorder.order_arrived("bybit", key, str(params.get("orderLinkId", "")),
                                                    arrival)
                elif request.path == "/v5/order/create-batch":
                    for item in params.get("request") or []:
                        if isinstance(item, dict):
                            self.sim.recorder.order_arrived(
                                "bybit", key, str(item.get("orderLinkId", "")), arrival)
                result = await fn(request, key, params)
                if isinstance(result, web.StreamResponse):
                    return result
                if isinstance(result, Batch):
                    return envelope({"list": result.rows}, ext={"list": result.infos})
                return envelope(result)
            except BybitError as e:
                return envelope({}, e.code, e.msg)
            except Reject as e:
                return envelope({}, e.code, e.msg)
        return handler

    async def _authenticate(self, request: web.Request) -> tuple[str, dict[str, Any]]:
        key = request.headers.get("X-BAPI-API-KEY", "")
        sign = request.headers.get("X-BAPI-SIGN", "")
        ts = request.headers.get("X-BAPI-TIMESTAMP", "")
        recv = request.headers.get("X-BAPI-RECV-WINDOW", "5000")
        secret = self.sim.config.accounts.get(key)
        if not key or secret is None:
            raise BybitError(10003, "API key is invalid.")
        if request.method == "GET":
            candidates = [request.rel_url.raw_query_string, request.rel_url.query_string]
        else:
            candidates = [await request.text()]
        ok = any(
            hmac.compare_digest(
                hmac.new(secret.encode(), (ts + key + recv + p).encode(), hashlib.sha256).hexdigest(),
                sign)
            for p in candidates)
        if not ok:
            raise BybitError(10004, "error sign! origin_string[" + ts + key + recv + candidates[0] + "]")
        now = time.time_ns() // 1_000_000
        try:
            ts_i, recv_i = int(ts), int(recv)
        except ValueError:
            raise BybitError(10002, "invalid request, please check your timestamp") from None
        if self.sim.config.check_recv_window and (ts_i > now + 1000 or now - ts_i > recv_i):
            raise BybitError(10002, f"invalid request, please check your server timestamp or "
                                    f"recv_window param. req_timestamp[{ts_i}],server_timestamp"
                                    f"[{now}],recv_window[{recv_i}]")
        if request.method == "GET":
            params: dict[str, Any] = dict(request.query)
        else:
            try:
                params = json.loads(candidates[0] or "{}")
            except json.JSONDecodeError:
                raise BybitError(10001, "params error: body is not JSON") from None
        return key, params

    def _check_linear(self, params: dict[str, Any]) -> None:
        cat = params.get("category")
        if cat != "linear":
            raise BybitError(10001, f"params error: category {cat!r} not supported by simulator")

    # ---- trade ----------------------------------------------------------------------

    @staticmethod
    def _check_position_idx(p: dict[str, Any]) -> None:
        if int(p.get("positionIdx", 0) or 0) != 0:
            raise BybitError(10001, "position idx not match position mode")

    def _place(self, key: str, p: dict[str, Any], now_ms: int) -> SimOrder:
        """One order's parameters (of /v5/order/create, or one item of create-batch) to the
        matching engine."""
        qty = _dec(p, "qty", required=True)
        assert qty is not None
        return self.sim.engine.place(
            key, symbol=str(p.get("symbol", "")), side=str(p.get("side", "")),
            order_type=str(p.get("orderType", "")), qty=qty, price=_dec(p, "price"),
            tif=str(p.get("timeInForce") or "GTC"), reduce_only=_bool(p.get("reduceOnly")),
            link_id=str(p.get("orderLinkId") or ""), take_profit=_dec(p, "takeProfit"),
            stop_loss=_dec(p, "stopLoss"), now_ms=now_ms)

    async def create(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        self._check_position_idx(p)
        if self.sim.config.latency_ms > 0:
            await asyncio.sleep(self.sim.config.latency_ms / 1000)
        order = self._place(key, p, self.sim.now_ms())
        mode = self.sim.faults.take_ambiguous()
        if mode is not None:
            return await self.sim.lose_response(request, mode)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    async def create_batch(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        """Bybit's batch place: each order is validated and booked on its own, in request
        order; a refused one does not stop the others. The answer lists every order in
        `result.list` (orderId empty when refused) and its code/msg in `retExtInfo.list`."""
        self._check_linear(p)
        items = p.get("request")
        if not isinstance(items, list) or not items:
            raise BybitError(10001, "params error: request is required")
        if len(items) > BATCH_MAX_ORDERS:
            raise BybitError(10001, f"params error: at most {BATCH_MAX_ORDERS} orders per batch")
        if self.sim.config.latency_ms > 0:
            await asyncio.sleep(self.sim.config.latency_ms / 1000)
        rows: list[dict[str, Any]] = []
        infos: list[dict[str, Any]] = []
        for item in items:
            link = str(item.get("orderLinkId") or "") if isinstance(item, dict) else ""
            sym = str(item.get("symbol", "")) if isinstance(item, dict) else ""
            row = {"category": "linear", "symbol": sym, "orderId": "", "orderLinkId": link,
                   "createAt": ""}
            try:
                if not isinstance(item, dict):
                    raise BybitError(10001, "params error: order is not an object")
                self._check_position_idx(item)
                now = self.sim.now_ms()
                order = self._place(key, item, now)
                row.update(orderId=order.order_id, orderLinkId=order.link_id,
                           createAt=str(now))
                infos.append({"code": 0, "msg": "OK"})
            except (BybitError, Reject) as e:
                infos.append({"code": e.code, "msg": e.msg})
            rows.append(row)
        mode = self.sim.faults.take_ambiguous()
        if mode is not None:
            return await self.sim.lose_response(request, mode)
        return Batch(rows, infos)

    async def cancel(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        o = self.sim.engine.cancel(key, symbol=str(p.get("symbol", "")),
                                   order_id=p.get("orderId") or None,
                                   link_id=p.get("orderLinkId") or None, now_ms=self.sim.now_ms())
        return {"orderId": o.order_id, "orderLinkId": o.link_id}

    async def cancel_all(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        sym = p.get("symbol") or None
        if sym is None and not p.get("settleCoin") and not p.get("baseCoin"):
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        done = self.sim.engine.cancel_all(key, symbol=sym, now_ms=self.sim.now_ms())
        return {"list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in done],
                "success": "1"}

    def _order_query(self, key: str, p: dict[str, Any], *, history: bool) -> Any:
        self._check_linear(p)
        acc = self.sim.engine.account(key)
        sym = p.get("symbol") or None
        oid = p.get("orderId") or None
        lid = p.get("orderLinkId") or None
        status = p.get("orderStatus") or None
        orders = list(reversed(acc.orders))  # newest first, like Bybit
        if sym:
            orders = [o for o in orders if o.symbol == sym]
        if oid:
            orders = [o for o in orders if o.order_id == oid]
        if lid:
            orders = [o for o in orders if o.link_id == lid]
        if status:
            orders = [o for o in orders if o.status == status]
        # realtime: open orders only, unless asked by id (Bybit also finds recently
        # closed orders by orderId/orderLinkId) or openOnly=1 (recent closed included).
        if not history and not (oid or lid) and str(p.get("openOnly", "0")) != "1":
            orders = [o for o in orders if o.is_open]
        # history (UTA): active and closed orders alike, newest first.
        page, cursor = _page(orders, p, default=20, maximum=50)
        eng = self.sim.engine
        return {"category": "linear", "list": [shapes.order(eng, o) for o in page],
                "nextPageCursor": cursor}

    async def realtime(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self._order_query(key, p, history=False)

    async def history(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self._order_query(key, p, history=True)

    async def executions(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        acc = self.sim.engine.account(key)
        ex = list(reversed(acc.executions))
        for field, attr in (("symbol", "symbol"), ("orderId", "order_id"),
                            ("orderLinkId", "link_id")):
            if p.get(field):
                ex = [e for e in ex if getattr(e, attr) == p[field]]
        if p.get("startTime"):
            ex = [e for e in ex if e.time_ms >= int(p["startTime"])]
        if p.get("endTime"):
            ex = [e for e in ex if e.time_ms <= int(p["endTime"])]
        page, cursor = _page(ex, p, default=50, maximum=100)
        return {"category": "linear",
                "list": [shapes.execution(self.sim.engine, e) for e in page],
                "nextPageCursor": cursor}

    # ---- position / account ---------------------------------------------------------

    async def positions(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        eng = self.sim.engine
        acc = eng.account(key)
        sym = p.get("symbol")
        if sym:
            eng.spec(sym)
            rows = [eng.position(acc, sym)]
        elif p.get("settleCoin") or p.get("baseCoin"):
            rows = [pos for pos in acc.positions.values() if pos.size != 0]
        else:
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        return {"category": "linear", "list": [shapes.position(eng, r) for r in rows],
                "nextPageCursor": ""}

    async def set_leverage(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        buy, sell = _dec(p, "buyLeverage", required=True), _dec(p, "sellLeverage", required=True)
        if buy != sell:
            raise BybitError(10001, "buyLeverage must equal sellLeverage in one-way mode")
        assert buy is not None
        self.sim.engine.set_leverage(key, str(p.get("symbol", "")), buy)
        return {}

    async def trading_stop(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        self._check_linear(p)
        self.sim.engine.set_trading_stop(key, str(p.get("symbol", "")),
                                         take_profit=_dec(p, "takeProfit"),
                                         stop_loss=_dec(p, "stopLoss"), now_ms=self.sim.now_ms())
        return {}

    async def wallet(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        if p.get("accountType") != "UNIFIED":
            raise BybitError(10001, "accountType only support UNIFIED.")
        return {"list": [shapes.wallet(self.sim.engine, self.sim.engine.account(key))]}

    # ---- market ---------------------------------------------------------------------

    async def kline(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        sym = str(p.get("symbol", ""))
        self.sim.engine.spec(sym)
        interval = str(p.get("interval", ""))
        if interval not in INTERVAL_MINUTES:
            raise BybitError(10001, "params error: interval invalid")
        limit = max(1, min(int(p.get("limit", 200) or 200), 1000))
        start = int(p["start"]) if p.get("start") else None
        end = int(p["end"]) if p.get("end") else None
        bars = self.sim.market.klines(sym, interval, start, end, limit)
        scale = self.sim.engine.specs[sym].price_scale
        rows = [[str(k.start_ms), num(k.open, scale), num(k.high, scale), num(k.low, scale),
                 num(k.close, scale), num(k.volume), num(k.turnover)] for k in reversed(bars)]
        return {"symbol": sym, "category": p.get("category", "linear"), "list": rows}

    def ticker(self, sym: str) -> dict[str, Any]:
        eng, mkt = self.sim.engine, self.sim.market
        scale = eng.specs[sym].price_scale
        last = mkt.last(sym)
        prev, high, low, vol, turnover = mkt.stats_24h(sym)
        tick = eng.specs[sym].tick_size
        pct = (last / prev - 1) if prev else Decimal(0)
        now = self.sim.now_ms()
        return {
            "symbol": sym, "lastPrice": num(last, scale), "indexPrice": num(last, scale),
            "markPrice": num(last, scale), "prevPrice24h": num(prev, scale),
            "price24hPcnt": num(pct, 6), "highPrice24h": num(high, scale),
            "lowPrice24h": num(low, scale), "prevPrice1h": num(prev, scale),
            "openInterest": "0", "openInterestValue": "0", "turnover24h": num(turnover, 4),
            "volume24h": num(vol), "fundingRate": "0.0001",
            "nextFundingTime": str(now - now % 28_800_000 + 28_800_000),
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "ask1Size": "1", "bid1Price": num(last - tick, scale),
            "ask1Price": num(last, scale), "bid1Size": "1", "basis": "",
        }

    async def tickers(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        sym = p.get("symbol")
        syms = [sym] if sym else list(self.sim.engine.specs)
        for s in syms:
            self.sim.engine.spec(s)
        return {"category": p.get("category", "linear"), "list": [self.ticker(s) for s in syms]}

    async def instruments(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        sym = p.get("symbol")
        specs = [self.sim.engine.spec(sym)] if sym else list(self.sim.engine.specs.values())
        rows = []
        for s in specs:
            rows.append({
                "symbol": s.symbol, "contractType": "LinearPerpetual", "status": "Trading",
                "baseCoin": s.base_coin, "quoteCoin": "USDT", "launchTime": "1585526400000",
                "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": str(s.price_scale),
                "leverageFilter": {"minLeverage": "1", "maxLeverage": num(s.max_leverage, 2),
                                   "leverageStep": "0.01"},
                "priceFilter": {"minPrice": num(s.tick_size), "maxPrice": "1999999.80",
                                "tickSize": f"{s.tick_size:f}"},
                "lotSizeFilter": {"maxOrderQty": num(s.max_qty), "minOrderQty": num(s.min_qty),
                                  "qtyStep": num(s.qty_step),
                                  "postOnlyMaxOrderQty": num(s.max_qty),
                                  "maxMktOrderQty": num(s.max_qty),
                                  "minNotionalValue": num(s.min_notional)},
                "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
                "copyTrading": "both", "upperFundingRate": "0.00375",
                "lowerFundingRate": "-0.00375", "isPreListing": False,
                "preListingInfo": None,
            })
        return {"category": "linear", "list": rows, "nextPageCursor": ""}

    async def server_time(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        ns = time.time_ns()
        return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}
