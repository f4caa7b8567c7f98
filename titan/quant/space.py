"""The parameters AI Quant may tune, and the range each may take.

A parameter is named `risk.<field>` (the risk limits) or `<strategy>.<field>` (that
strategy's own parameters, camelCase as in the config). Its range is the **intersection**
of the config model's own bounds and AI Quant's guardrails (STRATEGIES.md):

    leverage 1–20, stop 0.1–5 %, risk per trade 0.1–5 %, target 0.5–20 %,
    daily loss 1–20 %, max positions 1–10

so a proposal can never leave either. The risk model stores fractions (0.02 = 2 %) and
the strategies percents (stopPct 1.0 = 1 %); the guardrails below are in each field's own
unit. "Max positions" has no field in the versioned config (the gate has no such limit
yet), so it is not searched. The other fields of a strategy's model (cadences, windows,
thresholds) are searched within the model's ranges.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from titan.risk.config import RiskConfig

# Risk fields AI Quant may change, with the guardrail in the field's unit.
RISK_GUARDRAILS: dict[str, tuple[float, float]] = {
    "maxLeverage": (1.0, 20.0),          # leverage 1–20
    "maxRiskPerTrade": (0.001, 0.05),    # risk per trade 0.1–5 %
    "maxDailyDrawdown": (0.01, 0.20),    # daily loss 1–20 %
}
# Strategy fields with a guardrail beyond their model's range (percent units).
STRATEGY_GUARDRAILS: dict[str, tuple[float, float]] = {
    "stopPct": (0.1, 5.0),
    "targetPct": (0.5, 20.0),
}


@dataclass(frozen=True, slots=True)
class Param:
    name: str  # risk.maxLeverage | scavenger.minTrades
    low: float
    high: float
    integer: bool

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        if self.integer and not float(value).is_integer():
            return False
        return self.low <= float(value) <= self.high

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "low": self.low, "high": self.high, "integer": self.integer}


def _bounds(model: type[BaseModel], field: str) -> tuple[float, float, bool] | None:
    info = model.model_fields[field]
    if info.annotation not in (int, float):
        return None
    low = high = None
    for m in info.metadata:
        if getattr(m, "ge", None) is not None:
            low = float(m.ge)
        if getattr(m, "gt", None) is not None:
            low = float(m.gt)
        if getattr(m, "le", None) is not None:
            high = float(m.le)
    if low is None or high is None:
        return None
    return low, high, info.annotation is int


def _intersect(name: str, b: tuple[float, float, bool],
               guard: tuple[float, float] | None) -> Param | None:
    low, high, integer = b
    if guard is not None:
        low, high = max(low, guard[0]), min(high, guard[1])
    if low >= high:
        return None
    return Param(name, low, high, integer)


def search_space(strategy: str, params_model: type[BaseModel]) -> dict[str, Param]:
    """Every tunable parameter for a search over `strategy`, by name."""
    out: dict[str, Param] = {}
    for field, info in RiskConfig.model_fields.items():
        alias = info.alias or field
        if alias in RISK_GUARDRAILS and (b := _bounds(RiskConfig, field)) is not None:
            p = _intersect(f"risk.{alias}", b, RISK_GUARDRAILS[alias])
            if p is not None:
                out[p.name] = p
    for field, info in params_model.model_fields.items():
        alias = info.alias or field
        if (b := _bounds(params_model, field)) is not None:
            p = _intersect(f"{strategy}.{alias}", b, STRATEGY_GUARDRAILS.get(alias))
            if p is not None:
                out[p.name] = p
    return dict(sorted(out.items()))


def select(space: Mapping[str, Param], names: Iterable[str] | None) -> dict[str, Param]:
    """The named subset (all when None); an unknown name is a ValueError."""
    if names is None:
        return dict(space)
    names = list(names)
    unknown = sorted(set(names) - set(space))
    if unknown:
        raise ValueError(f"not tunable: {', '.join(unknown)} (tunable: {', '.join(space)})")
    return {n: space[n] for n in sorted(set(names))}


def out_of_range(space: Mapping[str, Param], values: Mapping[str, Any]) -> list[str]:
    """The names in `values` that are not tunable or not within their range."""
    return sorted(n for n, v in values.items() if n not in space or not space[n].contains(v))


def current_values(space: Mapping[str, Param], risk: Mapping[str, Any],
                   strategy: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The active config's value of every parameter in `space`."""
    out: dict[str, Any] = {}
    for name in space:
        section, _, field = name.partition(".")
        source = risk if section == "risk" else params if section == strategy else {}
        if field in source:
            out[name] = source[field]
    return out
