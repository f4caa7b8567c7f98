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
from titan.sim.bybit_market import ParamError, category, int_param
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
    limit = max(1, min(int_param(p, "limit", default, 1, 1000) or default, maximum))
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
            web.get("/v5/market/orderbook", h(self.orderbook)),
            web.get("/v5/market/recent-trade", h(self.recent_trades)),
            web.get("/v5/market/funding/history", h(self.funding_history)),
            web.get("/v5/asset/coin/query-info", h(self.coin_info, auth=True)),
            web.get("/v5/user/query-api", h(self.api_key_info, auth=True)),
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
            except (BybitError, Reject, ParamError) as e:
                return envelope({}, e.code, e.msg)
            except (ValueError, TypeError, AttributeError, InvalidOperation):
                # A malformed value the handler could not read: Bybit's generic refusal.
                return envelope({}, 10001, "params error: request parameter invalid")
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
            if not isinstance(params, dict):
                raise BybitError(10001, "params error: body is not a JSON object")
        return key, params

    @staticmethod
    def _check_linear(params: dict[str, Any]) -> None:
        """Endpoints that exist for derivatives only (positions, leverage, batch)."""
        if category(params, ("linear", "inverse", "option")) != "linear":
            raise BybitError(10001, "params error: symbol invalid")

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

    def _place_spot(self, key: str, p: dict[str, Any], now_ms: int) -> SimOrder:
        qty = _dec(p, "qty", required=True)
        assert qty is not None
        return self.sim.spot.place(
            key, symbol=str(p.get("symbol", "")), side=str(p.get("side", "")),
            order_type=str(p.get("orderType", "")), qty=qty, price=_dec(p, "price"),
            market_unit=str(p.get("marketUnit") or ""), tif=str(p.get("timeInForce") or "GTC"),
            link_id=str(p.get("orderLinkId") or ""), now_ms=now_ms)

    async def create(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        spot = category(p) == "spot"
        if not spot:
            self._check_linear(p)
            self._check_position_idx(p)
        if self.sim.config.latency_ms > 0:
            await asyncio.sleep(self.sim.config.latency_ms / 1000)
        now = self.sim.now_ms()
        order = self._place_spot(key, p, now) if spot else self._place(key, p, now)
        mode = self.sim.faults.take_ambiguous()
        if mode is not None:
            return await self.sim.lose_response(request, mode)
        return {"orderId": order.order_id, "orderLinkId": order.link_id}

    async def create_batch(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        """Bybit's batch place: each order is validated and booked on its own, in request
        order; a refused one does not stop the others. The answer lists every order in
        `result.list` (orderId empty when refused) and its code/msg in `retExtInfo.list`.
        The whole batch is one pass through the matching engine (`engine.batch()`): its
        private-stream pushes go out together at the end, one message per topic."""
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
        with self.sim.engine.batch():
            self._book_batch(key, items, rows, infos)
        mode = self.sim.faults.take_ambiguous()
        if mode is not None:
            return await self.sim.lose_response(request, mode)
        return Batch(rows, infos)

    def _book_batch(self, key: str, items: list[Any], rows: list[dict[str, Any]],
                    infos: list[dict[str, Any]]) -> None:
        now = self.sim.now_ms()
        for item in items:
            link = str(item.get("orderLinkId") or "") if isinstance(item, dict) else ""
            sym = str(item.get("symbol", "")) if isinstance(item, dict) else ""
            row = {"category": "linear", "symbol": sym, "orderId": "", "orderLinkId": link,
                   "createAt": ""}
            try:
                if not isinstance(item, dict):
                    raise BybitError(10001, "params error: order is not an object")
                self._check_position_idx(item)
                order = self._place(key, item, now)
                row.update(orderId=order.order_id, orderLinkId=order.link_id,
                           createAt=str(now))
                infos.append({"code": 0, "msg": "OK"})
            except (BybitError, Reject) as e:
                infos.append({"code": e.code, "msg": e.msg})
            rows.append(row)

    async def cancel(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        cat = category(p)
        if not p.get("orderId") and not p.get("orderLinkId"):
            raise BybitError(10001, "params error: orderId or orderLinkId is required")
        o = self.sim.engine.cancel(key, symbol=str(p.get("symbol", "")),
                                   order_id=p.get("orderId") or None,
                                   link_id=p.get("orderLinkId") or None, now_ms=self.sim.now_ms(),
                                   category=cat)
        return {"orderId": o.order_id, "orderLinkId": o.link_id}

    async def cancel_all(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        cat = category(p)
        sym = p.get("symbol") or None
        if cat != "spot" and sym is None and not p.get("settleCoin") and not p.get("baseCoin"):
            raise BybitError(10001, "params error: symbol or settleCoin is required")
        done = self.sim.engine.cancel_all(key, symbol=sym, now_ms=self.sim.now_ms(),
                                          category=cat)
        return {"list": [{"orderId": o.order_id, "orderLinkId": o.link_id} for o in done],
                "success": "1"}

    def _order_query(self, key: str, p: dict[str, Any], *, history: bool) -> Any:
        cat = category(p)
        acc = self.sim.engine.account(key)
        sym = p.get("symbol") or None
        oid = p.get("orderId") or None
        lid = p.get("orderLinkId") or None
        status = p.get("orderStatus") or None
        # newest first, like Bybit; a category with nothing in it answers an empty list
        orders = [o for o in reversed(acc.orders) if o.category == cat]
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
        return {"category": cat, "list": [shapes.order(eng, o) for o in page],
                "nextPageCursor": cursor}

    async def realtime(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self._order_query(key, p, history=False)

    async def history(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self._order_query(key, p, history=True)

    async def executions(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        cat = category(p)
        acc = self.sim.engine.account(key)
        ex = [e for e in reversed(acc.executions) if e.category == cat]
        for field, attr in (("symbol", "symbol"), ("orderId", "order_id"),
                            ("orderLinkId", "link_id")):
            if p.get(field):
                ex = [e for e in ex if getattr(e, attr) == p[field]]
        if p.get("execType"):
            ex = [e for e in ex if e.exec_type == p["execType"]]
        start = int_param(p, "startTime", None, 0, 2**62)
        end = int_param(p, "endTime", None, 0, 2**62)
        if start is not None:
            ex = [e for e in ex if e.time_ms >= start]
        if end is not None:
            ex = [e for e in ex if e.time_ms <= end]
        page, cursor = _page(ex, p, default=50, maximum=100)
        return {"category": cat,
                "list": [shapes.execution(self.sim.engine, e) for e in page],
                "nextPageCursor": cursor}

    # ---- position / account ---------------------------------------------------------

    async def positions(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        cat = category(p, ("linear", "inverse", "option"))
        if cat != "linear":  # nothing held there: Bybit answers an empty list
            return {"category": cat, "list": [], "nextPageCursor": ""}
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

    # ---- market (bybit_market) and start-up queries -----------------------------------

    async def kline(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.kline(p)

    def ticker(self, sym: str) -> dict[str, Any]:
        return self.sim.bybit_market.ticker(sym)

    async def tickers(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.tickers(p)

    async def instruments(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.instruments(p)

    async def orderbook(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.orderbook(p)

    async def recent_trades(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.recent_trades(p)

    async def funding_history(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.funding_history(p)

    async def server_time(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.server_time()

    async def coin_info(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.coin_info(p)

    async def api_key_info(self, request: web.Request, key: str, p: dict[str, Any]) -> Any:
        return self.sim.bybit_market.api_key_info(key)
