"""Binance USD-M futures behind Titan's `Venue` interface, on python-binance's
`AsyncClient` (aiohttp, on the loop), with Titan's `newClientOrderId` on every order and
the same error mapping as the Bybit adapter (`binance_rest.py`). The socket supervision is
`binance_supervisor.py` / `binance_socket.py`, the parsing of Binance's JSON
`binance_wire.py`."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from binance import AsyncClient, BinanceSocketManager
from loguru import logger

from titan.clock import Clock
from titan.domain.orders import Fill, OrderIntent, OrderStatus, OrderType, Position, Side
from titan.venues.base import (
    Instrument,
    Kline,
    ListedInstrument,
    PrivateUpdate,
    RateLimitedError,
    StreamGap,
    StreamState,
    Ticker,
    VenueError,
    VenueOrder,
    VenueUnavailableError,
    Wallet,
)
from titan.venues.binance_rest import BinanceRestCalls
from titan.venues.binance_socket import MessageSink
from titan.venues.binance_supervisor import USER_STREAM, _SocketRunner, binance_urls
from titan.venues.binance_wire import (
    NO_NEED_TO_CHANGE,
    ORDER_GONE_CODES,
    interval_code,
    parse_balance,
    parse_instrument,
    parse_kline,
    parse_order,
    parse_position,
    parse_ticker,
    parse_user_event,
    parse_user_trade,
    wire_side,
)
from titan.venues.instruments import PriceRounding, format_decimal, round_price, round_qty
from titan.venues.ratelimit import RateLimiter
from titan.venues.streams import StreamMonitor


class BinanceFuturesVenue(BinanceRestCalls):
    """USD-M futures behind `Venue`, on python-binance's AsyncClient (optional execution venue)."""

    name = "binance"

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        base_url: str | None = None,
        testnet: bool = False,
        symbols: list[str] | tuple[str, ...] = (),
        clock: Clock,
        asset: str = "USDT",
        rest_timeout: float = 10.0,
        rate_per_s: float = 20.0,
        burst: float = 20.0,
        limiter: RateLimiter | None = None,
        read_retries: int = 2,
        manage_leverage: bool = True,
        streams: bool = True,
        silence_timeout: float = 120.0,
        connect_timeout: float = 10.0,
        reconnect_max_delay: float = 15.0,
    ) -> None:
        if not api_key or not api_secret:
            raise ValueError("BinanceFuturesVenue needs an API key and secret")
        self._key = api_key
        self._secret = api_secret
        self.base_url = base_url
        self.testnet = testnet
        self._urls = binance_urls(base_url)
        self.symbols = [s.upper() for s in symbols]
        self._clock = clock
        self.asset = asset
        self._timeout = rest_timeout
        self.limiter = limiter or RateLimiter("binance", clock, rate_per_s=rate_per_s, burst=burst)
        self._read_retries = read_retries
        self._manage_leverage = manage_leverage
        self._want_streams = streams
        self._stream_opts = {
            "silence_timeout": silence_timeout,
            "connect_timeout": connect_timeout,
            "reconnect_max_delay": reconnect_max_delay,
        }
        self._client: AsyncClient | None = None
        self._bsm: BinanceSocketManager | None = None
        self._runner: _SocketRunner | None = None
        self._instruments: dict[str, Instrument] = {}
        self._leverage: dict[str, Decimal] = {}
        self._client_ids: dict[str, str] = {}  # venue order id -> client order id
        self.monitor = StreamMonitor("binance", clock)
        self._private_cbs: list[Callable[[PrivateUpdate], None]] = []
        self._ticker_cbs: list[Callable[[Ticker], None]] = []

    def __repr__(self) -> str:
        return f"BinanceFuturesVenue(base_url={self.base_url!r}, testnet={self.testnet})"

    # -- lifecycle -----------------------------------------------------------------------

    def _make_client(self) -> AsyncClient:
        # The plain constructor makes no network call (create() would ping); keep testnet
        # off when pointing it somewhere else, or it would pick the testnet URLs.
        client = AsyncClient(self._key, self._secret, testnet=self.testnet and not self._urls)
        for attr, url in self._urls.items():
            if attr in ("API_URL", "FUTURES_URL"):
                setattr(client, attr, url)
        return client

    async def start(self) -> None:
        self._client = self._make_client()
        try:
            await self._load_instruments()
        except BaseException:
            await self.close()
            raise
        if not self._want_streams:
            return
        self._bsm = BinanceSocketManager(self._client, max_queue_size=10_000)
        if "FSTREAM_URL" in self._urls:
            self._bsm.FSTREAM_URL = self._urls["FSTREAM_URL"]
        bsm = self._bsm

        def make_socket(sink: MessageSink) -> Any:
            # A low-rate stream: python-binance's own queue and recv(), pulled by the runner.
            bsm._conns.clear()
            return bsm.futures_user_socket()

        self._runner = _SocketRunner(
            name=USER_STREAM,
            make_socket=make_socket,
            on_message=self._on_user_message,
            monitor=self.monitor,
            **self._stream_opts,
        )
        try:
            await self._runner.start()
        except BaseException:
            await self.close()
            raise

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()
            self._runner = None
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close_connection()
            self._client = None

    @property
    def client(self) -> AsyncClient:
        if self._client is None:
            raise VenueUnavailableError("binance adapter is not started")
        return self._client

    # -- instruments ---------------------------------------------------------------------------

    async def _load_instruments(self) -> None:
        info = await self._read(self.client.futures_exchange_info, "exchangeInfo")
        loaded: dict[str, Instrument] = {}
        for row in info.get("symbols") or []:
            inst = parse_instrument(row)
            if inst is not None:
                loaded[inst.symbol] = inst
        missing = [s for s in self.symbols if s not in loaded]
        if missing:
            raise VenueError(f"binance: unknown symbols {missing}", code="UNKNOWN_SYMBOL")
        self._instruments = loaded

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol.upper())

    async def instruments(self) -> dict[str, Instrument]:
        await self._load_instruments()
        return dict(self._instruments)

    # -- orders ----------------------------------------------------------------------------------

    def order_params(self, intent: OrderIntent, inst: Instrument) -> dict[str, Any]:
        qty = round_qty(intent.qty, inst)
        if qty <= 0 or qty < inst.min_qty:
            raise VenueError(
                f"binance: qty {intent.qty} rounds to {qty}, below the minimum {inst.min_qty}",
                code="QTY_BELOW_MIN",
            )
        params: dict[str, Any] = {
            "symbol": inst.symbol,
            "side": wire_side(intent.side),
            "type": "MARKET" if intent.order_type is OrderType.MARKET else "LIMIT",
            "quantity": format_decimal(qty),
            "newClientOrderId": intent.client_order_id,
            "newOrderRespType": "RESULT",
        }
        if intent.reduce_only:
            params["reduceOnly"] = "true"
        if intent.order_type is OrderType.LIMIT:
            if intent.price is None or intent.price <= 0:
                raise VenueError("binance: a limit order needs a price", code="NO_PRICE")
            how: PriceRounding = "down" if intent.side is Side.BUY else "up"
            params["price"] = format_decimal(round_price(intent.price, inst, how))
            params["timeInForce"] = "GTX" if intent.post_only else "GTC"
        return params

    async def place_orders(self, intents: list[OrderIntent]) -> list[VenueOrder | VenueError]:
        """One request per order, all at once (see `Venue.place_orders`)."""
        async def one(intent: OrderIntent) -> VenueOrder | VenueError:
            try:
                return await self.place_order(intent)
            except VenueError as exc:
                return exc

        return list(await asyncio.gather(*(one(i) for i in intents)))

    async def prepare_leverage(self, symbol: str, leverage: Decimal) -> None:
        symbol = symbol.upper()
        if not self._manage_leverage or self._leverage.get(symbol) == leverage:
            return
        try:
            await self._rest(
                "cancel",
                lambda: self.client.futures_change_leverage(symbol=symbol,
                                                            leverage=int(leverage)),
                "leverage",
            )
        except VenueError as exc:
            if exc.code not in NO_NEED_TO_CHANGE:
                raise
        self._leverage[symbol] = leverage

    async def place_order(self, intent: OrderIntent) -> VenueOrder:
        symbol = intent.symbol.upper()
        inst = self._instruments.get(symbol)
        if inst is None:
            raise VenueError(f"binance: unknown symbol {symbol}", code="UNKNOWN_SYMBOL")
        params = self.order_params(intent, inst)
        if not intent.reduce_only:
            await self.prepare_leverage(symbol, intent.leverage)
        res = await self._rest(
            "submit", lambda: self.client.futures_create_order(**params), "order"
        )
        order = parse_order(res) if isinstance(res, dict) and res.get("clientOrderId") else None
        if order is None:
            order = VenueOrder(
                symbol=symbol,
                client_order_id=intent.client_order_id,
                venue_order_id=str((res or {}).get("orderId", "")),
                side=intent.side,
                order_type=intent.order_type,
                qty=Decimal(params["quantity"]),
                filled_qty=Decimal(0),
                price=Decimal(params["price"]) if "price" in params else None,
                avg_price=None,
                status=OrderStatus.NEW,
                reduce_only=intent.reduce_only,
            )
        self._client_ids[order.venue_order_id] = order.client_order_id
        stop_loss = take_profit = None
        if not intent.reduce_only:
            long = intent.side is Side.BUY
            if intent.stop_loss is not None:
                stop_loss = await self._place_protective(
                    intent,
                    inst,
                    "STOP_MARKET",
                    round_price(intent.stop_loss, inst, "up" if long else "down"),
                    "sl",
                )
            if intent.take_profit is not None:
                take_profit = await self._place_protective(
                    intent,
                    inst,
                    "TAKE_PROFIT_MARKET",
                    round_price(intent.take_profit, inst, "down" if long else "up"),
                    "tp",
                )
        return VenueOrder(
            symbol=order.symbol,
            client_order_id=order.client_order_id,
            venue_order_id=order.venue_order_id,
            side=order.side,
            order_type=order.order_type,
            qty=order.qty,
            filled_qty=order.filled_qty,
            price=order.price,
            avg_price=order.avg_price,
            status=order.status,
            reduce_only=order.reduce_only,
            stop_loss=stop_loss,
            take_profit=take_profit,
            updated_at=order.updated_at or self._clock.now(),
        )

    async def _place_protective(
        self, intent: OrderIntent, inst: Instrument, kind: str, trigger: Decimal, leg: str
    ) -> Decimal | None:
        """An exchange-side stop / target closing the position. None (and an error log) if refused:
        the returned order then shows no stop, so the caller knows the position is unprotected."""
        params = {
            "symbol": inst.symbol,
            "side": wire_side(intent.side.opposite),
            "type": kind,
            "triggerPrice": format_decimal(trigger),
            "closePosition": "true",
            "workingType": "CONTRACT_PRICE",
            "clientAlgoId": f"{intent.client_order_id}-{leg}"[:36],
        }
        try:
            await self._rest("submit", lambda: self.client.futures_create_order(**params), kind)
        except VenueError as exc:
            logger.error("binance: {} for {} not placed: {}", kind, intent.client_order_id, exc)
            return None
        return trigger

    async def cancel_order(self, symbol: str, client_order_id: str) -> bool:
        try:
            await self._rest(
                "cancel",
                lambda: self.client.futures_cancel_order(
                    symbol=symbol.upper(), origClientOrderId=client_order_id
                ),
                "cancel",
            )
        except RateLimitedError:
            raise
        except VenueError as exc:
            if exc.code in ORDER_GONE_CODES:
                return False
            raise
        return True

    async def cancel_all(self, symbol: str | None = None) -> list[str]:
        open_ = await self.open_orders(symbol)
        done: list[str] = []
        for sym in sorted({o.symbol for o in open_}):
            await self._rest(
                "cancel",
                functools.partial(self.client.futures_cancel_all_open_orders, symbol=sym),
                "cancelAll",
            )
            done.extend(o.client_order_id for o in open_ if o.symbol == sym)
        return done

    async def open_orders(self, symbol: str | None = None) -> list[VenueOrder]:
        params = {"symbol": symbol.upper()} if symbol else {}
        rows = await self._read(lambda: self.client.futures_get_open_orders(**params), "openOrders")
        orders = [parse_order(r) for r in rows or []]
        for o in orders:
            self._client_ids[o.venue_order_id] = o.client_order_id
        return [o for o in orders if not o.status.is_terminal]

    async def order_by_client_id(self, symbol: str, client_order_id: str) -> VenueOrder | None:
        try:
            row = await self._read(
                lambda: self.client.futures_get_order(
                    symbol=symbol.upper(), origClientOrderId=client_order_id
                ),
                "getOrder",
            )
        except RateLimitedError:
            raise
        except VenueUnavailableError:
            raise
        except VenueError as exc:
            if exc.code in ORDER_GONE_CODES:
                return None
            raise
        order = parse_order(row)
        self._client_ids[order.venue_order_id] = order.client_order_id
        return order

    # -- account ----------------------------------------------------------------------------------

    async def positions(self) -> list[Position]:
        rows = await self._read(self.client.futures_position_information, "positionRisk")
        return [p for p in (parse_position(r) for r in rows or []) if p is not None]

    async def wallet(self) -> Wallet:
        rows = await self._read(self.client.futures_account_balance, "balance")
        return parse_balance(rows or [], self.asset)

    async def executions(
        self, symbol: str | None = None, since_ms: int | None = None
    ) -> list[Fill]:
        symbols = [symbol.upper()] if symbol else (self.symbols or sorted(self._instruments))
        fills: list[Fill] = []
        for sym in symbols:
            params: dict[str, Any] = {"symbol": sym}
            if since_ms is not None:
                params["startTime"] = int(since_ms)
            rows = await self._read(
                functools.partial(self.client.futures_account_trades, **params), "userTrades"
            )
            fills.extend(parse_user_trade(r, self._client_ids) for r in rows or [])
        fills.sort(key=lambda f: (f.ts, f.exec_id))
        return fills

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        rows = await self._read(
            lambda: self.client.futures_klines(
                symbol=symbol.upper(),
                interval=interval_code(interval_min),
                limit=max(1, min(1500, limit)),
            ),
            "klines",
        )
        return sorted((parse_kline(r) for r in rows or []), key=lambda k: k.start_ms)

    async def listing(self) -> list[ListedInstrument]:
        info = await self._read(self.client.futures_exchange_info, "exchangeInfo")
        trading = {str(r.get("symbol")) for r in info.get("symbols") or []
                   if r.get("status") == "TRADING" and r.get("marginAsset", self.asset) == self.asset}
        rows = await self._read(self.client.futures_ticker, "ticker/24hr")
        turnover = {str(r.get("symbol")): Decimal(str(r.get("quoteVolume") or "0"))
                    for r in (rows if isinstance(rows, list) else [rows])}
        return sorted((ListedInstrument(s, turnover.get(s, Decimal(0))) for s in trading),
                      key=lambda i: (-i.turnover_24h, i.symbol))

    async def set_symbols(self, symbols: list[str]) -> None:
        """Instruments come with exchangeInfo (all of them); only the list changes."""
        self.symbols = [s.upper() for s in symbols]

    async def ticker(self, symbol: str) -> Ticker:
        row = await self._read(
            lambda: self.client.futures_symbol_ticker(symbol=symbol.upper()), "ticker"
        )
        if isinstance(row, list):
            row = next((r for r in row if r.get("symbol") == symbol.upper()), {})
        return parse_ticker(row, self._clock.time_ms())

    # -- streams ----------------------------------------------------------------------------------

    def _on_user_message(self, msg: dict[str, Any]) -> None:
        orders, fills, positions, closed, wallet = parse_user_event(msg, self.asset)
        if not (orders or fills or positions or closed or wallet):
            return
        for o in orders:
            self._client_ids[o.venue_order_id] = o.client_order_id
        update = PrivateUpdate(
            orders=orders, fills=fills, positions=positions, closed_symbols=closed, wallet=wallet
        )
        for cb in list(self._private_cbs):
            try:
                cb(update)
            except Exception:
                logger.exception("binance private callback failed")

    def on_private(self, callback: Callable[[PrivateUpdate], None]) -> None:
        self._private_cbs.append(callback)

    def on_ticker(self, callback: Callable[[Ticker], None]) -> None:
        # No public futures stream is opened by this adapter; tickers come from `ticker()`.
        self._ticker_cbs.append(callback)

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None:
        self.monitor.on_state(callback)

    def on_stream_gap(self, callback: Callable[[StreamGap], None]) -> None:
        self.monitor.on_gap(callback)

    def stream_states(self) -> dict[str, StreamState]:
        return self.monitor.states()

    def last_gap(self, stream: str) -> StreamGap | None:
        return self.monitor.last_gap(stream)
