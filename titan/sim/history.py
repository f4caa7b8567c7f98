"""Deep kline history: months of seeded 15-minute bars before the 1-minute backfill.

Strategies need more history than the two days of 1-minute bars the simulator keeps
(Hunter reads 200 daily and 1,200 four-hour candles). Generating months of 1-minute
bars at start-up would cost seconds per simulator, so older history is a separate,
coarser series: 15-minute bars, built once per symbol on the first request that reaches
before the 1-minute bars, and aggregated into every interval of 15 minutes or more. All
intervals therefore agree wherever they overlap.

The walk runs backwards from the first 1-minute bar's open, so the two series join
without a price gap. Returns follow a GARCH(1,1) variance with Student-t innovations
(fat tails, volatility clustering), seeded from (seed, symbol) alone: the same seed
gives the same history, only the timestamps follow the clock.
"""

from __future__ import annotations

import math
import random
from decimal import Decimal

from titan.sim.config import InstrumentSpec

BAR_MS = 15 * 60_000
# 205 days of 15-minute bars: 200 full daily candles before today, whatever the hour.
DEEP_BARS = 205 * 96
TURNOVER_Q = Decimal("0.0001")

# Per-bar variance target ~ (0.3 %)^2 (about 3 % a day), persistence alpha + beta = 0.98.
_VAR = 0.003 ** 2
_ALPHA, _BETA = 0.08, 0.90
_OMEGA = _VAR * (1 - _ALPHA - _BETA)
_NU = 4.0  # Student-t degrees of freedom; variance nu / (nu - 2) = 2, scaled to 1 below
# Pull towards the listing's start price (log space) so months of walk stay plausible.
_REVERT = 0.0005


def student_t(rng: random.Random, nu: float = _NU) -> float:
    """A unit-variance Student-t draw (nu > 2)."""
    z = rng.gauss(0.0, 1.0) / math.sqrt(rng.gammavariate(nu / 2.0, 2.0) / nu)
    return z / math.sqrt(nu / (nu - 2.0))


def generate(seed: int, spec: InstrumentSpec, end_ms: int, end_price: Decimal,
             count: int = DEEP_BARS) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal,
                                                   Decimal, Decimal]]:
    """`count` 15-minute bars (start, open, high, low, close, volume, turnover), oldest
    first, the last one ending at `end_ms` rounded down to 15 minutes and closing at
    `end_price`."""
    rng = random.Random(f"{seed}/{spec.symbol}/history")
    tick = spec.tick_size
    tick_f = float(tick)

    def q(p: float) -> Decimal:
        return tick * max(1, round(p / tick_f))

    ref = math.log(float(spec.start_price))
    end = end_ms - end_ms % BAR_MS
    price = float(end_price)
    var = _VAR
    out: list[tuple[int, Decimal, Decimal, Decimal, Decimal, Decimal, Decimal]] = []
    for i in range(count):
        # Clamps keep a freak draw from running the walk away (t has no 4th moment).
        z = max(-12.0, min(12.0, student_t(rng)))
        # Backwards in time: the earlier open lies nearer the reference price.
        r = math.sqrt(var) * z + _REVERT * (math.log(price) - ref)
        var = min(25 * _VAR, _OMEGA + _ALPHA * r * r + _BETA * var)
        close_f, open_f = price, price * math.exp(-r)
        sd = math.sqrt(var)
        hi_f = max(open_f, close_f) * (1 + abs(rng.gauss(0.0, sd)))
        lo_f = min(open_f, close_f) * (1 - min(0.5, abs(rng.gauss(0.0, sd))))
        o, c = q(open_f), q(close_f)
        hi, lo = max(q(hi_f), o, c), min(q(lo_f), o, c)
        vol = spec.min_qty * int(900 * rng.uniform(15, 75) * (0.5 + abs(z) / 2))
        out.append((end - (i + 1) * BAR_MS, o, hi, lo, c, vol,
                    (vol * (hi + lo) / 2).quantize(TURNOVER_Q)))
        price = open_f
    out.reverse()
    return out
