"""Bybit v5 (USDT linear perpetuals) behind Titan's `Venue` interface, on pybit.

REST: pybit's `HTTP` is synchronous, so every call runs in a bounded thread pool (no
larger than urllib3's pool of 10) through `loop.run_in_executor`; pybit's own retries
(which `time.sleep` inside the thread) are switched off so Titan owns the retry policy.
Errors become `titan.venues.base` exceptions: a definite refusal is a `VenueError`
carrying the retCode; 10006 / HTTP 429 / 418 / 403 a `RateLimitedError` (and the
limiter backs off); a submit whose answer was lost (timeout, 5xx, reset, garbage) an
`AmbiguousSubmitError`; a read that cannot be done a `VenueUnavailableError`.

Streams: each pybit `WebSocket` runs in its own threads. Titan turns pybit's reconnect
off and supervises each stream from the event loop: the pybit thread appends each topic
message (copied only where pybit keeps mutating it) to a deque and wakes the loop once per
batch (`call_soon_threadsafe` only when no wake-up is already pending); a stream that
closes, errors, or says nothing (no message nor pong) for `silence_timeout` seconds is torn
down and reopened with its subscriptions, and the time without data is reported as a
`StreamGap`. websocket-client's pure-Python UTF-8 validator is switched off per socket:
text frames are still decoded (strictly) by `bytes.decode`, in C.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import json
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any, NoReturn
from urllib.parse import urlsplit

import requests
from loguru import logger
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP, WebSocket

from titan.clock import Clock
from titan.domain.orders import Fill, OrderIntent, OrderStatus, OrderType, Position, Side
from titan.venues.base import (
    AmbiguousSubmitError,
    Instrument,
    Kline,
    PrivateUpdate,
    RateLimitedError,
    StreamGap,
    StreamState,
    Ticker,
    Trade,
    VenueError,
    VenueOrder,
    VenueUnavailableError,
    Wallet,
    in_exit_lane,
)
from titan.venues.bybit_orders import ORDER_PATHS, BybitOrderSender, OrderSendFailed
from titan.venues.bybit_wire import (
    LEVERAGE_NOT_MODIFIED,
    ORDER_GONE_CODES,
    RATE_LIMIT_CODES,
    interval_code,
    parse_execution,
    parse_instrument,
    parse_kline,
    parse_order,
    parse_position,
    parse_public_trade,
    parse_ticker,
    parse_wallet,
)
from titan.venues.instruments import PriceRounding, format_decimal, round_price, round_qty
from titan.venues.ratelimit import RateLimiter
from titan.venues.streams import StreamMonitor

MAINNET_REST = "https://api.bybit.com"
TESTNET_REST = "https://api-testnet.bybit.com"
MAINNET_WS = "wss://stream.bybit.com"
TESTNET_WS = "wss://stream-testnet.bybit.com"

PRIVATE_STREAM = "private"
PUBLIC_STREAM = "public"

# pybit retries every code in `retry_codes` with time.sleep inside the worker thread, and
# an empty set means "use the default set". A code Bybit never sends switches that off.
_NO_RETRY_CODES = {-424242}

# urllib3 keeps 10 connections per pool; more threads than that only queue on it.
_MAX_REST_WORKERS = 10

# Stream messages handled per loop callback before yielding to other callbacks.
_DRAIN_BATCH = 256

# /v5/order/create-batch takes at most this many orders per request (linear).
BATCH_MAX_ORDERS = 20


def ws_urls(base_url: str | None, testnet: bool) -> tuple[str, str]:
    """(public linear, private) WebSocket URLs for a REST base URL (None = the real venue)."""
    if base_url is None:
        root = TESTNET_WS if testnet else MAINNET_WS
        return f"{root}/v5/public/linear", f"{root}/v5/private"
    parts = urlsplit(base_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None:
        raise ValueError(f"unsupported Bybit base URL scheme: {base_url}")
    root = f"{scheme}://{parts.netloc}"
    return f"{root}/v5/public/linear", f"{root}/v5/private"


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request certainly never left (no connection could be made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc.args[0]) if exc.args else repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text
    return False


class _TitanWebSocket(WebSocket):  # type: ignore[misc]
    """pybit's WebSocket, pointed at our URL, reporting to a `_BybitStream`, never raising in its thread."""

    def __init__(
        self, stream: _BybitStream, generation: int, channel_type: str, **kwargs: Any
    ) -> None:
        self._titan_stream = stream
        self._titan_gen = generation
        self._titan_auth = threading.Event()
        self._titan_auth_ok = False
        self._titan_auth_msg = ""
        self._titan_acks: dict[str, bool] = {}
        self._titan_unacks: dict[str, bool] = {}
        self._titan_ack_event = threading.Event()
        super().__init__(channel_type, **kwargs)

    def _connect(self, url: str) -> None:
        super()._connect(self._titan_stream.url)

    def _on_open(self) -> None:
        # Called by websocket-client on this socket's thread after the handshake, before
        # the first frame is read. Its per-byte pure-Python UTF-8 check (no `wsaccel`)
        # cost a fifth of the process at 5,000 trades/s; WebSocketApp still decodes
        # every text frame with `bytes.decode("utf-8")` (strict, in C), and a frame
        # that does not decode ends the connection as before (→ Titan reconnects).
        sock = getattr(getattr(self, "ws", None), "sock", None)
        for part in ("frame_buffer", "cont_frame"):
            target = getattr(sock, part, None)
            if target is not None and hasattr(target, "skip_utf8_validation"):
                target.skip_utf8_validation = True
        super()._on_open()

    def _on_message(self, message: str) -> None:
        self._titan_stream.from_thread_heard(self._titan_gen)
        try:
            super()._on_message(message)
        except Exception as exc:  # a bad message must not kill the connection thread
            logger.warning(
                "bybit {}: unhandled stream message dropped: {!r}", self._titan_stream.name, exc
            )

    def _process_normal_message(self, message: dict[str, Any]) -> None:
        topic = message["topic"]
        if not topic.startswith("tickers."):
            super()._process_normal_message(message)
            return
        # pybit merges the delta into its cached ticker and hands the callback a deep
        # copy of the message around that cache (which it keeps mutating). Ticker
        # values are strings: one shallow copy of the merged dict is all the loop needs.
        self._process_delta_ticker(message, topic)
        self._get_callback(topic)(
            {**message, "type": "snapshot", "data": dict(self.data[topic])}
        )

    def _handle_incoming_message(self, message: dict[str, Any]) -> None:
        if message.get("op") == "auth" or message.get("type") == "AUTH_RESP":
            self._titan_auth_ok = bool(message.get("success"))
            self._titan_auth_msg = str(message.get("ret_msg", ""))
            self.auth = self._titan_auth_ok
            self._titan_auth.set()
            return
        if message.get("op") == "unsubscribe":
            with contextlib.suppress(Exception):  # pybit forgets the topic and its callback
                self._process_unsubscription_message(message)
            self._titan_unacks[str(message.get("req_id", ""))] = bool(message.get("success"))
            self._titan_ack_event.set()
            return
        if message.get("op") == "subscribe" or message.get("type") == "COMMAND_RESP":
            req_id = str(message.get("req_id", ""))
            self._titan_acks[req_id] = bool(message.get("success"))
            if not message.get("success"):
                logger.error(
                    "bybit {}: subscription refused: {}",
                    self._titan_stream.name,
                    message.get("ret_msg"),
                )
            self._titan_ack_event.set()
            return
        if "topic" not in message:
            return  # pongs are filtered before; anything else unknown is ignored, not fatal
        super()._handle_incoming_message(message)

    def _on_close(self) -> None:
        self._titan_stream.from_thread_lost(self._titan_gen, "closed by server")

    def _on_error(self, error: Exception) -> None:
        self._titan_stream.from_thread_lost(self._titan_gen, f"error: {type(error).__name__}")
        with contextlib.suppress(Exception):
            if not self.exited:
                self.exit()


