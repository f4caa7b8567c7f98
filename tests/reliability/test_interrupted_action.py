"""A FLATTEN ALL killed mid-way (SIGKILL at the `mid_flatten` crash point) is alerted and
audited when Titan starts again, and the start-up is not clean (issue 15 item 5: the
start-up reconciliation used to call it "clean").

The killed process is `tests.state.crash_harness` (a real Titan, bybit venue pointed at a
simulator served by this test over loopback); the restart is a real Titan on the same data
folder.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import SECRETS, auth_header, free_port
from tests.venues.simkit import KEY, SECRET, start_sim
from titan.app import create_app
from titan.core import Titan
from titan.events import Alert, Event
from titan.settings import Settings, VenueName
from titan.sim.config import DEFAULT_SYMBOLS

ROOT = Path(__file__).resolve().parents[2]
Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]


@pytest.fixture
async def sim() -> AsyncIterator[Any]:
    s = await start_sim(symbols=tuple(DEFAULT_SYMBOLS))
    try:
        yield s
    finally:
        await s.stop()


async def test_a_flatten_killed_mid_way_is_reported_after_the_restart(
        sim: Any, tmp_path: Path, aiohttp_client: MakeClient) -> None:
    data = tmp_path / "data"
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TITAN_", "HARNESS_"))}
    env.update({"HARNESS_SIM_URL": sim.base_url, "HARNESS_KEY": KEY, "HARNESS_SECRET": SECRET,
                "HARNESS_DATA": str(data), "HARNESS_PORT": str(free_port()),
                "HARNESS_STEPS": "6", "HARNESS_SEED": "3", "HARNESS_FLATTEN_EVERY": "2",
                "TITAN_CRASH_AT": "mid_flatten:1", "PYTHONUNBUFFERED": "1"})
    err = tmp_path / "harness.err"
    with err.open("wb") as err_file:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.state.crash_harness", env=env, cwd=ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=err_file)
    try:
        # The sim runs on this loop: waiting with `await` keeps it serving the harness.
        rc = await asyncio.wait_for(proc.wait(), timeout=120)
        assert rc == -9, f"harness was not killed at mid_flatten: rc={rc} " \
                         f"{err.read_text()[-2000:]}"
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=data, port=free_port(), venue=VenueName.BYBIT,
        bybit_url=sim.base_url, binance_url=sim.base_url,
        bybit_api_key=KEY, bybit_api_secret=SECRET)
    titan = Titan(settings, secrets=SECRETS)
    events: list[Event] = []
    titan.bus.subscribe(events.append)
    client = await aiohttp_client(create_app(titan))  # start-up reconciliation included
    alerts = [e for e in events if isinstance(e, Alert) and e.data.get("interrupted")]
    assert alerts and "FLATTEN_ALL" in alerts[0].message and "did not finish" in alerts[0].message
    rows = await titan.db.fetch_all(
        "SELECT actor, action, success FROM audit_log WHERE action='action_interrupted'")
    assert rows == [{"actor": "system", "action": "action_interrupted", "success": 0}]
    status = await (await client.get("/api/status", headers=auth_header())).json()
    assert status["masterArm"] == "DISARMED"
