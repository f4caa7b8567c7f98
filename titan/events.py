"""Typed events carried by the bus.

Every decision Titan makes (a denial, a trip, a halt, a phase change, an operator
action, a fill) becomes one of these. `name` is the greppable event word of the logs
(SPEC §11); `severity` is set when the event is also an operator alert.

An event's payload is its own typed fields: `OrderFilled(symbol=…, qty=…)`, never a
loose dict, so a producer cannot forget a field and a reader finds each one by name.
`Event.data` is the wire view of those fields (journal, `/ws`, logs, notifications):
each field under its camelCase name (`client_order_id` → `clientOrderId`), or the
name given by `key("…")` where the wire word is not one (`from`, `version_tag`).
A field made with `spread()` holds a report whose own keys go to the wire as they are
(a venue's flatten report, a breaker rule's figures): only there is the payload open.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from datetime import datetime
from typing import Any, ClassVar, Protocol

from titan.domain.reasons import Severity

_BASE_FIELDS = frozenset({"ts", "message", "severity"})
_SPREAD = "spread"
_KEY = "key"
_OMIT_NONE = "omit_none"


def key(wire: str, default: Any = MISSING) -> Any:
    """A field whose wire name is `wire` (e.g. the Python keyword `from`)."""
    if default is MISSING:
        return field(metadata={_KEY: wire})
    return field(default=default, metadata={_KEY: wire})


def optional() -> Any:
    """A field that is None when it does not apply, and then left out of `data`."""
    return field(default=None, metadata={_OMIT_NONE: True})


def spread(default_factory: Any = dict) -> Any:
    """A field holding a report whose keys are spread into `data` as they are (a mapping,
    or an object with its own `as_dict()`)."""
    return field(default_factory=default_factory, metadata={_SPREAD: True})


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


class SupportsAsDict(Protocol):
    def as_dict(self) -> dict[str, Any]: ...


# Per class: (attribute, wire key or None for a spread field, omit when None), once.
_LAYOUT: dict[type, tuple[tuple[str, str | None, bool], ...]] = {}


def _layout(cls: type) -> tuple[tuple[str, str | None, bool], ...]:
    found = _LAYOUT.get(cls)
    if found is None:
        found = tuple(
            (f.name, None if f.metadata.get(_SPREAD) else f.metadata.get(_KEY, _camel(f.name)),
             bool(f.metadata.get(_OMIT_NONE)))
            for f in fields(cls) if f.name not in _BASE_FIELDS)
        _LAYOUT[cls] = found
    return found


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event. Subclasses set `name` and, for alerts, `default_severity`,
    and declare their payload as fields."""

    name: ClassVar[str] = "EVENT"
    default_severity: ClassVar[Severity | None] = None

    ts: datetime
    message: str
    severity: Severity | None = None

    @property
    def alert_severity(self) -> Severity | None:
        return self.severity if self.severity is not None else self.default_severity

    @property
    def data(self) -> dict[str, Any]:
        """The payload as the journal, `/ws` and the logs carry it (a fresh dict)."""
        out: dict[str, Any] = {}
        for attr, wire, omit_none in _layout(type(self)):
            value = getattr(self, attr)
            if omit_none and value is None:
                continue
            if wire is not None:
                out[wire] = value
            elif isinstance(value, Mapping):
                out.update(value)
            else:  # a typed report (e.g. a SizeDecision) spreads its own wire view
                out.update(value.as_dict())
        return out

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


# -- the process -----------------------------------------------------------------------


