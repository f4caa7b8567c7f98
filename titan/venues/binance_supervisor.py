"""Supervision of python-binance sockets (the aggTrade feed and the futures user stream).

python-binance reconnects a closed socket by itself; Titan adds what it lacks: its
`{"e":"error"}` messages are filtered out (and mark the stream lost), a stream that
delivers nothing for `silence_timeout` seconds is torn down and reopened, a read loop
that gave up is replaced, and the time without data is reported as a gap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from titan.venues.base import (
    VenueUnavailableError,
)
from titan.venues.binance_socket import MessageSink, PushSocket
from titan.venues.streams import StreamMonitor

TRADES_STREAM = "trades"
USER_STREAM = "user"


def binance_urls(base_url: str | None) -> dict[str, str]:
    """API_URL / FUTURES_URL / stream bases for a local base URL (None: the library's defaults)."""
    if base_url is None:
        return {}
    parts = urlsplit(base_url.rstrip("/"))
    ws_scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if ws_scheme is None:
        raise ValueError(f"unsupported Binance base URL scheme: {base_url}")
    http_scheme = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    http_root = f"{http_scheme}://{parts.netloc}"
    ws_root = f"{ws_scheme}://{parts.netloc}"
    return {
        "API_URL": f"{http_root}/api",
        "FUTURES_URL": f"{http_root}/fapi",
        "STREAM_URL": f"{ws_root}/",
        "FSTREAM_URL": f"{ws_root}/",
    }


def _settle(done: asyncio.Future[str], reason: str) -> None:
    if not done.done():
        done.set_result(reason)


def _error_message_kind(msg: dict[str, Any]) -> str:
    return f"{msg.get('type', 'error')}: {msg.get('m', '')}".strip()


class _SocketRunner:
    """Keeps one python-binance socket alive: opens it, reads it, replaces it when it dies or goes quiet.

    Messages reach `_deliver` in arrival order: pushed by a `PushSocket`'s read loop, or
    pulled by a task calling `recv()` for any other python-binance socket (the user stream).
    Silence is watched by one timer per connection, re-armed from the last-message time the
    `StreamMonitor` keeps, instead of a `wait_for` (a task and a timer) per message.
    """

    def __init__(
        self,
        *,
        name: str,
        make_socket: Callable[[MessageSink], Any],
        on_message: Callable[[dict[str, Any]], None],
        monitor: StreamMonitor,
        silence_timeout: float,
        connect_timeout: float,
        reconnect_max_delay: float,
        read_timeout: float = 0.5,
    ) -> None:
        self.name = name
        self._make_socket = make_socket
        self._on_message = on_message
        self._monitor = monitor
        self._silence_timeout = silence_timeout
        self._connect_timeout = connect_timeout
        self._reconnect_max_delay = reconnect_max_delay
        self._read_timeout = read_timeout
        self._sock: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._lost = False
        self._first_open: asyncio.Future[None] | None = None
        self._done: asyncio.Future[str] | None = None  # this connection's end, with the reason
        self._watchdog: asyncio.TimerHandle | None = None
        self.reopened = 0
        monitor.add(name)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._first_open = loop.create_future()
        self._task = asyncio.create_task(self._run(), name=f"binance-{self.name}")
        try:
            await asyncio.wait_for(asyncio.shield(self._first_open), self._connect_timeout + 2)
        except TimeoutError:
            raise VenueUnavailableError(f"binance {self.name}: connect timed out") from None

    async def close(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self._close_socket()
        self._monitor.closed(self.name)

    async def _close_socket(self) -> None:
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(Exception):
            await asyncio.wait_for(sock.__aexit__(None, None, None), self._read_timeout * 3 + 2)

    async def _open(self) -> None:
        sock = self._make_socket(self._deliver)
        sock.TIMEOUT = self._read_timeout  # how long a pulled socket's read loop blocks: bounds close()
        try:
            await asyncio.wait_for(sock.__aenter__(), self._connect_timeout)
        except BaseException:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.__aexit__(None, None, None), 2)
            raise
        self._sock = sock

    def _loss(self, reason: str, *, escalate: bool = True) -> None:
        if not self._lost:
            self._lost = True
            self._monitor.lost(self.name, reason)
        elif escalate:
            # Lost, and still nothing after a reconnect: down, not just reconnecting.
            self._monitor.failed(self.name, reason)

    async def _run(self) -> None:
        delay = 0.2
        while not self._closing:
            try:
                await self._open()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if self._first_open is not None and not self._first_open.done():
                    self._first_open.set_exception(
                        VenueUnavailableError(f"binance {self.name}: cannot connect: {exc!r}")
                    )
                    return
                self._monitor.failed(self.name, f"reconnect failed: {type(exc).__name__}")
                await asyncio.sleep(delay)
                delay = min(self._reconnect_max_delay, delay * 2)
                continue
            delay = 0.2
            if self._first_open is not None and not self._first_open.done():
                self._monitor.connected(self.name)
                self._first_open.set_result(None)
            await self._read()
            await self._close_socket()
            self.reopened += 1

    async def _read(self) -> None:
        """Until this connection ends: its read loop gave up, or it went silent (the watchdog)."""
        sock = self._sock
        if sock is None:
            return
        loop = asyncio.get_running_loop()
        done: asyncio.Future[str] = loop.create_future()
        self._done = done
        puller: asyncio.Task[None] | None = None
        if isinstance(sock, PushSocket):
            # Bound to this connection's future: a late callback cannot end the next one.
            sock.ended.add_done_callback(
                lambda _: _settle(done, "read loop ended: ReadLoopClosed")
            )
        else:
            puller = asyncio.create_task(self._pull(sock, done), name=f"binance-{self.name}-recv")
        # First look one timeout after the open: a connection that has said nothing by then
        # is silent whatever the monitor's last message time says.
        self._watchdog = loop.call_later(self._silence_timeout, self._watch)
        try:
            reason = await done
        finally:
            self._done = None
            if self._watchdog is not None:
                self._watchdog.cancel()
                self._watchdog = None
            if puller is not None:
                puller.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await puller
        self._loss(reason)

    def _watch(self) -> None:
        """The silence watchdog: tears the connection down after `silence_timeout` without a
        message, otherwise sleeps until that much time has passed since the last one."""
        self._watchdog = None
        quiet = self._monitor.silence(self.name)
        if quiet is None or quiet >= self._silence_timeout:
            if self._done is not None:
                _settle(self._done, f"silent for {self._silence_timeout:.1f}s")
            return
        self._watchdog = asyncio.get_running_loop().call_later(
            self._silence_timeout - quiet, self._watch
        )

    async def _pull(self, sock: Any, done: asyncio.Future[str]) -> None:
        while True:
            try:
                msg = await sock.recv()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # ReadLoopClosed: python-binance gave up reconnecting
                _settle(done, f"read loop ended: {type(exc).__name__}")
                return
            self._deliver(msg)

    def _deliver(self, msg: Any) -> None:
        if not isinstance(msg, dict):
            return
        if msg.get("e") == "error":
            # python-binance reports socket trouble in-band and reconnects by itself.
            self._loss(_error_message_kind(msg), escalate=False)
            return
        if self._lost:
            self._lost = False
            self._monitor.connected(self.name)
        self._monitor.touch(self.name)
        try:
            self._on_message(msg)
        except Exception:
            logger.exception("binance {}: message handler failed", self.name)
