from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from titan.venues.base import Instrument
from titan.venues.instruments import (
    format_decimal,
    qty_is_valid,
    round_price,
    round_qty,
    round_to_step,
    to_decimal,
)

BTC = Instrument(
    "BTCUSDT", tick_size=Decimal("0.10"), qty_step=Decimal("0.001"), min_qty=Decimal("0.001")
)
DOGE = Instrument(
    "DOGEUSDT", tick_size=Decimal("0.00001"), qty_step=Decimal("1"), min_qty=Decimal("1")
)
ODD = Instrument(
    "ODDUSDT", tick_size=Decimal("0.5"), qty_step=Decimal("0.25"), min_qty=Decimal("0.25")
)


def test_qty_rounds_down_to_step() -> None:
    assert round_qty(Decimal("0.0019"), BTC) == Decimal("0.001")
    assert str(round_qty(Decimal("1.23456"), BTC)) == "1.234"
    assert round_qty(Decimal("99.99"), DOGE) == Decimal("99")
    assert round_qty(Decimal("0.99"), ODD) == Decimal("0.75")


def test_price_rounds_to_tick() -> None:
    assert str(round_price(Decimal("50000.04"), BTC)) == "50000.0"
    assert str(round_price(Decimal("50000.05"), BTC)) == "50000.1"
    assert str(round_price(Decimal("50000.09"), BTC, "down")) == "50000.0"
    assert str(round_price(Decimal("50000.01"), BTC, "up")) == "50000.1"
    assert str(round_price(Decimal("0.123456"), DOGE)) == "0.12346"
    assert round_price(Decimal("10.74"), ODD) == Decimal("10.5")
    assert round_price(Decimal("10.75"), ODD) == Decimal("11.0")


def test_format_is_plain() -> None:
    assert format_decimal(Decimal("1E+2")) == "100"
    assert format_decimal(Decimal("0.00010")) == "0.0001"
    assert format_decimal(Decimal("0")) == "0"
    assert format_decimal(round_qty(Decimal("5"), DOGE)) == "5"


def test_to_decimal_from_float_keeps_short_repr() -> None:
    assert to_decimal(0.1) == Decimal("0.1")
    assert to_decimal("") == Decimal(0)
    with pytest.raises(TypeError):
        to_decimal(object())


def test_qty_validity() -> None:
    assert qty_is_valid(Decimal("0.002"), BTC)
    assert not qty_is_valid(Decimal("0.0005"), BTC)
    assert not qty_is_valid(Decimal("0.0015"), BTC)


def test_bad_step_refused() -> None:
    with pytest.raises(ValueError):
        round_to_step(Decimal(1), Decimal(0))


steps = st.sampled_from(
    [Decimal("0.001"), Decimal("0.01"), Decimal("1"), Decimal("0.25"), Decimal("5")]
)
values = st.decimals(min_value=Decimal("0"), max_value=Decimal("100000"), places=6)


@given(values, steps)
def test_qty_never_grows_and_lands_on_step(value: Decimal, step: Decimal) -> None:
    inst = Instrument("X", tick_size=step, qty_step=step, min_qty=step)
    q = round_qty(value, inst)
    assert q <= value
    assert value - q < step
    assert q % step == 0


@given(values, steps)
def test_price_lands_on_tick_within_half_tick(value: Decimal, step: Decimal) -> None:
    inst = Instrument("X", tick_size=step, qty_step=step, min_qty=step)
    p = round_price(value, inst)
    assert p % step == 0
    assert abs(p - value) <= step / 2
    assert round_price(value, inst, "down") <= value <= round_price(value, inst, "up")
