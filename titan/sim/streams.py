"""Shared WebSocket connection plumbing for every stream front.

Engine and market listeners are synchronous, so they only enqueue text; one writer task
per connection sends in order. The writer honours the "silent" fault (connection stays
open, nothing is sent) and stamps the send time of every trade it carries.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from titan.sim.server import Simulator

_ids = itertools.count(1)


@dataclass(eq=False)
class Conn:
    """One client connection of a stream family (`kind`, see faults.STREAM_KINDS)."""

    sim: Simulator
    ws: web.WebSocketResponse
    kind: str
    topics: set[str] = field(default_factory=set)
    key: str = ""  # authenticated account (private streams)
    combined: bool = False  # Binance /stream: wrap payloads as {"stream":…,"data":…}
    conn_id: str = field(default_factory=lambda: f"sim-{next(_ids)}")
    queue: asyncio.Queue[tuple[str, Sequence[tuple[str, int]]]] = field(
        default_factory=asyncio.Queue)
    writer: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.writer = asyncio.get_running_loop().create_task(self._write_loop())

    def send(self, text: str, trades: Sequence[tuple[str, int]] = ()) -> None:
        """Queue `text`; `trades` = (symbol, trade_id) pairs it carries, for latency records."""
        self.queue.put_nowait((text, trades))

    async def _write_loop(self) -> None:
        rec = self.sim.recorder
        with contextlib.suppress(ConnectionError, asyncio.CancelledError, RuntimeError):
            while not self.ws.closed:
                text, trades = await self.queue.get()
                if self.kind in self.sim.faults.silent_streams:
                    continue
                ns = time.monotonic_ns()
                await self.ws.send_str(text)
                for sym, tid in trades:
                    rec.trade_sent(self.kind, sym, tid, ns)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ws.close(), 2)
