"""Entry plans, sizing and the limits (STRATEGIES.md, Hunter "Entry" and "limits"): pure.

* The entry is a post-only limit at the order block's top (long) / bottom (short); stop
  1.5 % and target 4.5 % (3R) from it.
* Risk per trade 2 % / (open Hunter positions + 1) of equity, cut 30 % after three losses
  in a row, halved when the new symbol's 1 h return correlation with an open one is
  above 0.7 (refused above 0.85). Leverage 5×, 3× after a weekly drawdown above 10 %.
  The qty is then capped by the platform's sizer (the phase and operator limits): Hunter
  never asks for more than the gate would allow.
* At most 5 positions; total open risk (heat) with the new one ≤ 15 % of equity.
* Cancel: unfilled after 60 s with price ≥ 0.2 % away, or a wick more than 0.5 % through
  the block. A refused post-only is retried at most twice, 1 s apart.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from titan.strategies.hunter.poi import Zone
from titan.strategies.hunter.structure import Direction

STOP_PCT = 1.5
TARGET_PCT = 4.5
BASE_RISK_PCT = 2.0
LEVERAGE = 5
LEVERAGE_AFTER_DRAWDOWN = 3
WEEKLY_DRAWDOWN_PCT = 10.0
MAX_POSITIONS = 5
MAX_HEAT_PCT = 15.0
CORR_HALVE = 0.7
CORR_REFUSE = 0.85
LOSS_STREAK = 3
LOSS_STREAK_CUT = 0.3
CANCEL_AFTER_MS = 60_000
CANCEL_AWAY_PCT = 0.2
CANCEL_WICK_PCT = 0.5
RETRIES = 2
RETRY_DELAY_S = 1.0


@dataclass(frozen=True, slots=True)
class EntryPlan:
    symbol: str
    direction: Direction
    entry: float
    stop: float
    target: float
    block_low: float
    block_high: float

    @property
    def risk_per_unit(self) -> float:
        return abs(self.entry - self.stop)


def plan_entry(symbol: str, direction: Direction, block: Zone,
               stop_pct: float = STOP_PCT, target_pct: float = TARGET_PCT) -> EntryPlan:
    entry = block.high if direction is Direction.LONG else block.low
    s = direction.sign
    return EntryPlan(symbol, direction, entry, entry * (1 - s * stop_pct / 100),
                     entry * (1 + s * target_pct / 100), block.low, block.high)


@dataclass(frozen=True, slots=True)
class Sizing:
    """The qty Hunter wants (before the platform's cap), or why none."""

    qty: float
    risk_pct: float
    leverage: int
    factors: dict[str, float]
    refused: str = ""


def correlation(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Pearson correlation of two return series (their common tail); None if too short or flat."""
    n = min(len(a), len(b))
    if n < 3:
        return None
    x, y = a[-n:], b[-n:]
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((p - mx) * (q - my) for p, q in zip(x, y, strict=True))
    sxx = sum((p - mx) ** 2 for p in x)
    syy = sum((q - my) ** 2 for q in y)
    if sxx <= 0 or syy <= 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def returns(closes: Sequence[float]) -> list[float]:
    return [b / a - 1.0 for a, b in itertools.pairwise(closes) if a > 0]


def size(plan: EntryPlan, *, equity: float, open_positions: int, open_risk: float,
         loss_streak: int, max_correlation: float | None,
         weekly_drawdown_pct: float) -> Sizing:
    """Hunter's own sizing and limits; `open_risk` is the loss at stop of its open positions."""
    lev = LEVERAGE_AFTER_DRAWDOWN if weekly_drawdown_pct > WEEKLY_DRAWDOWN_PCT else LEVERAGE
    risk_pct = BASE_RISK_PCT / (open_positions + 1)
    factors: dict[str, float] = {}
    if open_positions >= MAX_POSITIONS:
        return Sizing(0.0, risk_pct, lev, factors, f"{open_positions} positions open (max "
                                                   f"{MAX_POSITIONS})")
    if max_correlation is not None and max_correlation > CORR_REFUSE:
        return Sizing(0.0, risk_pct, lev, factors,
                      f"1 h correlation {max_correlation:.2f} > {CORR_REFUSE}")
    if max_correlation is not None and max_correlation > CORR_HALVE:
        factors["correlation"] = 0.5
    if loss_streak >= LOSS_STREAK:
        factors["lossStreak"] = 1.0 - LOSS_STREAK_CUT
    mult = math.prod(factors.values()) if factors else 1.0
    if equity <= 0 or plan.risk_per_unit <= 0:
        return Sizing(0.0, risk_pct, lev, factors, "no equity or no stop distance")
    risk = equity * risk_pct / 100.0 * mult
    if open_risk + risk > equity * MAX_HEAT_PCT / 100.0:
        return Sizing(0.0, risk_pct, lev, factors,
                      f"heat {100 * (open_risk + risk) / equity:.2f} % > {MAX_HEAT_PCT:g} %")
    return Sizing(risk / plan.risk_per_unit, risk_pct, lev, factors)


def cancel_reason(plan: EntryPlan, *, placed_ms: int, now_ms: int, price: float,
                  wick_low: float | None, wick_high: float | None) -> str | None:
    """Why a working entry should be cancelled now, or None."""
    if (wick_low is not None and plan.direction is Direction.LONG
            and wick_low < plan.block_low * (1 - CANCEL_WICK_PCT / 100)):
        return f"a wick traded more than {CANCEL_WICK_PCT} % through the block"
    if (wick_high is not None and plan.direction is Direction.SHORT
            and wick_high > plan.block_high * (1 + CANCEL_WICK_PCT / 100)):
        return f"a wick traded more than {CANCEL_WICK_PCT} % through the block"
    away = abs(price - plan.entry) / plan.entry * 100.0
    if now_ms - placed_ms >= CANCEL_AFTER_MS and away >= CANCEL_AWAY_PCT:
        return f"unfilled after {CANCEL_AFTER_MS // 1000} s with price {away:.2f} % away"
    return None


def may_retry(attempts: int) -> bool:
    """After a refused post-only: `attempts` made so far (the first included)."""
    return attempts <= RETRIES
