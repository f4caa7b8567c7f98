"""Halt states (SPEC §3) and what entering each one does.

The venue-facing effects are not done here: the execution layer implements
`HaltActions` and the controller calls it. The new state takes effect (and is
published and saved) *before* any action runs, so the gate refuses entries at once
even if an action is slow or fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import HaltActionFailed, HaltChanged
from titan.risk.arm import MasterArm
from titan.risk.common import SaveHook, iso_or_none, parse_dt, persist, require_reason


class HaltState(StrEnum):
    OPEN = "OPEN"
    SOFT_HALT = "SOFT_HALT"
    HARD_HALT = "HARD_HALT"


class HaltActions(Protocol):
    """Venue effects of entering a halt state; implemented by the execution layer."""

    async def cancel_entry_orders(self) -> Any:
        """Cancel pending entry (non-reduce-only) orders; keep stops and exits."""
        ...

    async def cancel_all_orders(self) -> Any: ...

    async def flatten_all(self) -> Any:
        """Close every position with reduce-only market orders."""
        ...

    async def pause_strategies(self, reason: str) -> Any: ...


@dataclass(slots=True)
class HaltResult:
    """What a halt change did: each action's outcome or error, by action name."""

    previous: HaltState
    state: HaltState
    reason: str
    actor: str
    at: datetime
    actions: dict[str, Any] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.errors

    def as_dict(self) -> dict[str, Any]:
        return {
            "previous": self.previous.value,
            "state": self.state.value,
            "reason": self.reason,
            "actor": self.actor,
            "at": self.at.isoformat(),
            "actions": {k: _jsonable(v) for k, v in self.actions.items()},
            "errors": dict(self.errors),
        }


def _jsonable(value: Any) -> Any:
    if value is None or isinstance(value, str | int | float | bool | list | dict):
        return value
    return str(value)


class HaltController:
    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        arm: MasterArm,
        actions: HaltActions | None = None,
        state: dict[str, Any] | None = None,
        on_change: SaveHook | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._arm = arm
        self.actions = actions
        self._on_change = on_change
        self.state = HaltState.OPEN
        self.reason: str | None = None
        self.actor: str | None = None
        self.changed_at: datetime | None = None
        if state is not None:
            self.load_state(state)

    @property
    def is_open(self) -> bool:
        return self.state is HaltState.OPEN

    def to_state(self) -> dict[str, Any]:
        return {
            "state": self.state.value,
            "reason": self.reason,
            "actor": self.actor,
            "changedAt": iso_or_none(self.changed_at),
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.state = HaltState(state.get("state", HaltState.OPEN.value))
        self.reason = state.get("reason")
        self.actor = state.get("actor")
        self.changed_at = parse_dt(state.get("changedAt"))

    async def set_state(self, state: HaltState | str, reason: str, actor: str) -> HaltResult:
        """Enter `state` and run its entry actions (SPEC §3).

        SOFT_HALT cancels pending entry orders. HARD_HALT disarms, pauses the
        strategies, cancels all orders and flattens all positions. OPEN runs nothing
        and does not re-arm. Re-entering the state a system is already in runs its
        actions again (they are idempotent; a second HARD_HALT retries a flatten).
        """
        try:
            new = HaltState(state)
        except ValueError:
            raise ValueError(
                f"unknown halt state {state!r}: expected OPEN, SOFT_HALT or HARD_HALT"
            ) from None
        why = require_reason(reason, f"halt change to {new.value}")
        old = self.state
        now = self._clock.now()
        self.state = new
        self.reason = why
        self.actor = actor
        self.changed_at = now
        severity = {
            HaltState.OPEN: Severity.MEDIUM,
            HaltState.SOFT_HALT: Severity.HIGH,
            HaltState.HARD_HALT: Severity.CRITICAL,
        }[new]
        self._bus.publish(
            HaltChanged(
                ts=now,
                message=f"halt state {old.value} -> {new.value} by {actor}: {why}",
                from_state=old.value, to=new.value, state=new.value, reason=why, actor=actor,
                severity=severity,
            )
        )
        disarmed = new is HaltState.HARD_HALT and self._arm.disarm_now(f"HARD_HALT: {why}", actor)
        # One save after both changes: the saved state never shows HARD_HALT and ARMED.
        await persist(self._on_change, self.to_state(), self._bus, self._clock, "halt")
        if disarmed:
            await self._arm.save()
        result = HaltResult(previous=old, state=new, reason=why, actor=actor, at=now)
        if new is HaltState.HARD_HALT:
            await self._run(result, "pause_strategies", f"HARD_HALT: {why}")
            await self._run(result, "cancel_all_orders")
            await self._run(result, "flatten_all")
        elif new is HaltState.SOFT_HALT:
            await self._run(result, "cancel_entry_orders")
        return result

    async def _run(self, result: HaltResult, name: str, *args: Any) -> None:
        if self.actions is None:
            result.errors[name] = "no HaltActions wired"
            self._alert(name, "no HaltActions wired", result.state)
            return
        try:
            result.actions[name] = await getattr(self.actions, name)(*args)
        except Exception as exc:
            logger.opt(exception=True).error("HALT_ACTION_FAILED action={}", name)
            result.errors[name] = f"{type(exc).__name__}: {exc}"
            self._alert(name, result.errors[name], result.state)

    def _alert(self, action: str, error: str, state: HaltState) -> None:
        self._bus.publish(
            HaltActionFailed(
                ts=self._clock.now(),
                severity=Severity.CRITICAL,
                message=f"{state.value} action {action} failed: {error}; the halt state holds",
                action=action, error=error, state=state.value,
            )
        )
