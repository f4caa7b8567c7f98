"""The three tripwire kinds of SPEC §6, computed from Bybit klines.

All functions are pure: klines (oldest first), the current price and, for the daily
level, the current time in ms come in as arguments.

Definitions where SPEC §6 is silent:

* **Liquidation cluster** — the peak of the volume profile of the last
  `CLUSTER_LOOKBACK` klines (240 one-minute klines = 4 h). The range
  [min low, max high] of those klines is cut into `CLUSTER_BINS` equal bins; each
  kline's volume is spread uniformly over its own [low, high] range and each bin gets
  the share its overlap covers (a kline with high == low puts its whole volume in the
  bin holding that price; the top edge belongs to the last bin). The level is the
  centre of the bin with the most volume; ties go to the bin closest to the current
  price, then to the lower bin. No tripwire when the klines carry no volume.
* **Daily level** — the highest high and lowest low of the klines whose `start_ms`
  falls on the previous UTC day of `now_ms`. Any interval aligned to UTC works (1-minute
  klines, or one daily kline). No tripwires when there is no kline from that day.
* **Bollinger** — SMA of the last 20 closes ± 2 × the *population* standard
  deviation (divide by N, as Bollinger defined it and as TradingView plots it) of the
  same closes. No tripwires with fewer than 20 klines.

The klines are used as given: the caller decides whether the still-open kline counts
(`closed_klines` drops it).

Direction: a level above the price is a LONG breakout, below a SHORT breakdown; a
level exactly at the price has no side and yields no tripwire.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from titan.strategies.scavenger.model import Direction, Tripwire, TripwireKind
from titan.venues.base import Kline

DAY_MS = 86_400_000
MINUTE_MS = 60_000

CLUSTER_LOOKBACK = 240
CLUSTER_BINS = 48
BOLLINGER_PERIOD = 20
BOLLINGER_K = 2.0

# (confidence, leverage) per kind, from SPEC §6.
CLUSTER_CONFIDENCE, CLUSTER_LEVERAGE = 95, 20
DAILY_CONFIDENCE, DAILY_LEVERAGE = 85, 12
BOLLINGER_CONFIDENCE, BOLLINGER_LEVERAGE = 90, 15


def closed_klines(
    klines: Sequence[Kline], now_ms: int, interval_ms: int = MINUTE_MS
) -> list[Kline]:
    """The klines that have closed by `now_ms` (Bybit returns the open one last)."""
    return [k for k in klines if k.start_ms + interval_ms <= now_ms]


def volume_profile(klines: Sequence[Kline], bins: int) -> tuple[float, float, list[float]]:
    """(bottom, bin width, volume per bin) of the klines' range; see the module docstring."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    bottom = min(k.low for k in klines)
    top = max(k.high for k in klines)
    width = (top - bottom) / bins
    profile = [0.0] * bins
    if width <= 0:
        profile[0] = sum(k.volume for k in klines)
        return bottom, 0.0, profile
    for k in klines:
        if k.volume <= 0:
            continue
        lo, hi = k.low, k.high
        first = min(int((lo - bottom) / width), bins - 1)
        if hi <= lo:
            profile[first] += k.volume
            continue
        last = min(int((hi - bottom) / width), bins - 1)
        per_price = k.volume / (hi - lo)
        for i in range(first, last + 1):
            b_lo = bottom + i * width
            b_hi = top if i == bins - 1 else b_lo + width
            overlap = min(hi, b_hi) - max(lo, b_lo)
            if overlap > 0:
                profile[i] += overlap * per_price
    return bottom, width, profile


def liquidation_cluster(
    symbol: str,
    klines: Sequence[Kline],
    price: float,
    *,
    lookback: int = CLUSTER_LOOKBACK,
    bins: int = CLUSTER_BINS,
) -> Tripwire | None:
    """The peak of the recent volume profile, confidence 95, 20x."""
    recent = klines[-lookback:]
    if not recent:
        return None
    bottom, width, profile = volume_profile(recent, bins)
    if max(profile) <= 0:
        return None
    if width == 0:
        level = bottom
    else:
        peak = max(profile)
        best_i = -1
        best_dist = math.inf
        for i, v in enumerate(profile):
            if v == peak:
                dist = abs(bottom + (i + 0.5) * width - price)
                if dist < best_dist:
                    best_i, best_dist = i, dist
        level = bottom + (best_i + 0.5) * width
    direction = Direction.of_level(level, price)
    if direction is None:
        return None
    return Tripwire(
        symbol,
        TripwireKind.LIQUIDATION_CLUSTER,
        level,
        CLUSTER_CONFIDENCE,
        CLUSTER_LEVERAGE,
        direction,
        "peak",
    )