class _BybitStream:
    """One supervised pybit WebSocket: connect + (auth) + subscribe, watch, reconnect."""

    def __init__(
        self,
        *,
        name: str,
        url: str,
        private: bool,
        testnet: bool,
        api_key: str,
        api_secret: str,
        topics: list[str],
        on_message: Callable[[dict[str, Any]], None],
        monitor: StreamMonitor,
        clock: Clock,
        loop: asyncio.AbstractEventLoop,
        ping_interval: float,
        silence_timeout: float,
        data_silence_timeout: float | None,
        connect_timeout: float,
        reconnect_max_delay: float,
    ) -> None:
        self.name = name
        self.url = url
        self.private = private
        self._testnet = testnet
        self._key = api_key
        self._secret = api_secret
        self.topics = topics
        self._on_message = on_message
        self._monitor = monitor
        self._clock = clock
        self._loop = loop
        self._ping_interval = ping_interval
        self._silence_timeout = silence_timeout
        self._data_silence_timeout = data_silence_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_max_delay = reconnect_max_delay
        self._ws: _TitanWebSocket | None = None
        self._gen = 0
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lost_reason: str | None = None
        self._last_ping = 0.0
        self.reconnects = 0
        # Thread → loop hand-off (see `_wake`): (generation, message or lost-reason).
        self._inbox: deque[tuple[int, dict[str, Any] | str]] = deque()
        self._wake_pending = False
        self._heard_gen = -1  # generation of the last frame heard, and a count of them
        self._heard_seq = 0
        self._seen_seq = 0
        monitor.add(name)

    # -- called from pybit's threads: hand over to the loop, never raise -------------
    #
    # One hand-off per batch: the thread appends to `_inbox` (deque.append is atomic)
    # and calls `call_soon_threadsafe(_drain)` only when no drain is pending. `_drain`
    # clears the flag *before* it empties the deque, so an item appended after that
    # either is taken by this drain or finds the flag down and schedules the next one.

    def _wake(self) -> None:
        if not self._wake_pending:
            self._wake_pending = True
            try:
                self._loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # loop closed during shutdown
                self._wake_pending = False

    def from_thread_heard(self, gen: int) -> None:
        """Any frame at all (data, pong, ack): the connection is alive."""
        self._heard_gen = gen
        self._heard_seq += 1  # written last; `_drain` reads it first
        self._wake()

    def from_thread_lost(self, gen: int, reason: str) -> None:
        self._inbox.append((gen, reason))
        self._wake()

    def from_thread_topic(self, gen: int, message: dict[str, Any]) -> None:
        self._inbox.append((gen, _owned(message)))
        self._wake()

    # -- on the loop -----------------------------------------------------------------

    def _drain(self) -> None:
        self._wake_pending = False
        seq = self._heard_seq
        if seq != self._seen_seq:
            self._seen_seq = seq
            if self._heard_gen == self._gen and not self._closing:
                self._monitor.touch(self.name, data=False)
        inbox = self._inbox
        # A bounded batch per callback: a backlog must not hold the loop in one go.
        for _ in range(min(len(inbox), _DRAIN_BATCH)):
            gen, item = inbox.popleft()
            if isinstance(item, str):
                self._mark_lost(gen, item)
            else:
                self._deliver(gen, item)
        if inbox and not self._wake_pending:
            self._wake_pending = True
            self._loop.call_soon(self._drain)

    def _mark_lost(self, gen: int, reason: str) -> None:
        if gen == self._gen and not self._closing and self._lost_reason is None:
            self._lost_reason = reason

    def _deliver(self, gen: int, message: dict[str, Any]) -> None:
        if gen != self._gen or self._closing:
            return
        self._monitor.touch(self.name, data=True)
        try:
            self._on_message(message)
        except Exception:
            logger.exception("bybit {}: message handler failed", self.name)

    # -- connecting (runs in a worker thread) ------------------------------------------

    def _open_blocking(self, gen: int) -> _TitanWebSocket:
        kwargs: dict[str, Any] = {
            "testnet": self._testnet,
            "ping_interval": self._ping_interval,
            "ping_timeout": self._ping_interval / 2,
            "retries": 2,  # pybit raises after its last attempt even when it connected; 2 = one real try
            "restart_on_error": False,  # Titan reconnects, with backoff and gap reporting
            "private_auth_expire": 10,
        }
        if self.private:
            kwargs["api_key"] = self._key
            kwargs["api_secret"] = self._secret
        ws = _TitanWebSocket(self, gen, "private" if self.private else "linear", **kwargs)
        try:
            if self.private:
                deadline = time.monotonic() + self._connect_timeout
                while not ws._titan_auth.wait(0.05):
                    if not ws.is_connected():
                        # Bybit closes the socket in answer to a bad login; the reply
                        # itself may not make it out before the close.
                        raise VenueError(
                            f"bybit {self.name}: connection closed in answer to auth",
                            code="WS_AUTH",
                        )
                    if time.monotonic() > deadline:
                        raise VenueUnavailableError(f"bybit {self.name}: no answer to auth")
                if not ws._titan_auth_ok:
                    raise VenueError(
                        f"bybit {self.name}: authentication refused: {ws._titan_auth_msg}",
                        code="WS_AUTH",
                    )
            self._subscribe_blocking(ws, gen, self.topics)
            return ws
        except BaseException:
            with contextlib.suppress(Exception):
                ws.exit()
            raise

    def _subscribe_blocking(self, ws: _TitanWebSocket, gen: int, topics: list[str]) -> None:
        """Subscribe each topic and wait for the venue's confirmation (worker thread)."""
        cb = functools.partial(self.from_thread_topic, gen)
        for topic in topics:
            ws._titan_ack_event.clear()
            before = set(ws.subscriptions)
            if not ws.is_connected():
                raise VenueUnavailableError(f"bybit {self.name}: connection lost while subscribing")
            ws.subscribe(topic=topic, callback=cb, symbol="")  # topic is complete
            req_ids = set(ws.subscriptions) - before
            deadline = time.monotonic() + self._connect_timeout
            while not all(r in ws._titan_acks for r in req_ids):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise VenueUnavailableError(
                        f"bybit {self.name}: no answer to subscribe {topic}"
                    )
                ws._titan_ack_event.wait(min(left, 0.2))
                ws._titan_ack_event.clear()
            if not all(ws._titan_acks[r] for r in req_ids):
                raise VenueError(
                    f"bybit {self.name}: subscription to {topic} refused", code="WS_SUBSCRIBE"
                )

    def _unsubscribe_blocking(self, ws: _TitanWebSocket, topics: list[str]) -> None:
        for topic in topics:
            req_ids = [r for r, m in ws.subscriptions.items() if topic in json.loads(m)["args"]]
            for req_id in req_ids:
                ws._titan_unacks.pop(req_id, None)
                msg = json.loads(ws.subscriptions[req_id])
                msg["op"] = "unsubscribe"
                ws.ws.send(json.dumps(msg))
                deadline = time.monotonic() + self._connect_timeout
                while req_id not in ws._titan_unacks:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise VenueUnavailableError(f"bybit {self.name}: no answer to unsubscribe")
                    ws._titan_ack_event.wait(min(left, 0.2))
                    ws._titan_ack_event.clear()

    async def set_topics(self, topics: list[str]) -> None:
        """Change the subscriptions in place; on any trouble the stream is reopened with them."""
        added = [t for t in topics if t not in self.topics]
        removed = [t for t in self.topics if t not in topics]
        self.topics = list(topics)  # what every reconnect subscribes from now on
        ws, gen = self._ws, self._gen
        if ws is None or not (added or removed):
            return

        def change() -> None:
            self._unsubscribe_blocking(ws, removed)
            self._subscribe_blocking(ws, gen, added)

        try:
            await asyncio.wait_for(
                _in_thread(self._loop, f"bybit-{self.name}-resubscribe", change),
                self._connect_timeout * 2 + 2,
            )
        except Exception as exc:
            logger.warning("bybit {}: resubscribe failed, reopening: {!r}", self.name, exc)
            if gen == self._gen and self._lost_reason is None:
                self._lost_reason = "resubscribe failed"

    async def _open(self) -> None:
        self._gen += 1
        gen = self._gen
        # A thread per attempt: pybit can block without a timeout (its subscribe() waits
        # for a connection that may never come back); a stuck attempt must not starve the next.
        fut = _in_thread(self._loop, f"bybit-{self.name}-connect", self._open_blocking, gen)
        try:
            ws = await asyncio.wait_for(asyncio.shield(fut), self._connect_timeout + 2.0)
        except TimeoutError:
            # The thread may still connect later: close whatever it produces.
            fut.add_done_callback(_exit_quietly)
            self._gen += 1
            raise VenueUnavailableError(f"bybit {self.name}: connect timed out") from None
        except VenueError:
            raise
        except Exception as exc:
            raise VenueUnavailableError(f"bybit {self.name}: cannot connect: {exc}") from exc
        self._ws = ws
        self._lost_reason = None
        self._last_ping = self._clock.monotonic()
        self._monitor.connected(self.name)

    async def start(self) -> None:
        await self._open()
        self._task = asyncio.create_task(self._supervise(), name=f"bybit-{self.name}-supervisor")

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        ws, self._ws = self._ws, None
        if ws is not None:
            await _exit_in_thread(ws)
        self._monitor.closed(self.name)

    # -- supervision ---------------------------------------------------------------

    def _health_problem(self) -> str | None:
        if self._lost_reason is not None:
            return self._lost_reason
        ws = self._ws
        if ws is None or not ws.is_connected():
            return "connection dropped"
        quiet = self._monitor.silence(self.name)
        if quiet is not None and quiet > self._silence_timeout:
            return f"silent for {quiet:.1f}s (ping unanswered)"
        if self._data_silence_timeout is not None:
            quiet_data = self._monitor.silence(self.name, data=True)
            if quiet_data is not None and quiet_data > self._data_silence_timeout:
                return f"no data for {quiet_data:.1f}s"
        return None

    def _send_ping(self) -> None:
        ws = self._ws
        if ws is None:
            return
        msg = json.dumps({"op": "ping", "req_id": f"titan-{int(time.time() * 1000)}"})

        def send() -> None:
            with contextlib.suppress(Exception):
                ws.ws.send(msg)

        threading.Thread(target=send, daemon=True, name=f"bybit-{self.name}-ping").start()

    async def _supervise(self) -> None:
        tick = max(0.05, min(0.5, self._ping_interval / 4, self._silence_timeout / 4))
        while not self._closing:
            await asyncio.sleep(tick)
            problem = self._health_problem()
            if problem is None:
                if self._clock.monotonic() - self._last_ping >= self._ping_interval:
                    self._last_ping = self._clock.monotonic()
                    self._send_ping()
                continue
            await self._reconnect(problem)

    async def _reconnect(self, reason: str) -> None:
        self._monitor.lost(self.name, reason)
        old, self._ws = self._ws, None
        self._gen += 1  # whatever the old connection still says is ignored from now on
        if old is not None:
            # Tear the old socket down in a thread of its own; do not wait for it.
            threading.Thread(target=_safe_exit, args=(old,), daemon=True).start()
        delay = 0.2
        while not self._closing:
            try:
                await self._open()
                self.reconnects += 1
                return
            except VenueError as exc:
                self._monitor.failed(self.name, reason)
                logger.warning("bybit {}: reconnect failed: {}", self.name, exc)
            await asyncio.sleep(delay)
            delay = min(self._reconnect_max_delay, delay * 2)


