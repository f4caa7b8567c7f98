"""Small pieces shared by the risk components: the persistence hook, errors, reasons."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import StateNotSaved

# The application persists a component's state (a JSON-serialisable dict) through this.
SaveHook = Callable[[dict[str, Any]], Awaitable[None]]


class RiskError(Exception):
    """An operator action the risk engine refuses. `code` is machine-readable."""

    code = "RISK_ERROR"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ReasonRequired(RiskError):
    """A state change without a reason (SPEC §3: every change needs a reason). API: 422."""

    code = "REASON_REQUIRED"


class ActionRefused(RiskError):
    """The action is not allowed in the current state. API: 409."""

    code = "ACTION_REFUSED"


class KillCodeRejected(RiskError):
    """The kill switch's confirmation code did not match. API: 401/403."""

    code = "KILL_CODE_REJECTED"


def require_reason(reason: object, what: str) -> str:
    if not isinstance(reason, str) or not reason.strip():
        raise ReasonRequired(f"{what} needs a non-empty reason")
    return reason.strip()


def iso_or_none(when: datetime | None) -> str | None:
    return when.isoformat() if when is not None else None


def parse_dt(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO timestamp, got {value!r}")
    return datetime.fromisoformat(value)


def dec_or_none(value: object) -> Decimal | None:
    if value is None:
        return None
    return Decimal(str(value))


async def persist(
    hook: SaveHook | None, state: dict[str, Any], bus: EventBus, clock: Clock, what: str
) -> None:
    """Save through the hook; a failing save is a CRITICAL alert, never a lost state change.

    The in-memory change has already happened (a halt must hold even if the disk is
    full), so the failure is reported, not raised.
    """
    if hook is None:
        return
    try:
        await hook(state)
    except Exception as exc:
        logger.opt(exception=True).error("RISK_STATE_NOT_PERSISTED component={}", what)
        bus.publish(
            StateNotSaved(
                ts=clock.now(),
                severity=Severity.CRITICAL,
                message=f"{what} state could not be saved: {exc}",
                component=what,
                error=str(exc),
            )
        )
