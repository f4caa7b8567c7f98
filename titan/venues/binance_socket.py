"""python-binance's reconnecting WebSocket, read without a queue, a timer or a task per message.

`ReconnectingWebsocket` (python-binance 1.0.x) reads every frame under its own
`asyncio.wait_for`, decodes it, puts it on an `asyncio.Queue`, and `recv()` takes it off
under a second `wait_for`: two timers, a task and a queue hop per message, plus a debug
f-string of the whole message. That capped Titan's aggTrade feed near 8,000 trades/s
(docs/benchmarks.md §2). `PushSocket` keeps the rest of the library as it is (the connect,
its reconnect with back-off, its in-band `{"e": "error"}` reports) and changes only how a
message leaves: it is handed to `on_message` synchronously, in arrival order, from the read
loop itself. Silence is the owner's business (one watchdog per stream in `_SocketRunner`).

`PushSocketManager` is `BinanceSocketManager` building those sockets, without
permessage-deflate (zlib per frame, for ~200-byte messages on a LAN-fast link) and with a
larger frame buffer so the reader takes many frames per socket read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from socket import gaierror
from typing import Any

from binance import BinanceSocketManager
from binance.exceptions import BinanceWebsocketClosed, BinanceWebsocketQueueOverflow
from binance.ws.constants import WSListenerState
from binance.ws.reconnecting_websocket import ReconnectingWebsocket
from websockets.exceptions import ConnectionClosedError, ConnectionClosedOK
from websockets.protocol import State

MessageSink = Callable[[dict[str, Any]], None]

# The read loop gives the event loop a turn after this many messages in a row, so a burst
# of frames already buffered does not hold the loop (timers, the API, orders) for its length.
YIELD_EVERY = 100

# websockets options for the market-data sockets (passed through python-binance's ws_kwargs).
FEED_WS_OPTIONS: dict[str, Any] = {
    # No permessage-deflate: decompressing every frame cost more than the bytes it saved.
    "compression": None,
    # websockets pauses reading at 16 buffered frames by default (and resumes at 4): at
    # 20,000 msgs/s that is a pause/resume and a small socket read every few messages.
    "max_queue": (4096, 1024),
}


class PushSocket(ReconnectingWebsocket):  # type: ignore[misc]
    """A `ReconnectingWebsocket` that hands each decoded message to `on_message` as it is read.

    `recv()` is not used (nothing is queued). Error reports (`{"e": "error", ...}`) go to
    `on_message` too, in order with the data. `ended` resolves when the read loop has given
    up (python-binance's reconnects exhausted, or an unexpected error): the owner replaces
    the socket then, as it did on `ReadLoopClosed`.
    """

    def __init__(self, *args: Any, on_message: MessageSink, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._push = on_message
        self._reader: asyncio.Task[Any] | None = None
        self.ended: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    async def _propagate_error(self, error_msg: dict[str, Any]) -> None:
        # The library's hook for "send errors elsewhere than the queue".
        self._push(error_msg)

    async def _read_loop(self) -> None:
        # The library's loop (same states, same errors reported, same reconnects), with
        # `_pump` in place of one `wait_for(recv)` + queue put per message.
        self._reader = asyncio.current_task()
        try:
            while True:
                try:
                    while self.ws_state == WSListenerState.RECONNECTING:
                        await self._run_reconnect()
                    if self.ws_state == WSListenerState.EXITING:
                        break
                    ws = self.ws
                    if ws is None or ws.state == State.CLOSED:
                        self._reconnect()
                        raise BinanceWebsocketClosed("Connection closed. Reconnecting...")
                    if ws.state == State.CLOSING:
                        await asyncio.sleep(0.1)
                        continue
                    await self._pump(ws)
                except asyncio.CancelledError:
                    break  # close(): `_kill_read_loop` cancelled us
                except (
                    asyncio.IncompleteReadError,
                    gaierror,
                    ConnectionClosedError,
                    ConnectionClosedOK,
                    BinanceWebsocketClosed,
                ) as e:
                    # Reported, and the loop goes on: the state check above reconnects.
                    self._log.error(f"{e.__class__.__name__} ({e})")
                    await self._propagate_error(
                        {"e": "error", "type": e.__class__.__name__, "m": f"{e}"}
                    )
                except Exception as e:  # reconnects exhausted, undecodable frame, ...
                    self._log.error(f"Unknown exception: {e.__class__.__name__} ({e})")
                    await self._propagate_error(
                        {"e": "error", "type": e.__class__.__name__, "m": f"{e}"}
                    )
                    break
        finally:
            self._handle_read_loop = None
            self._reconnects = 0
            self._reader = None
            if not self.ended.done():
                self.ended.set_result(None)

    async def _pump(self, ws: Any) -> None:
        """Read and deliver while streaming. `recv()` returns at once while frames are
        buffered, so a burst is consumed in one go, with a loop turn every YIELD_EVERY.

        Falling behind still fails as the library's queue did: more than `max_queue_size`
        messages read without once finding websockets' frame buffer empty (caught up with
        the wire) raises `BinanceWebsocketQueueOverflow`, which ends the read loop, so the
        owner reports the stream lost and reopens it rather than act on ever older trades."""
        recv = ws.recv
        decode = self._handle_message if self._is_binary else self.json_loads
        push = self._push
        backlog = _frame_buffer(ws)
        limit = self.max_queue_size
        n = behind = 0
        while self.ws_state == WSListenerState.STREAMING:
            if not backlog:  # nothing buffered: recv() waits for the wire, we are caught up
                behind = 0
            msg = decode(await recv())
            if msg:
                push(msg)
            behind += 1
            if behind > limit:
                raise BinanceWebsocketQueueOverflow(
                    f"{behind} messages read without catching up with the stream "
                    f"(maximum {limit})"
                )
            n += 1
            if n >= YIELD_EVERY:
                n = 0
                await asyncio.sleep(0)

    async def _kill_read_loop(self) -> None:
        # The library sets EXITING and polls until its loop notices, which it did within
        # its read timeout; this loop blocks in recv() without one, so it is cancelled.
        self.ws_state = WSListenerState.EXITING
        reader = self._reader
        if reader is not None and reader is not asyncio.current_task():
            reader.cancel()
        if self._handle_read_loop is not None and reader is not asyncio.current_task():
            # Running, or scheduled and not started yet (it will see EXITING): until it ends.
            await asyncio.wait([self.ended])


def _frame_buffer(ws: Any) -> Any:
    """websockets' queue of received, not yet read frames (asyncio `Connection.recv_messages`,
    an `Assembler`); `len()` of it is the reader's backlog in frames."""
    frames = getattr(getattr(ws, "recv_messages", None), "frames", None)
    if frames is None or not hasattr(frames, "__len__"):
        raise RuntimeError("websockets has no recv_messages.frames: cannot watch the backlog")
    return frames


class PushSocketManager(BinanceSocketManager):  # type: ignore[misc]
    """`BinanceSocketManager` whose spot / combined sockets are `PushSocket`s.

    Every call builds a fresh socket (the library caches one per path, so a socket that
    failed to close would be handed back on the reopen)."""

    def __init__(self, client: Any, *, on_message: MessageSink, **kwargs: Any) -> None:
        super().__init__(client, **kwargs)
        self._push = on_message
        self.ws_kwargs = dict(FEED_WS_OPTIONS)

    def _get_socket(
        self,
        path: str,
        stream_url: str | None = None,
        prefix: str = "ws/",
        is_binary: bool = False,
        socket_type: Any = None,
    ) -> PushSocket:
        time_unit = getattr(self._client, "TIME_UNIT", None)
        if time_unit:
            path = f"{path}?timeUnit={time_unit}"
        return PushSocket(
            path=path,
            url=self._get_stream_url(stream_url),
            prefix=prefix,
            is_binary=is_binary,
            https_proxy=self._client.https_proxy,
            max_queue_size=self._max_queue_size,
            on_message=self._push,
            **self.ws_kwargs,
        )
