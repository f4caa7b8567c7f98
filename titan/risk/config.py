"""The operator's risk parameters (SPEC §9): one validated, immutable model.

Field names in the API are camelCase (`maxRiskPerTrade`); Python code uses the
snake_case attributes. Validation is strict (no strings for numbers, no booleans for
integers, no NaN or infinity) because a typo here moves real money.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

DEFAULT_WHITELIST: tuple[str, ...] = ("BTCUSDT", "ETHUSDT", "SOLUSDT")

# The runbook's `titan.cmd.risk.update` says `maxAccountLeverage` for `maxLeverage`.
FIELD_ALIASES: dict[str, str] = {"maxAccountLeverage": "maxLeverage"}

_SYMBOL = re.compile(r"^[A-Z0-9]{2,30}$")
MAX_POSITION_NOTIONAL = 1_000_000.0  # USDT
MAX_WHITELIST = 100  # symbols


class RiskConfig(BaseModel):
    """Risk parameters as the operator sets them. Immutable: an update makes a new one."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        strict=True,
        populate_by_name=True,
        allow_inf_nan=False,
    )

    max_risk_per_trade: float = Field(default=0.02, ge=0.01, le=0.05, alias="maxRiskPerTrade")
    max_daily_drawdown: float = Field(default=0.07, ge=0.03, le=0.10, alias="maxDailyDrawdown")
    max_leverage: float = Field(default=20.0, ge=5, le=50, alias="maxLeverage")
    # Every field has an upper bound: an unbounded one (1e300 was accepted) turns a typo or
    # a hostile update into "no limit". 1,000,000 USDT per position is far above any
    # Scavenger position and still a number an operator means.
    max_position_notional: float = Field(default=10_000.0, gt=0, le=MAX_POSITION_NOTIONAL,
                                         alias="maxPositionNotional")
    max_open_orders_per_symbol: int = Field(default=2, ge=1, le=20, alias="maxOpenOrdersPerSymbol")
    max_staleness_ms: int = Field(default=5_000, ge=100, le=60_000, alias="maxStalenessMs")
    whitelist: tuple[str, ...] = Field(default=DEFAULT_WHITELIST, max_length=MAX_WHITELIST,
                                       alias="whitelist")
    consecutive_loss_limit: int = Field(default=3, ge=1, le=20, alias="consecutiveLossLimit")
    volatility_move_pct: float = Field(default=5.0, ge=0.5, le=50, alias="volatilityMovePct")
    volatility_window_s: float = Field(default=60.0, ge=5, le=3600, alias="volatilityWindowS")
    cooldown_hours: float = Field(default=4.0, ge=0.0833, le=72, alias="cooldownHours")

    @field_validator("whitelist", mode="before")
    @classmethod
    def _whitelist_list(cls, value: Any) -> Any:
        # JSON gives a list; strict mode would refuse it for a tuple field.
        if isinstance(value, list):
            return tuple(value)
        return value

    @field_validator("whitelist")
    @classmethod
    def _whitelist_symbols(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        seen: list[str] = []
        for symbol in value:
            if not _SYMBOL.match(symbol):
                raise ValueError(f"invalid symbol {symbol!r}: expected upper-case letters and digits, e.g. BTCUSDT")
            if symbol not in seen:
                seen.append(symbol)
        return tuple(seen)

    # Decimal views for the money path: exact for the values an operator types.
    @property
    def d_max_risk_per_trade(self) -> Decimal:
        return Decimal(str(self.max_risk_per_trade))

    @property
    def d_max_daily_drawdown(self) -> Decimal:
        return Decimal(str(self.max_daily_drawdown))

    @property
    def d_max_leverage(self) -> Decimal:
        return Decimal(str(self.max_leverage))

    @property
    def d_max_position_notional(self) -> Decimal:
        return Decimal(str(self.max_position_notional))

    def to_api(self) -> dict[str, Any]:
        """The camelCase dict the API returns and the config store saves."""
        data = self.model_dump(by_alias=True)
        data["whitelist"] = list(self.whitelist)
        return data


class RiskConfigError(ValueError):
    """A rejected risk configuration; `errors` maps each offending API field to why."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = dict(errors)
        detail = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        super().__init__(f"invalid risk configuration: {detail}")


_SNAKE_TO_ALIAS: dict[str, str] = {
    name: (info.alias or name) for name, info in RiskConfig.model_fields.items()
}
_ALIASES: frozenset[str] = frozenset(_SNAKE_TO_ALIAS.values())


def _errors_from(exc: ValidationError) -> dict[str, str]:
    errors: dict[str, str] = {}
    for err in exc.errors():
        loc = err.get("loc", ())
        key = str(loc[0]) if loc else "__root__"
        key = _SNAKE_TO_ALIAS.get(key, key)
        errors.setdefault(key, str(err.get("msg", "invalid value")))
    return errors


def parse_config(data: Mapping[str, Any]) -> RiskConfig:
    """A full configuration from API-shaped data; raises `RiskConfigError` naming each field."""
    try:
        return RiskConfig.model_validate(dict(data))
    except ValidationError as exc:
        raise RiskConfigError(_errors_from(exc)) from None


def apply_update(config: RiskConfig, changes: Mapping[str, Any]) -> RiskConfig:
    """A new validated config with `changes` applied; `config` itself never changes.

    Keys are the API's camelCase names (snake_case accepted too); `maxAccountLeverage`
    is an alias of `maxLeverage`. Unknown keys and out-of-range values raise
    `RiskConfigError` with one message per field.
    """
    if not isinstance(changes, Mapping):
        raise RiskConfigError({"__root__": "changes must be an object"})
    errors: dict[str, str] = {}
    normalised: dict[str, Any] = {}
    for raw_key, value in changes.items():
        key = str(raw_key)
        key = FIELD_ALIASES.get(key, key)
        key = _SNAKE_TO_ALIAS.get(key, key)
        if key not in _ALIASES:
            errors[str(raw_key)] = "unknown risk configuration field"
            continue
        if key in normalised and normalised[key] != value:
            errors[str(raw_key)] = f"conflicts with another value given for {key}"
            continue
        normalised[key] = value
    if errors:
        raise RiskConfigError(errors)
    merged = config.to_api()
    merged.update(normalised)
    return parse_config(merged)


def apply_whitelist_change(
    config: RiskConfig, action: str, symbol: str, known_symbols: Collection[str] | None = None
) -> RiskConfig:
    """`/api/console/config/whitelist`: add or remove one symbol; a new config.

    `known_symbols` is the venue's instrument list; a symbol not in it cannot be
    added (422 naming `symbol`). Removing a symbol that is not listed is an error too,
    so the operator learns about a typo.
    """
    errors: dict[str, str] = {}
    if action not in ("add", "remove"):
        errors["action"] = "must be 'add' or 'remove'"
    if not isinstance(symbol, str) or not _SYMBOL.match(symbol):
        errors["symbol"] = "expected an upper-case symbol such as BTCUSDT"
    if errors:
        raise RiskConfigError(errors)
    current = list(config.whitelist)
    if action == "add":
        if known_symbols is not None and symbol not in known_symbols:
            raise RiskConfigError({"symbol": f"unknown symbol {symbol} on the execution venue"})
        if symbol not in current:
            current.append(symbol)
    else:
        if symbol not in current:
            raise RiskConfigError({"symbol": f"{symbol} is not on the whitelist"})
        current.remove(symbol)
    return apply_update(config, {"whitelist": current})
