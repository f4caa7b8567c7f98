"""Ledger invariants of the matching engine under random order flow (pure, no I/O)."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from titan.sim.config import SimConfig
from titan.sim.matching import MatchingEngine, Reject

steps = st.lists(
    st.tuples(
        st.sampled_from(["Buy", "Sell"]),
        st.integers(min_value=1, max_value=30),  # qty in 0.01 ETH
        st.integers(min_value=-40, max_value=40),  # price move in dollars before the order
        st.booleans(),  # reduce-only
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(steps)
def test_wallet_equals_start_plus_pnl_minus_fees(flow: list[tuple[str, int, int, bool]]) -> None:
    eng = MatchingEngine(SimConfig(accounts={"k": "s"}, symbols=("ETHUSDT",),
                                   default_leverage=Decimal(50),
                                   starting_balance=Decimal(100000)))
    price = Decimal(3000)
    eng.on_price("ETHUSDT", price, 0)
    signed = Decimal(0)
    for i, (side, q, move, ro) in enumerate(flow):
        price = max(Decimal(100), price + move)
        eng.on_price("ETHUSDT", price, i)
        try:
            eng.place("k", symbol="ETHUSDT", side=side, order_type="Market",
                      qty=Decimal(q) / 100, reduce_only=ro, now_ms=i)
        except Reject as e:
            assert e.code in (110017, 110007)
    acc = eng.account("k")
    for e in acc.executions:
        signed += e.qty if e.side == "Buy" else -e.qty
    pos = acc.positions.get("ETHUSDT")
    size = pos.size if pos else Decimal(0)
    assert size == signed
    pnl = sum((e.realised_pnl for e in acc.executions), Decimal(0))
    fees = sum((e.fee for e in acc.executions), Decimal(0))
    assert acc.wallet_balance == Decimal(100000) + pnl - fees
    assert acc.cum_realised == pnl - fees
    # Closing everything walks the book: the wallet moves by exactly the PnL of each
    # closing fill against the entry price, less its fee (to 1e-8 USDT).
    avg = pos.avg_price if pos else Decimal(0)
    before = acc.wallet_balance
    n = len(acc.executions)
    eng.close_position("k", "ETHUSDT", now_ms=10_000)
    closing = acc.executions[n:]
    assert sum((e.qty for e in closing), Decimal(0)) == abs(size)
    want = sum(((e.qty * (e.price - avg) * (1 if size > 0 else -1)).quantize(
        Decimal("0.00000001")) - e.fee for e in closing), Decimal(0))
    assert acc.wallet_balance == before + want
    assert all(not o.is_open for o in acc.orders)
    assert len({e.exec_id for e in acc.executions}) == len(acc.executions)
