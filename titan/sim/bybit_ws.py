"""Bybit v5 WebSockets: public `/v5/public/linear` and private `/v5/private`.

pybit drops its connection (without reconnecting) on any topic-less message that is
not an auth/subscribe/pong reply, so every control reply here carries `op` and
`success` exactly like Bybit's.

`tickers.SYM` follows the venue's cadence: a snapshot on subscribe, then at most one
delta per symbol per `SimConfig.ws_ticker_interval_ms` (Bybit: 100 ms for derivatives)
carrying the latest values; `publicTrade` and klines go out with every trade batch.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from titan.sim import bybit_shapes as shapes
from titan.sim.bybit_shapes import num
from titan.sim.market import INTERVAL_MINUTES, MINUTE_MS, Kline, Trade
from titan.sim.matching import Account, SimExecution, SimOrder, SimPosition
from titan.sim.streams import Conn

if TYPE_CHECKING:
    from titan.sim.server import Simulator

PUBLIC = "bybit_public"
PRIVATE = "bybit_private"
PRIVATE_TOPICS = ("order", "execution", "position", "wallet")


def _ms() -> int:
    return time.time_ns() // 1_000_000


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


class BybitStreams:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.public: set[Conn] = set()
        self.private: set[Conn] = set()
        self._bar_sent: dict[str, int] = {}
        self.auth_failures = 0
        # Ticker throttle, per symbol: the latest trade not yet pushed, when the last
        # delta went out (time.monotonic), and the timer of the next push.
        self._tk_latest: dict[str, Trade] = {}
        self._tk_sent_at: dict[str, float] = {}
        self._tk_timer: dict[str, asyncio.TimerHandle] = {}

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v5/public/linear", self.public_handler),
                web.get("/v5/private", self.private_handler)]

    # ---- connections ----------------------------------------------------------------

    async def _serve(self, request: web.Request, kind: str) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Conn(self.sim, ws, kind)
        pool = self.public if kind == PUBLIC else self.private
        pool.add(conn)
        conn.start()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                try:
                    data = json.loads(msg.data)
                except json.JSONDecodeError:
                    continue
                if not isinstance(data, dict):
                    continue
                await self._on_request(conn, data)
        finally:
            pool.discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
        return ws

    async def public_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PUBLIC)

    async def private_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PRIVATE)

    async def _on_request(self, conn: Conn, data: dict[str, Any]) -> None:
        op = data.get("op")
        req_id = data.get("req_id", "")
        if op == "ping":
            if conn.kind == PUBLIC:
                conn.send(_dumps({"success": True, "ret_msg": "pong", "conn_id": conn.conn_id,
                                  "req_id": req_id, "op": "ping"}))
            else:
                conn.send(_dumps({"req_id": req_id, "op": "pong", "args": [str(_ms())],
                                  "conn_id": conn.conn_id}))
        elif op == "auth" and conn.kind == PRIVATE:
            ok = self._check_auth(data.get("args") or [])
            conn.send(_dumps({"success": ok is not None,
                              "ret_msg": "" if ok is not None else "Request not authorized",
                              "op": "auth", "conn_id": conn.conn_id}))
            if ok is None:
                self.auth_failures += 1
                await conn.ws.close()
            else:
                conn.key = ok
        elif op in ("subscribe", "unsubscribe"):
            delay = self.sim.config.ws_subscribe_delay_ms
            if delay > 0:
                await asyncio.sleep(delay / 1000)
            args = [str(a) for a in data.get("args") or []]
            err = self._check_topics(conn, args) if op == "subscribe" else ""
            conn.send(_dumps({"success": not err, "ret_msg": err, "conn_id": conn.conn_id,
                              "req_id": req_id, "op": op}))
            if err:
                return
            if op == "unsubscribe":
                conn.topics.difference_update(args)
                return
            conn.topics.update(args)
            for topic in args:
                self._initial(conn, topic)

    def _check_auth(self, args: list[Any]) -> str | None:
        if len(args) != 3:
            return None
        key, expires, sig = str(args[0]), str(args[1]), str(args[2])
        secret = self.sim.config.accounts.get(key)
        if secret is None or not expires.isdigit() or int(expires) < _ms():
            return None
        want = hmac.new(secret.encode(), f"GET/realtime{expires}".encode(),
                        hashlib.sha256).hexdigest()
        return key if hmac.compare_digest(want, sig) else None

    def _check_topics(self, conn: Conn, topics: list[str]) -> str:
        for t in topics:
            if conn.kind == PRIVATE:
                if not conn.key:
                    return "Request not authorized"
                if t.split(".")[0] not in PRIVATE_TOPICS:
                    return f"Invalid topic: {t}"
                continue
            parts = t.split(".")
            sym = parts[-1]
            if sym not in self.sim.engine.specs or parts[0] not in (
                    "tickers", "publicTrade", "kline") or (parts[0] == "kline" and (
                    len(parts) != 3 or parts[1] not in INTERVAL_MINUTES)):
                return f"error:handler not found,topic:{t}"
            if t in conn.topics:
                return f"error:already subscribed,topic:{t}"
        return ""

    def _initial(self, conn: Conn, topic: str) -> None:
        """Tickers start with a snapshot (deltas only after it); klines with the open bar."""
        if conn.kind != PUBLIC:
            return
        parts = topic.split(".")
        sym = parts[-1]
        if parts[0] == "tickers":
            conn.send(_dumps({"topic": topic, "type": "snapshot", "ts": _ms(), "cs": 1,
                              "data": self.sim.rest.ticker(sym)}))
        elif parts[0] == "kline":
            bars = self.sim.market.klines(sym, parts[1], limit=1)
            if bars:
                conn.send(_dumps({"topic": topic, "type": "snapshot", "ts": _ms(),
                                  "data": [self._kline(sym, parts[1], bars[-1], False)]}))

    # ---- public fan-out -------------------------------------------------------------

    def _kline(self, sym: str, interval: str, k: Kline, confirm: bool) -> dict[str, Any]:
        scale = self.sim.engine.specs[sym].price_scale
        size = (1440 if interval == "D" else int(interval)) * MINUTE_MS
        return {"start": k.start_ms, "end": k.start_ms + size - 1, "interval": interval,
                "open": num(k.open, scale), "close": num(k.close, scale),
                "high": num(k.high, scale), "low": num(k.low, scale),
                "volume": num(k.volume), "turnover": num(k.turnover), "confirm": confirm,
                "timestamp": _ms()}

    def publish_trades(self, sym: str, trades: list[Trade]) -> None:
        if not self.public:
            return
        t_topic, tk_topic = f"publicTrade.{sym}", f"tickers.{sym}"
        subs_t = [c for c in self.public if t_topic in c.topics]
        subs_k = [c for c in self.public if any(
            t.startswith("kline.") and t.endswith(f".{sym}") for t in c.topics)]
        subs_tk = any(tk_topic in c.topics for c in self.public)
        now = _ms()
        scale = self.sim.engine.specs[sym].price_scale
        if subs_t:
            ids = [(sym, t.trade_id) for t in trades]
            text = _dumps({"topic": t_topic, "type": "snapshot", "ts": now, "data": [
                {"T": t.time_ms, "s": sym, "S": "Sell" if t.buyer_maker else "Buy",
                 "v": num(t.qty), "p": num(t.price, scale), "L": "PlusTick",
                 "i": f"{sym}-{t.trade_id}", "BT": False, "seq": t.trade_id} for t in trades]})
            for c in subs_t:
                c.send(text, ids)
        if subs_tk:
            self._ticker_due(sym, trades[-1])
        if subs_k:
            self._publish_klines(sym, subs_k, now)

    def _ticker_due(self, sym: str, latest: Trade) -> None:
        """A trade moved `sym`: push its ticker now if the interval since the last push
        has passed, else once when it has (with whatever is latest by then)."""
        self._tk_latest[sym] = latest
        if sym in self._tk_timer:
            return  # a push is already scheduled; it will carry this trade's values
        interval = self.sim.config.ws_ticker_interval_ms / 1000
        wait = self._tk_sent_at.get(sym, -interval) + interval - time.monotonic()
        if interval <= 0 or wait <= 0:
            self._push_ticker(sym)
        else:
            self._tk_timer[sym] = asyncio.get_running_loop().call_later(
                wait, self._push_ticker, sym)

    def _push_ticker(self, sym: str) -> None:
        self._tk_timer.pop(sym, None)
        latest = self._tk_latest.pop(sym, None)
        topic = f"tickers.{sym}"
        subs = [c for c in self.public if topic in c.topics]
        if latest is None or not subs:
            return
        self._tk_sent_at[sym] = time.monotonic()
        spec = self.sim.engine.specs[sym]
        scale, last = spec.price_scale, latest.price
        text = _dumps({"topic": topic, "type": "delta", "ts": _ms(), "cs": latest.trade_id,
                       "data": {"symbol": sym, "lastPrice": num(last, scale),
                                "markPrice": num(last, scale), "indexPrice": num(last, scale),
                                "bid1Price": num(last - spec.tick_size, scale),
                                "ask1Price": num(last, scale)}})
        for c in subs:
            c.send(text)

    def _publish_klines(self, sym: str, subs: list[Conn], now: int) -> None:
        """kline.<interval>.SYM: the open bar on every trade, plus the just-closed bar
        (confirm=true) once when a new bar starts."""
        by_topic: dict[str, list[Conn]] = {}
        for c in subs:
            for t in c.topics:
                if t.startswith("kline.") and t.endswith(f".{sym}"):
                    by_topic.setdefault(t, []).append(c)
        for topic, conns in by_topic.items():
            interval = topic.split(".")[1]
            bars = self.sim.market.klines(sym, interval, limit=2) if interval != "1" else \
                self.sim.market.symbols[sym].klines[-2:]
            cur = bars[-1]
            data = []
            prev_start = self._bar_sent.get(topic)
            if prev_start is not None and prev_start < cur.start_ms and len(bars) > 1:
                data.append(self._kline(sym, interval, bars[-2], True))
            data.append(self._kline(sym, interval, cur, False))
            self._bar_sent[topic] = cur.start_ms
            text = _dumps({"topic": topic, "type": "snapshot", "ts": now, "data": data})
            for c in conns:
                c.send(text)

    # ---- private fan-out ------------------------------------------------------------

    def account_event(self, key: str, kind: str, obj: object) -> None:
        subs = [c for c in self.private if c.key == key and (
            kind in c.topics or f"{kind}.linear" in c.topics or f"{kind}.all" in c.topics)]
        if not subs:
            return
        eng = self.sim.engine
        item: dict[str, Any]
        if kind == "order":
            assert isinstance(obj, SimOrder)
            item = {"category": obj.category, **shapes.order(eng, obj)}
        elif kind == "execution":
            assert isinstance(obj, SimExecution)
            item = {"category": obj.category, **shapes.execution(eng, obj)}
        elif kind == "position":
            assert isinstance(obj, SimPosition)
            pos = shapes.position(eng, obj)
            item = {"category": "linear", **pos, "entryPrice": pos["avgPrice"]}
        else:
            assert isinstance(obj, Account)
            item = shapes.wallet(eng, obj)
        text = _dumps({"id": uuid.uuid4().hex, "topic": kind, "creationTime": _ms(),
                       "data": [item]})
        for c in subs:
            c.send(text)

    async def drop(self, which: str) -> int:
        """Close connections of `which` ("bybit_public", "bybit_private"); pybit reconnects."""
        pool = self.public if which == PUBLIC else self.private
        conns = list(pool)
        for c in conns:
            await c.close()
        return len(conns)
