"""A local HTTP endpoint for apprise's `json://` URLs: records every message it gets."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.helpers import free_port


@dataclass
class Receiver:
    port: int = 0
    messages: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0
    fail_first: int = 0  # answer 500 to this many requests first (to show retries)
    gate: asyncio.Event | None = None  # when set, hold every request until it is set
    arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.port}/notify"

    async def _handle(self, request: web.Request) -> web.Response:
        self.hits += 1
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_first > 0:
            self.fail_first -= 1
            return web.Response(status=500)
        body = await request.json()
        async with self.arrived:
            self.messages.append(body)
            self.arrived.notify_all()
        return web.Response(text="ok")

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/notify", self._handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        self.port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()
        return self

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def wait_for(self, text: str, within: float = 30.0) -> dict[str, Any]:
        """The first message whose title or body contains `text` (awaited, not polled)."""

        def found() -> dict[str, Any] | None:
            for m in self.messages:
                if text in m.get("title", "") or text in m.get("message", ""):
                    return m
            return None

        async with self.arrived:
            await asyncio.wait_for(self.arrived.wait_for(lambda: found() is not None), within)
        hit = found()
        assert hit is not None
        return hit