@_event("SYSTEM_STARTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStarted(Event):
    venue: str
    db: str
    venue_connected: bool
    master_arm: str
    halt_state: str


@_event("SYSTEM_STOPPING")
@dataclass(frozen=True, slots=True, kw_only=True)
class SystemStopping(Event):
    pass


# -- entries, orders, fills, trades ------------------------------------------------------


@_event("SIGNAL_REJECTED", Severity.LOW)
@dataclass(frozen=True, slots=True, kw_only=True)
class SignalRejected(Event):
    """An entry not sent: the gate's denial (with the intent) or a strategy's own
    refusal to trade a signal (with its trap)."""

    code: str
    symbol: str
    strategy: str
    reason: str
    side: str | None = optional()
    qty: str | None = optional()
    intent_id: str | None = optional()
    trap_id: str | None = optional()


@_event("ORDER_SIZE_REDUCED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSizeReduced(Event):
    """Sizing clamped an entry; `decision` is the sizing's own report (its limits hit)."""

    symbol: str
    strategy: str | None = optional()
    decision: Mapping[str, Any] | SupportsAsDict = spread()


@_event("ORDER_SUBMITTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderSubmitted(Event):
    client_order_id: str
    symbol: str
    side: str
    qty: str
    status: str
    strategy: str
    latency_ms: float | None = optional()  # the venue call, send to answer


@_event("ORDER_UPDATED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUpdated(Event):
    client_order_id: str
    symbol: str
    status: str
    strategy: str
    filled_qty: str | None = optional()
    code: str | int | None = optional()  # the venue's refusal code


@_event("ORDER_FILLED")
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderFilled(Event):
    symbol: str
    side: str
    qty: str
    price: str
    fee: str
    exec_id: str
    client_order_id: str | None
    origin: str | None
    strategy: str


@_event("ORDER_UNKNOWN", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class OrderUnknown(Event):
    client_order_id: str
    symbol: str
    strategy: str


@_event("TRADE_CLOSED")
@dataclass(frozen=True, slots=True, kw_only=True)
class TradeClosed(Event):
    symbol: str
    net_pnl: str
    reason: str
    strategy: str


# -- the Scavenger ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class SpringOrder:
    """What a sprung trap led to: the order sent (type, price, protection, the velocity
    that chose the type), or the code and reason that stopped it. Unset fields are left
    out of the event's `data`."""

    client_order_id: str | None = None
    status: str | None = None
    code: str | None = None
    reason: str | None = None
    order_type: str | None = None
    side: str | None = None
    qty: str | None = None
    order_price: str | None = None
    stop_loss: str | None = None
    take_profit: str | None = None
    leverage: str | None = None
    velocity_pct_s: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return {_camel(f.name): v for f in fields(self)
                if (v := getattr(self, f.name)) is not None}


@_event("TRAP_SPRUNG")
@dataclass(frozen=True, slots=True, kw_only=True)
class TrapSprung(Event):
    """A trap's level was crossed by a burst of trades; `order` says what came of it."""

    strategy: str
    symbol: str
    trap_id: str
    kind: str
    level: float
    direction: str
    score: float
    trades: int
    window_ms: int
    price: float
    trade_ts_ms: int
    trade_id: int
    outcome: str
    order: SpringOrder = spread(SpringOrder)


@_event("SCAVENGER_STATE")
@dataclass(frozen=True, slots=True, kw_only=True)
class ScavengerStateChanged(Event):
    running: bool
    pauses: Mapping[str, str]
    strategy: str


@_event("STRATEGY_SWITCHED", Severity.MEDIUM)
@dataclass(frozen=True, slots=True, kw_only=True)
class StrategySwitched(Event):
    """An operator enabled or disabled a strategy."""

    strategy: str
    enabled: bool
    reason: str


# -- risk ------------------------------------------------------------------------------


@_event("CIRCUIT_BREAKER", Severity.CRITICAL)
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerTripped(Event):
    """The breaker tripped; `figures` are the rule's own numbers (drawdown, move, …)."""

    rule: str
    reason: str
    tripped_at: str
    cooldown_until: str
    figures: Mapping[str, Any] = spread()


@_event("CIRCUIT_BREAKER_RESET")
@dataclass(frozen=True, slots=True, kw_only=True)
class BreakerReset(Event):
    reason: str
    actor: str
    auto: bool
    was_tripped: bool
    previous: Mapping[str, Any]  # the trip it ended: reason, rule, when


@_event("RISK_WARNING", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class RiskWarning(Event):
    """A breaker rule nearing its limit; `figures` are the rule's own numbers."""

    rule: str
    figures: Mapping[str, Any] = spread()


@_event("HALT_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class HaltChanged(Event):
    from_state: str = key("from")
    to: str
    state: str
    reason: str
    actor: str


@_event("MASTER_ARM_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ArmChanged(Event):
    from_state: str = key("from")
    to: str
    armed: bool
    actor: str
    reason: str


@_event("PHASE_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseChanged(Event):
    from_phase: int | None = key("from")
    to: int
    phase_name: str = key("name")
    equity: str
    drop: bool
    limits: Mapping[str, Any]


@_event("REGIME_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class RegimeChanged(Event):
    """A symbol's tail-risk regime changed (SPEC §17). `alpha`, `exceedance`, `clustering`
    are the new reading's figures (None while the regime is UNKNOWN). AI Quant buckets
    trades by `symbol` and `regime` from these rows: keep the names."""

    symbol: str
    regime: str
    previous: str
    alpha: float | None
    exceedance: float | None
    clustering: float | None
    samples: int


@_event("KILL_SWITCH", Severity.CRITICAL)
@dataclass(frozen=True, slots=True, kw_only=True)
class KillSwitchActivated(Event):
    """The kill switch fired (or was refused: a wrong code); `report` is what it did
    and what the venue showed afterwards."""

    actor: str
    accepted: bool
    report: Mapping[str, Any] = spread()


# -- venues and reconciliation ---------------------------------------------------------


@_event("VENUE_DISCONNECTED", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueDisconnected(Event):
    venue: str
    stream: str | None = optional()


@_event("VENUE_CONNECTED")
@dataclass(frozen=True, slots=True, kw_only=True)
class VenueConnected(Event):
    venue: str


@_event("SHADOW_MISMATCH", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class ShadowMismatch(Event):
    mismatch_type: str = key("type")
    symbol: str
    trigger: str


@_event("RECONCILED")
@dataclass(frozen=True, slots=True, kw_only=True)
class Reconciled(Event):
    trigger: str
    ok: bool
    clean: bool
    mismatches: int


# -- Sentinel's pairs (spot against perpetual: SPEC §16) ---------------------------------


@_event("SENTINEL_BASIS")
@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelBasis(Event):
    """One symbol's one-minute basis sample: depth-weighted for the intended size, its
    z-score over the window (None until full), and the entry test's outcome."""

    symbol: str
    basis: float
    z: float | None
    samples: int
    spot_price: str
    perp_price: str
    qty: str
    decision: str  # the entry test's outcome (ENTER, WARMING_UP, Z_BELOW, NO_FUNDING, ...)
    covered: bool = True  # False: the book was thinner than the size


@_event("SENTINEL_PAIR_ENTERED")
@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelPairEntered(Event):
    """Both legs of a pair filled: long `spot_qty` coins, short `perp_qty` perpetual."""

    pair_id: str
    symbol: str
    spot_qty: str
    perp_qty: str
    spot_price: str | None = optional()
    reason: str = ""


@_event("SENTINEL_PAIR_UNWOUND")
@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelPairUnwound(Event):
    """Both legs of a pair closed: the perp short bought back (`perp_qty`), the spot coins
    sold (`spot_qty`); `why`: CONVERGED or FUNDING_AGAINST; `funding`: what the pair
    booked in funding; `complete` False when a leg could not be closed in full (the rest
    is named in the message: reconciliation and the operator decide)."""

    pair_id: str
    symbol: str
    why: str
    spot_qty: str
    perp_qty: str
    funding: str
    complete: bool = True


@_event("SENTINEL_FUNDING")
@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelFunding(Event):
    """A funding settlement booked to a pair: the rate, what the short received
    (negative: paid), and settlements paid in a row."""

    pair_id: str
    symbol: str
    rate: str
    payment: str
    against: int


@_event("SENTINEL_LEG_FAILED", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class SentinelLegFailed(Event):
    """One leg of a pair entry did not happen; what was done with the other (`reversal`:
    NOT_NEEDED, REVERSED, FAILED — a naked leg the operator must see — or UNRESOLVED,
    the leg's outcome unknown: reconciliation decides)."""

    pair_id: str
    symbol: str
    leg: str  # "spot" or "perp": the one that failed
    why: str
    reversal: str
    reversed_qty: str | None = optional()


# -- operators, configuration, operations ----------------------------------------------


@_event("CONFIG_CHANGED")
@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigChanged(Event):
    """A new active config version (a change or a rollback), or the active one read
    again from the database (`reload`)."""

    version_tag: str = key("version_tag")
    actor: str
    source: str = ""
    reason: str = ""
    previous: str | None = None
    rolled_back_from: str | None = key("rolled_back_from", None)
    changes: Mapping[str, Any] = field(default_factory=dict)
    reload: bool = False


@_event("OPERATOR_ACTION")
@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAction(Event):
    """An audited operator action; `result` is a flatten's outcome (what is left open)."""

    action: str
    actor: str
    source: str
    ip: str | None
    success: bool
    result: Mapping[str, Any] | None = optional()


@_event("BACKUP_DONE")
@dataclass(frozen=True, slots=True, kw_only=True)
class BackupDone(Event):
    file: str
    size_bytes: int = key("bytes")
    seconds: float
    pruned: list[str]


@_event("DISK_LOW", Severity.HIGH)
@dataclass(frozen=True, slots=True, kw_only=True)
class DiskLow(Event):
    """The data folder's disk refused a write for lack of space (once per episode)."""

    folder: str
    free_bytes: int | None


# -- alerts: one event word, ALERT; a class per cause so each carries its own fields ----


@_event("ALERT")
@dataclass(frozen=True, slots=True, kw_only=True)
class Alert(Event):
    """A free-standing operator alert; set `severity`. The subclasses below are alerts
    with a known cause and their own fields."""


@dataclass(frozen=True, slots=True, kw_only=True)
class BackupFailed(Alert):
    kind: str = "BACKUP_FAILED"  # the notifier's rule for it
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StateNotSaved(Alert):
    """A risk component's state could not be written (it stays in effect in memory)."""

    component: str
    error: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RiskStateUnreadable(Alert):
    unreadable: list[str]


@dataclass(frozen=True, slots=True, kw_only=True)
class StartedDisarmed(Alert):
    component: str = "masterArm"
    armed: bool = False
    reconciliation_clean: bool
    venue_connected: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class HaltActionFailed(Alert):
    action: str
    error: str
    state: str


@dataclass(frozen=True, slots=True, kw_only=True)
class OrderCancelledByVenue(Alert):
    client_order_id: str
    symbol: str
    trigger: str | None = optional()  # set when reconciliation found it


@dataclass(frozen=True, slots=True, kw_only=True)
class ReconcileFailed(Alert):
    trigger: str


@dataclass(frozen=True, slots=True, kw_only=True)
class ActionInterrupted(Alert):
    """An emergency action was cut off by a crash or kill (found at start-up)."""

    action: str
    started_at: str | None
    interrupted: bool = True


@dataclass(frozen=True, slots=True, kw_only=True)
class ExitsSentUnjournaled(Alert):
    """Disk full: reduce-only exits went out without their intents written first."""

    client_order_ids: list[str]
    error: str
