"""The strategies' part of a config version: per strategy, on or off, its phases, its
parameters (SPEC §14).

Stored beside the risk limits in the same `config_versions` row, so a strategy switch or
a parameter change goes the same way as a risk update: validated, audited, a new
version, in effect at once, undone by a rollback. A strategy missing from a version (an
older one, or a strategy added since) gets its registry defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from titan.strategies.registry import StrategySpec

PHASES = (1, 2, 3)


class StrategyConfigError(ValueError):
    """A refused strategies change; `errors` maps each offending field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        super().__init__("; ".join(f"{k}: {v}" for k, v in self.errors.items()))


@dataclass(frozen=True, slots=True)
class StrategySetting:
    enabled: bool
    phases: tuple[int, ...]
    params: dict[str, Any]
    reason: str = ""  # why it was last switched (shown beside a disabled strategy)

    def to_api(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "phases": list(self.phases), "params": dict(self.params),
                "reason": self.reason}


StrategiesConfig = dict[str, StrategySetting]


def _params(spec: StrategySpec, given: Mapping[str, Any], field: str) -> dict[str, Any]:
    try:
        model: BaseModel = spec.params.model_validate(dict(given))
    except ValidationError as exc:
        errors: dict[str, str] = {}
        for err in exc.errors():
            loc = ".".join(str(x) for x in err.get("loc", ())) or "params"
            errors.setdefault(f"{field}.{loc}", str(err.get("msg", "invalid value")))
        raise StrategyConfigError(errors) from None
    return model.model_dump(by_alias=True)


def _phases(value: Any, field: str) -> tuple[int, ...]:
    if (not isinstance(value, list | tuple) or not value
            or any(type(p) is not int or p not in PHASES for p in value)):
        raise StrategyConfigError({field: f"a non-empty list of phases from {list(PHASES)}"})
    return tuple(sorted(set(value)))


def default_setting(spec: StrategySpec) -> StrategySetting:
    return StrategySetting(enabled=spec.enabled_by_default, phases=spec.phases,
                           params=_params(spec, {}, spec.name))


def parse_strategies(data: Mapping[str, Any] | None,
                     specs: Mapping[str, StrategySpec]) -> StrategiesConfig:
    """Every registered strategy's setting from stored (or API) data; defaults for the
    ones not given. A stored strategy no longer registered is kept as it is, so a
    rollback across versions never drops what an operator set."""
    data = data or {}
    out: StrategiesConfig = {}
    for name, spec in specs.items():
        raw = data.get(name)
        if raw is None:
            out[name] = default_setting(spec)
            continue
        out[name] = apply_change(default_setting(spec), spec, raw)
    return out


def apply_change(current: StrategySetting, spec: StrategySpec,
                 change: Mapping[str, Any]) -> StrategySetting:
    """`current` with `change` (`enabled`, `phases`, `params` — partial — and `reason`)."""
    if not isinstance(change, Mapping):
        raise StrategyConfigError({spec.name: "must be an object"})
    unknown = sorted(set(change) - {"enabled", "phases", "params", "reason"})
    if unknown:
        raise StrategyConfigError({f"{spec.name}.{k}": "unknown field" for k in unknown})
    enabled = change.get("enabled", current.enabled)
    if not isinstance(enabled, bool):
        raise StrategyConfigError({f"{spec.name}.enabled": "must be true or false"})
    phases = (_phases(change["phases"], f"{spec.name}.phases") if "phases" in change
              else current.phases)
    given = change.get("params", {})
    if not isinstance(given, Mapping):
        raise StrategyConfigError({f"{spec.name}.params": "must be an object"})
    params = _params(spec, {**current.params, **given}, f"{spec.name}.params")
    reason = change.get("reason", current.reason)
    if not isinstance(reason, str) or len(reason) > 500:
        raise StrategyConfigError({f"{spec.name}.reason": "a string of at most 500 characters"})
    return StrategySetting(enabled=enabled, phases=phases, params=params, reason=reason)


def strategies_to_api(config: Mapping[str, StrategySetting]) -> dict[str, Any]:
    return {name: s.to_api() for name, s in sorted(config.items())}
