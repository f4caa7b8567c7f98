"""The minute's arming round (SPEC §6): tripwires → scores → the best 20 across symbols.

`build_traps` is what the wiring calls every minute, then hands `result.armed` to
`SpringDetector.arm` and `ScavengerState.set_armed`. Pure: klines, prices and the
time come in as arguments.

Only closed klines are used (Bybit lists the open one last; a few seconds into the
minute it would drag the volume score down and jitter the bands). A symbol is skipped,
with a reason, when it has no price, no klines, or klines so old that its feed is
evidently stuck (newest closed more than `max_kline_age_ms`, 2 min by default, ago).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from titan.strategies.scavenger.model import Trap
from titan.strategies.scavenger.scoring import (
    DEFAULT_SCORING,
    MAX_TRAPS,
    ScoringParams,
    score_tripwires,
    select_traps,
)
from titan.strategies.scavenger.tripwires import (
    BOLLINGER_K,
    BOLLINGER_PERIOD,
    CLUSTER_BINS,
    CLUSTER_LOOKBACK,
    MINUTE_MS,
    closed_klines,
    compute_tripwires,
)
from titan.venues.base import Kline

MAX_KLINE_AGE_MS = 120_000


def _start(k: Kline) -> int:
    return k.start_ms


@dataclass(frozen=True, slots=True)
class TripwireParams:
    cluster_lookback: int = CLUSTER_LOOKBACK
    cluster_bins: int = CLUSTER_BINS
    bollinger_period: int = BOLLINGER_PERIOD
    bollinger_k: float = BOLLINGER_K


DEFAULT_TRIPWIRES = TripwireParams()


@dataclass(frozen=True, slots=True)
class ArmingResult:
    armed: list[Trap]
    candidates: list[Trap]
    skipped: dict[str, str] = field(default_factory=dict)


def build_traps(
    klines: Mapping[str, Sequence[Kline]],
    prices: Mapping[str, float],
    now_ms: int,
    *,
    daily_klines: Mapping[str, Sequence[Kline]] | None = None,
    max_traps: int = MAX_TRAPS,
    max_kline_age_ms: int = MAX_KLINE_AGE_MS,
    tripwire_params: TripwireParams = DEFAULT_TRIPWIRES,
    scoring: ScoringParams = DEFAULT_SCORING,
) -> ArmingResult:
    """Score every symbol's tripwires and select the traps to arm."""
    candidates: list[Trap] = []
    skipped: dict[str, str] = {}
    for symbol, raw in klines.items():
        price = prices.get(symbol)
        if price is None or not price > 0:
            skipped[symbol] = "no price"
            continue
        # Oldest first whatever order the adapter kept (Bybit's v5 kline answer is newest first).
        closed = closed_klines(sorted(raw, key=_start), now_ms)
        if not closed:
            skipped[symbol] = "no closed klines"
            continue
        age = now_ms - (closed[-1].start_ms + MINUTE_MS)
        if age > max_kline_age_ms:
            skipped[symbol] = f"klines stale: newest closed {age} ms ago"
            continue
        daily = daily_klines.get(symbol) if daily_klines is not None else None
        if daily is not None:
            daily = sorted(daily, key=_start)
        tp = tripwire_params
        tripwires = compute_tripwires(
            symbol,
            closed,
            price,
            now_ms,
            daily_klines=daily,
            cluster_lookback=tp.cluster_lookback,
            cluster_bins=tp.cluster_bins,
            bollinger_period=tp.bollinger_period,
            bollinger_k=tp.bollinger_k,
        )
        candidates.extend(score_tripwires(tripwires, closed, price, scoring))
    return ArmingResult(select_traps(candidates, max_traps), candidates, skipped)
