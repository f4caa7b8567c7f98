"""ConfigService on its own: concurrency, the NATS path, the risk engine as a listener."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import make_titan
from titan.clock import ManualClock
from titan.config_versioning import InvalidConfig
from titan.risk import RiskEngine
from titan.store.audit import Actor

NATS = Actor("nats", "nats")


async def test_concurrent_updates_lose_nothing(data_dir: Path) -> None:
    titan = make_titan(data_dir, clock=ManualClock(datetime(2025, 1, 2, tzinfo=UTC)))
    await titan.start()
    try:
        await asyncio.gather(
            titan.config.update_risk({"maxLeverage": 10}, NATS),
            titan.config.update_risk({"maxRiskPerTrade": 0.03}, NATS),
            titan.config.change_whitelist("add", "XRPUSDT", NATS),
        )
        active = titan.config.active
        assert active.max_leverage == 10 and active.max_risk_per_trade == 0.03
        assert "XRPUSDT" in active.whitelist
        versions = await titan.config.versions()
        assert len(versions) == 4 and len({v.version_tag for v in versions}) == 4
    finally:
        await titan.stop()


@pytest.mark.parametrize("payload", [
    {"maxAccountLeverage": 100.0}, {"maxAccountLeverage": "5"}, {"bogus": 1}, {}, [],
    "maxLeverage=5", None,
])
async def test_nats_payloads_are_validated(data_dir: Path, payload: Any) -> None:
    titan = make_titan(data_dir, clock=ManualClock(datetime(2025, 1, 2, tzinfo=UTC)))
    await titan.start()
    try:
        before = titan.config.version.version_tag
        with pytest.raises(InvalidConfig) as info:
            await titan.config.update_risk(payload, NATS)
        assert info.value.status == 422 and info.value.details
        assert titan.config.version.version_tag == before
        assert await titan.config.store.count() == 1
    finally:
        await titan.stop()


async def test_the_risk_engine_takes_changes_without_a_restart(data_dir: Path) -> None:
    clock = ManualClock(datetime(2025, 1, 2, tzinfo=UTC))
    titan = make_titan(data_dir, clock=clock)
    await titan.start()
    try:
        engine = RiskEngine(bus=titan.bus, clock=clock, config=titan.config.active,
                            require_startup=False)
        titan.config.on_change(engine.update_config)
        clock.advance(1)
        await titan.config.update_risk({"maxAccountLeverage": 5.0}, NATS)
        assert engine.config.max_leverage == 5.0
        clock.advance(1)
        await titan.config.change_whitelist("remove", "ETHUSDT", NATS)
        assert "ETHUSDT" not in engine.config.whitelist
        first = (await titan.config.versions())[-1].version_tag
        clock.advance(1)
        await titan.config.rollback(first, Actor("op", "api", "10.0.0.1"))
        assert engine.config == titan.config.active and "ETHUSDT" in engine.config.whitelist
    finally:
        await titan.stop()
