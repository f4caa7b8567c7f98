"""Perpetual funding: seeded rates, the 8-hour schedule, settlement and its history.

The rate of each interval is a pure function of (seed, symbol, settlement time), mostly
a small positive premium like Bybit's majors (0.01 % ± a little, sometimes negative), so
`/v5/market/funding/history` answers the same for the same seed. Settlement runs when
the simulator's clock passes `next_ms` (the server checks every second) or when a test
drives it (`Simulator.settle_funding()`, control `POST /sim/control/funding/settle`):
the interval due is settled at once and the schedule moves on by 8 hours.
"""

from __future__ import annotations

import hashlib
from decimal import Decimal

from titan.sim.matching import MatchingEngine

INTERVAL_MS = 8 * 3_600_000
RATE_Q = Decimal("0.000001")
# How far back /v5/market/funding/history reaches (Bybit keeps the listing's lifetime).
HISTORY_INTERVALS = 600


def _unit(seed: int, symbol: str, at_ms: int) -> float:
    h = hashlib.blake2b(f"funding:{seed}:{symbol}:{at_ms}".encode(), digest_size=8).digest()
    return int.from_bytes(h, "big") / 2**64


class Funding:
    def __init__(self, engine: MatchingEngine, seed: int, now_ms: int) -> None:
        self.engine = engine
        self.seed = seed
        self.next_ms = now_ms - now_ms % INTERVAL_MS + INTERVAL_MS

    def rate(self, symbol: str, at_ms: int) -> Decimal:
        """The rate settled at `at_ms` (a multiple of 8 h): 0.01 % ± 0.01 %, and about
        one interval in ten negative."""
        r = _unit(self.seed, symbol, at_ms)
        if r < 0.1:
            value = -0.00005 * (1 + r * 10)
        else:
            value = 0.0001 + (r - 0.55) * 0.0002
        return Decimal(str(value)).quantize(RATE_Q)

    def current_rate(self, symbol: str) -> Decimal:
        """The rate that the next settlement will apply (what tickers show)."""
        return self.rate(symbol, self.next_ms)

    def history(self, symbol: str, start: int | None, end: int | None,
                limit: int) -> list[tuple[int, Decimal]]:
        """Settled intervals, newest first, within [start, end]."""
        last_settled = self.next_ms - INTERVAL_MS
        times = range(last_settled, last_settled - HISTORY_INTERVALS * INTERVAL_MS, -INTERVAL_MS)
        out = []
        for t in times:
            if end is not None and t > end:
                continue
            if start is not None and t < start:
                break
            out.append((t, self.rate(symbol, t)))
            if len(out) >= limit:
                break
        return out

    def due(self, now_ms: int) -> bool:
        return now_ms >= self.next_ms

    def settle(self) -> int:
        """Settle the interval that is due now on every open position; returns how many
        positions paid or received."""
        at = self.next_ms
        n = 0
        for sym in self.engine.specs:
            rate = self.rate(sym, at)
            for key, acc in self.engine.accounts.items():
                pos = acc.positions.get(sym)
                if pos is not None and pos.size != 0:
                    self.engine.book_funding(key, sym, rate, at)
                    n += 1
        self.next_ms = at + INTERVAL_MS
        return n
