"""Position sizing (SPEC §6): fractional Kelly, then clamped to what the gate allows.

A signal is never denied for being too big when a smaller size would pass: the size
is reduced to the largest quantity (a multiple of the venue's step) that passes the
gate's leverage, risk-per-trade, daily-loss and position limits, and the reduction
is published as `OrderSizeReduced`.

Before those limits, the size is scaled by the symbol's tail-risk regime (SPEC §17):
× clamp(0.6 α − 0.8, 0.1, 1), named `REGIME_SIZE_SCALE` when it reduces; a regime not
yet known (no α) scales by 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock
from titan.events import OrderSizeReduced
from titan.risk.gate import GateContext
from titan.risk.regime import size_scale

KELLY_FRACTION = Decimal("0.25")
_ZERO = Decimal(0)


def kelly_fraction(confidence: Decimal | int, stop_pct: Decimal, target_pct: Decimal) -> Decimal:
    """f = W − (1 − W)/R with W = confidence/100 and R = target/stop."""
    if stop_pct <= 0 or target_pct <= 0:
        raise ValueError("stop and target distances must be positive")
    if not 0 <= confidence <= 100:
        raise ValueError(f"confidence {confidence} is not a percentage (0-100)")
    w = Decimal(confidence) / 100
    r = target_pct / stop_pct
    return w - (1 - w) / r


def kelly_margin(equity: Decimal, confidence: Decimal | int, stop_pct: Decimal,
                 target_pct: Decimal) -> Decimal:
    """equity × max(0, 0.25 f).

    SPEC §6 also caps the margin at 50 % of equity. That cap cannot bind: W ≤ 1 (the
    confidence is a percentage, checked above) and (1 − W)/R ≥ 0, so f ≤ 1 and the
    margin is at most 25 % of equity. The dead `min(…, 0.5 × equity)` was removed; the
    bound is pinned by `tests/risk/test_risk_edges.py` instead.
    """
    if equity <= 0:
        return _ZERO
    f = kelly_fraction(confidence, stop_pct, target_pct)
    return equity * max(_ZERO, KELLY_FRACTION * f)


def kelly_notional(equity: Decimal, confidence: Decimal | int, stop_pct: Decimal,
                   target_pct: Decimal, leverage: Decimal) -> Decimal:
    return kelly_margin(equity, confidence, stop_pct, target_pct) * leverage


def prices_valid(entry: Decimal, stop: Decimal, target: Decimal | None = None) -> bool:
    """A positive entry, a positive stop strictly on one side of it and, when given, the
    target strictly on the other side: only then are the stop and target distances real."""
    if entry <= 0 or stop <= 0 or stop == entry:
        return False
    return target is None or (stop - entry) * (target - entry) < 0


def round_down(qty: Decimal, step: Decimal) -> Decimal:
    if step <= 0:
        raise ValueError("qty step must be positive")
    if qty <= 0:
        return _ZERO
    # Quantized to the step's exponent, so the venue gets "0.160" for a step of 0.001.
    return ((qty / step).to_integral_value(rounding=ROUND_DOWN) * step).quantize(step)


@dataclass(frozen=True, slots=True)
class SizeDecision:
    qty: Decimal  # zero: send no order
    leverage: Decimal
    requested_qty: Decimal
    requested_leverage: Decimal
    limits_hit: tuple[str, ...]

    @property
    def reduced(self) -> bool:
        return self.qty < self.requested_qty or self.leverage < self.requested_leverage

    def as_dict(self) -> dict[str, Any]:
        return {
            "qty": str(self.qty),
            "leverage": str(self.leverage),
            "requestedQty": str(self.requested_qty),
            "requestedLeverage": str(self.requested_leverage),
            "limitsHit": list(self.limits_hit),
        }


def clamp_to_limits(
    *,
    symbol: str,
    qty: Decimal,
    entry: Decimal,
    stop: Decimal,
    leverage: Decimal,
    ctx: GateContext,
    qty_step: Decimal,
    min_qty: Decimal = _ZERO,
    target: Decimal | None = None,
    bus: EventBus | None = None,
    clock: Clock | None = None,
) -> SizeDecision:
    """The largest qty ≤ `qty` × the regime's size scale (a multiple of `qty_step`) that
    passes gate checks 7–10.

    Leverage above the effective maximum is lowered to it. Returns qty zero when
    nothing passes (or the result is below `min_qty`). Invalid inputs size zero with
    their reason in `limits_hit` rather than raising: `INVALID_PRICES` (see
    `prices_valid`, or equity not positive) and `INVALID_QTY_STEP` (a step ≤ 0).
    Publishes `OrderSizeReduced` when it reduces and a bus and clock are given.
    """
    lim = ctx.limits
    hit: list[str] = []
    lev = leverage
    if lev > lim.max_leverage:
        lev = lim.max_leverage
        hit.append("LEVERAGE_LIMIT")
    cap = qty if qty > 0 else _ZERO
    if ctx.tail_alpha is not None and cap > 0:
        scale = size_scale(ctx.tail_alpha)
        if scale < 1.0:
            cap = cap * Decimal(repr(scale))
            hit.append("REGIME_SIZE_SCALE")
    distance = abs(entry - stop)
    bounds: list[tuple[str, Decimal]] = []
    if not prices_valid(entry, stop, target) or ctx.equity <= 0:
        # Named even when nothing was asked for: the caller says why no order went out.
        cap = _ZERO
        hit.append("INVALID_PRICES")
    elif qty_step <= 0:
        hit.append("INVALID_QTY_STEP")  # no bounds: `final` below is zero for this step
    else:
        bounds.append(("LEVERAGE_LIMIT", (ctx.equity * lim.max_leverage - ctx.account_notional) / entry))
        bounds.append(("RISK_PER_TRADE_LIMIT", ctx.equity * lim.max_risk_per_trade / distance))
        bounds.append(("DAILY_LOSS_LIMIT", (ctx.daily_loss_budget - ctx.daily_loss_committed) / distance))
        bounds.append(("POSITION_LIMIT", (lim.max_position_notional - ctx.position_notional) / entry))
    for name, bound in bounds:
        if bound < cap:
            cap = max(bound, _ZERO)
            if name not in hit:
                hit.append(name)
    final = round_down(cap, qty_step) if qty_step > 0 else _ZERO
    if final < min_qty:
        final = _ZERO
    decision = SizeDecision(final, lev, qty, leverage, tuple(hit))
    if decision.reduced and bus is not None and clock is not None:
        what = "no size passes" if final == 0 else f"qty {qty} -> {final}"
        bus.publish(
            OrderSizeReduced(
                ts=clock.now(),
                message=f"{symbol} size reduced: {what}"
                + (f", leverage {leverage}x -> {lev}x" if lev < leverage else "")
                + f" (limits: {', '.join(hit)})",
                symbol=symbol, decision=decision,
            )
        )
    return decision
