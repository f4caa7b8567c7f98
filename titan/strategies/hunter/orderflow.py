"""Order-flow confirmation from Binance aggTrades (STRATEGIES.md, Hunter "Order-flow").

Cumulative volume delta (CVD) in quote notional: a buyer-aggressor trade (the buyer is
not the maker) adds price × qty, a seller-aggressor trade subtracts it. Trades are kept
10 minutes; the CVD is summed over the last 5.

Samples (the rules say "the last 3 samples" without a size; chosen here): the last three
whole minutes before `now`. Each sample is the minute's lowest and highest trade price and
the lowest and highest running CVD (summed from the start of the 5-minute window).

* Long — absorption: the price lows strictly fall over the three samples while the CVD's
  low of the last sample is above the first's (sellers hit, price barely gives).
* Short — distribution: the price highs strictly rise while the CVD's high of the last
  sample is below the first's. (The original accepted absorption for shorts: a bug.)
* Strength = min(100, 50 × (|Δp/p| in % + |Δcvd/cvd| as a ratio)) between the first and
  last sample's extreme; confirmation needs ≥ 70. (The rules mix units; with both as
  fractions no divergence could ever reach 70, so the price move counts in percent.)
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from titan.strategies.hunter.structure import Direction

KEEP_MS = 600_000
WINDOW_MS = 300_000
SAMPLE_MS = 60_000
SAMPLES = 3
CONFIRM_STRENGTH = 70.0


@dataclass(frozen=True, slots=True)
class Sample:
    start_ms: int
    price_low: float
    price_high: float
    cvd_low: float
    cvd_high: float


@dataclass(frozen=True, slots=True)
class FlowSignal:
    direction: Direction
    pattern: str  # "absorption" | "distribution" | "none"
    strength: float
    cvd: float

    @property
    def confirms(self) -> bool:
        return self.pattern != "none" and self.strength >= CONFIRM_STRENGTH

    def as_dict(self) -> dict[str, object]:
        return {"direction": self.direction.value, "pattern": self.pattern,
                "strength": round(self.strength, 2), "cvd": round(self.cvd, 2),
                "confirms": self.confirms}


class CvdTracker:
    """One symbol's trades of the last 10 minutes (fed in time order)."""

    def __init__(self, sample_ms: int = SAMPLE_MS) -> None:
        # (ts, price, signed quote); `sample_ms` shorter only in tests on the simulator,
        # whose order flow would otherwise take three real minutes.
        self._trades: deque[tuple[int, float, float]] = deque()
        self._sample_ms = sample_ms
        self._window_ms = WINDOW_MS * sample_ms // SAMPLE_MS
        self._keep_ms = KEEP_MS * sample_ms // SAMPLE_MS

    def add(self, ts_ms: int, price: float, qty: float, buyer_is_maker: bool) -> None:
        notional = price * qty
        self._trades.append((ts_ms, price, -notional if buyer_is_maker else notional))
        cutoff = ts_ms - self._keep_ms
        while self._trades and self._trades[0][0] < cutoff:
            self._trades.popleft()

    def __len__(self) -> int:
        return len(self._trades)

    def cvd(self, now_ms: int) -> float:
        return sum(q for ts, _, q in self._trades if now_ms - self._window_ms <= ts < now_ms)

    def samples(self, now_ms: int) -> list[Sample]:
        """The last three whole minutes before `now` that had trades (oldest first)."""
        size = self._sample_ms
        end = now_ms - now_ms % size
        first = end - SAMPLES * size
        running = 0.0
        acc: dict[int, list[float]] = {}
        # in trade-time order: a late-arriving trade counts where it happened
        for ts, price, q in sorted(self._trades, key=lambda t: t[0]):
            if ts < end - self._window_ms or ts >= end:
                continue
            running += q
            if ts < first:
                continue
            b = ts - ts % size
            s = acc.get(b)
            if s is None:
                acc[b] = [price, price, running, running]
            else:
                s[0], s[1] = min(s[0], price), max(s[1], price)
                s[2], s[3] = min(s[2], running), max(s[3], running)
        return [Sample(b, *acc[b]) for b in sorted(acc)]

    def signal(self, direction: Direction, now_ms: int) -> FlowSignal:
        return flow_signal(direction, self.samples(now_ms), self.cvd(now_ms))


def flow_signal(direction: Direction, samples: list[Sample], cvd: float) -> FlowSignal:
    if len(samples) < SAMPLES:
        return FlowSignal(direction, "none", 0.0, cvd)
    a, b, c = samples[-3:]
    if direction is Direction.LONG:
        ok = a.price_low > b.price_low > c.price_low and c.cvd_low > a.cvd_low
        p0, p1, v0, v1, name = a.price_low, c.price_low, a.cvd_low, c.cvd_low, "absorption"
    else:
        ok = a.price_high < b.price_high < c.price_high and c.cvd_high < a.cvd_high
        p0, p1, v0, v1, name = (a.price_high, c.price_high, a.cvd_high, c.cvd_high,
                                "distribution")
    if not ok:
        return FlowSignal(direction, "none", 0.0, cvd)
    return FlowSignal(direction, name, strength(p0, p1, v0, v1), cvd)


def strength(p0: float, p1: float, cvd0: float, cvd1: float) -> float:
    dp_pct = abs(p1 - p0) / p0 * 100.0 if p0 else 0.0
    dcvd = abs(cvd1 - cvd0) / abs(cvd0) if cvd0 else 1.0  # from zero: a full move
    return min(100.0, 50.0 * (dp_pct + dcvd))
