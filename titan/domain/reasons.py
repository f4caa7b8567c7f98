"""Machine-readable reason codes and alert severities (SPEC: "every decision says why")."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Severity(StrEnum):
    """Alert severities of the operator manual's alert table."""

    LOW = "LOW"
    MEDIUM = "MEDIUM"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"


class ReasonCode(StrEnum):
    """Denial codes of the trading gate (SPEC §2), in the order the gate checks them."""

    SYSTEM_HALTED = "SYSTEM_HALTED"
    EXECUTION_DISABLED_BY_OPERATOR = "EXECUTION_DISABLED_BY_OPERATOR"
    CIRCUIT_BREAKER_TRIPPED = "CIRCUIT_BREAKER_TRIPPED"
    VENUE_DISCONNECTED = "VENUE_DISCONNECTED"
    STALE_MARKET_DATA = "STALE_MARKET_DATA"
    ASSET_DISABLED = "ASSET_DISABLED"
    PHASE_SIGNAL_MISMATCH = "PHASE_SIGNAL_MISMATCH"
    LEVERAGE_LIMIT = "LEVERAGE_LIMIT"
    # Check 7a (SPEC §17): leverage above 5 while the symbol's tail index α is below 2.
    TAIL_RISK_VETO = "TAIL_RISK_VETO"
    # Check 8's first half: a stop at the entry price or on its winning side bounds
    # nothing (the loss at stop would be counted as 0 or less, so any size would pass).
    STOP_NOT_PROTECTIVE = "STOP_NOT_PROTECTIVE"
    RISK_PER_TRADE_LIMIT = "RISK_PER_TRADE_LIMIT"
    DAILY_LOSS_LIMIT = "DAILY_LOSS_LIMIT"
    POSITION_LIMIT = "POSITION_LIMIT"
    RATE_LIMITED = "RATE_LIMITED"


@dataclass(frozen=True, slots=True)
class Denial:
    """A refusal by the gate: a code for machines and a message for the operator."""

    code: ReasonCode
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code.value, "message": self.message}
