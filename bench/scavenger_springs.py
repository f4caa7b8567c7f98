"""Throughput of SpringDetector.on_trade: 10 symbols × 20 armed traps (SPEC §13: ≥ 20,000 trades/s).

Prints figures, asserts nothing. Run:
    PYTHONPATH=. python bench/scavenger_springs.py [n_trades]
"""

from __future__ import annotations

import random
import sys
import time

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.orders import VelocityTracker, plan_entry
from titan.strategies.scavenger.springs import SpringDetector

SYMBOLS = [f"SYM{i}USDT" for i in range(10)]
TRAPS_PER_SYMBOL = 20


def build(rng: random.Random) -> tuple[SpringDetector, dict[str, list[float]]]:
    traps = []
    levels: dict[str, list[float]] = {}
    for s in SYMBOLS:
        lv = sorted(1000.0 * (1 + rng.uniform(-0.03, 0.03)) for _ in range(TRAPS_PER_SYMBOL))
        levels[s] = lv
        for i, level in enumerate(lv):
            d = Direction.LONG if level > 1000.0 else Direction.SHORT
            t = Tripwire(s, TripwireKind.BOLLINGER, level, 90, 15, d, f"t{i}")
            traps.append(Trap(t, rng.uniform(50, 100), 0, 0, 0, 1.0))
    det = SpringDetector()
    det.arm(traps, 0)
    return det, levels


def trades(
    rng: random.Random, levels: dict[str, list[float]], n: int, near_share: float
) -> list[tuple[str, float, int]]:
    out = []
    ts = 0
    for i in range(n):
        s = SYMBOLS[i % len(SYMBOLS)]
        if rng.random() < near_share:
            lv = rng.choice(levels[s])
            p = lv * (1 + rng.uniform(-0.0012, 0.0012))
        else:
            p = 1000.0 * (1 + rng.uniform(-0.04, 0.04))
        ts += rng.choice((0, 0, 0, 1))
        out.append((s, p, ts))
    return out


def bursts(
    rng: random.Random, levels: dict[str, list[float]], n: int
) -> list[tuple[str, float, int]]:
    """Bursts of 60 in-band trades 1 ms apart on one level; springs unless cooling down."""
    out: list[tuple[str, float, int]] = []
    ts = 0
    while len(out) < n:
        s = rng.choice(SYMBOLS)
        lv = rng.choice(levels[s])
        for _ in range(60):
            ts += 1
            out.append((s, lv * (1 + rng.uniform(-0.0009, 0.0009)), ts))
    return out[:n]


def run(label: str, n: int, near_share: float | None) -> None:
    rng = random.Random(7)
    det, levels = build(rng)
    feed = bursts(rng, levels, n) if near_share is None else trades(rng, levels, n, near_share)
    on_trade = det.on_trade
    sprung = 0
    t0 = time.perf_counter()
    for s, p, ts in feed:
        if on_trade(s, p, ts) is not None:
            sprung += 1
    dt = time.perf_counter() - t0
    print(
        f"{label:<34} {n:>9,} trades  {n / dt:>12,.0f} trades/s  "
        f"{dt / n * 1e9:>7.0f} ns/trade  sprung {sprung}"
    )


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    print(
        f"SpringDetector.on_trade, {len(SYMBOLS)} symbols × {TRAPS_PER_SYMBOL} traps, Python {sys.version.split()[0]}"
    )
    run("random prices (5% near levels)", n, 0.05)
    run("half the trades near levels", n, 0.5)
    run("every trade near a level", n, 1.0)
    run("bursts of 60 in band (springs)", n, None)
    plan_cost()


def plan_cost(n: int = 100_000) -> None:
    """What a spring adds before the order leaves: plan_entry on a sprung trap."""
    t = Tripwire("SYM0USDT", TripwireKind.BOLLINGER, 1001.0, 90, 15, Direction.LONG, "upper")
    trap = Trap(t, 70.0, 0, 0, 0, 0.1)
    tracker = VelocityTracker()
    for i in range(50):
        tracker.update(1000.0 + i * 0.02, i * 100)
    t0 = time.perf_counter()
    for _ in range(n):
        plan_entry(trap, tracker, 5_000)
    dt = time.perf_counter() - t0
    print(f"{'plan_entry after a spring':<34} {n:>9,} calls   {dt / n * 1e6:>19.2f} us/call")


if __name__ == "__main__":
    main()
