"""Which leverage the Scavenger has set ahead when its traps arm (SPEC §13: the set-leverage
round trip kept off the tick-to-order path)."""

from __future__ import annotations

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.strategy import leverage_to_prepare


def _trap(symbol: str, level: float, leverage: int, kind: TripwireKind) -> Trap:
    return Trap(Tripwire(symbol, kind, level, 90, leverage, Direction.LONG, "x"),
                75.0, 0, 0, 0, 1.0)


def test_each_symbol_takes_the_leverage_of_its_trap_nearest_the_price() -> None:
    traps = [
        _trap("BTCUSDT", 105.0, 15, TripwireKind.BOLLINGER),
        _trap("BTCUSDT", 101.0, 20, TripwireKind.LIQUIDATION_CLUSTER),  # nearest to 100
        _trap("BTCUSDT", 90.0, 10, TripwireKind.DAILY_LEVEL),
        _trap("ETHUSDT", 2100.0, 10, TripwireKind.DAILY_LEVEL),
        _trap("ETHUSDT", 1990.0, 15, TripwireKind.BOLLINGER),  # nearest to 2000
    ]
    assert leverage_to_prepare(traps, {"BTCUSDT": 100.0, "ETHUSDT": 2000.0}) == {
        "BTCUSDT": 20, "ETHUSDT": 15}


def test_a_symbol_without_a_price_takes_its_first_trap_and_none_armed_sets_nothing() -> None:
    traps = [_trap("SOLUSDT", 150.0, 15, TripwireKind.BOLLINGER),
             _trap("SOLUSDT", 140.0, 20, TripwireKind.LIQUIDATION_CLUSTER)]
    assert leverage_to_prepare(traps, {}) == {"SOLUSDT": 15}
    assert leverage_to_prepare([], {"SOLUSDT": 145.0}) == {}
