"""Bybit's WebSocket streams, supervised from the event loop.

Each pybit `WebSocket` runs in its own threads. Titan turns pybit's reconnect off and
supervises each stream from the event loop: the pybit thread appends each topic message
(copied only where pybit keeps mutating it) to a deque and wakes the loop once per batch
(`call_soon_threadsafe` only when no wake-up is already pending); a stream that closes,
errors, or says nothing (no message nor pong) for `silence_timeout` seconds is torn down
and reopened with its subscriptions, and the time without data is reported as a
`StreamGap`. websocket-client's pure-Python UTF-8 validator is switched off per socket:
text frames are still decoded (strictly) by `bytes.decode`, in C. The pybit socket itself
and the threads its blocking calls run on are `bybit_socket.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from loguru import logger

from titan.clock import Clock
from titan.venues.base import (
    VenueError,
    VenueUnavailableError,
)
from titan.venues.bybit_socket import (
    _exit_in_thread,
    _exit_quietly,
    _in_thread,
    _owned,
    _safe_exit,
    _TitanWebSocket,
)
from titan.venues.streams import StreamMonitor

MAINNET_WS = "wss://stream.bybit.com"
TESTNET_WS = "wss://stream-testnet.bybit.com"

PRIVATE_STREAM = "private"
PUBLIC_STREAM = "public"

# Stream messages handled per loop callback before yielding to other callbacks.
_DRAIN_BATCH = 256


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
