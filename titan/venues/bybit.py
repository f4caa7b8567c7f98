"""Bybit v5 (USDT linear perpetuals) behind Titan's `Venue` interface, on pybit.

This module is the venue: its settings and lifetime, orders, positions, account and
market data reads. The REST plumbing (thread pool, rate limits, error mapping) is in
`bybit_rest.py`, the instrument cache in `bybit_instruments.py`, the streams' topics,
callbacks and message dispatch in `bybit_subscriptions.py`, the WebSocket supervision in
`bybit_streams.py` (the pybit socket in `bybit_socket.py`), the parsing of Bybit's JSON
in `bybit_wire.py`, the order calls sent from the loop in `bybit_orders.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

from pybit.unified_trading import HTTP

from titan.clock import Clock
from titan.domain.orders import Fill, OrderIntent, OrderStatus, Position
from titan.venues.base import (
    AmbiguousSubmitError,
    Instrument,
    Kline,
    ListedInstrument,
    PrivateUpdate,
    RateLimitedError,
    Ticker,
    Trade,
    VenueError,
    VenueOrder,
    VenueUnavailableError,
    Wallet,
)
from titan.venues.bybit_instruments import BybitInstrumentCache
from titan.venues.bybit_orders import BybitOrderSender
from titan.venues.bybit_rest import (
    _MAX_REST_WORKERS,
    _NO_RETRY_CODES,
    MAINNET_REST,
    TESTNET_REST,
    _int_or_none,
    _pin_environment,
)
from titan.venues.bybit_spot import BybitSpot
from titan.venues.bybit_streams import (
    _BybitStream,
    ws_urls,
)
from titan.venues.bybit_subscriptions import BybitSubscriptions
from titan.venues.bybit_wire import (
    LEVERAGE_NOT_MODIFIED,
    ORDER_GONE_CODES,
    RATE_LIMIT_CODES,
    dec,
    interval_code,
    order_params,
    parse_execution,
    parse_kline,
    parse_order,
    parse_position,
    parse_ticker,
    parse_wallet,
)
from titan.venues.instruments import format_decimal
from titan.venues.ratelimit import RateLimiter
from titan.venues.streams import StreamMonitor

# /v5/order/create-batch takes at most this many orders per request (linear).
BATCH_MAX_ORDERS = 20


class BybitVenue(BybitInstrumentCache, BybitSubscriptions):
    """Titan's execution venue on Bybit v5 linear perpetuals (or the simulator that speaks it)."""

    name = "bybit"

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        base_url: str | None = None,
        testnet: bool = False,
        symbols: list[str] | tuple[str, ...] = (),
        clock: Clock,
        category: str = "linear",
        settle_coin: str = "USDT",
        rest_timeout: float = 10.0,
        max_workers: int = 8,
        rate_per_s: float = 10.0,
        burst: float = 10.0,
        limiter: RateLimiter | None = None,
        exit_rate_per_s: float = 10.0,
        exit_burst: float = 10.0,
        read_retries: int = 2,
        recv_window: int = 5000,
        manage_leverage: bool = True,
        ping_interval: float = 10.0,
        silence_timeout: float = 25.0,
        ticker_silence_timeout: float | None = 30.0,
        connect_timeout: float = 10.0,
        reconnect_max_delay: float = 15.0,
        streams: bool = True,
        orders_on_loop: bool = True,
        book_top: bool = True,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("BybitVenue needs an API key and secret")
        self._key = api_key
        self._secret = api_secret
        self.base_url = (base_url or (TESTNET_REST if testnet else MAINNET_REST)).rstrip("/")
        self.testnet = testnet
        self.public_ws_url, self.private_ws_url = ws_urls(base_url, testnet)
        self.symbols = [s.upper() for s in symbols]
        self._clock = clock
        self.category = category
        self.settle_coin = settle_coin
        self._read_retries = read_retries
        self._manage_leverage = manage_leverage
        self._want_streams = streams
        # orderbook.1 (Bybit pushes it every 10 ms while the top moves): the top of the
        # book between the 100 ms tickers, delivered as tickers carrying bid/ask.
        self._book_top = book_top
        self._ws_opts = {
            "ping_interval": ping_interval,
            "silence_timeout": silence_timeout,
            "connect_timeout": connect_timeout,
            "reconnect_max_delay": reconnect_max_delay,
        }
        self._ticker_silence_timeout = ticker_silence_timeout
        self.limiter = limiter or RateLimiter("bybit", clock, rate_per_s=rate_per_s, burst=burst)
        # Exits' own budget (`titan.venues.base.exit_lane`): a flatten or a cancel never
        # waits behind entries and reads; Bybit limits each endpoint separately.
        self.exit_limiter = RateLimiter(
            "bybit-exits", clock, rate_per_s=exit_rate_per_s, burst=exit_burst
        )
        self._all_instruments: asyncio.Task[None] | None = None
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, min(max_workers, _MAX_REST_WORKERS)), thread_name_prefix="bybit-rest"
        )
        self._http = HTTP(
            testnet=testnet,
            api_key=api_key,
            api_secret=api_secret,
            timeout=rest_timeout,
            recv_window=recv_window,
            max_retries=1,
            retry_delay=0,
            retry_codes=set(_NO_RETRY_CODES),
            force_retry=False,
            log_requests=False,
        )
        # pybit reads the endpoint at call time; this is how it is pointed at the simulator.
        self._http.endpoint = self.base_url
        _pin_environment(self._http.client, self.base_url)
        # Place, cancel, cancel-all and create-batch from the event loop (bybit_orders.py);
        # `orders_on_loop=False` sends them through pybit's thread like every other call.
        self._orders = (BybitOrderSender(self.base_url, api_key, api_secret,
                                         recv_window=recv_window, timeout=rest_timeout)
                        if orders_on_loop else None)
        self._instruments: dict[str, Instrument] = {}
        self._leverage: dict[str, Decimal] = {}
        self._tickers: dict[str, Ticker] = {}
        self.monitor = StreamMonitor("bybit", clock)
        self._private_cbs: list[Callable[[PrivateUpdate], None]] = []
        self._ticker_cbs: list[Callable[[Ticker], None]] = []
        self._trade_cbs: list[Callable[[Trade], None]] = []
        self._streams: dict[str, _BybitStream] = {}
        self._public_opts: dict[str, Any] | None = None
        self._bg: set[asyncio.Task[None]] = set()
        self._closed = False
        # The spot leg (category spot) on the same account, REST path and limits.
        self.spot = BybitSpot(self)

    def __repr__(self) -> str:  # never show the secret
        return f"BybitVenue(base_url={self.base_url!r}, testnet={self.testnet}, symbols={self.symbols})"

    # -- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Load instruments (a definite refusal such as an unknown symbol is a VenueError;
        an unreachable venue VenueUnavailableError), then open and subscribe the streams."""
        try:
            await self._load_instruments(self.symbols)
        except BaseException:
            await self.close()
            raise
        if not self._want_streams:
            return
        self._make_streams(asyncio.get_running_loop())
        try:
            await asyncio.gather(*(s.start() for s in self._streams.values()))
        except BaseException:
            await self.close()
            raise

    async def set_symbols(self, symbols: list[str]) -> None:
        """Change the streamed symbols at run time (whitelist edits): loads missing
        instruments, then subscribes/unsubscribes on the live public stream."""
        new = [s.upper() for s in symbols]
        await self._load_instruments([s for s in new if s not in self._instruments])
        self.symbols = new
        await self._stream_symbols(new)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(s.close() for s in self._streams.values()), return_exceptions=True)
        if self._orders is not None:
            await self._orders.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- orders --------------------------------------------------------------------------

    def order_params(self, intent: OrderIntent, inst: Instrument) -> dict[str, Any]:
        """The create-order body for an intent (`bybit_wire.order_params`)."""
        return order_params(intent, inst, self.category)

    async def set_leverage(self, symbol: str, leverage: Decimal) -> None:
        lev = format_decimal(leverage)
        try:
            await self._rest(
                "set_leverage",
                "cancel",
                category=self.category,
                symbol=symbol,
                buyLeverage=lev,
                sellLeverage=lev,
            )
        except VenueError as exc:
            if exc.code != LEVERAGE_NOT_MODIFIED:
                raise
        self._leverage[symbol] = leverage

    async def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        symbol = symbol.upper()
        if self._manage_leverage and self._leverage.get(symbol) != leverage:
            await self.set_leverage(symbol, leverage)

    async def place_order(self, intent: OrderIntent) -> VenueOrder:
        symbol = intent.symbol.upper()
        inst = await self._ensure_instrument(symbol)
        params = self.order_params(intent, inst)
        if (
            self._manage_leverage
            and not intent.reduce_only
            and self._leverage.get(symbol) != intent.leverage
        ):
            await self.set_leverage(symbol, intent.leverage)
        resp = await self._rest("place_order", "submit", **params)
        return self._placed(intent, params, resp.get("result") or {})

    async def place_orders(self, intents: list[OrderIntent]) -> list[VenueOrder | VenueError]:
        """Several orders through /v5/order/create-batch: chunks of `BATCH_MAX_ORDERS`, sent
        concurrently. One answer per intent, in order (see `Venue.place_orders`): each order
        succeeds or fails on its own (the venue's `retExtInfo.list`); a chunk whose answer
        was lost is AmbiguousSubmitError for each of its orders."""
        if not intents:
            return []
        out: list[VenueOrder | VenueError | None] = [None] * len(intents)
        load_error: VenueError | None = None
        try:
            await self.ensure_instruments([i.symbol for i in intents])
        except VenueError as exc:
            load_error = exc
        ready: list[tuple[int, OrderIntent, dict[str, Any]]] = []
        for n, intent in enumerate(intents):
            inst = self._instruments.get(intent.symbol.upper())
            try:
                if inst is None:
                    raise load_error or VenueError(
                        f"bybit: unknown symbol {intent.symbol}", code="UNKNOWN_SYMBOL")
                ready.append((n, intent, self.order_params(intent, inst)))
            except VenueError as exc:  # refused here: never sent
                out[n] = exc
        if self._manage_leverage:
            wanted = {p["symbol"]: i.leverage for _, i, p in ready
                      if not i.reduce_only and self._leverage.get(p["symbol"]) != i.leverage}
            refused = await asyncio.gather(
                *(self.set_leverage(sym, lev) for sym, lev in wanted.items()),
                return_exceptions=True)
            bad = {sym: err for sym, err in zip(wanted, refused, strict=True)
                   if isinstance(err, BaseException)}
            for n, _i, p in ready:
                err = bad.get(p["symbol"])
                if err is not None:  # leverage not set: the order is not sent
                    out[n] = err if isinstance(err, VenueError) else VenueError(str(err))
            ready = [r for r in ready if out[r[0]] is None]
        chunks = [ready[k:k + BATCH_MAX_ORDERS] for k in range(0, len(ready), BATCH_MAX_ORDERS)]
        answers = await asyncio.gather(*(self._place_chunk(c) for c in chunks))
        for chunk, answer in zip(chunks, answers, strict=True):
            for (n, _i, _p), result in zip(chunk, answer, strict=True):
                out[n] = result
        return [r if r is not None else VenueError("bybit: order not sent") for r in out]

    async def _place_chunk(
        self, chunk: list[tuple[int, OrderIntent, dict[str, Any]]]
    ) -> list[VenueOrder | VenueError]:
        request = [{k: v for k, v in p.items() if k != "category"} for _, _, p in chunk]
        try:
            resp = await self._rest(
                "place_batch_order", "submit", category=self.category, request=request
            )
        except VenueError as exc:  # the whole request: refused, rate-limited or ambiguous
            return [exc for _ in chunk]
        rows = (resp.get("result") or {}).get("list") or []
        infos = (resp.get("retExtInfo") or {}).get("list") or []
        out: list[VenueOrder | VenueError] = []
        for k, (_n, intent, params) in enumerate(chunk):
            row = rows[k] if k < len(rows) and isinstance(rows[k], dict) else {}
            info = infos[k] if k < len(infos) and isinstance(infos[k], dict) else None
            code = _int_or_none(info.get("code")) if info is not None else None
            if info is None or code is None or row.get("orderLinkId", intent.client_order_id) \
                    not in ("", intent.client_order_id):
                # An answer that does not say what became of this order: unknown, not refused.
                out.append(AmbiguousSubmitError(
                    f"bybit place_batch_order: no clear answer for {intent.client_order_id}",
                    code="BAD_REPLY"))
            elif code != 0:
                msg = str(info.get("msg", ""))
                if code in RATE_LIMIT_CODES:
                    out.append(RateLimitedError(f"bybit place_batch_order: {msg}", code=code))
                else:
                    out.append(VenueError(
                        f"bybit place_batch_order: {msg} (retCode {code})", code=code))
            else:
                out.append(self._placed(intent, params, row))
        return out

    def _placed(self, intent: OrderIntent, params: dict[str, Any], result: dict[str, Any]) -> VenueOrder:
        """The venue took the order: what Titan knows of it from the create answer."""
        return VenueOrder(
            symbol=params["symbol"],
            client_order_id=str(result.get("orderLinkId") or intent.client_order_id),
            venue_order_id=str(result.get("orderId", "")),
            side=intent.side,
            order_type=intent.order_type,
            qty=Decimal(params["qty"]),
            filled_qty=Decimal(0),
            price=Decimal(params["price"]) if "price" in params else None,
            avg_price=None,
            status=OrderStatus.NEW,
            reduce_only=intent.reduce_only,
            stop_loss=Decimal(params["stopLoss"]) if "stopLoss" in params else None,
            take_profit=Decimal(params["takeProfit"]) if "takeProfit" in params else None,
            updated_at=self._clock.now(),
        )

    async def cancel_order(self, symbol: str, client_order_id: str) -> bool:
        try:
            await self._rest(
                "cancel_order",
                "cancel",
                category=self.category,
                symbol=symbol.upper(),
                orderLinkId=client_order_id,
            )
        except RateLimitedError:
            raise
        except VenueError as exc:
            if _int_or_none(exc.code) in ORDER_GONE_CODES:
                return False
            raise
        return True

    async def cancel_all(self, symbol: str | None = None) -> list[str]:
        params: dict[str, Any] = {"category": self.category}
        if symbol:
            params["symbol"] = symbol.upper()
        else:
            params["settleCoin"] = self.settle_coin
        resp = await self._rest("cancel_all_orders", "cancel", **params)
        rows = (resp.get("result") or {}).get("list") or []
        return [str(r.get("orderLinkId") or r.get("orderId") or "") for r in rows]

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        params: dict[str, Any] = {"category": self.category, "openOnly": 0}
        if symbol:
            params["symbol"] = symbol.upper()
        else:
            params["settleCoin"] = self.settle_coin
        rows = await self._read_pages("get_open_orders", 50, **params)
        orders = [parse_order(r) for r in rows]
        return [o for o in orders if not o.status.is_terminal]

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        for method in ("get_open_orders", "get_order_history"):
            resp = await self._read(
                method, category=self.category, symbol=symbol.upper(), orderLinkId=client_order_id
            )
            rows = (resp.get("result") or {}).get("list") or []
            for r in rows:
                if r.get("orderLinkId") == client_order_id:
                    return parse_order(r)
        return None

    # -- account ---------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        rows = await self._read_pages(
            "get_positions", 200, category=self.category, settleCoin=self.settle_coin
        )
        out = []
        for r in rows:
            p = parse_position(r)
            if p is not None:
                out.append(p)
        self._learn_position_symbols(out)
        return out

    async def wallet(self) -> Wallet:
        resp = await self._read("get_wallet_balance", accountType="UNIFIED")
        rows = (resp.get("result") or {}).get("list") or []
        if not rows:
            raise VenueUnavailableError("bybit: wallet-balance returned no account")
        return parse_wallet(rows[0], self.settle_coin)

    async def executions(
        self, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Fill]:
        params: dict[str, Any] = {"category": self.category}
        if symbol:
            params["symbol"] = symbol.upper()
        if since_ms is not None:
            params["startTime"] = int(since_ms)
        rows = await self._read_pages("get_executions", 100, **params)
        fills = [f for f in (parse_execution(r) for r in rows) if f is not None]
        fills.sort(key=lambda f: (f.ts, f.exec_id))
        return fills

    # -- market data ------------------------------------------------------------------------

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        resp = await self._read(
            "get_kline",
            category=self.category,
            symbol=symbol.upper(),
            interval=interval_code(interval_min),
            limit=max(1, min(1000, limit)),
        )
        rows = (resp.get("result") or {}).get("list") or []
        return sorted((parse_kline(r) for r in rows), key=lambda k: k.start_ms)

    async def funding_history(self, symbol: str, start_ms: int,
                              end_ms: int) -> list[tuple[int, Decimal]]:
        """The settlements in [start_ms, end_ms] (`/v5/market/funding/history`: time and
        rate), oldest first; at most 200 (Bybit's page: 66 days at 8 hours)."""
        resp = await self._read("get_funding_rate_history", category=self.category,
                                symbol=symbol.upper(), startTime=int(start_ms),
                                endTime=int(end_ms), limit=200)
        rows = (resp.get("result") or {}).get("list") or []
        out = {int(r["fundingRateTimestamp"]): dec(r.get("fundingRate")) for r in rows
               if str(r.get("fundingRateTimestamp", "")).isdigit()}
        return sorted(out.items())

    async def listing(self) -> list[ListedInstrument]:
        rows = await self._read_pages("get_instruments_info", 1000, category=self.category)
        trading = {str(r.get("symbol")) for r in rows if r.get("status") == "Trading"
                   and r.get("settleCoin", self.settle_coin) == self.settle_coin}
        tickers = await self._read("get_tickers", category=self.category)
        turnover = {str(t.get("symbol")): dec(t.get("turnover24h"))
                    for t in (tickers.get("result") or {}).get("list") or []}
        return sorted((ListedInstrument(s, turnover.get(s, Decimal(0))) for s in trading),
                      key=lambda i: (-i.turnover_24h, i.symbol))

    async def ticker(self, symbol: str) -> Ticker:
        resp = await self._read("get_tickers", category=self.category, symbol=symbol.upper())
        rows = (resp.get("result") or {}).get("list") or []
        ts = int(resp.get("time") or self._clock.time_ms())
        for r in rows:
            t = parse_ticker(r, ts)
            if t is not None and t.symbol == symbol.upper():
                return t
        raise VenueUnavailableError(f"bybit: no ticker for {symbol}")
