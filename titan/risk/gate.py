"""The trading gate (SPEC §2): one pure function between an intent and the venue.

`check` runs on the tick-to-order path: no I/O, no logging, no allocation unless it
denies (the message is built only then). The caller publishes the denial.
"""

from __future__ import annotations

import math
from decimal import Decimal
from typing import NamedTuple

from titan.domain import Denial, OrderIntent, ReasonCode, Side
from titan.risk.halt import HaltState
from titan.risk.phases import EffectiveLimits
from titan.risk.regime import VETO_ALPHA_BELOW, VETO_LEVERAGE_ABOVE, tail_veto

_ZERO = Decimal(0)
# Check 8h: a hedged short's risk, as a share of its notional. Its price risk is cancelled
# by the spot long it hedges; what is left is the basis (perp − spot) widening against it
# and the round trip's fees (0.4 %). 1 % is five times a wide BTC/ETH basis: an entry whose
# pair could lose more than that would need a delta failure, which the delta monitor and
# the pair's emergency actions handle, not a stop that un-hedges the pair.
HEDGED_BASIS_RISK = Decimal("0.01")


class GateContext(NamedTuple):
    """Everything the gate needs, frozen at one instant.

    A NamedTuple rather than a frozen dataclass: it is built for every entry on the
    tick-to-order path, and a tuple is several times cheaper to construct.
    """

    halt_state: HaltState
    armed: bool
    breaker_tripped: bool
    venue_connected: bool
    market_data_age_ms: float | None  # None: no market data at all (stale)
    max_staleness_ms: float
    whitelist: frozenset[str]
    enabled_strategies: frozenset[str]  # strategies enabled in the current phase
    limits: EffectiveLimits
    equity: Decimal  # incl. unrealised PnL
    day_start_equity: Decimal | None
    realised_pnl_today: Decimal  # net; a loss is negative
    open_risk: Decimal  # loss at stop of the open positions and working entries
    account_notional: Decimal  # notional of every open position
    position_notional: Decimal  # notional of the open position on this symbol
    open_orders_on_symbol: int
    rate_budget_available: bool
    reference_price: Decimal | None = None  # for market orders without a price
    disarm_reason: str | None = None
    # The symbol's Hill tail index (titan.risk.regime); None while its regime is unknown.
    tail_alpha: float | None = None
    # Coins of the symbol's base Titan holds on spot that no perp short hedges yet (check 8h).
    spot_unhedged: Decimal = _ZERO

    @property
    def daily_loss_budget(self) -> Decimal:
        base = self.day_start_equity if self.day_start_equity is not None else self.equity
        return base * self.limits.max_daily_drawdown

    @property
    def daily_loss_committed(self) -> Decimal:
        """Realised loss today plus the risk already open (may be negative after gains)."""
        return self.open_risk - self.realised_pnl_today


def _deny(code: ReasonCode, message: str) -> Denial:
    return Denial(code, message)


