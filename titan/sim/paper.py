"""The paper profile's simulator: started in-process on loopback, Titan's adapters then
pointed at it (the same adapters, over real sockets, as against the real venues)."""

from __future__ import annotations

from typing import Any

from loguru import logger

from titan.settings import Settings
from titan.sim.config import SimConfig
from titan.sim.server import Simulator
from titan.venues.factory import PAPER_API_KEY, PAPER_API_SECRET

PAPER_STATE_FILE = "paper-venue.json"


async def start_paper_simulator(settings: Settings) -> tuple[Simulator, Settings]:
    """The running simulator and `settings` with both venue URLs pointing at it."""
    extra: dict[str, Any] = {}
    if settings.sim_symbols:
        extra["symbols"] = tuple(settings.sim_symbols.split(","))
    # The paper book lives in the data folder: a restart must not wipe it (and then
    # "reconcile" every position as closed at the mark).
    simulator = Simulator(SimConfig(seed=settings.sim_seed,
                                    accounts={PAPER_API_KEY: PAPER_API_SECRET},
                                    bursts_per_minute=settings.sim_bursts_per_minute,
                                    state_path=str(settings.data_dir / PAPER_STATE_FILE), **extra))
    await simulator.start(host="127.0.0.1", port=settings.sim_port)
    url = simulator.base_url
    logger.info("SIMULATOR_STARTED url={} seed={} bursts_per_minute={}", url,
                settings.sim_seed, settings.sim_bursts_per_minute)
    return simulator, settings.model_copy(update={"bybit_url": url, "binance_url": url})
