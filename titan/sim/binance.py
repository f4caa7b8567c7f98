"""Binance fronts: spot aggTrade streams and the USD-M futures subset Titan uses.

Spot prints mirror the generated market exactly (spot price = perp price, same trades),
which is what lets the Scavenger watch Binance and trade Bybit in the simulator. The
futures REST and user stream drive the same `MatchingEngine` accounts as Bybit.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_plus

from aiohttp import WSMsgType, web

from titan.sim.bybit_shapes import num
from titan.sim.market import Trade
from titan.sim.matching import Account, Reject, SimExecution, SimOrder, SimPosition
from titan.sim.streams import Conn

if TYPE_CHECKING:
    from titan.sim.server import Simulator

SPOT = "binance_spot"
USER = "binance_user"

_STATUS = {"New": "NEW", "PartiallyFilled": "PARTIALLY_FILLED", "Filled": "FILLED",
           "Cancelled": "CANCELED", "Rejected": "REJECTED", "Deactivated": "EXPIRED"}
_TIF_IN = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "GTX": "PostOnly"}
_TIF_OUT = {"GTC": "GTC", "IOC": "IOC", "FOK": "FOK", "PostOnly": "GTX"}
# Binance's own wording for the refusals the engine raises.
_MESSAGES = {
    -4116: "ClientOrderId is duplicated.",
    -2022: "ReduceOnly Order is rejected.",
    -2019: "Margin is insufficient.",
    -2011: "Unknown order sent.",
    -1111: "Precision is over the maximum defined for this asset.",
    -4003: "Quantity less than or equal to zero.",
    -4005: "Quantity greater than max quantity.",
    -1121: "Invalid symbol.",
    -4028: "Leverage is not valid",
}


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg
        self.status = status


def _ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _dec(p: dict[str, str], name: str, *, required: bool = False) -> Decimal | None:
    raw = p.get(name)
    if raw in (None, ""):
        if required:
            raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, "
                                      "or malformed.")
        return None
    try:
        return Decimal(str(raw))
    except InvalidOperation:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'.") from None


class BinanceFront:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.spot: set[Conn] = set()
        self.user: set[Conn] = set()
        self._by_stream: dict[str, set[Conn]] = {}
        self.listen_keys: dict[str, str] = {}  # listenKey → account key
        self._announced: set[int] = set()  # orders whose NEW update was sent

    def routes(self) -> list[web.RouteDef]:
        h = self._handle
        return [
            web.get("/ws", self.ws_handler),
            web.get("/ws/{name}", self.ws_handler),
            web.get("/stream", self.ws_handler),
            web.get("/private/ws", self.ws_handler),
            web.get("/private/ws/{name}", self.ws_handler),
            web.get("/fapi/v1/ping", h(self.ping)),
            web.get("/fapi/v1/time", h(self.server_time)),
            web.get("/fapi/v1/exchangeInfo", h(self.exchange_info)),
            web.post("/fapi/v1/order", h(self.create, signed=True)),
            web.get("/fapi/v1/order", h(self.get_order, signed=True)),
            web.delete("/fapi/v1/order", h(self.cancel, signed=True)),
            web.get("/fapi/v1/openOrders", h(self.open_orders, signed=True)),
            web.delete("/fapi/v1/allOpenOrders", h(self.cancel_all, signed=True)),
            web.post("/fapi/v1/leverage", h(self.leverage, signed=True)),
            web.get("/fapi/v2/positionRisk", h(self.position_risk, signed=True)),
            web.get("/fapi/v3/positionRisk", h(self.position_risk, signed=True)),
            web.get("/fapi/v2/balance", h(self.balance, signed=True)),
            web.get("/fapi/v3/balance", h(self.balance, signed=True)),
            web.get("/fapi/v1/userTrades", h(self.user_trades, signed=True)),
            web.post("/fapi/v1/listenKey", h(self.listen_key, keyed=True)),
            web.put("/fapi/v1/listenKey", h(self.listen_key, keyed=True)),
            web.delete("/fapi/v1/listenKey", h(self.listen_key_close, keyed=True)),
        ]

    def conns(self) -> list[Conn]:
        return [*self.spot, *self.user]

    # ---- REST plumbing --------------------------------------------------------------

    def _handle(self, fn: Any, signed: bool = False, keyed: bool = False) -> Any:
        async def handler(request: web.Request) -> web.StreamResponse:
            arrival = time.monotonic_ns()
            try:
                key, params = await self._authenticate(request, signed, keyed or signed)
                if request.path == "/fapi/v1/order" and request.method == "POST":
                    self.sim.recorder.order_arrived("binance", key,
                                                    params.get("newClientOrderId", ""), arrival)
                result = await fn(request, key, params)
                if isinstance(result, web.StreamResponse):
                    return result
                return web.json_response(result)
            except BinanceError as e:
                return web.json_response({"code": e.code, "msg": e.msg}, status=e.status)
            except Reject as e:
                return web.json_response(
                    {"code": e.binance_code, "msg": _MESSAGES.get(e.binance_code, e.msg)},
                    status=400)
        return handler

    async def _authenticate(self, request: web.Request, signed: bool,
                            keyed: bool) -> tuple[str, dict[str, str]]:
        raw_q = request.rel_url.raw_query_string
        body = await request.text() if request.can_read_body else ""
        params = dict(parse_qsl(raw_q, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        if not keyed:
            return "", params
        key = request.headers.get("X-MBX-APIKEY", "")
        if not key:
            raise BinanceError(-2014, "API-key format invalid.", 401)
        secret = self.sim.config.accounts.get(key)
        if secret is None:
            raise BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        if not signed:
            return key, params
        sig = params.pop("signature", "")
        if not sig:
            raise BinanceError(-1102, "Mandatory parameter 'signature' was not sent, was "
                                      "empty/null, or malformed.")
        # totalParams = query string + body, as sent, without the signature itself.
        total = "&".join(part for part in (raw_q + ("&" if raw_q and body else "") + body).split("&")
                         if part and not part.startswith("signature="))
        ok = any(hmac.compare_digest(
            hmac.new(secret.encode(), cand.encode(), hashlib.sha256).hexdigest(), sig)
            for cand in (total, unquote_plus(total)))
        if not ok:
            raise BinanceError(-1022, "Signature for this request is not valid.")
        try:
            ts = int(params.get("timestamp", ""))
        except ValueError:
            raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent, was "
                                      "empty/null, or malformed.") from None
        window = int(params.get("recvWindow", "5000") or 5000)
        now = _ms()
        if self.sim.config.check_recv_window and (ts > now + 1000 or now - ts > window):
            raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")
        return key, params

    # ---- shapes ---------------------------------------------------------------------

    def _order(self, o: SimOrder) -> dict[str, Any]:
        scale = self.sim.engine.specs[o.symbol].price_scale
        status = _STATUS.get(o.status, "NEW")
        if status == "CANCELED" and o.tif in ("IOC", "FOK") and o.cancel_type == "UNKNOWN":
            status = "EXPIRED"
        avg = o.avg_price
        typ = o.order_type.upper()
        return {
            "orderId": o.num_id, "symbol": o.symbol, "status": status,
            "clientOrderId": o.link_id, "price": num(o.price or Decimal(0), scale),
            "avgPrice": num(avg, scale + 2) if avg is not None else "0",
            "origQty": num(o.qty), "executedQty": num(o.cum_qty), "cumQty": num(o.cum_qty),
            "cumQuote": num(o.cum_value), "timeInForce": _TIF_OUT.get(o.tif, "GTC"),
            "type": typ, "reduceOnly": o.reduce_only, "closePosition": False,
            "side": o.side.upper(), "positionSide": "BOTH", "stopPrice": "0",
            "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": typ,
            "priceMatch": "NONE", "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "time": o.created_ms, "updateTime": o.updated_ms,
        }

    def _find(self, key: str, p: dict[str, str]) -> SimOrder | None:
        eng = self.sim.engine
        if p.get("orderId"):
            try:
                return eng.find_order(key, num_id=int(p["orderId"]))
            except ValueError:
                return None
        if p.get("origClientOrderId"):
            return eng.find_order(key, link_id=p["origClientOrderId"])
        raise BinanceError(-1102, "Either orderId or origClientOrderId must be sent.")

    # ---- endpoints ------------------------------------------------------------------

    async def ping(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        return {}

    async def server_time(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        return {"serverTime": _ms()}

    async def exchange_info(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        rows = []
        for s in self.sim.engine.specs.values():
            qty_prec = max(0, -s.qty_step.normalize().as_tuple().exponent)  # type: ignore[operator]
            rows.append({
                "symbol": s.symbol, "pair": s.symbol, "contractType": "PERPETUAL",
                "deliveryDate": 4133404800000, "onboardDate": 1569398400000,
                "status": "TRADING", "baseAsset": s.base_coin, "quoteAsset": "USDT",
                "marginAsset": "USDT", "pricePrecision": s.price_scale,
                "quantityPrecision": qty_prec, "baseAssetPrecision": 8, "quotePrecision": 8,
                "underlyingType": "COIN", "triggerProtect": "0.0500",
                "filters": [
                    {"filterType": "PRICE_FILTER", "minPrice": num(s.tick_size),
                     "maxPrice": "4529764", "tickSize": num(s.tick_size)},
                    {"filterType": "LOT_SIZE", "stepSize": num(s.qty_step),
                     "minQty": num(s.min_qty), "maxQty": num(s.max_qty)},
                    {"filterType": "MARKET_LOT_SIZE", "stepSize": num(s.qty_step),
                     "minQty": num(s.min_qty), "maxQty": num(s.max_qty)},
                    {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                    {"filterType": "MIN_NOTIONAL", "notional": num(s.min_notional)},
                ],
                "orderTypes": ["LIMIT", "MARKET"],
                "timeInForce": ["GTC", "IOC", "FOK", "GTX"],
            })
        return {"timezone": "UTC", "serverTime": _ms(), "futuresType": "U_MARGINED",
                "rateLimits": [], "exchangeFilters": [], "assets": [], "symbols": rows}

    async def create(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        typ = p.get("type", "").upper()
        if typ in ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
                   "TRAILING_STOP_MARKET"):
            # Binance moved these to the Algo Service (binance_algo) on 2025-12-09.
            raise BinanceError(-4120, "Order type not supported for this endpoint. Please use "
                                      "the Algo Order API endpoints instead.")
        if typ not in ("MARKET", "LIMIT"):
            raise BinanceError(-1116, "Invalid orderType.")
        side = {"BUY": "Buy", "SELL": "Sell"}.get(p.get("side", "").upper())
        if side is None:
            raise BinanceError(-1117, "Invalid side.")
        if p.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        tif = _TIF_IN.get(p.get("timeInForce", "GTC"))
        if tif is None:
            raise BinanceError(-1115, "Invalid timeInForce.")
        if typ == "LIMIT" and not p.get("timeInForce"):
            raise BinanceError(-1102, "Mandatory parameter 'timeInForce' was not sent, was "
                                      "empty/null, or malformed.")
        qty = _dec(p, "quantity", required=True)
        assert qty is not None
        if self.sim.config.latency_ms > 0:
            await asyncio.sleep(self.sim.config.latency_ms / 1000)
        order = self.sim.engine.place(
            key, symbol=p.get("symbol", ""), side=side, order_type=typ.capitalize(), qty=qty,
            price=_dec(p, "price", required=typ == "LIMIT"), tif=tif,
            reduce_only=p.get("reduceOnly", "false").lower() == "true",
            link_id=p.get("newClientOrderId", ""), now_ms=self.sim.now_ms(), venue="binance")
        mode = self.sim.faults.take_ambiguous()
        if mode is not None:
            return await self.sim.lose_response(request, mode)
        return self._order(order)

    async def get_order(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        o = self._find(key, p)
        if o is None or o.symbol != p.get("symbol"):
            raise BinanceError(-2013, "Order does not exist.")
        return self._order(o)

    async def cancel(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        o = self._find(key, p)
        if o is None or o.symbol != p.get("symbol") or not o.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        self.sim.engine.cancel(key, symbol=o.symbol, order_id=o.order_id,
                               now_ms=self.sim.now_ms())
        return self._order(o)

    async def open_orders(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        acc = self.sim.engine.account(key)
        return [self._order(o) for o in acc.open_orders(p.get("symbol") or None)]

    async def cancel_all(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        sym = p.get("symbol")
        if not sym:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                      "or malformed.")
        self.sim.engine.spec(sym)
        self.sim.engine.cancel_all(key, symbol=sym, now_ms=self.sim.now_ms())
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    async def leverage(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        lev = _dec(p, "leverage", required=True)
        assert lev is not None
        sym = p.get("symbol", "")
        try:
            self.sim.engine.set_leverage(key, sym, lev)
        except Reject as e:
            if e.code != 110043:  # Binance accepts setting the same leverage again
                raise
        return {"leverage": int(lev), "maxNotionalValue": "1000000", "symbol": sym}

    async def position_risk(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        eng = self.sim.engine
        acc = eng.account(key)
        sym = p.get("symbol")
        rows = []
        for pos in acc.positions.values():
            if (sym and pos.symbol != sym) or (pos.size == 0 and not acc.open_orders(pos.symbol)):
                continue
            scale = eng.specs[pos.symbol].price_scale
            mark = eng.last[pos.symbol]
            rows.append({
                "symbol": pos.symbol, "positionSide": "BOTH", "positionAmt": num(pos.size),
                "entryPrice": num(pos.avg_price), "breakEvenPrice": num(pos.avg_price),
                "markPrice": num(mark, scale), "unRealizedProfit": num(eng.unrealised(pos)),
                "liquidationPrice": "0", "isolatedMargin": "0", "notional": num(pos.size * mark),
                "marginAsset": "USDT", "isolatedWallet": "0",
                "initialMargin": num(eng.position_im(pos)), "maintMargin": "0",
                "positionInitialMargin": num(eng.position_im(pos)),
                "openOrderInitialMargin": "0", "adl": 0, "bidNotional": "0", "askNotional": "0",
                "leverage": num(pos.leverage), "marginType": "cross",
                "updateTime": pos.updated_ms,
            })
        return rows

    async def balance(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        eng = self.sim.engine
        acc = eng.account(key)
        upl = eng.equity(acc) - acc.wallet_balance
        avail = max(eng.available(acc), Decimal(0))
        return [{"accountAlias": "SimAccount", "asset": "USDT",
                 "balance": num(acc.wallet_balance), "crossWalletBalance": num(acc.wallet_balance),
                 "crossUnPnl": num(upl), "availableBalance": num(avail),
                 "maxWithdrawAmount": num(avail), "marginAvailable": True,
                 "updateTime": _ms()}]

    async def user_trades(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        sym = p.get("symbol")
        if not sym:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/null, "
                                      "or malformed.")
        acc = self.sim.engine.account(key)
        ex = [e for e in acc.executions if e.symbol == sym]
        if p.get("orderId"):
            ex = [e for e in ex if str(e.num_id) == p["orderId"]]
        limit = min(int(p.get("limit", 500) or 500), 1000)
        return [self._trade(e) for e in ex[-limit:]]

    def _trade(self, e: SimExecution) -> dict[str, Any]:
        scale = self.sim.engine.specs[e.symbol].price_scale
        return {"buyer": e.side == "Buy", "commission": num(e.fee), "commissionAsset": "USDT",
                "id": e.seq, "maker": e.is_maker, "orderId": e.num_id,
                "price": num(e.price, scale), "qty": num(e.qty), "quoteQty": num(e.value),
                "realizedPnl": num(e.realised_pnl), "side": e.side.upper(),
                "positionSide": "BOTH", "symbol": e.symbol, "time": e.time_ms,
                "execId": e.exec_id}

    async def listen_key(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        for lk, k in self.listen_keys.items():
            if k == key:  # Binance hands back the account's active key
                return {"listenKey": lk}
        lk = secrets.token_urlsafe(48)
        self.listen_keys[lk] = key
        return {"listenKey": lk}

    async def listen_key_close(self, request: web.Request, key: str, p: dict[str, str]) -> Any:
        self.listen_keys.pop(p.get("listenKey", ""), None)
        return {}

    # ---- streams --------------------------------------------------------------------

    async def ws_handler(self, request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")
        lk = request.query.get("listenKey") or (name if name in self.listen_keys else "")
        if lk or request.path.startswith("/private"):
            if lk not in self.listen_keys:
                raise web.HTTPBadRequest(text='{"code":-1125,"msg":"This listenKey does not exist."}')
            return await self._serve(request, USER, set(), self.listen_keys[lk])
        if request.path == "/stream":
            streams = [s for s in request.query.get("streams", "").split("/") if s]
            return await self._serve(request, SPOT, set(streams), "", combined=True)
        return await self._serve(request, SPOT, {name} if name else set(), "")

    async def _serve(self, request: web.Request, kind: str, streams: set[str], key: str,
                     combined: bool = False) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Conn(self.sim, ws, kind, key=key, combined=combined)
        pool = self.spot if kind == SPOT else self.user
        pool.add(conn)
        for s in streams:
            self._subscribe(conn, s)
        conn.start()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT or kind != SPOT:
                    continue
                try:
                    req = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if not isinstance(req, dict):
                    continue
                method, params = req.get("method"), req.get("params") or []
                if method == "SUBSCRIBE":
                    for s in params:
                        self._subscribe(conn, str(s))
                elif method == "UNSUBSCRIBE":
                    for s in params:
                        self._by_stream.get(str(s), set()).discard(conn)
                        conn.topics.discard(str(s))
                elif method == "LIST_SUBSCRIPTIONS":
                    conn.send(_dumps({"result": sorted(conn.topics), "id": req.get("id")}))
                    continue
                conn.send(_dumps({"result": None, "id": req.get("id")}))
        finally:
            pool.discard(conn)
            for s in conn.topics:
                self._by_stream.get(s, set()).discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
        return ws

    def _subscribe(self, conn: Conn, stream: str) -> None:
        # Binance stream names are lower-case symbol + "@" + type.
        sym, _, typ = stream.partition("@")
        name = f"{sym.lower()}@{typ}"
        conn.topics.add(name)
        self._by_stream.setdefault(name, set()).add(conn)

    def publish_trades(self, sym: str, trades: list[Trade]) -> None:
        low = sym.lower()
        agg = self._by_stream.get(f"{low}@aggTrade")
        raw = self._by_stream.get(f"{low}@trade")
        if not agg and not raw:
            return
        now = _ms()
        for t in trades:
            # Trade prices and sizes sit on the tick/step grid already (exponent included).
            p, q = f"{t.price:f}", f"{t.qty:f}"
            ids = ((sym, t.trade_id),)
            if agg:
                body = (f'{{"e":"aggTrade","E":{now},"s":"{sym}","a":{t.trade_id},"p":"{p}",'
                        f'"q":"{q}","f":{t.trade_id},"l":{t.trade_id},"T":{t.time_ms},'
                        f'"m":{"true" if t.buyer_maker else "false"},"M":true}}')
                self._fan(agg, f"{low}@aggTrade", body, ids)
            if raw:
                body = (f'{{"e":"trade","E":{now},"s":"{sym}","t":{t.trade_id},"p":"{p}",'
                        f'"q":"{q}","T":{t.time_ms},'
                        f'"m":{"true" if t.buyer_maker else "false"},"M":true}}')
                self._fan(raw, f"{low}@trade", body, ids)

    @staticmethod
    def _fan(conns: set[Conn], stream: str, body: str, ids: tuple[tuple[str, int], ...]) -> None:
        wrapped: str | None = None
        for c in conns:
            if c.combined:
                if wrapped is None:
                    wrapped = f'{{"stream":"{stream}","data":{body}}}'
                c.send(wrapped, ids)
            else:
                c.send(body, ids)

    def account_event(self, key: str, kind: str, obj: object) -> None:
        subs = [c for c in self.user if c.key == key]
        if not subs:
            return
        now = _ms()
        texts: list[str] = []
        if kind == "order":
            assert isinstance(obj, SimOrder)
            if obj.status == "New":
                self._announced.add(obj.num_id)
                texts.append(self._order_update(obj, "NEW", None, now))
            elif obj.status in ("Filled", "PartiallyFilled"):
                if obj.num_id not in self._announced:
                    self._announced.add(obj.num_id)
                    texts.append(self._order_update(obj, "NEW", None, now, status="NEW"))
            elif obj.status == "Cancelled":
                st = self._order(obj)["status"]
                texts.append(self._order_update(obj, "EXPIRED" if st == "EXPIRED" else "CANCELED",
                                                None, now))
        elif kind == "execution":
            assert isinstance(obj, SimExecution)
            acc = self.sim.engine.account(key)
            o = acc.by_id.get(obj.order_id)
            if o is not None:
                texts.append(self._order_update(o, "TRADE", obj, now))
        elif kind == "position":
            assert isinstance(obj, SimPosition)
            texts.append(self._account_update(self.sim.engine.account(key), [obj], now))
        if isinstance(obj, Account):
            return
        for text in texts:
            for c in subs:
                c.send(text)

    def _order_update(self, o: SimOrder, x: str, e: SimExecution | None, now: int,
                      status: str | None = None) -> str:
        shape = self._order(o)
        scale = self.sim.engine.specs[o.symbol].price_scale
        data = {
            "s": o.symbol, "c": o.link_id, "S": shape["side"], "o": shape["type"],
            "f": shape["timeInForce"], "q": shape["origQty"], "p": shape["price"],
            "ap": shape["avgPrice"], "sp": "0", "x": x, "X": status or shape["status"],
            "i": o.num_id, "l": num(e.qty) if e else "0", "z": shape["executedQty"],
            "L": num(e.price, scale) if e else "0", "N": "USDT",
            "n": num(e.fee) if e else "0", "T": e.time_ms if e else o.updated_ms,
            "t": e.seq if e else 0, "b": "0", "a": "0", "m": e.is_maker if e else False,
            "R": o.reduce_only, "wt": "CONTRACT_PRICE", "ot": shape["type"], "ps": "BOTH",
            "cp": False, "rp": num(e.realised_pnl) if e else "0", "pP": False, "si": 0, "ss": 0,
            "V": "EXPIRE_MAKER", "pm": "NONE", "gtd": 0,
        }
        return _dumps({"e": "ORDER_TRADE_UPDATE", "E": now, "T": now, "o": data})

    def _account_update(self, acc: Account, positions: list[SimPosition], now: int) -> str:
        eng = self.sim.engine
        return _dumps({"e": "ACCOUNT_UPDATE", "E": now, "T": now, "a": {
            "m": "ORDER",
            "B": [{"a": "USDT", "wb": num(acc.wallet_balance), "cw": num(acc.wallet_balance),
                   "bc": "0"}],
            "P": [{"s": p.symbol, "pa": num(p.size), "ep": num(p.avg_price),
                   "bep": num(p.avg_price), "cr": num(p.cum_realised),
                   "up": num(eng.unrealised(p)), "mt": "cross", "iw": "0", "ps": "BOTH"}
                  for p in positions]}})

    async def drop(self, which: str) -> int:
        pool = self.spot if which == SPOT else self.user
        conns = list(pool)
        for c in conns:
            await c.close()
        return len(conns)
