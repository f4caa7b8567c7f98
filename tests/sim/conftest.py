"""Fixtures: a simulator on an ephemeral loopback port and real venue clients for it."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any

import pytest
from pybit.unified_trading import HTTP

from titan.sim import SimConfig, Simulator

KEY, SECRET = "test-key", "test-secret"
KEY2, SECRET2 = "other-key", "other-secret"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = Simulator(SimConfig(seed=7, accounts={KEY: SECRET, KEY2: SECRET2}, tick_hz=0))
    await s.start()
    try:
        yield s
    finally:
        await s.stop()


def make_http(sim: Simulator, key: str = KEY, secret: str = SECRET, **kw: Any) -> HTTP:
    # retry_codes={-1}: pybit would otherwise sleep-and-retry 10006/10002 inside itself.
    kw.setdefault("retry_codes", {-1})
    client = HTTP(testnet=False, api_key=key, api_secret=secret, **kw)
    client.endpoint = sim.base_url
    return client


@pytest.fixture
def http(sim: Simulator) -> HTTP:
    return make_http(sim)


async def blocking(fn: Callable[..., Any], *args: Any, within: float = 20.0, **kw: Any) -> Any:
    """Run a blocking client call on a daemon thread, off the loop that serves the
    simulator; a call that never returns fails the test instead of hanging the run
    (pybit's `exit()` and `subscribe()` spin until their socket changes state)."""
    loop = asyncio.get_running_loop()
    fut: asyncio.Future[Any] = loop.create_future()

    def settle(result: Any, error: BaseException | None) -> None:
        if fut.done():
            return
        if error is not None:
            fut.set_exception(error)
        else:
            fut.set_result(result)

    def run() -> None:
        try:
            result = fn(*args, **kw)
        except BaseException as e:
            loop.call_soon_threadsafe(settle, None, e)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=run, daemon=True).start()
    return await asyncio.wait_for(fut, within)


async def call(fn: Callable[..., Any], **kw: Any) -> Any:
    """pybit is synchronous: run it off the loop that serves the simulator."""
    return await blocking(fn, **kw)


def D(x: str | int) -> Decimal:
    return Decimal(str(x))


async def eventually(pred: Callable[[], Any], within: float = 5.0) -> Any:
    """Poll `pred` until truthy (stream callbacks land on other threads)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + within
    while True:
        v = pred()
        if v:
            return v
        if loop.time() > end:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


def make_ws(sim: Simulator, private: bool, **kw: Any) -> Any:
    """A real pybit WebSocket pointed at the simulator (URL swapped in `_connect`)."""
    from pybit.unified_trading import WebSocket

    url = sim.ws_url + ("/v5/private" if private else "/v5/public/linear")

    class LocalWebSocket(WebSocket):  # type: ignore[misc]
        def _connect(self, _url: str) -> None:
            super()._connect(url)

    if private:
        # pybit signs auth to expire in 1 s by default; a loaded test host can take longer
        # to deliver it, and the simulator (like Bybit) refuses an expired auth.
        kw.setdefault("private_auth_expire", 30)
        kw.setdefault("api_key", KEY)
        kw.setdefault("api_secret", SECRET)
        return LocalWebSocket(testnet=False, channel_type="private", **kw)
    return LocalWebSocket(testnet=False, channel_type="linear", **kw)


async def subscribed(sim: Simulator, *topics: str, private: bool = False) -> None:
    """Wait until the simulator has registered `topics` (pybit's subscribe returns
    before the server has seen the request)."""
    pool = sim.bybit_ws.private if private else sim.bybit_ws.public
    await eventually(lambda: any(set(topics) <= c.topics for c in pool))
