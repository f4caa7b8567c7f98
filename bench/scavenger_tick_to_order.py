"""Tick-to-order, wire to wire (SPEC §13): the simulator sends the trade that springs a trap →
the simulator receives the entry order. In-process Titan against the simulator on loopback.

Each round: put the price near the nearest armed trap, burst 60 trades at its level, wait for
the entry to fill, close the position by hand and let Titan see it flat. The figure is the
simulator's recorder: the springing aggTrade's send time → the order's arrival time.
Prints figures, asserts nothing. Run:
    PYTHONPATH=. python bench/scavenger_tick_to_order.py [rounds]
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from tests.helpers import make_titan
from titan.events import Event
from titan.sim import SimConfig, Simulator
from titan.strategies.scavenger import Direction

KEY, SECRET = "bench-key", "bench-secret"


async def main(rounds: int) -> None:
    sim = Simulator(SimConfig(seed=5, accounts={KEY: SECRET}, tick_hz=0))
    await sim.start()
    data = Path(tempfile.mkdtemp()) / "data"
    titan = make_titan(data, venue="bybit", bybit_api_key=KEY, bybit_api_secret=SECRET,
                       bybit_url=sim.base_url, binance_url=sim.base_url, log_level="WARNING")
    titan.scavenger_options = {"rearm_every_s": 3600.0, "cooldown_ms": 1_000}
    sprung: list[Event] = []
    titan.bus.subscribe(lambda e: sprung.append(e) if e.name == "TRAP_SPRUNG" else None)
    await titan.start()
    runner = titan.scavenger
    assert runner is not None
    for _ in range(300):
        if titan.risk.equity is not None and runner.state.armed:
            break
        await asyncio.sleep(0.1)
    await titan.risk.arm("bench", "bench")
    # Where the time goes inside Titan: trade callback → submit() called → order sent.
    marks: dict[str, list[int]] = {"trade": [], "submit": [], "place": []}
    orig_trade, orig_submit = runner.on_trade, titan.execution.submit
    orig_place = titan.venue.place_order  # type: ignore[union-attr]

    def on_trade(t: Any) -> None:
        marks["trade"].append(time.perf_counter_ns())
        orig_trade(t)

    async def submit(intent: Any, reason: str = "") -> Any:
        marks["submit"].append(time.perf_counter_ns())
        return await orig_submit(intent, reason)

    async def place(intent: Any) -> Any:
        marks["place"].append(time.perf_counter_ns())
        return await orig_place(intent)

    fire_us: list[float] = []
    orig_fire = runner._fire

    def fire(trap: Any, t: Any) -> None:
        t0 = time.perf_counter_ns()
        orig_fire(trap, t)
        fire_us.append((time.perf_counter_ns() - t0) / 1000)

    runner._fire = fire  # type: ignore[method-assign]
    runner.on_trade = on_trade  # type: ignore[method-assign]
    titan.feed._trade_cbs = [on_trade if cb == orig_trade else cb  # type: ignore[union-attr]
                             for cb in titan.feed._trade_cbs]  # type: ignore[union-attr]
    titan.execution.submit = submit  # type: ignore[method-assign]
    titan.venue.place_order = place  # type: ignore[method-assign,union-attr]
    inside: list[tuple[float, float]] = []
    lat_us: list[float] = []
    for _ in range(rounds):
        trap = min(runner.state.armed, key=lambda t: t.distance_pct)
        sign = 1 if trap.direction is Direction.LONG else -1
        sim.set_price(trap.symbol, Decimal(repr(trap.level * (1 - sign * 0.002))))
        await asyncio.sleep(0.3)
        n = len(sprung)
        sim.emit_trades(trap.symbol, Decimal(repr(trap.level)), 60, 40.0)
        for _ in range(100):
            if len(sprung) > n:
                break
            await asyncio.sleep(0.02)
        else:
            print("no spring this round")
            continue
        if marks["submit"] and marks["place"]:
            last_trade = max(t for t in marks["trade"] if t <= marks["submit"][-1])
            inside.append(((marks["submit"][-1] - last_trade) / 1000,
                           (marks["place"][-1] - marks["submit"][-1]) / 1000))
        ev = sprung[-1]
        cid, tid = ev.data.get("clientOrderId"), ev.data.get("tradeId")
        await asyncio.sleep(0.3)
        sent = [t.ns for t in sim.recorder.trades
                if t.symbol == trap.symbol and t.trade_id == tid and "bybit" not in t.stream]
        got = [o.ns for o in sim.recorder.orders if o.client_id == cid]
        if sent and got:
            lat_us.append((got[0] - sent[0]) / 1000)
        sim.close_position_by_hand(KEY, trap.symbol)
        for _ in range(100):
            if trap.symbol not in titan.ledger.positions:
                break
            await asyncio.sleep(0.05)
        await runner.rearm()
    await titan.stop()
    await sim.stop()
    if lat_us:
        lat_us.sort()
        p99 = lat_us[min(len(lat_us) - 1, int(len(lat_us) * 0.99))]
        print("  spring -> intent built and submit task created (runner._fire):",
              ", ".join(f"{x:.0f} us" for x in fire_us))
        for a, b in inside:
            print(f"  trade callback -> submit() {a:.0f} us; submit() -> venue.place_order called {b:.0f} us")
        print(f"tick-to-order wire to wire over {len(lat_us)} springs: "
              f"p50 {statistics.median(lat_us):.0f} us, p99 {p99:.0f} us, max {lat_us[-1]:.0f} us")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 10))
