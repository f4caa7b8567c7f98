from __future__ import annotations

from decimal import Decimal

from titan.domain import Position, Side
from titan.risk.exposure import account_notional, loss_at_stop, open_risk, symbol_notional

D = Decimal


def test_exposure_figures() -> None:
    long = Position("BTCUSDT", Side.BUY, D("0.1"), D(50_000), stop_loss=D(49_500))
    short = Position("ETHUSDT", Side.SELL, D(2), D(3_000), stop_loss=D(3_030))
    orphan = Position("SOLUSDT", Side.BUY, D(10), D(100))
    trailing = Position("BTCUSDT", Side.BUY, D("0.1"), D(50_000), stop_loss=D(50_100))
    assert loss_at_stop(long) == D(50)
    assert loss_at_stop(short) == D(60)
    assert loss_at_stop(orphan) == D(1000)  # no stop: the whole notional
    assert loss_at_stop(trailing) == 0
    assert open_risk([long, short, orphan]) == D(1110)
    assert account_notional([long, short]) == D(11_000)
    assert symbol_notional([long, short, trailing], "BTCUSDT") == D(10_000)
    assert open_risk([]) == 0
