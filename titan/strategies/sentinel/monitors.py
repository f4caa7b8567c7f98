"""The pair's monitors: delta, margin, and the regime's size factor.

Delta is spot − perp size in coin. Above 2 % of the position it is a warning; above 5 %
entries stop and the pair is rebalanced — by trimming the larger leg to the smaller one
(it reduces exposure and needs no new margin; growing the smaller leg would be an entry).

Margin use is the perp leg's maintenance margin over the margin that backs it (how near
the short is to liquidation: the spot leg's gain offsets a rise, but only when settled).
Above 30 % margin is added when the free balance can bring it back to the limit,
otherwise the pair is reduced by the share whose need is over the limit.

The regime (`titan.risk.regime.Regime`, estimated elsewhere): half size in
VOLATILE_BREAKOUT, nothing in CRASH, every other regime (UNKNOWN included) neutral.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal
from enum import StrEnum

from titan.risk.regime import Regime

DELTA_WARN_PCT = 2.0
DELTA_STOP_PCT = 5.0
MARGIN_MAX_PCT = 30.0


class DeltaState(StrEnum):
    OK = "OK"
    WARN = "WARN"
    REBALANCE = "REBALANCE"  # entries stop until it is back


@dataclass(frozen=True, slots=True)
class DeltaCheck:
    state: DeltaState
    delta: Decimal  # spot − perp, in coin
    pct: float  # |delta| over the larger leg, in %
    trim_leg: str | None = None  # "spot" (sell) or "perp" (buy back) when rebalancing
    trim_qty: Decimal = Decimal(0)


def delta_check(spot_qty: Decimal, perp_qty: Decimal, *, qty_step: Decimal,
                warn_pct: float = DELTA_WARN_PCT, stop_pct: float = DELTA_STOP_PCT) -> DeltaCheck:
    """`perp_qty` is the short's size (positive). A pair with one leg gone is 100 % off."""
    if spot_qty < 0 or perp_qty < 0:
        raise ValueError("leg sizes are non-negative")
    if qty_step <= 0:
        raise ValueError("qty step must be positive")
    delta = spot_qty - perp_qty
    size = max(spot_qty, perp_qty)
    if size == 0:
        return DeltaCheck(DeltaState.OK, delta, 0.0)
    pct = float(abs(delta) / size * 100)
    if pct > stop_pct:
        trim = (abs(delta) / qty_step).to_integral_value(ROUND_DOWN) * qty_step
        return DeltaCheck(DeltaState.REBALANCE, delta, pct, "spot" if delta > 0 else "perp",
                          trim)
    if pct > warn_pct:
        return DeltaCheck(DeltaState.WARN, delta, pct)
    return DeltaCheck(DeltaState.OK, delta, pct)


class MarginAction(StrEnum):
    OK = "OK"
    ADD_MARGIN = "ADD_MARGIN"
    REDUCE = "REDUCE"


@dataclass(frozen=True, slots=True)
class MarginCheck:
    action: MarginAction
    use_pct: float
    add: Decimal = Decimal(0)  # margin to add (ADD_MARGIN)
    reduce_share: Decimal = Decimal(0)  # share of the pair to close (REDUCE), 0–1


def margin_check(*, required: Decimal, held: Decimal, free: Decimal,
                 max_pct: float = MARGIN_MAX_PCT) -> MarginCheck:
    """`required`: the perp leg's maintenance margin; `held`: the margin backing it (the
    position's margin); `free`: the balance that may be added to it. Use = required /
    held. Nothing held against a requirement is 100 %: reduce it all if nothing can be
    added."""
    if required < 0 or held < 0 or free < 0:
        raise ValueError("margins and free balance are non-negative")
    if required == 0:
        return MarginCheck(MarginAction.OK, 0.0)
    use = float(required / held * 100) if held > 0 else 100.0
    if use <= max_pct:
        return MarginCheck(MarginAction.OK, use)
    limit = Decimal(str(max_pct)) / 100
    add = required / limit - held  # held + add brings it back to the limit
    if free >= add:
        return MarginCheck(MarginAction.ADD_MARGIN, use, add=add)
    # Not enough to add: close the share of the pair whose margin need is over the limit.
    share = Decimal(1) - limit * held / required
    share = share.quantize(Decimal("0.0001"), ROUND_UP)
    return MarginCheck(MarginAction.REDUCE, use, reduce_share=min(share, Decimal(1)))


def regime_size_factor(regime: Regime | str) -> Decimal:
    """The multiplier on a new pair's size. An unknown name is a ValueError (a typo must
    not read as a neutral regime)."""
    r = Regime(regime)
    if r is Regime.CRASH:
        return Decimal(0)
    if r is Regime.VOLATILE_BREAKOUT:
        return Decimal("0.5")
    return Decimal(1)
