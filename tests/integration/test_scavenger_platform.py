"""The Scavenger on the strategy platform: its parameters come from config versions and
take effect at once; a trap's cooldown outlives a restart (the `traps` table remembers
when it sprang). In-process Titan against the simulator over real sockets, generator off.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tests.helpers import make_titan
from tests.integration.test_scavenger_runner import KEY, SECRET, DetectorWatch, Rig, wait_for
from titan.core import Titan
from titan.events import Event
from titan.sim import SimConfig, Simulator
from titan.store.audit import Actor

OPERATOR = Actor("test", "api")


async def _titan(data_dir: Path, sim: Simulator, events: list[Event]) -> Titan:
    titan = make_titan(data_dir, venue="bybit", bybit_api_key=KEY, bybit_api_secret=SECRET,
                       bybit_url=sim.base_url, binance_url=sim.base_url)
    titan.scavenger_options = {"rearm_every_s": 3600.0}  # the real 5-minute cooldown
    titan.bus.subscribe(events.append)
    await titan.start()
    return titan


async def test_a_sprung_levels_cooldown_survives_a_restart(data_dir: Path) -> None:
    sim = Simulator(SimConfig(seed=11, accounts={KEY: SECRET}, tick_hz=0))
    await sim.start()
    events: list[Event] = []
    titan = await _titan(data_dir, sim, events)
    try:
        rig = Rig(titan, sim, events)
        await wait_for(lambda: rig.runner.state.armed and rig.runner.running, what="armed")
        trap = rig.nearest_trap()
        await rig.approach(trap)
        await rig.burst(trap)  # DISARMED: sprung, rejected, nothing sent
        await wait_for(lambda: rig.named("TRAP_SPRUNG"), what="the first spring")
        rows: list[Any] = []
        for _ in range(100):  # the row is written after the event, in the background
            rows = await titan.db.fetch_all(
                "SELECT symbol FROM traps WHERE sprung_at IS NOT NULL")
            if rows:
                break
            await asyncio.sleep(0.05)
        assert rows, "the spring was recorded in the traps table"
    finally:
        await titan.stop()

    events2: list[Event] = []
    titan = await _titan(data_dir, sim, events2)
    try:
        rig = Rig(titan, sim, events2)
        await wait_for(lambda: rig.runner.state.armed and rig.runner.running, what="re-armed")
        watch = rig.runner.detector
        assert isinstance(watch, DetectorWatch)
        # The level is armed again (same klines), and it is still cooling down.
        again = [t for t in rig.runner.state.armed if t.direction is trap.direction
                 and abs(t.level - trap.level) <= trap.level * 0.001]
        assert again, "the sprung level was armed again after the restart"
        assert watch.cooldown_until(again[0].trap_id) is not None
        # The same level again, well inside its 5-minute cooldown: judged, not sprung.
        before = len(watch.judged(trap.symbol))
        await rig.burst(trap)
        await wait_for(lambda: len(watch.judged(trap.symbol)) >= before + 60, what="judged")
        assert not any(watch.judged(trap.symbol)[before:])
        assert not rig.named("TRAP_SPRUNG")
    finally:
        await titan.stop()
        await sim.stop()


async def test_scavenger_parameters_change_through_a_config_version_at_once(
        data_dir: Path) -> None:
    sim = Simulator(SimConfig(seed=11, accounts={KEY: SECRET}, tick_hz=0))
    await sim.start()
    events: list[Event] = []
    titan = await _titan(data_dir, sim, events)
    try:
        rig = Rig(titan, sim, events)
        await wait_for(lambda: rig.runner.state.armed and rig.runner.running, what="armed")
        tag = titan.config.version_tag
        result = await titan.config.update_strategy(
            "scavenger", {"params": {"minTrades": 80}}, OPERATOR, "fewer, bigger sweeps")
        assert result.changed and result.version.version_tag != tag
        assert result.version.strategies["scavenger"]["params"]["minTrades"] == 80
        # In effect without a restart: 60 trades at the level no longer spring it.
        await wait_for(lambda: rig.runner.last_arming is not None, what="re-armed")
        trap = rig.nearest_trap()
        await rig.approach(trap)
        watch = rig.runner.detector
        before = len(watch.judged(trap.symbol))
        await rig.burst(trap, count=60)
        await wait_for(lambda: len(watch.judged(trap.symbol)) >= before + 60, what="judged")
        assert not any(watch.judged(trap.symbol)[before:])
        # Out of range: refused, nothing changes.
        try:
            await titan.config.update_strategy("scavenger", {"params": {"minTrades": 1}},
                                               OPERATOR)
        except Exception as exc:
            assert "minTrades" in str(getattr(exc, "details", exc)), exc
        else:
            raise AssertionError("minTrades=1 was accepted")
        assert titan.config.strategies["scavenger"].params["minTrades"] == 80
    finally:
        await titan.stop()
        await sim.stop()
