"""Starting the simulator for the adapter tests (real loopback sockets, no mocks)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

KEY = "titan-test-key"
SECRET = "titan-test-secret"
SYMBOLS = ("BTCUSDT", "ETHUSDT")


def sim_classes() -> tuple[Any, Any]:
    from titan.sim import SimConfig, Simulator

    return Simulator, SimConfig


async def start_sim(**config: Any) -> Any:
    simulator_cls, config_cls = sim_classes()
    opts: dict[str, Any] = {
        "accounts": {KEY: SECRET},
        "symbols": SYMBOLS,
        "tick_hz": 0,
        "backfill_minutes": 30,
    }
    opts.update(config)
    sim = simulator_cls(config_cls(**opts))
    await sim.start("127.0.0.1", 0)
    return sim


async def wait_for(pred: Callable[[], bool], within: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + within
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
