"""Hunter's decisions as typed events (STRATEGIES.md: every decision an event with its
reason and numbers). The payload is each class's own fields."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from titan.events import Event, _event


@_event("HUNTER_SCAN")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterScan(Event):
    universe: int
    ranked: list[dict[str, Any]]  # the ranked map: one entry per kept symbol
    skipped: dict[str, str] = field(default_factory=dict)  # symbol → why not analysed


@_event("HUNTER_SIGNAL")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterSignal(Event):
    symbol: str
    direction: str
    score: int
    grade: str
    entry: float
    stop: float
    target: float
    flow_strength: float


@_event("HUNTER_SKIP")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterSkip(Event):
    symbol: str
    direction: str
    condition: str  # the first entry condition that failed (e.g. NOT_IN_KILLZONE)
    numbers: dict[str, float]  # what it was decided on


@_event("HUNTER_ENTRY")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterEntry(Event):
    symbol: str
    direction: str
    client_order_id: str
    status: str  # the venue's answer, or FILLED once the position is there
    qty: float
    price: float
    stop: float
    target: float
    attempt: int


@_event("HUNTER_CANCEL")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterCancel(Event):
    symbol: str
    client_order_id: str
    reason: str


@_event("HUNTER_EXIT")
@dataclass(frozen=True, slots=True, kw_only=True)
class HunterExit(Event):
    symbol: str
    plan_id: str
    action: str  # BREAKEVEN | PARTIAL | TRAIL | EXIT | CLOSED
    detail: str
    qty: float
    price: float
    stop: float
