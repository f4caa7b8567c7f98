"""Operator actions that did not finish (issue 15): a FLATTEN ALL killed mid-way used to be
called "clean" by the start-up reconciliation. The action leaves a marker in the database
while it runs; a marker found at start-up is alerted (HIGH) and audited, and the start-up
is not clean (the Master Arm stays DISARMED)."""

from __future__ import annotations

from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain.reasons import Severity
from titan.events import ActionInterrupted
from titan.state.ledger import Ledger
from titan.store.audit import AuditLog

ACTION_KEY = "actionInProgress"


class ActionMarker:
    """The marker of the running operator actions (several flattens may overlap)."""

    def __init__(self, ledger: Ledger, clock: Clock) -> None:
        self.ledger = ledger
        self.clock = clock
        self._running = 0

    async def started(self, action: str) -> None:
        self._running += 1
        try:  # best effort: an exit never waits for, nor fails on, its own bookkeeping
            await self.ledger.put_state(ACTION_KEY, {"action": action,
                                                     "startedAt": self.clock.now().isoformat()})
        except Exception as exc:
            logger.warning("ACTION_MARKER_NOT_SAVED action={} error={}", action, exc)

    async def finished(self) -> None:
        self._running -= 1
        if self._running > 0:
            return
        try:
            await self.ledger.put_state(ACTION_KEY, None)
        except Exception as exc:
            logger.warning("ACTION_MARKER_NOT_CLEARED error={}", exc)


async def report_interrupted(ledger: Ledger, audit: AuditLog, bus: EventBus,
                             clock: Clock) -> dict[str, Any] | None:
    """At start-up: the action a previous run left unfinished (alerted and audited), or None."""
    marker = await ledger.get_state(ACTION_KEY)
    if not isinstance(marker, dict):
        return None
    action, since = marker.get("action", "?"), marker.get("startedAt", "?")
    message = (f"{action} started at {since} did not finish (Titan stopped mid-way): "
               f"check the venue and the positions; the Master Arm stays DISARMED")
    logger.error("ACTION_INTERRUPTED action={} startedAt={}", action, since)
    bus.publish(ActionInterrupted(ts=clock.now(), severity=Severity.HIGH, message=message,
                                  action=action, started_at=since))
    await audit.record("system", "startup", "", "action_interrupted", marker,
                       {"message": message}, False)
    await ledger.put_state(ACTION_KEY, None)
    return marker
