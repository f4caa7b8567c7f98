"""The Master Arm (SPEC §3): the operator's enable for new entries."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import ArmChanged, StartedDisarmed
from titan.risk.common import SaveHook, iso_or_none, parse_dt, persist, require_reason


class ArmState(StrEnum):
    ARMED = "ARMED"
    DISARMED = "DISARMED"


class MasterArm:
    """ARMED / DISARMED with who, why and when. Starts DISARMED unless restored."""

    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        state: dict[str, Any] | None = None,
        on_change: SaveHook | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._on_change = on_change
        self.state = ArmState.DISARMED
        self.actor: str | None = None
        self.reason: str | None = None
        self.changed_at: datetime | None = None
        if state is not None:
            self.load_state(state)

    @property
    def armed(self) -> bool:
        return self.state is ArmState.ARMED

    def to_state(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "actor": self.actor,
            "reason": self.reason,
            "changedAt": iso_or_none(self.changed_at),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.state = ArmState(state.get("state", ArmState.DISARMED.value))
        self.actor = state.get("actor")
        self.reason = state.get("reason")
        self.changed_at = parse_dt(state.get("changedAt"))

    async def arm(self, reason: str, actor: str) -> None:
        await self._set(ArmState.ARMED, require_reason(reason, "ARM"), actor)

    async def disarm(self, reason: str, actor: str, severity: Severity | None = None) -> None:
        await self._set(ArmState.DISARMED, require_reason(reason, "DISARM"), actor, severity)

    async def _set(
        self, new: ArmState, reason: str, actor: str, severity: Severity | None = None
    ) -> None:
        self.apply(new, reason, actor, severity)
        await self.save()

    async def save(self) -> None:
        await persist(self._on_change, self.to_state(), self._bus, self._clock, "masterArm")

    def disarm_now(self, reason: str, actor: str) -> bool:
        """Disarm in memory and publish, without saving: for a component that changes
        its own state in the same step and saves both at once (no crash window where
        the saved state has a halt or a trip but an ARMED arm). Returns whether it was armed.
        """
        if not self.armed:
            return False
        self.apply(ArmState.DISARMED, require_reason(reason, "DISARM"), actor)
        return True

    def apply(
        self, new: ArmState, reason: str, actor: str, severity: Severity | None = None
    ) -> None:
        old = self.state
        self.state = new
        self.actor = actor
        self.reason = reason
        self.changed_at = self._clock.now()
        self._bus.publish(
            ArmChanged(
                ts=self.changed_at,
                message=f"Master Arm {new.value} by {actor}: {reason}",
                from_state=old.value, to=new.value, armed=new is ArmState.ARMED,
                actor=actor, reason=reason,
                severity=severity,
            )
        )

    @classmethod
    async def restore(
        cls,
        saved: dict[str, Any] | None,
        startup_reconciliation_clean: bool,
        venue_connected: bool,
        *,
        bus: EventBus,
        clock: Clock,
        on_change: SaveHook | None = None,
    ) -> MasterArm:
        """The restart rule: ARMED only if it was ARMED, reconciliation was clean and the
        venue is connected; otherwise DISARMED with a HIGH alert saying why."""
        arm = cls(bus, clock, saved, on_change)
        await arm.apply_restart_rule(startup_reconciliation_clean, venue_connected)
        return arm

    async def apply_restart_rule(
        self, startup_reconciliation_clean: bool, venue_connected: bool
    ) -> bool:
        """Returns True when the arm stays ARMED."""
        if not self.armed:
            # Never armed or disarmed (a fresh database): nothing went wrong, nothing was
            # lost; a HIGH alert saying it "was DISARMED before the restart" would be false.
            first = self.changed_at is None and self.actor is None
            self._bus.publish(
                StartedDisarmed(
                    ts=self._clock.now(),
                    severity=Severity.LOW if first else Severity.HIGH,
                    message="first start: the Master Arm starts DISARMED; ARM it when ready"
                    if first else "started DISARMED: the Master Arm was DISARMED before the restart",
                    reconciliation_clean=startup_reconciliation_clean,
                    venue_connected=venue_connected,
                )
            )
            return False
        why: list[str] = []
        if not startup_reconciliation_clean:
            why.append("startup reconciliation was not clean")
        if not venue_connected:
            why.append("execution venue is not connected")
        if not why:
            return True
        await self.disarm(
            "restart: was ARMED but " + " and ".join(why) + "; re-arm after checking",
            actor="system",
            severity=Severity.HIGH,
        )
        return False