def check(intent: OrderIntent, ctx: GateContext) -> Denial | None:
    """None to allow; a `Denial` with the first failing check's code otherwise.

    Exits (reduce-only intents: closes, exchange-side stops, the flatten path) are
    always allowed. Cancels are not intents and never reach the gate.
    """
    if intent.reduce_only:
        return None

    # 1
    if ctx.halt_state is not HaltState.OPEN:
        return _deny(ReasonCode.SYSTEM_HALTED,
                     f"system is {ctx.halt_state.value}: new entries are denied, exits allowed")
    # 2
    if not ctx.armed:
        why = f" ({ctx.disarm_reason})" if ctx.disarm_reason else ""
        return _deny(ReasonCode.EXECUTION_DISABLED_BY_OPERATOR, f"Master Arm is DISARMED{why}")
    # 3
    if ctx.breaker_tripped:
        return _deny(ReasonCode.CIRCUIT_BREAKER_TRIPPED,
                     "circuit breaker is tripped: new entries are denied until it clears and the operator re-arms")
    # 4
    if not ctx.venue_connected:
        return _deny(ReasonCode.VENUE_DISCONNECTED, "execution venue is disconnected")
    age = ctx.market_data_age_ms
    if age is None or age > ctx.max_staleness_ms or age < 0:
        shown = "no market data" if age is None else f"market data is {age:.0f} ms old"
        return _deny(ReasonCode.STALE_MARKET_DATA,
                     f"{shown} for {intent.symbol} (max {ctx.max_staleness_ms:.0f} ms)")
    entry = intent.price if intent.price is not None else ctx.reference_price
    if entry is None or entry <= _ZERO:
        return _deny(ReasonCode.STALE_MARKET_DATA,
                     f"no valid price for {intent.symbol}: cannot value the order")
    # 5
    if intent.symbol not in ctx.whitelist:
        return _deny(ReasonCode.ASSET_DISABLED, f"{intent.symbol} is not on the whitelist")
    # 6
    if intent.strategy.lower() not in ctx.enabled_strategies:
        return _deny(ReasonCode.PHASE_SIGNAL_MISMATCH,
                     f"strategy {intent.strategy!r} is not enabled in phase {ctx.limits.phase}")

    lim = ctx.limits
    qty = intent.qty
    # 7
    if intent.leverage > lim.max_leverage:
        return _deny(ReasonCode.LEVERAGE_LIMIT,
                     f"leverage {intent.leverage}x exceeds the effective maximum {lim.max_leverage}x")
    notional = qty * entry
    if ctx.equity <= _ZERO:
        return _deny(ReasonCode.LEVERAGE_LIMIT, f"equity is unknown or not positive ({ctx.equity})")
    if ctx.account_notional + notional > ctx.equity * lim.max_leverage:
        return _deny(ReasonCode.LEVERAGE_LIMIT,
                     f"account exposure {ctx.account_notional + notional:.2f} would exceed equity "
                     f"{ctx.equity:.2f} x {lim.max_leverage} = {ctx.equity * lim.max_leverage:.2f}")
    # 7a: a fat tail (large moves common) and high leverage: the stop may be gapped through.
    alpha = ctx.tail_alpha
    if alpha is not None and tail_veto(alpha, intent.leverage):
        # α shown cut (not rounded) to 3 decimals, so 1.9999 reads 1.999, not "2.00 < 2".
        cut = math.floor(alpha * 1000) / 1000
        return _deny(ReasonCode.TAIL_RISK_VETO,
                     f"{intent.symbol} tail index {cut:.3f} < {VETO_ALPHA_BELOW:g}: leverage "
                     f"{intent.leverage}x above {VETO_LEVERAGE_ABOVE}x is refused")
    # 8
    stop = intent.stop_loss
    if stop is None and intent.hedged:
        # 8h: a pair's perp short with its spot long held. A stop would un-hedge the pair
        # when it fires; its bounded risk is the basis share of its notional.
        if intent.side is not Side.SELL:
            return _deny(ReasonCode.RISK_PER_TRADE_LIMIT,
                         "a hedged entry is the short of a spot/perp pair: a Buy needs a stop")
        if ctx.spot_unhedged < qty:
            return _deny(ReasonCode.RISK_PER_TRADE_LIMIT,
                         f"a hedged short of {qty} needs as many spot coins held unhedged "
                         f"({ctx.spot_unhedged}): its risk is otherwise unbounded")
        risk = notional * HEDGED_BASIS_RISK
    else:
        if stop is None or stop <= _ZERO:
            return _deny(ReasonCode.RISK_PER_TRADE_LIMIT, "an entry needs a stop loss: its risk is unbounded")
        # A stop must be strictly on the losing side: at the entry it would count as no risk.
        if (intent.side is Side.BUY and stop >= entry) or (intent.side is Side.SELL and stop <= entry):
            return _deny(ReasonCode.STOP_NOT_PROTECTIVE,
                         f"stop {stop} does not protect a {intent.side.value} at {entry}: it must be "
                         f"strictly {'below' if intent.side is Side.BUY else 'above'} the entry")
        risk = qty * abs(entry - stop)
    max_risk = ctx.equity * lim.max_risk_per_trade
    if risk > max_risk:
        what = "basis risk" if stop is None else "loss at stop"
        return _deny(ReasonCode.RISK_PER_TRADE_LIMIT,
                     f"{what} {risk:.2f} exceeds equity {ctx.equity:.2f} x "
                     f"{lim.max_risk_per_trade} = {max_risk:.2f}")
    # 9
    committed = ctx.daily_loss_committed
    budget = ctx.daily_loss_budget
    if committed + risk > budget:
        return _deny(ReasonCode.DAILY_LOSS_LIMIT,
                     f"today's loss {committed:.2f} + this trade's risk {risk:.2f} would exceed "
                     f"the daily limit {budget:.2f} ({lim.max_daily_drawdown:.2%})")
    # 10
    if qty <= _ZERO:
        return _deny(ReasonCode.POSITION_LIMIT, f"quantity {qty} is not positive")
    if ctx.position_notional + notional > lim.max_position_notional:
        return _deny(ReasonCode.POSITION_LIMIT,
                     f"{intent.symbol} notional {ctx.position_notional + notional:.2f} would exceed "
                     f"maxPositionNotional {lim.max_position_notional:.2f}")
    if ctx.open_orders_on_symbol >= lim.max_open_orders_per_symbol:
        return _deny(ReasonCode.POSITION_LIMIT,
                     f"{intent.symbol} has {ctx.open_orders_on_symbol} open orders "
                     f"(max {lim.max_open_orders_per_symbol})")
    # 11
    if not ctx.rate_budget_available:
        return _deny(ReasonCode.RATE_LIMITED, "the venue's order rate budget is used up; retry later")
    return None
