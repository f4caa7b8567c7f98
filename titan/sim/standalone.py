"""`titan sim`: the simulator as its own process, until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
import sys

from titan.sim.config import SimConfig
from titan.sim.server import Simulator


async def _serve(host: str, port: int, accounts: dict[str, str], seed: int) -> None:
    sim = Simulator(SimConfig(seed=seed, accounts=accounts))
    await sim.start(host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    print(f"titan sim listening on {sim.base_url} (seed {seed}, {len(accounts)} account(s))",
          flush=True)
    try:
        await stop.wait()
    finally:
        await sim.stop()


def run_standalone(host: str, port: int, api_key: list[str], api_secret: list[str],
                   seed: int) -> int:
    if len(api_key) != len(api_secret):
        print("titan sim: give one --api-secret per --api-key", file=sys.stderr)
        return 2
    asyncio.run(_serve(host, port, dict(zip(api_key, api_secret, strict=True)), seed))
    return 0
