"""Position arithmetic (titan.state.positions.apply_fill): one execution at a time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from titan.domain.orders import Fill, Side
from titan.state.positions import ZERO, ClosedTrade, ShadowPosition, apply_fill

T0 = datetime(2025, 1, 1, tzinfo=UTC)
D = Decimal


def fill(side: Side, qty: str | Decimal, price: str | Decimal, fee: str | Decimal = "0",
         n: int = 0, cid: str = "tn-e-x") -> Fill:
    return Fill(exec_id=f"x{n}", client_order_id=cid, venue_order_id="v", symbol="BTCUSDT",
                side=side, qty=D(qty), price=D(price), fee=D(fee), ts=T0 + timedelta(seconds=n))


def step(pos: ShadowPosition | None, f: Fill, max_size: Decimal = ZERO,
         orphan: bool = False) -> tuple[ShadowPosition | None, ClosedTrade | None, Decimal]:
    out = apply_fill(pos, f, max_size=max_size, orphan=orphan, strategy="scavenger")
    return out.position, out.closed, out.max_size


def test_open_then_add_averages_the_entry_and_sums_fees() -> None:
    pos, closed, mx = step(None, fill(Side.BUY, "1", "100", "0.05"))
    assert pos is not None and closed is None
    assert (pos.side, pos.size, pos.entry_price, pos.fees, mx) == (Side.BUY, D(1), D(100), D("0.05"), D(1))
    pos, closed, mx = step(pos, fill(Side.BUY, "3", "120", "0.2", 1), mx)
    assert pos is not None and closed is None
    assert (pos.size, pos.entry_price, pos.fees, mx) == (D(4), D(115), D("0.25"), D(4))


def test_partial_close_realises_and_keeps_the_rest() -> None:
    pos, _, mx = step(None, fill(Side.SELL, "2", "50", "0.1"))
    pos, closed, mx = step(pos, fill(Side.BUY, "0.5", "40", "0.02", 1), mx)
    assert pos is not None and closed is None
    assert (pos.side, pos.size, pos.entry_price) == (Side.SELL, D("1.5"), D(50))
    assert pos.realised_pnl == D(5)  # short 0.5 from 50 to 40
    assert pos.fees == D("0.12") and mx == D(2)


def test_full_close_is_a_trade_with_net_pnl_after_fees() -> None:
    pos, _, mx = step(None, fill(Side.BUY, "2", "100", "0.11"))
    pos, _, mx = step(pos, fill(Side.SELL, "1", "110", "0.06", 1), mx)
    pos, closed, mx = step(pos, fill(Side.SELL, "1", "90", "0.05", 2), mx)
    assert pos is None and mx == ZERO
    assert closed is not None
    assert closed.gross_pnl == D(0)  # +10 then -10
    assert closed.fees == D("0.22")
    assert closed.net_pnl == D("-0.22")
    assert (closed.qty, closed.entry_price, closed.exit_price) == (D(2), D(100), D(90))
    assert closed.strategy == "scavenger" and closed.closed_at == T0 + timedelta(seconds=2)


def test_flip_through_zero_splits_the_fee_by_quantity() -> None:
    pos, _, mx = step(None, fill(Side.BUY, "1", "100", "0.1"))
    pos, closed, mx = step(pos, fill(Side.SELL, "3", "110", "0.3", 1), mx, orphan=True)
    assert closed is not None
    assert closed.gross_pnl == D(10) and closed.fees == D("0.2")  # 0.1 + 1/3 of 0.3
    assert closed.net_pnl == D("9.8")
    assert pos is not None
    assert (pos.side, pos.size, pos.entry_price, pos.fees) == (Side.SELL, D(2), D(110), D("0.2"))
    assert pos.orphaned and mx == D(2) and pos.realised_pnl == ZERO


def test_a_flip_reopens_the_whole_remainder_as_a_new_round_trip() -> None:
    # A long of 2 sold 3 (fee 3): the close carries 2/3 of the fee, the new short the
    # rest; and the short is this fill's: symbol, time, strategy, entry price.
    pos, _, mx = step(None, fill(Side.BUY, "2", "100"))
    pos, closed, mx = step(pos, fill(Side.SELL, "3", "110", "3", 5), mx)
    assert closed is not None and closed.fees == D(2)
    assert pos == ShadowPosition(symbol="BTCUSDT", side=Side.SELL, size=D(1), entry_price=D(110),
                                 opened_at=T0 + timedelta(seconds=5), fees=D(1),
                                 strategy="scavenger")
    # A remainder of exactly 1 still splits the fee (1 closing, 1 reopening).
    pos, _, mx = step(None, fill(Side.BUY, "1", "100"))
    pos, closed, _ = step(pos, fill(Side.SELL, "2", "110", "2", 1), mx)
    assert closed is not None and closed.fees == D(1)
    assert pos is not None and pos.fees == D(1)


side_st = st.sampled_from([Side.BUY, Side.SELL])
qty_st = st.integers(1, 50).map(lambda n: D(n) / 10)
price_st = st.integers(1000, 2000).map(lambda n: D(n) / 10)
fee_st = st.integers(0, 100).map(lambda n: D(n) / 1000)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(side_st, qty_st, price_st, fee_st), min_size=1, max_size=30))
def test_replay_matches_signed_sum_and_pnl_is_conserved(
        seq: list[tuple[Side, Decimal, Decimal, Decimal]]) -> None:
    pos: ShadowPosition | None = None
    mx = ZERO
    trades: list[ClosedTrade] = []
    signed = ZERO
    cash = ZERO  # Σ -signed qty × price: the gross PnL once flat
    fees = ZERO
    for i, (side, qty, price, fee) in enumerate(seq):
        pos, closed, mx = step(pos, fill(side, qty, price, fee, i), mx)
        if closed is not None:
            trades.append(closed)
        signed += qty * side.sign
        cash -= qty * side.sign * price
        fees += fee
        assert (pos.signed_size if pos is not None else ZERO) == signed
        assert pos is None or pos.size > 0
    # Everything realised or paid so far is in the journal or on the open position:
    # closing what is open at its entry price would leave Σ trades.net = cash − fees.
    open_gross = ZERO if pos is None else pos.realised_pnl
    open_fees = ZERO if pos is None else pos.fees
    open_mark = ZERO if pos is None else pos.signed_size * pos.entry_price
    journal = sum((t.net_pnl for t in trades), ZERO)
    # Exact but for the average entry's division (28 significant digits).
    assert abs((journal + open_gross - open_fees) - (cash + open_mark - fees)) < D("1e-18")
    if pos is None:  # flat: nothing averaged is left, the journal is the cash flow to the digit
        assert journal.quantize(D("1e-12")) == (cash - fees).quantize(D("1e-12"))
