"""Trap scoring and selection (SPEC §6).

    score = 0.4 × volatility + 0.3 × volume + 0.3 × confluence

SPEC §6 gives only the weights; each component is defined here, each on 0–100:

* **volatility** (per symbol) — ATR% = mean true range of the last `ATR_PERIOD` (14)
  klines ÷ current price × 100, where a kline's true range is
  max(high − low, |high − previous close|, |low − previous close|) (high − low for the
  very first kline given). Scaled linearly so that ATR% = `VOL_FULL_SCALE_PCT` (0.1 %
  per 1-minute kline) or more scores 100: ``min(100, 100 × ATR% / 0.1)``. Calibrated on
  the paper simulator and calm majors, whose 1-minute ATR is 0.05–0.08 %: at 0.2 % a calm
  market scored 25–40 here, so a trap without a confluent neighbour could never pass the
  > 50 threshold and only a handful armed; at 0.1 % calm scores 50–80 and a volatile
  market still saturates at 100.
* **volume** (per symbol) — r = mean volume of the last `VOLUME_RECENT` (5) klines ÷
  mean volume of the last `VOLUME_BASELINE` (60) klines (the recent ones included).
  Average activity scores 50, double or more scores 100: ``min(100, 50 × r)``; 0 when
  the baseline has no volume.
* **confluence** (per tripwire) — n = the number of *other* tripwires of the same
  symbol and the same direction (the same side of the price) whose level lies within
  `CONFLUENCE_PCT` (0.5 %) of this one's (|other − level| ≤ 0.005 × level).
  ``min(100, 50 × n)``: alone 0, one neighbour 50, two or more 100. A level on the
  other side of the price is a different trade, not a second reason for this one.

The constants are defaults of `ScoringParams`, which `score_tripwires` and
`build_traps` take, so they can be tuned (later: by the AI Quant's proposals) without
touching the code.

Selection ("arm the best 20 with score > 60 (> 50 if fewer than 20 qualify)"): the
candidates scoring strictly above 60 are taken; if fewer than 20 of them, the
candidates strictly above 50 are taken instead; the best 20 of those, by score
(ties: nearer the price first, then symbol and trap id for a stable order), are armed.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from titan.strategies.scavenger.model import Trap, Tripwire
from titan.venues.base import Kline

W_VOLATILITY = 0.4
W_VOLUME = 0.3
W_CONFLUENCE = 0.3

ATR_PERIOD = 14
VOL_FULL_SCALE_PCT = 0.1
VOLUME_RECENT = 5
VOLUME_BASELINE = 60
CONFLUENCE_PCT = 0.5

MAX_TRAPS = 20
THRESHOLD = 60.0
FALLBACK_THRESHOLD = 50.0


@dataclass(frozen=True, slots=True)
class ScoringParams:
    atr_period: int = ATR_PERIOD
    vol_full_scale_pct: float = VOL_FULL_SCALE_PCT
    volume_recent: int = VOLUME_RECENT
    volume_baseline: int = VOLUME_BASELINE
    confluence_pct: float = CONFLUENCE_PCT


DEFAULT_SCORING = ScoringParams()


def atr_pct(klines: Sequence[Kline], price: float, period: int = ATR_PERIOD) -> float:
    """Mean true range of the last `period` klines as a % of `price` (0 without data)."""
    if not klines or price <= 0 or period < 1:
        return 0.0
    start = max(0, len(klines) - period)
    total = 0.0
    n = 0
    for i in range(start, len(klines)):
        k = klines[i]
        tr = k.high - k.low
        if i > 0:
            pc = klines[i - 1].close
            tr = max(tr, abs(k.high - pc), abs(k.low - pc))
        total += tr
        n += 1
    return total / n / price * 100.0


def volatility_score(
    klines: Sequence[Kline],
    price: float,
    *,
    period: int = ATR_PERIOD,
    full_scale_pct: float = VOL_FULL_SCALE_PCT,
) -> float:
    return min(100.0, 100.0 * atr_pct(klines, price, period) / full_scale_pct)


def volume_score(
    klines: Sequence[Kline], *, recent: int = VOLUME_RECENT, baseline: int = VOLUME_BASELINE
) -> float:
    base = klines[-baseline:]
    if not base:
        return 0.0
    base_mean = math.fsum(k.volume for k in base) / len(base)
    if base_mean <= 0:
        return 0.0
    rec = klines[-recent:]
    rec_mean = math.fsum(k.volume for k in rec) / len(rec)
    return min(100.0, 50.0 * rec_mean / base_mean)


def confluence_score(
    tripwire: Tripwire, others: Iterable[Tripwire], *, within_pct: float = CONFLUENCE_PCT
) -> float:
    tol = tripwire.level * within_pct / 100.0
    n = 0
    for o in others:
        if o is tripwire or o.symbol != tripwire.symbol or o.direction is not tripwire.direction:
            continue
        if abs(o.level - tripwire.level) <= tol:
            n += 1
    return min(100.0, 50.0 * n)


def combine(volatility: float, volume: float, confluence: float) -> float:
    return W_VOLATILITY * volatility + W_VOLUME * volume + W_CONFLUENCE * confluence


def score_tripwires(
    tripwires: Sequence[Tripwire],
    klines: Sequence[Kline],
    price: float,
    params: ScoringParams = DEFAULT_SCORING,
) -> list[Trap]:
    """Score the tripwires of one symbol (all must share it) from that symbol's klines."""
    if not tripwires:
        return []
    symbol = tripwires[0].symbol
    if any(t.symbol != symbol for t in tripwires):
        raise ValueError("score_tripwires takes the tripwires of one symbol")
    vol = volatility_score(
        klines, price, period=params.atr_period, full_scale_pct=params.vol_full_scale_pct
    )
    volm = volume_score(klines, recent=params.volume_recent, baseline=params.volume_baseline)
    out: list[Trap] = []
    for t in tripwires:
        conf = confluence_score(t, tripwires, within_pct=params.confluence_pct)
        dist = abs(t.level - price) / price * 100.0 if price > 0 else math.inf
        out.append(Trap(t, combine(vol, volm, conf), vol, volm, conf, dist))
    return out


def select_traps(
    scored: Iterable[Trap],
    max_traps: int = MAX_TRAPS,
    *,
    threshold: float = THRESHOLD,
    fallback_threshold: float = FALLBACK_THRESHOLD,
) -> list[Trap]:
    """The traps to arm, best first (see the module docstring)."""
    pool = list(scored)
    chosen = [t for t in pool if t.score > threshold]
    if len(chosen) < max_traps:
        chosen = [t for t in pool if t.score > fallback_threshold]
    chosen.sort(key=lambda t: (-t.score, t.distance_pct, t.symbol, t.trap_id))
    return chosen[: max(0, max_traps)]
