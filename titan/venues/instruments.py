"""Decimal rounding to a venue's tick size and quantity step.

Quantities round *down* to the step (never send more than was sized); prices round to
the nearest tick unless a direction is asked for. Everything that reaches a venue is a
`Decimal` rendered without exponent (`format_decimal`), because floats cannot hold a tick.
"""

from __future__ import annotations

from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from typing import Literal

from titan.venues.base import Instrument

PriceRounding = Literal["nearest", "down", "up"]


def to_decimal(value: object) -> Decimal:
    """A Decimal from a venue string/number; floats go through `str` so 0.1 stays 0.1."""
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str):
        return Decimal(value.strip()) if value.strip() else Decimal(0)
    raise TypeError(f"cannot make a Decimal from {type(value).__name__}")


def round_to_step(value: Decimal, step: Decimal, rounding: str = ROUND_DOWN) -> Decimal:
    """`value` rounded to a multiple of `step` (step > 0), keeping the step's exponent."""
    if step <= 0:
        raise ValueError(f"step must be positive, got {step}")
    units = (value / step).to_integral_value(rounding=rounding)
    result = units * step
    # Keep the step's number of decimals (0.001 step -> "1.230", not "1.23000000").
    exp = step.normalize().as_tuple().exponent
    if isinstance(exp, int) and exp < 0:
        return result.quantize(Decimal(1).scaleb(exp))
    return result.quantize(Decimal(1))


def round_qty(qty: Decimal, inst: Instrument) -> Decimal:
    """Quantity rounded down to the instrument's step (sizing never grows)."""
    return round_to_step(qty, inst.qty_step, ROUND_DOWN)


def round_price(price: Decimal, inst: Instrument, how: PriceRounding = "nearest") -> Decimal:
    """Price rounded to the instrument's tick: nearest (half up), or down/up for a side's safety."""
    mode = {"nearest": ROUND_HALF_UP, "down": ROUND_FLOOR, "up": ROUND_CEILING}[how]
    return round_to_step(price, inst.tick_size, mode)


def format_decimal(value: Decimal) -> str:
    """A plain decimal string (no exponent, no trailing zeros beyond what is needed)."""
    if value == 0:
        return "0"
    text = format(value.normalize(), "f")
    return text


def qty_is_valid(qty: Decimal, inst: Instrument) -> bool:
    """At least the minimum order quantity and on the step."""
    return qty >= inst.min_qty and qty > 0 and (qty % inst.qty_step) == 0
