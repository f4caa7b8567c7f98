"""Bybit v5 WebSockets: public `/v5/public/linear` and `/v5/public/spot`, private
`/v5/private`.

`orderbook.{1,50,200}.SYM`: a snapshot on subscribe, then deltas at Bybit's cadence
(10 / 20 / 100 ms) while the book changes, carrying only the levels that changed since
the last push (size "0" removes one), `u` and `seq` rising.
Spot topics carry the spot desk's prices (the perp's market with its seeded basis).

pybit drops its connection (without reconnecting) on any topic-less message that is
not an auth/subscribe/pong reply, so every control reply here carries `op` and
`success` exactly like Bybit's.

`tickers.SYM` follows the venue's cadence: a snapshot on subscribe, then at most one
delta per symbol per `SimConfig.ws_ticker_interval_ms` (Bybit: 100 ms for derivatives)
carrying the latest values; `publicTrade` and klines go out with every trade batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import uuid
from decimal import Decimal
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


# Bybit's push frequency per depth (its docs: linear 10 / 20 / 100 ms).
BOOK_PUSH_MS = {"1": 10, "50": 20, "200": 100}
BOOK_DEPTHS = tuple(BOOK_PUSH_MS)


def _diff(old: dict[str, str], new: dict[str, str]) -> list[list[str]]:
    """Levels whose size changed, appeared ("p", size) or went away ("p", "0")."""
    out = [[p, q] for p, q in new.items() if old.get(p) != q]
    out += [[p, "0"] for p in old if p not in new]
    return out


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
        self._prev_px: dict[tuple[str, str], str] = {}
        self.spot_conns: set[Conn] = set()  # the public connections on /v5/public/spot
        # Book levels last published per (category, topic): deltas are computed from it.
        self._book_sent: dict[tuple[str, str], tuple[dict[str, str], dict[str, str]]] = {}
        self._book_timer: dict[tuple[str, str], asyncio.TimerHandle] = {}
        sim.engine.books.add_listener(lambda b: self._book_changed("linear", b.symbol))

    def routes(self) -> list[web.RouteDef]:
        return [web.get("/v5/public/linear", self.public_handler),
                web.get("/v5/public/spot", self.spot_handler),
                web.get("/v5/private", self.private_handler)]

    def watch_spot_books(self) -> None:
        """Called once the simulator's spot desk exists (it is built after this front)."""
        self.sim.spot.books.add_listener(lambda b: self._book_changed("spot", b.symbol))

    def _cat(self, conn: Conn) -> str:
        return "spot" if conn in self.spot_conns else "linear"

    # ---- connections ----------------------------------------------------------------

    async def _serve(self, request: web.Request, kind: str,
                     spot: bool = False) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=True)
        await ws.prepare(request)
        conn = Conn(self.sim, ws, kind)
        pool = self.public if kind == PUBLIC else self.private
        pool.add(conn)
        if spot:
            self.spot_conns.add(conn)
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
            self.spot_conns.discard(conn)
            if conn.writer is not None:
                conn.writer.cancel()
        return ws

    async def public_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PUBLIC)

    async def spot_handler(self, request: web.Request) -> web.WebSocketResponse:
        return await self._serve(request, PUBLIC, spot=True)

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
            reply = _dumps({"success": ok is not None,
                            "ret_msg": "" if ok is not None else "Request not authorized",
                            "op": "auth", "conn_id": conn.conn_id})
            if ok is None:
                # The refusal goes out before the close (not through the queue, which the
                # close would cut off), so a client can tell bad keys from a network drop.
                self.auth_failures += 1
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await conn.ws.send_str(reply)
                await conn.ws.close()
                return
            conn.key = ok
            conn.send(reply)
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
            specs = self.sim.spot.specs if conn in self.spot_conns else self.sim.engine.specs
            if sym not in specs or parts[0] not in (
                    "tickers", "publicTrade", "kline", "orderbook") or (parts[0] == "kline" and (
                    len(parts) != 3 or parts[1] not in INTERVAL_MINUTES)) or (
                    parts[0] == "orderbook" and (len(parts) != 3 or parts[1] not in BOOK_DEPTHS)):
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
        cat = self._cat(conn)
        if parts[0] == "tickers":
            conn.send(_dumps({"topic": topic, "type": "snapshot", "ts": _ms(), "cs": 1,
                              "data": self.sim.bybit_market.ticker(sym, cat)}))
        elif parts[0] == "kline":
            bars = self.sim.market.klines(sym, parts[1], limit=1)
            if bars:
                conn.send(_dumps({"topic": topic, "type": "snapshot", "ts": _ms(),
                                  "data": [self._kline(sym, parts[1], bars[-1], False, cat)]}))
        elif parts[0] == "orderbook":
            # Bring the other subscribers of this topic up to date first, so the state
            # deltas are computed from is the snapshot this one gets.
            self._flush_book(cat, topic, skip=conn)
            book = self.sim.bybit_market.book_payload(cat, sym, int(parts[1]))
            self._book_sent[(cat, topic)] = ({b[0]: b[1] for b in book["b"]},
                                             {a[0]: a[1] for a in book["a"]})
            conn.send(_dumps({"topic": topic, "type": "snapshot", "ts": book["ts"],
                              "data": {k: book[k] for k in ("s", "b", "a", "u", "seq")},
                              "cts": book["cts"]}))

    def _book_changed(self, cat: str, sym: str) -> None:
        """A book moved: each of its orderbook topics pushes a delta at Bybit's cadence
        (`BOOK_PUSH_MS`), carrying every level changed since its last push."""
        if not self.public:
            return
        suffix = f".{sym}"
        spot = cat == "spot"
        for c in self.public:
            if (c in self.spot_conns) != spot:
                continue
            for t in c.topics:
                if t.startswith("orderbook.") and t.endswith(suffix) and (
                        cat, t) not in self._book_timer:
                    delay = BOOK_PUSH_MS[t.split(".")[1]] / 1000
                    self._book_timer[(cat, t)] = asyncio.get_running_loop().call_later(
                        delay, self._flush_book, cat, t, None)

    def _flush_book(self, cat: str, topic: str, skip: Conn | None) -> None:
        """Send `topic`'s subscribers (but `skip`) the levels changed since the last push."""
        timer = self._book_timer.pop((cat, topic), None)
        if timer is not None:
            timer.cancel()
        spot = cat == "spot"
        conns = [c for c in self.public
                 if topic in c.topics and (c in self.spot_conns) == spot and c is not skip]
        _, depth, sym = topic.split(".")
        book = self.sim.bybit_market.book_payload(cat, sym, int(depth))
        bids = {b[0]: b[1] for b in book["b"]}
        asks = {a[0]: a[1] for a in book["a"]}
        old_b, old_a = self._book_sent.get((cat, topic), ({}, {}))
        d_b = _diff(old_b, bids)
        d_a = _diff(old_a, asks)
        self._book_sent[(cat, topic)] = (bids, asks)
        if not conns or (not d_b and not d_a):
            return
        text = _dumps({"topic": topic, "type": "delta", "ts": book["ts"],
                       "data": {"s": sym, "b": d_b, "a": d_a, "u": book["u"],
                                "seq": book["seq"]}, "cts": book["cts"]})
        for c in conns:
            c.send(text)

    # ---- public fan-out -------------------------------------------------------------

    def _kline(self, sym: str, interval: str, k: Kline, confirm: bool,
               cat: str = "linear") -> dict[str, Any]:
        scale = self.sim.engine.specs[sym].price_scale
        size = (1440 if interval == "D" else int(interval)) * MINUTE_MS
        if cat == "spot":
            k = self.sim.bybit_market.spot_bar(sym, k)
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
        if subs_t:
            ids = [(sym, t.trade_id) for t in trades]
            texts = {cat: self._trades_text(cat, sym, trades, now)
                     for cat in {self._cat(c) for c in subs_t}}
            for c in subs_t:
                c.send(texts[self._cat(c)], ids)
        if subs_tk:
            self._ticker_due(sym, trades[-1])
        if subs_k:
            self._publish_klines(sym, subs_k, now)

    def _trades_text(self, cat: str, sym: str, trades: list[Trade], now: int) -> str:
        """publicTrade.SYM, the same trades `/v5/market/recent-trade` lists."""
        rows = []
        prev = self._prev_px.get((cat, sym))
        for t in trades:
            r = self.sim.bybit_market.trade_row(cat, sym, t)
            px = r["price"]
            tick = "ZeroPlusTick" if prev is None or px == prev else (
                "PlusTick" if Decimal(px) > Decimal(prev) else "MinusTick")
            prev = px
            rows.append({"T": t.time_ms, "s": sym, "S": r["side"], "v": r["size"], "p": px,
                         "L": tick, "i": r["execId"], "BT": False, "RPI": False,
                         "seq": t.trade_id})
        self._prev_px[(cat, sym)] = prev or ""
        return _dumps({"topic": f"publicTrade.{sym}", "type": "snapshot", "ts": now,
                       "data": rows})

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
        texts: dict[str, str] = {}
        mkt = self.sim.bybit_market
        for cat in {self._cat(c) for c in subs}:
            # Spot tickers are snapshots on Bybit; derivatives send deltas.
            spot = cat == "spot"
            texts[cat] = _dumps({"topic": topic, "type": "snapshot" if spot else "delta",
                                 "ts": _ms(), "cs": latest.trade_id,
                                 "data": mkt.ticker(sym, cat) if spot else mkt.ticker_delta(sym)})
        for c in subs:
            c.send(texts[self._cat(c)])

    def push_funding(self) -> None:
        """A settlement moved `nextFundingTime` (and the rate): the linear tickers' delta
        says so at once, as Bybit's does (it pushes changed fields), not only with the
        next trade."""
        mkt = self.sim.bybit_market
        for sym in self.sim.engine.specs:
            topic = f"tickers.{sym}"
            subs = [c for c in self.public if topic in c.topics and self._cat(c) != "spot"]
            if not subs:
                continue
            text = _dumps({"topic": topic, "type": "delta", "ts": _ms(), "cs": 0,
                           "data": mkt.ticker_delta(sym)})
            for c in subs:
                c.send(text)

    def _publish_klines(self, sym: str, subs: list[Conn], now: int) -> None:
        """kline.<interval>.SYM: the open bar on every trade, plus the just-closed bar
        (confirm=true) once when a new bar starts."""
        by_topic: dict[tuple[str, str], list[Conn]] = {}
        for c in subs:
            for t in c.topics:
                if t.startswith("kline.") and t.endswith(f".{sym}"):
                    by_topic.setdefault((self._cat(c), t), []).append(c)
        for (cat, topic), conns in by_topic.items():
            interval = topic.split(".")[1]
            bars = self.sim.market.klines(sym, interval, limit=2) if interval != "1" else \
                self.sim.market.symbols[sym].klines[-2:]
            cur = bars[-1]
            data = []
            prev_start = self._bar_sent.get(cat + topic)
            if prev_start is not None and prev_start < cur.start_ms and len(bars) > 1:
                data.append(self._kline(sym, interval, bars[-2], True, cat))
            data.append(self._kline(sym, interval, cur, False, cat))
            self._bar_sent[cat + topic] = cur.start_ms
            text = _dumps({"topic": topic, "type": "snapshot", "ts": now, "data": data})
            for c in conns:
                c.send(text)

    # ---- private fan-out ------------------------------------------------------------

    def account_event(self, key: str, kind: str, obj: object) -> None:
        self.account_events(key, kind, [obj])

    def account_events(self, key: str, kind: str, objs: list[object]) -> None:
        """One push of `kind` carrying every object (a create-batch's changes: one message)."""
        subs = [c for c in self.private if c.key == key and (
            kind in c.topics or f"{kind}.linear" in c.topics or f"{kind}.all" in c.topics)]
        if not subs or not objs:
            return
        eng = self.sim.engine
        items: list[dict[str, Any]] = []
        for obj in objs:
            if kind == "order":
                assert isinstance(obj, SimOrder)
                items.append({"category": obj.category, **shapes.order(eng, obj)})
            elif kind == "execution":
                assert isinstance(obj, SimExecution)
                items.append({"category": obj.category, **shapes.execution(eng, obj)})
            elif kind == "position":
                assert isinstance(obj, SimPosition)
                pos = shapes.position(eng, obj)
                items.append({"category": "linear", **pos, "entryPrice": pos["avgPrice"]})
            else:
                assert isinstance(obj, Account)
                items.append(shapes.wallet(eng, obj))
        text = _dumps({"id": uuid.uuid4().hex, "topic": kind, "creationTime": _ms(),
                       "data": items})
        for c in subs:
            c.send(text)

    async def drop(self, which: str) -> int:
        """Close connections of `which` ("bybit_public", "bybit_private"); pybit reconnects."""
        pool = self.public if which == PUBLIC else self.private
        conns = list(pool)
        for c in conns:
            await c.close()
        return len(conns)
