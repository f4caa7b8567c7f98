"""A trace of every request the auth layer refuses: logged, audited, counted (SPEC §9).

Without it, password guessing and lockouts left nothing behind. Each refusal

- counts in `/metrics` (`titan_auth_refusals_total{reason}`), always;
- logs one line `AUTH_REFUSED reason=… ip=… method=… path=… user=…`, and
- writes one `auth.refused` row to the audit log with the address,

the last two at most once per address and reason per `QUIET_S` seconds, the next line
saying how many were folded into it (`repeats=N`): a flood of refused requests cannot
fill the disk with audit rows or the log with lines. The start of a lockout is always
logged (`AUTH_LOCKED_OUT`) and audited (`auth.lockout`).

Audit rows are written in the background: a refusal never waits on, or fails with, the
database.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from datetime import datetime
from typing import Any

from loguru import logger

from titan.clock import Clock, iso_utc
from titan.ops.metrics import Metrics
from titan.store.audit import Actor, AuditLog

QUIET_S = 60.0
MAX_TRACKED = 10_000  # (address, reason) pairs remembered for the throttle

Spawn = Callable[[Coroutine[Any, Any, Any]], None]


class AuthTrace:
    def __init__(self, audit: AuditLog, metrics: Metrics, clock: Clock, spawn: Spawn,
                 quiet_s: float = QUIET_S) -> None:
        self.audit = audit
        self.metrics = metrics
        self.clock = clock
        self.spawn = spawn
        self.quiet_s = quiet_s
        self._last: dict[tuple[str, str], float] = {}
        self._folded: dict[tuple[str, str], int] = {}

    def refused(self, reason: str, ip: str, method: str, path: str, user: str = "") -> None:
        """One request refused with 401 / 403 / 429 (`reason` from AUTH_REFUSAL_REASONS)."""
        self.metrics.auth_refused(reason)
        key = (ip, reason)
        now = self.clock.now().timestamp()
        last = self._last.get(key)
        if last is not None and now - last < self.quiet_s:
            self._folded[key] = self._folded.get(key, 0) + 1
            return
        repeats = self._folded.pop(key, 0)
        self._last[key] = now
        if len(self._last) > MAX_TRACKED:
            oldest = next(iter(self._last))
            self._last.pop(oldest)
            self._folded.pop(oldest, None)
        path = path[:200]
        logger.warning("AUTH_REFUSED reason={} ip={} method={} path={} user={} repeats={}",
                       reason, ip, method, path, user[:64] or "-", repeats)
        params = {"reason": reason, "method": method, "path": path, "user": user[:64],
                  "repeatsSinceLastRecord": repeats}
        self._audit(Actor(user[:64] or "anonymous", "api", ip), "auth.refused", params)

    def locked_out(self, ip: str, until: datetime, failures: int) -> None:
        """An address has just been locked out (logged and audited every time)."""
        logger.warning("AUTH_LOCKED_OUT ip={} until={} failures={}", ip, iso_utc(until),
                       failures)
        self._audit(Actor("anonymous", "api", ip), "auth.lockout",
                    {"lockedUntil": iso_utc(until), "failures": failures})

    def _audit(self, actor: Actor, action: str, params: dict[str, Any]) -> None:
        async def write() -> None:
            try:
                await self.audit.record_as(actor, action, params, {"refused": True}, False)
            except Exception as exc:  # the refusal stands; the log line above is the trace
                logger.warning("AUTH_AUDIT_FAILED action={} ip={} error={}", action, actor.ip,
                               exc)

        self.spawn(write())
