"""The market generator: determinism, klines, bursts around levels, live driving."""

from __future__ import annotations

import asyncio
import itertools
from decimal import Decimal

from titan.sim import SimConfig, Simulator
from titan.sim.market import MINUTE_MS, Market, Trade

T0 = 1_767_225_600_000  # a UTC midnight, so "previous day" is well defined


class FakeClock:
    def __init__(self) -> None:
        self.ms = T0 + 3 * 3_600_000

    def __call__(self) -> int:
        return self.ms


def _run(seed: int, seconds: float, symbols: tuple[str, ...] = ("BTCUSDT", "ETHUSDT"),
         dt: float = 0.1) -> tuple[Market, list[Trade]]:
    clock = FakeClock()
    m = Market(SimConfig(seed=seed, symbols=symbols, backfill_minutes=2 * 1440 + 180), clock)
    m.backfill()
    trades: list[Trade] = []
    m.add_listener(lambda sym, ts: trades.extend(ts))
    for _ in range(int(seconds / dt)):
        clock.ms += int(dt * 1000)
        m.step(dt)
    return m, trades


def _bars(m: Market, sym: str) -> list[tuple[object, ...]]:
    return [(k.start_ms, k.open, k.high, k.low, k.close, k.volume) for k in m.symbols[sym].klines]


def test_same_seed_same_market() -> None:
    a, ta = _run(11, 120)
    b, tb = _run(11, 120)
    c, _ = _run(12, 120)
    assert _bars(a, "BTCUSDT") == _bars(b, "BTCUSDT")
    assert [(t.symbol, t.price, t.qty, t.time_ms) for t in ta] == [
        (t.symbol, t.price, t.qty, t.time_ms) for t in tb]
    assert _bars(a, "BTCUSDT") != _bars(c, "BTCUSDT")


def test_backfill_covers_two_days_of_minutes() -> None:
    m, _ = _run(3, 0)
    bars = m.symbols["ETHUSDT"].klines
    assert len(bars) >= 2 * 1440
    starts = [k.start_ms for k in bars]
    assert all(b - a == MINUTE_MS for a, b in itertools.pairwise(starts))
    assert all(k.low <= min(k.open, k.close) and k.high >= max(k.open, k.close) for k in bars)
    tick = m.symbols["ETHUSDT"].spec.tick_size
    assert all(k.close % tick == 0 for k in bars)
    # Prices stay realistic (within a factor of 2 of the start after two days).
    assert Decimal(1700) < bars[-1].close < Decimal(6800)


def test_klines_continue_from_trades() -> None:
    m, trades = _run(5, 180, symbols=("SOLUSDT",))
    bars = m.symbols["SOLUSDT"].klines
    assert trades and bars[-1].start_ms == trades[-1].time_ms - trades[-1].time_ms % MINUTE_MS
    assert bars[-1].close == trades[-1].price
    five = m.klines("SOLUSDT", "5", limit=10)
    assert len(five) == 10 and five[-1].start_ms % (5 * MINUTE_MS) == 0


def test_bursts_spring_near_levels_within_minutes() -> None:
    seconds = 300
    m, trades = _run(21, seconds, symbols=("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT"))
    springs: dict[str, int] = {}
    by_sym: dict[str, list[Trade]] = {}
    for t in trades:
        by_sym.setdefault(t.symbol, []).append(t)
    for sym, ts in by_sym.items():
        j = 0
        i = 0
        while i < len(ts):
            # ≥ 50 trades within 100 ms, all within 0.1 % of the window's first price.
            while j < len(ts) and ts[j].time_ms - ts[i].time_ms < 100:
                j += 1
            window = ts[i:j]
            ref = window[0].price
            near = [t for t in window if abs(t.price / ref - 1) <= Decimal("0.001")]
            if len(near) >= 50:
                springs[sym] = springs.get(sym, 0) + 1
                i = j
            else:
                i += 1
    assert len(springs) >= 3, springs  # most symbols spring within five minutes
    levels = m.symbols["BTCUSDT"].levels(T0 + 3 * 3_600_000)
    assert len(levels) == 8


async def test_live_generation_and_feed() -> None:
    sim = Simulator(SimConfig(seed=1, tick_hz=50, symbols=("BTCUSDT", "ETHUSDT")))
    seen: list[Trade] = []
    sim.market.add_listener(lambda sym, ts: seen.extend(ts))
    await sim.start()
    try:
        for _ in range(200):
            if seen:
                break
            await asyncio.sleep(0.02)
        assert seen
        sim.config.tick_hz = 0
        seen.clear()
        await sim.stop()
        sim2 = Simulator(SimConfig(seed=1, tick_hz=0, symbols=("BTCUSDT", "ETHUSDT")))
        sim2.market.add_listener(lambda sym, ts: seen.extend(ts))
        await sim2.start()
        sim2.start_feed(2000, ["BTCUSDT", "ETHUSDT"])
        # Count trades, not a wall-clock window: the feed's rate is a bench figure
        # (bench/ingest.py), and a loaded machine would make any window flaky.
        for _ in range(1000):
            if len(seen) >= 400:
                break
            await asyncio.sleep(0.01)
        sim2.stop_feed()
        await sim2.stop()
        assert len(seen) >= 400, f"the feed delivered only {len(seen)} trades"
        assert {t.symbol for t in seen} == {"BTCUSDT", "ETHUSDT"}
    finally:
        await sim.stop()
