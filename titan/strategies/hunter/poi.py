"""Points of interest on closed 15 m candles (STRATEGIES.md, Hunter "Points of interest").

Fair value gaps, order blocks (confidence from volume, decay from age) and liquidity
pools (strength, merge, sweep), plus confluence between POIs. Pure: the age of anything
is measured against a `now_ms` the caller passes (the strategy's clock), and decay is
computed from that age each time — a stored confidence is never multiplied again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from titan.strategies.hunter.structure import Bos, Direction, Fractal, Trend
from titan.venues.base import Kline

HOUR_MS = 3_600_000
OB_VOLUME_BARS = 20
OB_DECAY_HOURS = 168.0
OB_DECAY_FLOOR = 0.3
POOL_VOLUME_BARS = 50
POOL_AGE_HOURS = 72.0
POOL_MIN_STRENGTH = 20.0
POOL_MERGE_PCT = 1.0
POOL_SWEEP_PCT = 0.1
CONFLUENCE_PCT = 0.5
CONFLUENCE_BONUS = 25.0


@dataclass(frozen=True, slots=True)
class Zone:
    """A fair value gap or an order block: a price zone favouring one direction."""

    kind: str  # "FVG" | "OB"
    direction: Direction
    low: float
    high: float
    start_ms: int  # the candle that made it (the OB candle; the FVG's third candle)
    base_confidence: float  # before decay (OB) / fixed (FVG)
    confluence: bool = False

    @property
    def entry(self) -> float:
        """FVG: its midpoint. OB: its top for longs, its bottom for shorts."""
        if self.kind == "FVG":
            return (self.low + self.high) / 2.0
        return self.high if self.direction is Direction.LONG else self.low

    def confidence(self, now_ms: int) -> float:
        conf = self.base_confidence
        if self.kind == "OB":
            conf *= ob_decay(max(0.0, (now_ms - self.start_ms) / HOUR_MS))
        if self.confluence:
            conf += CONFLUENCE_BONUS
        return min(100.0, conf)


def ob_decay(age_hours: float) -> float:
    """max(0.3, 1 − age_h / 168): a function of age, applied once to the base."""
    return max(OB_DECAY_FLOOR, 1.0 - age_hours / OB_DECAY_HOURS)


def ob_base_confidence(volume: float, avg_volume: float) -> float:
    """min(90, 60 + 15 × volume / 20-bar average volume)."""
    ratio = volume / avg_volume if avg_volume > 0 else 1.0
    return min(90.0, 60.0 + 15.0 * ratio)


def fair_value_gaps(bars: Sequence[Kline]) -> list[Zone]:
    """Bullish: high(candle 1) < low(candle 3); bearish mirrors. A gap traded through its
    far edge by a later bar (bullish: a low at or under its bottom) is mitigated: dropped."""
    out: list[Zone] = []
    for i in range(2, len(bars)):
        a, c = bars[i - 2], bars[i]
        later = bars[i + 1:]
        if a.high < c.low:
            if not any(b.low <= a.high for b in later):
                out.append(Zone("FVG", Direction.LONG, a.high, c.low, c.start_ms, 60.0))
        elif a.low > c.high and not any(b.high >= a.low for b in later):
            out.append(Zone("FVG", Direction.SHORT, c.high, a.low, c.start_ms, 60.0))
    return out


def _avg_volume(bars: Sequence[Kline], end: int, n: int) -> float:
    window = bars[max(0, end - n):end]
    return sum(b.volume for b in window) / len(window) if window else 0.0


def order_blocks(bars: Sequence[Kline], bos: Sequence[Bos]) -> list[Zone]:
    """For each BOS, the last opposite-colour candle before the breaking bar (a bearish
    candle before a bullish BOS → a long block; mirror for shorts)."""
    out: list[Zone] = []
    seen: set[int] = set()
    for b in bos:
        bullish = b.direction is Trend.BULL
        for j in range(b.index - 1, -1, -1):
            k = bars[j]
            if (k.close < k.open) if bullish else (k.close > k.open):
                if j not in seen:
                    seen.add(j)
                    conf = ob_base_confidence(k.volume, _avg_volume(bars, j, OB_VOLUME_BARS))
                    out.append(Zone("OB", Direction.LONG if bullish else Direction.SHORT,
                                    k.low, k.high, k.start_ms, conf))
                break
    return out


@dataclass(frozen=True, slots=True)
class Pool:
    """Resting liquidity at a fractal: above a high (buy stops), below a low (sell stops)."""

    price: float
    above: bool
    strength: float
    start_ms: int
    swept: bool = False


def pool_strength(age_hours: float, volume: float, avg_volume: float) -> float:
    """0.6 × max(0, 100 − 50 × age_h / 72) + 0.4 × min(100, 50 × volume / 50-bar average)."""
    ratio = volume / avg_volume if avg_volume > 0 else 1.0
    return (0.6 * max(0.0, 100.0 - 50.0 * age_hours / POOL_AGE_HOURS)
            + 0.4 * min(100.0, 50.0 * ratio))


def liquidity_pools(bars: Sequence[Kline], frs: Sequence[Fractal], now_ms: int) -> list[Pool]:
    """A pool at each fractal, strength above 20 kept; swept once a later bar traded 0.1 %
    beyond it; same-side pools within 1 % merged (see `merge_pools`)."""
    pools: list[Pool] = []
    for f in frs:
        k = bars[f.index]
        age_h = max(0.0, (now_ms - k.start_ms) / HOUR_MS)
        strength = pool_strength(age_h, k.volume, _avg_volume(bars, f.index, POOL_VOLUME_BARS))
        if strength <= POOL_MIN_STRENGTH:
            continue
        edge = f.price * (1 + POOL_SWEEP_PCT / 100) if f.high else \
            f.price * (1 - POOL_SWEEP_PCT / 100)
        later = bars[f.index + 1:]
        swept = any(b.high > edge for b in later) if f.high else any(b.low < edge for b in later)
        pools.append(Pool(f.price, f.high, strength, k.start_ms, swept))
    return merge_pools(pools)


def merge_pools(pools: Sequence[Pool]) -> list[Pool]:
    """Same-side pools within 1 % of each other are one pool: at the strongest member's
    price with its strength (merging never adds strength that no fractal had); swept only
    if every member was."""
    out: list[Pool] = []
    for side in (True, False):
        group = sorted((p for p in pools if p.above is side), key=lambda p: p.price)
        cluster: list[Pool] = []
        for p in group:
            if cluster and p.price > cluster[0].price * (1 + POOL_MERGE_PCT / 100):
                out.append(_merged(cluster))
                cluster = []
            cluster.append(p)
        if cluster:
            out.append(_merged(cluster))
    return out


def _merged(cluster: list[Pool]) -> Pool:
    best = max(cluster, key=lambda p: p.strength)
    return replace(best, swept=all(p.swept for p in cluster))


def with_confluence(zones: Sequence[Zone]) -> list[Zone]:
    """A POI whose entry is within 0.5 % of another's gets +25 confidence (once)."""
    out: list[Zone] = []
    for i, z in enumerate(zones):
        near = any(abs(z.entry - o.entry) <= z.entry * CONFLUENCE_PCT / 100
                   for j, o in enumerate(zones) if j != i)
        out.append(replace(z, confluence=near))
    return out


def nearest_zone(zones: Sequence[Zone], direction: Direction, price: float,
                 within_pct: float, kind: str | None = None) -> Zone | None:
    """The same-direction zone whose entry is nearest the price, if within `within_pct`."""
    best: Zone | None = None
    for z in zones:
        if z.direction is not direction or (kind is not None and z.kind != kind):
            continue
        if abs(price - z.entry) <= price * within_pct / 100 and (
                best is None or abs(price - z.entry) < abs(price - best.entry)):
            best = z
    return best
