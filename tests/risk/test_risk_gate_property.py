"""The gate against an independent reference of SPEC §2's table, on random inputs."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from titan.domain import ReasonCode, Side
from titan.risk.config import RiskConfig
from titan.risk.gate import GateContext, check
from titan.risk.halt import HaltState
from titan.risk.phases import PHASES, effective_limits

from .conftest import make_ctx, make_intent

D = Decimal
money = st.decimals(min_value=0, max_value=200_000, places=2)


def reference(intent, ctx: GateContext) -> ReasonCode | None:  # type: ignore[no-untyped-def]
    if intent.reduce_only:
        return None
    lim = ctx.limits
    entry = intent.price if intent.price is not None else ctx.reference_price
    rows = [
        (ctx.halt_state is HaltState.OPEN, ReasonCode.SYSTEM_HALTED),
        (ctx.armed, ReasonCode.EXECUTION_DISABLED_BY_OPERATOR),
        (not ctx.breaker_tripped, ReasonCode.CIRCUIT_BREAKER_TRIPPED),
        (ctx.venue_connected, ReasonCode.VENUE_DISCONNECTED),
        (ctx.market_data_age_ms is not None and 0 <= ctx.market_data_age_ms <= ctx.max_staleness_ms
         and entry is not None and entry > 0, ReasonCode.STALE_MARKET_DATA),
        (intent.symbol in ctx.whitelist, ReasonCode.ASSET_DISABLED),
        (intent.strategy.lower() in ctx.enabled_strategies, ReasonCode.PHASE_SIGNAL_MISMATCH),
    ]
    for ok, code in rows:
        if not ok:
            return code
    notional = intent.qty * entry
    if intent.leverage > lim.max_leverage or ctx.equity <= 0 or \
            ctx.account_notional + notional > ctx.equity * lim.max_leverage:
        return ReasonCode.LEVERAGE_LIMIT
    if ctx.tail_alpha is not None and ctx.tail_alpha < 2 and intent.leverage > 5:  # 7a
        return ReasonCode.TAIL_RISK_VETO
    stop = intent.stop_loss
    if stop is None or stop <= 0:
        return ReasonCode.RISK_PER_TRADE_LIMIT
    if (intent.side is Side.BUY and stop >= entry) or (intent.side is Side.SELL and stop <= entry):
        return ReasonCode.STOP_NOT_PROTECTIVE
    risk = intent.qty * abs(entry - stop)
    if risk > ctx.equity * lim.max_risk_per_trade:
        return ReasonCode.RISK_PER_TRADE_LIMIT
    base = ctx.day_start_equity if ctx.day_start_equity is not None else ctx.equity
    if ctx.open_risk - ctx.realised_pnl_today + risk > base * lim.max_daily_drawdown:
        return ReasonCode.DAILY_LOSS_LIMIT
    if intent.qty <= 0 or ctx.position_notional + notional > lim.max_position_notional or \
            ctx.open_orders_on_symbol >= lim.max_open_orders_per_symbol:
        return ReasonCode.POSITION_LIMIT
    if not ctx.rate_budget_available:
        return ReasonCode.RATE_LIMITED
    return None


@settings(max_examples=400, deadline=None)
@given(
    halt=st.sampled_from(list(HaltState)), armed=st.booleans(), tripped=st.booleans(),
    connected=st.booleans(), age=st.one_of(st.none(), st.floats(min_value=0, max_value=10_000)),
    symbol=st.sampled_from(["BTCUSDT", "ETHUSDT", "XRPUSDT"]),
    strategy=st.sampled_from(["scavenger", "Scavenger", "hunter"]),
    phase=st.sampled_from(PHASES), side=st.sampled_from(list(Side)),
    qty=st.decimals(min_value=0, max_value=2, places=3),
    price=st.one_of(st.none(), st.decimals(min_value=1, max_value=100_000, places=1)),
    stop_off=st.one_of(st.none(), st.decimals(min_value=D("-0.1"), max_value=D("0.1"), places=3)),
    leverage=st.sampled_from([D(1), D(3), D(5), D(6), D(20), D(25)]),
    equity=money, sod=st.one_of(st.none(), money), realised=st.decimals(min_value=-2000, max_value=2000, places=2),
    open_risk=st.decimals(min_value=0, max_value=2000, places=2), acct=money, pos=money,
    orders=st.integers(min_value=0, max_value=3), rate=st.booleans(), reduce_only=st.booleans(),
    alpha=st.one_of(st.none(), st.sampled_from([1.0, 1.9999, 2.0, 3.5])),
)
def test_gate_matches_reference(halt, armed, tripped, connected, age, symbol, strategy, phase, side,  # type: ignore[no-untyped-def]
                                qty, price, stop_off, leverage, equity, sod, realised, open_risk,
                                acct, pos, orders, rate, reduce_only, alpha) -> None:
    ref_price = D(50_000)
    entry = price if price is not None else ref_price
    stop = None if stop_off is None else entry * (1 + stop_off)
    intent = make_intent(symbol=symbol, strategy=strategy, side=side, qty=qty, price=price,
                         stop_loss=stop, leverage=leverage, reduce_only=reduce_only)
    ctx = make_ctx(halt_state=halt, armed=armed, breaker_tripped=tripped, venue_connected=connected,
                   market_data_age_ms=age, limits=effective_limits(RiskConfig(), phase),
                   equity=equity, day_start_equity=sod, realised_pnl_today=realised,
                   open_risk=open_risk, account_notional=acct, position_notional=pos,
                   open_orders_on_symbol=orders, rate_budget_available=rate,
                   reference_price=ref_price, tail_alpha=alpha)
    denial = check(intent, ctx)
    expected = reference(intent, ctx)
    assert (denial.code if denial else None) == expected
    if reduce_only:
        assert denial is None