def _owned(message: dict[str, Any]) -> dict[str, Any]:
    """A topic message the loop may keep. pybit hands order books as its own cached
    `data`, mutated in place by the next delta: copied in full (nested lists). Tickers
    arrive already copied (`_TitanWebSocket._process_normal_message`); trades and
    private topics are fresh from `json.loads` and never touched again: no copy."""
    topic = message.get("topic")
    if isinstance(topic, str) and topic.startswith("orderbook."):
        return copy.deepcopy(message)
    return message


def _in_thread(
    loop: asyncio.AbstractEventLoop, name: str, fn: Callable[..., Any], *args: Any
) -> asyncio.Future[Any]:
    """Run a blocking call on a daemon thread of its own; its result as a loop future."""
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if fut.done():
            return
        if ok:
            fut.set_result(value)
        else:
            fut.set_exception(value)

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, False, exc)
            return
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, True, result)

    threading.Thread(target=run, daemon=True, name=name).start()
    return fut


def _exit_quietly(fut: asyncio.Future[Any]) -> None:
    if fut.cancelled() or fut.exception() is not None:
        return
    ws = fut.result()
    threading.Thread(target=lambda: _safe_exit(ws), daemon=True).start()


def _safe_exit(ws: Any) -> None:
    with contextlib.suppress(Exception):
        ws.exit()


