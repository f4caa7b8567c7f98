"""Fixtures for the shadow-state tests: an in-process simulator and Titan against it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import make_titan
from tests.state.oob_kit import KEY, SECRET, eventually, titan_settings
from titan.app import create_app
from titan.core import Titan
from titan.sim import SimConfig, Simulator

Client = TestClient[Any, Any]


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = Simulator(SimConfig(seed=11, accounts={KEY: SECRET}))
    await s.start()
    yield s
    await s.stop()


Starter = Callable[[], Awaitable[tuple[Titan, Client]]]


@pytest.fixture
def start_titan(sim: Simulator, data_dir: Path,
                aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> Starter:
    async def start() -> tuple[Titan, Client]:
        titan = make_titan(data_dir, **titan_settings(sim.base_url))
        client = await aiohttp_client(create_app(titan))
        await eventually(lambda: all(titan.market.price(s) for s in ("ETHUSDT", "SOLUSDT")),
                         "tickers from the simulator")
        return titan, client
    return start


