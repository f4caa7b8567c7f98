"""The console WebSocket `/ws` (SPEC §10): a snapshot on connect, then events as they happen.

Messages (server → browser), all JSON objects with a `type`:

- `{"type": "snapshot", "status": <GET /api/status>, "positions": <GET /api/state/positions>,
  "equityCurve": [{"ts", "equity"}, …], "prices": {symbol: "price"}, "alerts": [event, …]}`
  once, right after the connection opens (and again if the browser sends `{"type": "resync"}`).
- `{"type": "event", "event", "ts", "severity", "message", "data"}` for every bus event
  (`Event.as_dict()` spread in), in order.
- `{"type": "status", "status": <GET /api/status>, "prices": {…}}` at most once a second
  while something changes (and at least every `STATUS_KEEPALIVE_S` so the page can show
  how fresh it is).

Protocol pings keep the connection alive (aiohttp's `heartbeat`). A slow browser never
slows the bus: each socket has its own bounded queue that drops the oldest event, and a
send that stalls closes that socket. On shutdown every socket is closed with 1001 (going
away) so SIGINT stays fast; the page reconnects on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import weakref
from collections import deque
from typing import Any

from aiohttp import WSCloseCode, WSMsgType, web
from loguru import logger

from titan.api.views import positions_view, status_view
from titan.core import Titan
from titan.events import Event
from titan.jsonsafe import loads_bounded

QUEUE_MAX = 1000          # events buffered per socket before the oldest are dropped
STATUS_MIN_INTERVAL_S = 1.0
STATUS_KEEPALIVE_S = 5.0
HEARTBEAT_S = 15.0
SEND_TIMEOUT_S = 10.0
RECENT_ALERTS = 50
CURVE_POINTS = 500

# Fields of the status that change every call without anything having happened.
_VOLATILE = ("uptime_s", "serverTime")


class ConsoleHub:
    """The open console sockets and the recent alerts every new socket starts with."""

    def __init__(self, titan: Titan) -> None:
        self.titan = titan
        self.sockets: weakref.WeakSet[web.WebSocketResponse] = weakref.WeakSet()
        self.alerts: deque[dict[str, Any]] = deque(maxlen=RECENT_ALERTS)
        self.closing = False
        titan.bus.subscribe(self._remember)

    def _remember(self, event: Event) -> None:
        if event.alert_severity is not None:
            self.alerts.append(event.as_dict())

    def prices(self) -> dict[str, str]:
        return {s: str(p) for s, p in self.titan.market.prices.items()}

    def status(self) -> dict[str, Any]:
        return status_view(self.titan)

    async def snapshot(self) -> dict[str, Any]:
        titan = self.titan
        positions: Any = None
        try:
            positions = await positions_view(titan)
        except Exception as exc:  # the snapshot must never fail on one part
            logger.warning("CONSOLE_SNAPSHOT_PART_FAILED part=positions error={}", exc)
        curve: list[dict[str, Any]] = []
        try:
            curve = await titan.equity.curve(CURVE_POINTS)
        except Exception as exc:
            logger.warning("CONSOLE_SNAPSHOT_PART_FAILED part=equityCurve error={}", exc)
        return {"type": "snapshot", "status": self.status(), "positions": positions,
                "equityCurve": curve, "prices": self.prices(), "alerts": list(self.alerts)}

    async def close_all(self) -> None:
        self.closing = True
        for ws in list(self.sockets):
            with contextlib.suppress(Exception):
                await ws.close(code=WSCloseCode.GOING_AWAY, message=b"Titan is shutting down")


HUB: web.AppKey[ConsoleHub] = web.AppKey("console_hub", ConsoleHub)


def _dumps(obj: Any) -> str:
    return json.dumps(obj, default=str, separators=(",", ":"))


def _fingerprint(status: dict[str, Any]) -> str:
    return _dumps({k: v for k, v in status.items() if k not in _VOLATILE})


async def _send(ws: web.WebSocketResponse, obj: dict[str, Any]) -> None:
    await asyncio.wait_for(ws.send_str(_dumps(obj)), SEND_TIMEOUT_S)


async def _writer(hub: ConsoleHub, ws: web.WebSocketResponse,
                  queue: asyncio.Queue[Event], resync: asyncio.Event) -> None:
    last_print = ""
    last_sent = time.monotonic()
    dirty = False
    while not ws.closed:
        if resync.is_set():
            resync.clear()
            await _send(ws, await hub.snapshot())
        # Wait for an event, but never longer than the status interval.
        try:
            event = await asyncio.wait_for(queue.get(), STATUS_MIN_INTERVAL_S)
        except TimeoutError:
            event = None
        if event is not None:
            await _send(ws, {"type": "event", **event.as_dict()})
            dirty = True
            while not queue.empty():  # drain a burst without waiting
                await _send(ws, {"type": "event", **queue.get_nowait().as_dict()})
        now = time.monotonic()
        if now - last_sent < STATUS_MIN_INTERVAL_S:
            continue
        status = hub.status()
        fp = _fingerprint(status)
        if dirty or fp != last_print or now - last_sent >= STATUS_KEEPALIVE_S:
            await _send(ws, {"type": "status", "status": status, "prices": hub.prices()})
            last_print, last_sent, dirty = fp, now, False


def _close_soon(ws: web.WebSocketResponse) -> None:
    """The writer ended (a stalled send, an error): close, which also ends the reader."""
    if not ws.closed:
        task = asyncio.ensure_future(ws.close(code=WSCloseCode.TRY_AGAIN_LATER))
        _CLOSING.add(task)
        task.add_done_callback(_CLOSING.discard)


_CLOSING: set[asyncio.Future[bool]] = set()


async def console_ws(request: web.Request) -> web.StreamResponse:
    hub = request.app[HUB]
    if hub.closing:
        raise web.HTTPServiceUnavailable(reason="Titan is shutting down")
    ws = web.WebSocketResponse(heartbeat=HEARTBEAT_S, max_msg_size=64 * 1024)
    await ws.prepare(request)
    hub.sockets.add(ws)
    queue, unsubscribe = hub.titan.bus.subscribe_queue(maxsize=QUEUE_MAX)
    resync = asyncio.Event()
    writer: asyncio.Task[None] | None = None
    try:
        await _send(ws, await hub.snapshot())
        writer = asyncio.create_task(_writer(hub, ws, queue, resync), name="console-ws-writer")
        writer.add_done_callback(lambda _t: _close_soon(ws))
        async for msg in ws:  # the reader: answers pings, notices the close
            if msg.type is WSMsgType.TEXT:
                with contextlib.suppress(ValueError, AttributeError):
                    if loads_bounded(msg.data).get("type") == "resync":
                        resync.set()
            elif msg.type is WSMsgType.ERROR:
                break
    except (TimeoutError, ConnectionError, RuntimeError) as exc:
        logger.info("CONSOLE_WS_DROPPED peer={} reason={}", request.remote, exc or type(exc).__name__)
    finally:
        unsubscribe()
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await writer
        hub.sockets.discard(ws)
        if not ws.closed:
            with contextlib.suppress(Exception):
                await ws.close()
    return ws
