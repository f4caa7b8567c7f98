"""Typed events carried by the bus.

Every decision Titan makes (a denial, a trip, a halt, a phase change, an operator
action, a fill) becomes one of these. `name` is the greppable event word of the logs
(SPEC §11); `severity` is set when the event is also an operator alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from titan.domain.reasons import Severity


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. Subclasses set `name` and, for alerts, `default_severity`."""

    name: ClassVar[str] = "EVENT"
    default_severity: ClassVar[Severity | None] = None

    ts: datetime
    message: str
    data: dict[str, Any] = field(default_factory=dict)
    severity: Severity | None = None

    @property
    def alert_severity(self) -> Severity | None:
        return self.severity if self.severity is not None else self.default_severity

    def as_dict(self) -> dict[str, Any]:
        sev = self.alert_severity
        return {
            "event": self.name,
            "ts": self.ts.isoformat(),
            "severity": sev.value if sev else None,
            "message": self.message,
            "data": self.data,
        }


def _event(name: str, severity: Severity | None = None) -> Any:
    """Class decorator: give an event class its log name and default alert severity."""

    def wrap(cls: type[Event]) -> type[Event]:
        cls.name = name
        cls.default_severity = severity
        return cls

    return wrap


@_event("SYSTEM_STARTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStarted(Event):
    pass


@_event("SYSTEM_STOPPING")
@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStopping(Event):
    pass


@_event("SIGNAL_REJECTED", Severity.LOW)
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRejected(Event):
    pass


@_event("ORDER_SIZE_REDUCED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSizeReduced(Event):
    pass


@_event("ORDER_SUBMITTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(Event):
    pass


@_event("ORDER_UPDATED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(Event):
    pass


@_event("ORDER_FILLED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Event):
    pass


@_event("ORDER_UNKNOWN", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUnknown(Event):
    pass


@_event("TRADE_CLOSED")
@dataclass(frozen=True, slots=True, kw_only=True)
class TradeClosed(Event):
    pass


@_event("TRAP_SPRUNG")
@dataclass(frozen=True, slots=True, kw_only=True)
class TrapSprung(Event):
    pass


@_event("CIRCUIT_BREAKER", Severity.CRITICAL)
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTripped(Event):
    pass


@_event("CIRCUIT_BREAKER_RESET")
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerReset(Event):
    pass


@_event("RISK_WARNING", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskWarning(Event):
    pass


@_event("HALT_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class HaltChanged(Event):
    pass


@_event("MASTER_ARM_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ArmChanged(Event):
    pass


@_event("PHASE_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseChanged(Event):
    pass


@_event("VENUE_DISCONNECTED", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueDisconnected(Event):
    pass


@_event("VENUE_CONNECTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConnected(Event):
    pass


@_event("SHADOW_MISMATCH", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowMismatch(Event):
    pass


@_event("RECONCILED")
@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciled(Event):
    pass


@_event("CONFIG_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanged(Event):
    pass


@_event("OPERATOR_ACTION")
@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAction(Event):
    pass


@_event("SCAVENGER_STATE")
@dataclass(frozen=True, slots=True, kw_only=True)
class ScavengerStateChanged(Event):
    pass


@_event("STRATEGY_SWITCHED", Severity.MEDIUM)
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySwitched(Event):
    """An operator enabled or disabled a strategy (data: strategy, enabled, reason)."""


@_event("BACKUP_DONE")
@dataclass(frozen=True, slots=True, kw_only=True)
class BackupDone(Event):
    pass


@_event("ALERT")
@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(Event):
    """A free-standing operator alert; set `severity`."""


@_event("DISK_LOW", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class DiskLow(Event):
    """The data folder's disk refused a write for lack of space (once per episode)."""


@_event("KILL_SWITCH", Severity.CRITICAL)
@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchActivated(Event):
    """The kill switch fired (or was refused: a wrong code); `data` carries the report."""
