"""Which strategies exist, the phases each runs in by default, and how each is built.

Adding a strategy is one entry here (or one `StrategySpec` handed to `Titan(...,
strategies=...)`, as the tests do): the platform then routes it data, runs its timers,
gives it its switch, its phases and its versioned parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from titan.strategies.base import Strategy, StrategyContext

Builder = Callable[["StrategyContext", Mapping[str, Any], Mapping[str, Any]], "Strategy"]


@dataclass(frozen=True, slots=True)
class StrategySpec:
    """One strategy. `build(ctx, params, services)` makes it; `params` is the pydantic
    model of its tunable parameters (fields with ranges, camelCase aliases); `services`
    are the few things a strategy's own storage needs (e.g. the Scavenger's trap table)."""

    name: str
    phases: tuple[int, ...]
    params: type[BaseModel]
    build: Builder
    description: str = ""
    enabled_by_default: bool = True
    # How far back before a backtest's start its klines must reach (the strategy's
    # longest lookback: the Scavenger's previous UTC day, Hunter's 100 daily candles).
    history_days: int = 2


def builtin_specs() -> dict[str, StrategySpec]:
    """The strategies Titan ships: one per phase."""
    from titan.strategies.hunter.wiring import HUNTER
    from titan.strategies.scavenger.wiring import SCAVENGER
    from titan.strategies.sentinel.wiring import SENTINEL

    return {SCAVENGER.name: SCAVENGER, HUNTER.name: HUNTER, SENTINEL.name: SENTINEL}