def previous_utc_day_range(klines: Sequence[Kline], now_ms: int) -> tuple[float, float] | None:
    """(high, low) of the klines starting on the UTC day before the one `now_ms` is in."""
    today = now_ms - now_ms % DAY_MS
    yesterday = today - DAY_MS
    high = -math.inf
    low = math.inf
    seen = False
    for k in klines:
        if yesterday <= k.start_ms < today:
            seen = True
            if k.high > high:
                high = k.high
            if k.low < low:
                low = k.low
    return (high, low) if seen else None


def daily_levels(symbol: str, klines: Sequence[Kline], price: float, now_ms: int) -> list[Tripwire]:
    """Previous UTC day's high and low, confidence 85, 12x."""
    rng = previous_utc_day_range(klines, now_ms)
    if rng is None:
        return []
    out: list[Tripwire] = []
    for label, level in (("high", rng[0]), ("low", rng[1])):
        direction = Direction.of_level(level, price)
        if direction is not None:
            out.append(
                Tripwire(
                    symbol,
                    TripwireKind.DAILY_LEVEL,
                    level,
                    DAILY_CONFIDENCE,
                    DAILY_LEVERAGE,
                    direction,
                    label,
                )
            )
    return out


def bollinger_bands(
    closes: Sequence[float], period: int = BOLLINGER_PERIOD, k: float = BOLLINGER_K
) -> tuple[float, float, float] | None:
    """(lower, middle, upper) over the last `period` closes; population σ."""
    if period < 1 or len(closes) < period:
        return None
    window = closes[-period:]
    mean = math.fsum(window) / period
    var = math.fsum((c - mean) ** 2 for c in window) / period
    sd = math.sqrt(var)
    return mean - k * sd, mean, mean + k * sd


def bollinger(
    symbol: str,
    klines: Sequence[Kline],
    price: float,
    *,
    period: int = BOLLINGER_PERIOD,
    k: float = BOLLINGER_K,
) -> list[Tripwire]:
    """Upper and lower 20-period 2σ bands, confidence 90, 15x."""
    bands = bollinger_bands([kl.close for kl in klines[-period:]], period, k)
    if bands is None:
        return []
    lower, _, upper = bands
    out: list[Tripwire] = []
    for label, level in (("upper", upper), ("lower", lower)):
        direction = Direction.of_level(level, price)
        if direction is not None:
            out.append(
                Tripwire(
                    symbol,
                    TripwireKind.BOLLINGER,
                    level,
                    BOLLINGER_CONFIDENCE,
                    BOLLINGER_LEVERAGE,
                    direction,
                    label,
                )
            )
    return out


def compute_tripwires(
    symbol: str,
    klines: Sequence[Kline],
    price: float,
    now_ms: int,
    *,
    daily_klines: Sequence[Kline] | None = None,
    cluster_lookback: int = CLUSTER_LOOKBACK,
    cluster_bins: int = CLUSTER_BINS,
    bollinger_period: int = BOLLINGER_PERIOD,
    bollinger_k: float = BOLLINGER_K,
) -> list[Tripwire]:
    """Every tripwire of one symbol: cluster, daily high/low, Bollinger upper/lower.

    `klines` are 1-minute klines, oldest first. `daily_klines` (e.g. Bybit interval
    "D") may be given for the daily level so that the caller need not fetch two days of
    1-minute klines; without it the 1-minute klines are used.
    """
    out: list[Tripwire] = []
    cluster = liquidation_cluster(
        symbol, klines, price, lookback=cluster_lookback, bins=cluster_bins
    )
    if cluster is not None:
        out.append(cluster)
    out.extend(
        daily_levels(symbol, daily_klines if daily_klines is not None else klines, price, now_ms)
    )
    out.extend(bollinger(symbol, klines, price, period=bollinger_period, k=bollinger_k))
    return out
