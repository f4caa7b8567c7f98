"""One pybit WebSocket as Titan runs it: `_TitanWebSocket` (pybit's socket, pointed at
Titan's URL, reporting what it hears to its `_BybitStream` and never raising in its own
thread), `_owned` (which messages the loop must copy), and the helpers that run pybit's
blocking connect and exit on threads of their own. The supervision of a stream (watch,
reconnect, resubscribe) is `bybit_streams.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger
from pybit.unified_trading import WebSocket

if TYPE_CHECKING:
    from titan.venues.bybit_streams import _BybitStream


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