async def _exit_in_thread(ws: Any, wait_s: float = 5.0) -> None:
    """pybit's exit() waits for the socket thread: give it a thread of its own, bounded."""
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def finish() -> None:
        if not done.done():
            done.set_result(None)

    def run() -> None:
        _safe_exit(ws)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(finish)

    threading.Thread(target=run, daemon=True, name="bybit-ws-exit").start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done, wait_s)


def _pin_environment(session: requests.Session, url: str) -> None:
    """Resolve the proxy settings for `url` from the environment once, now, instead of on
    every request. pybit sends through `Session.prepare_request` + `send`, and with
    `trust_env` requests re-reads the proxy variables (a walk over all of `os.environ`,
    three times) and looks for ~/.netrc on each call: about half of pybit's own CPU time
    per order (0.4 ms of 0.8 ms one-way to the simulator on a quiet machine, 2026-11-30).
    The same proxies still apply (pinned here); pybit signs its requests with headers, so
    a netrc login never applied to it; the variables do not change while Titan runs."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False


class BybitVenue:
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
        loop = asyncio.get_running_loop()
        common: dict[str, Any] = {
            "testnet": self.testnet,
            "api_key": self._key,
            "api_secret": self._secret,
            "monitor": self.monitor,
            "clock": self._clock,
            "loop": loop,
            **self._ws_opts,
        }
        self._streams[PRIVATE_STREAM] = _BybitStream(
            name=PRIVATE_STREAM,
            url=self.private_ws_url,
            private=True,
            topics=["order", "execution", "position", "wallet"],
            on_message=self._on_private_message,
            data_silence_timeout=None,
            **common,
        )
        self._public_opts = common
        if self.symbols:
            self._make_public_stream(self.symbols)
        try:
            await asyncio.gather(*(s.start() for s in self._streams.values()))
        except BaseException:
            await self.close()
            raise

    def _public_topics(self, symbols: list[str]) -> list[str]:
        """Tickers always (prices, breaker, staleness); `publicTrade` only when someone
        registered `on_public_trade`: the Scavenger's trades come from Binance, and at
        a venue's trade rate an unread topic is most of what this stream carries."""
        topics = [f"tickers.{s}" for s in symbols]
        if self._trade_cbs:
            topics += [f"publicTrade.{s}" for s in symbols]
        return topics

    async def set_symbols(self, symbols: list[str]) -> None:
        """Change the streamed symbols at run time (whitelist edits): loads missing
        instruments, then subscribes/unsubscribes on the live public stream."""
        new = [s.upper() for s in symbols]
        await self._load_instruments([s for s in new if s not in self._instruments])
        self.symbols = new
        stream = self._streams.get(PUBLIC_STREAM)
        if stream is None:
            if self._public_opts is not None and new:
                stream = self._make_public_stream(new)
                await stream.start()
            return
        await stream.set_topics(self._public_topics(new))

    def _make_public_stream(self, symbols: list[str]) -> _BybitStream:
        assert self._public_opts is not None
        stream = _BybitStream(
            name=PUBLIC_STREAM,
            url=self.public_ws_url,
            private=False,
            topics=self._public_topics(symbols),
            on_message=self._on_public_message,
            data_silence_timeout=self._ticker_silence_timeout,
            **self._public_opts,
        )
        self._streams[PUBLIC_STREAM] = stream
        return stream

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await asyncio.gather(*(s.close() for s in self._streams.values()), return_exceptions=True)
        if self._orders is not None:
            await self._orders.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # -- REST plumbing -------------------------------------------------------------------

    async def _rest(self, method: str, kind: str, **params: Any) -> dict[str, Any]:
        """One pybit call in the pool. kind: "submit" (may be ambiguous), "cancel" or "read"."""
        if self._closed:
            raise VenueUnavailableError("bybit adapter is closed")
        limiter = self._lane_limiter()
        await limiter.acquire()
        job: Awaitable[Any]
        if self._orders is not None and method in ORDER_PATHS:
            job = self._orders.post(method, params)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(getattr(self._http, method), **params)
            try:
                job = loop.run_in_executor(self._pool, call)
            except RuntimeError as exc:  # the pool is shut down: nothing was sent
                raise VenueUnavailableError(f"bybit {method}: {exc}") from None
        try:
            # Note for callers: cancelling this await stops neither the thread nor the
            # loop's shielded send; a cancelled submit has an unknown outcome, like any
            # other lost answer.
            resp: Any = await job
        except InvalidRequestError as exc:
            code = _int_or_none(exc.status_code)
            if code in RATE_LIMIT_CODES:
                limiter.on_rate_limited(_reset_after(exc.resp_headers))
                raise RateLimitedError(f"bybit {method}: {exc.message}", code=code) from None
            raise VenueError(f"bybit {method}: {exc.message} (retCode {code})", code=code) from None
        except FailedRequestError as exc:
            status = _int_or_none(exc.status_code) or 0
            if status in (429, 418, 403):
                limiter.on_rate_limited(_reset_after(exc.resp_headers))
                raise RateLimitedError(f"bybit {method}: HTTP {status}", code=status) from None
            if status >= 500 or status in (408, 409):
                # 409 is pybit's "could not decode JSON": the answer was lost.
                self._raise_unknown(method, kind, f"HTTP {status}: {exc.message}", status)
            raise VenueError(f"bybit {method}: HTTP {status}: {exc.message}", code=status) from None
        except OrderSendFailed as exc:
            if not exc.reached:
                raise VenueUnavailableError(f"bybit {method}: {exc}", code="CONNECT") from None
            self._raise_unknown(method, kind, str(exc), "NETWORK")
        except (requests.exceptions.RequestException, OSError) as exc:
            if _is_connect_failure(exc):
                raise VenueUnavailableError(
                    f"bybit {method}: cannot connect ({type(exc).__name__})", code="CONNECT"
                ) from None
            self._raise_unknown(method, kind, f"{type(exc).__name__}", "NETWORK")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._raise_unknown(method, kind, f"{type(exc).__name__}: {exc}", "UNEXPECTED")
        limiter.on_success()
        if not isinstance(resp, dict):
            self._raise_unknown(method, kind, "reply is not an object", "BAD_REPLY")
        return resp

    def _lane_limiter(self) -> RateLimiter:
        return self.exit_limiter if in_exit_lane() else self.limiter

    @staticmethod
    def _raise_unknown(method: str, kind: str, why: str, code: str | int) -> NoReturn:
        if kind == "submit":
            raise AmbiguousSubmitError(f"bybit {method}: outcome unknown ({why})", code=code)
        raise VenueUnavailableError(f"bybit {method}: {why}", code=code)

    async def _read(self, method: str, **params: Any) -> dict[str, Any]:
        """A read, retried on rate limits (after the backoff) a bounded number of times."""
        attempt = 0
        while True:
            try:
                return await self._rest(method, "read", **params)
            except RateLimitedError:
                attempt += 1
                if attempt > self._read_retries:
                    raise
                await self._lane_limiter().acquire(0)

    async def _read_pages(
        self, method: str, limit: int, max_pages: int = 20, **params: Any
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(max_pages):
            q = dict(params, limit=limit)
            if cursor:
                q["cursor"] = cursor
            resp = await self._read(method, **q)
            result = resp.get("result") or {}
            rows.extend(result.get("list") or [])
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or len(result.get("list") or []) < limit:
                break
        return rows

    # -- instruments -------------------------------------------------------------------

    async def _load_instruments(self, symbols: list[str]) -> None:
        async def one(sym: str) -> None:
            resp = await self._read("get_instruments_info", category=self.category, symbol=sym)
            rows = (resp.get("result") or {}).get("list") or []
            if not rows:
                raise VenueError(f"bybit: unknown symbol {sym}", code="UNKNOWN_SYMBOL")
            inst = parse_instrument(rows[0])
            if inst.tick_size <= 0 or inst.qty_step <= 0:
                raise VenueError(f"bybit: instrument {sym} has no tick/step", code="BAD_INSTRUMENT")
            self._instruments[inst.symbol] = inst

        await asyncio.gather(*(one(s) for s in symbols))

    def instrument(self, symbol: str) -> Instrument | None:
        return self._instruments.get(symbol.upper())

    async def instruments(self) -> dict[str, Instrument]:
        if self._instruments:
            await self._load_instruments(list(self._instruments))
        return dict(self._instruments)

    async def _ensure_instrument(self, symbol: str) -> Instrument:
        inst = self._instruments.get(symbol)
        if inst is None and self._all_instruments is not None:
            # A load of every instrument is under way: use it; if it fails, ask for this one.
            with contextlib.suppress(VenueError):
                await self._await_all_instruments()
            inst = self._instruments.get(symbol)
        if inst is None:
            await self._load_instruments([symbol])
            inst = self._instruments.get(symbol)
        if inst is None:
            raise VenueError(f"bybit: unknown symbol {symbol}", code="UNKNOWN_SYMBOL")
        return inst

    async def ensure_instruments(self, symbols: list[str]) -> None:
        """Have the instruments of `symbols` loaded: nothing to do when they are, else one
        request for one symbol, or one listing of every linear instrument for more (a flatten
        of positions on symbols outside Titan's universe must not wait for one call each)."""
        missing = {s.upper() for s in symbols} - set(self._instruments)
        if not missing:
            return
        if len(missing) == 1 and self._all_instruments is None:
            await self._load_instruments(list(missing))
            return
        self._start_loading_all_instruments()
        await self._await_all_instruments()

    def _start_loading_all_instruments(self) -> None:
        """One listing of every instrument, shared by whoever needs it meanwhile."""
        if self._all_instruments is None and not self._closed:
            task = asyncio.get_running_loop().create_task(
                self._load_all_instruments(), name="bybit-instruments")
            self._all_instruments = task
            task.add_done_callback(self._all_instruments_done)

    def _all_instruments_done(self, task: asyncio.Task[None]) -> None:
        if self._all_instruments is task:
            self._all_instruments = None
        if not task.cancelled() and task.exception() is not None:
            logger.warning("bybit: loading the instrument list failed: {}", task.exception())

    async def _await_all_instruments(self) -> None:
        task = self._all_instruments
        if task is not None:
            await asyncio.shield(task)

    async def _load_all_instruments(self) -> None:
        rows = await self._read_pages("get_instruments_info", 1000, category=self.category)
        for row in rows:
            try:
                inst = parse_instrument(row)
            except Exception:  # one odd row must not cost the others
                continue
            if inst.tick_size > 0 and inst.qty_step > 0:
                self._instruments[inst.symbol] = inst

    def _learn_position_symbols(self, positions: list[Position]) -> None:
        """A position on a symbol whose instrument is not loaded (adopted from the venue):
        load the instruments now, in the background, so closing it needs no extra request."""
        if any(p.symbol not in self._instruments for p in positions):
            with contextlib.suppress(RuntimeError):  # no running loop: nothing to do
                self._start_loading_all_instruments()

    # -- orders --------------------------------------------------------------------------

    def order_params(self, intent: OrderIntent, inst: Instrument) -> dict[str, Any]:
        """The create-order body for an intent: qty down to the step, prices on the tick, as strings."""
        qty = round_qty(intent.qty, inst)
        if qty <= 0 or qty < inst.min_qty:
            raise VenueError(
                f"bybit: qty {intent.qty} rounds to {qty}, below the minimum {inst.min_qty} of {inst.symbol}",
                code="QTY_BELOW_MIN",
            )
        params: dict[str, Any] = {
            "category": self.category,
            "symbol": inst.symbol,
            "side": intent.side.value,
            "orderType": intent.order_type.value,
            "qty": format_decimal(qty),
            "orderLinkId": intent.client_order_id,
            "positionIdx": 0,
        }
        if intent.reduce_only:
            params["reduceOnly"] = True
        if intent.order_type is OrderType.LIMIT:
            if intent.price is None or intent.price <= 0:
                raise VenueError("bybit: a limit order needs a price", code="NO_PRICE")
            # Round limits to the passive side: never pay more / sell for less than intended.
            how: PriceRounding = "down" if intent.side is Side.BUY else "up"
            params["price"] = format_decimal(round_price(intent.price, inst, how))
            params["timeInForce"] = "GTC"
        else:
            params["timeInForce"] = "IOC"
        long = intent.side is Side.BUY
        if intent.stop_loss is not None and not intent.reduce_only:
            # Stops round toward the entry so the loss at stop is never larger than sized.
            params["stopLoss"] = format_decimal(
                round_price(intent.stop_loss, inst, "up" if long else "down")
            )
            params["slTriggerBy"] = "LastPrice"
        if intent.take_profit is not None and not intent.reduce_only:
            params["takeProfit"] = format_decimal(
                round_price(intent.take_profit, inst, "down" if long else "up")
            )
            params["tpTriggerBy"] = "LastPrice"
        if "stopLoss" in params or "takeProfit" in params:
            params["tpslMode"] = "Full"
        return params

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

    async def ticker(self, symbol: str) -> Ticker:
        resp = await self._read("get_tickers", category=self.category, symbol=symbol.upper())
        rows = (resp.get("result") or {}).get("list") or []
        ts = int(resp.get("time") or self._clock.time_ms())
        for r in rows:
            t = parse_ticker(r, ts)
            if t is not None and t.symbol == symbol.upper():
                return t
        raise VenueUnavailableError(f"bybit: no ticker for {symbol}")

    def last_ticker(self, symbol: str) -> Ticker | None:
        """The latest ticker the public stream delivered (None before the first)."""
        return self._tickers.get(symbol.upper())

    # -- streams ------------------------------------------------------------------------------

    def on_private(self, callback: Callable[[PrivateUpdate], None]) -> None:
        self._private_cbs.append(callback)

    def on_ticker(self, callback: Callable[[Ticker], None]) -> None:
        self._ticker_cbs.append(callback)

    def on_public_trade(self, callback: Callable[[Trade], None]) -> None:
        """Bybit's public trades; the first callback subscribes `publicTrade.*` (on a live
        stream too: in the background, the same way as a whitelist change)."""
        first = not self._trade_cbs
        self._trade_cbs.append(callback)
        stream = self._streams.get(PUBLIC_STREAM)
        if first and stream is not None and not self._closed:
            task = asyncio.get_running_loop().create_task(
                stream.set_topics(self._public_topics(self.symbols)),
                name="bybit-public-trades-subscribe")
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None:
        self.monitor.on_state(callback)

    def on_stream_gap(self, callback: Callable[[StreamGap], None]) -> None:
        self.monitor.on_gap(callback)

    def stream_states(self) -> dict[str, StreamState]:
        return self.monitor.states()

    def last_gap(self, stream: str) -> StreamGap | None:
        return self.monitor.last_gap(stream)

    def _on_private_message(self, msg: dict[str, Any]) -> None:
        update = parse_private_message(msg, self.settle_coin)
        if update is None:
            return
        if update.positions:
            self._learn_position_symbols(update.positions)
        for cb in list(self._private_cbs):
            try:
                cb(update)
            except Exception:
                logger.exception("bybit private callback failed")

    def _on_public_message(self, msg: dict[str, Any]) -> None:
        topic = str(msg.get("topic", ""))
        if topic.startswith("tickers."):
            data = msg.get("data") or {}
            t = parse_ticker(data, int(msg.get("ts") or self._clock.time_ms()),
                             self._tickers.get(str(data.get("symbol", ""))))
            if t is None:
                return
            self._tickers[t.symbol] = t
            for tcb in list(self._ticker_cbs):
                try:
                    tcb(t)
                except Exception:
                    logger.exception("bybit ticker callback failed")
        elif topic.startswith("publicTrade."):
            for row in msg.get("data") or []:
                trade = parse_public_trade(row)
                for pcb in list(self._trade_cbs):
                    try:
                        pcb(trade)
                    except Exception:
                        logger.exception("bybit trade callback failed")


def parse_private_message(msg: dict[str, Any], settle_coin: str = "USDT") -> PrivateUpdate | None:
    """One private-stream message (order / execution / position / wallet) as a PrivateUpdate."""
    topic = str(msg.get("topic", ""))
    data = msg.get("data") or []
    if isinstance(data, dict):
        data = [data]
    update = PrivateUpdate()
    if topic.startswith("order"):
        update.orders = [parse_order(d) for d in data]
    elif topic.startswith("execution"):
        update.fills = [f for f in (parse_execution(d) for d in data) if f is not None]
    elif topic.startswith("position"):
        for d in data:
            p = parse_position(d)
            if p is None:
                if d.get("symbol"):
                    update.closed_symbols.append(str(d["symbol"]))
            else:
                update.positions.append(p)
    elif topic.startswith("wallet"):
        if not data:
            return None
        update.wallet = parse_wallet(data[0], settle_coin)
    else:
        return None
    return update


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _reset_after(headers: Any) -> float | None:
    """Seconds until the venue's limit resets, from X-Bapi-Limit-Reset-Timestamp or Retry-After."""
    if not headers:
        return None
    try:
        reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
        if reset:
            return max(0.0, (int(reset) - time.time() * 1000) / 1000)
        retry = headers.get("Retry-After")
        if retry:
            return max(0.0, float(retry))
    except (TypeError, ValueError):
        return None
    return None
