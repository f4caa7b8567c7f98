"""The circuit breaker (SPEC §4): trips on any rule's finding, disarms, cools down.

Each trigger is a small `BreakerRule` (freqtrade's protections are the model): it is
fed observations through hooks that take the time as an argument and answers with
`Finding`s: a trip, or an early warning. Adding a trigger = one new subclass that
overrides the hooks it needs, plus one line in `default_rules`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import BreakerReset, BreakerTripped, RiskWarning
from titan.risk.arm import MasterArm
from titan.risk.breaker.consecutive_losses import ConsecutiveLossRule
from titan.risk.breaker.daily_drawdown import DailyDrawdownRule
from titan.risk.breaker.rule import BreakerRule, Finding
from titan.risk.breaker.volatility import VolatilityRule
from titan.risk.common import SaveHook, iso_or_none, parse_dt, persist, require_reason
from titan.risk.config import RiskConfig


def default_rules(config: RiskConfig) -> list[BreakerRule]:
    rules: list[BreakerRule] = [DailyDrawdownRule(), ConsecutiveLossRule(), VolatilityRule()]
    for rule in rules:
        rule.configure(config)
    return rules


class CircuitBreaker:
    """Trips on any rule's finding; disarms; clears itself after the cooldown (still DISARMED)."""

    def __init__(
        self,
        bus: EventBus,
        clock: Clock,
        arm: MasterArm,
        config: RiskConfig,
        rules: Sequence[BreakerRule] | None = None,
        state: dict[str, Any] | None = None,
        on_change: SaveHook | None = None,
    ) -> None:
        self._bus = bus
        self._clock = clock
        self._arm = arm
        self._on_change = on_change
        self.config = config
        self.rules: list[BreakerRule] = list(rules) if rules is not None else default_rules(config)
        self.tripped = False
        self.reason: str | None = None
        self.rule: str | None = None
        self.tripped_at: datetime | None = None
        self.cooldown_until: datetime | None = None
        if state is not None:
            self.load_state(state)

    # -- state -------------------------------------------------------------------------

    def configure(self, config: RiskConfig) -> None:
        self.config = config
        for rule in self.rules:
            rule.configure(config)

    def is_tripped(self, now: datetime | None = None) -> bool:
        """Tripped and still inside the cooldown. Pure: `tick()` records the clearing."""
        if not self.tripped:
            return False
        if self.cooldown_until is None:
            return True
        return (now or self._clock.now()) < self.cooldown_until

    def status(self) -> dict[str, Any]:
        tripped = self.is_tripped()
        return {
            "tripped": tripped,
            "reason": self.reason if tripped else None,
            "rule": self.rule if tripped else None,
            "trippedAt": iso_or_none(self.tripped_at) if tripped else None,
            "cooldownUntil": iso_or_none(self.cooldown_until) if tripped else None,
        }

    def to_state(self) -> dict[str, Any]:
        return {
            "tripped": self.tripped,
            "reason": self.reason,
            "rule": self.rule,
            "trippedAt": iso_or_none(self.tripped_at),
            "cooldownUntil": iso_or_none(self.cooldown_until),
            "rules": {rule.name: rule.to_state() for rule in self.rules},
        }

    def load_state(self, state: dict[str, Any]) -> None:
        self.tripped = bool(state.get("tripped", False))
        self.reason = state.get("reason")
        self.rule = state.get("rule")
        self.tripped_at = parse_dt(state.get("trippedAt"))
        self.cooldown_until = parse_dt(state.get("cooldownUntil"))
        saved_rules = state.get("rules") or {}
        for rule in self.rules:
            if rule.name in saved_rules:
                rule.load_state(saved_rules[rule.name])

    async def _save(self) -> None:
        await persist(self._on_change, self.to_state(), self._bus, self._clock, "circuitBreaker")

    # -- transitions -----------------------------------------------------------------

    async def trip(self, reason: str, rule: str = "MANUAL", data: dict[str, Any] | None = None) -> bool:
        """Trip now. Returns False (and does nothing) when already tripped."""
        await self.tick()
        if self.tripped:
            return False
        now = self._clock.now()
        self.tripped = True
        self.reason = reason
        self.rule = rule
        self.tripped_at = now
        self.cooldown_until = now + timedelta(hours=self.config.cooldown_hours)
        for r in self.rules:
            r.on_tripped()
        self._bus.publish(
            BreakerTripped(
                ts=now,
                message=f"circuit breaker tripped ({rule}): {reason}; new entries denied, "
                f"Master Arm DISARMED, cooldown until {self.cooldown_until.isoformat()}",
                rule=rule, reason=reason, tripped_at=now.isoformat(),
                cooldown_until=self.cooldown_until.isoformat(), figures=dict(data or {}),
            )
        )
        disarmed = self._arm.disarm_now(f"circuit breaker: {reason}", actor="circuit_breaker")
        # Saved after both changes: the saved state never shows a trip and ARMED.
        await self._save()
        if disarmed:
            await self._arm.save()
        return True

    async def tick(self) -> bool:
        """Clear the breaker if its cooldown is over. Returns True when it cleared now.

        The system stays DISARMED: only the operator re-arms.
        """
        if not self.tripped or self.is_tripped():
            return False
        await self._clear("cooldown elapsed", actor="system", auto=True)
        return True

    async def reset(self, reason: str, actor: str) -> bool:
        """Operator reset: needs a non-empty reason; audited; the arm stays DISARMED.

        Returns whether it was tripped.
        """
        why = require_reason(reason, "circuit breaker reset")
        was = self.is_tripped()
        await self._clear(why, actor=actor, auto=False, was_tripped=was)
        return was

    async def _clear(self, reason: str, actor: str, auto: bool, was_tripped: bool = True) -> None:
        now = self._clock.now()
        previous = {"reason": self.reason, "rule": self.rule,
                    "trippedAt": iso_or_none(self.tripped_at)}
        self.tripped = False
        self.reason = None
        self.rule = None
        self.tripped_at = None
        self.cooldown_until = None
        for r in self.rules:
            r.on_reset()
        what = "cleared after its cooldown" if auto else f"reset by {actor}: {reason}"
        self._bus.publish(
            BreakerReset(
                ts=now,
                message=f"circuit breaker {what}; Master Arm stays DISARMED until the operator re-arms",
                reason=reason, actor=actor, auto=auto, was_tripped=was_tripped,
                previous=previous,
                severity=Severity.MEDIUM,
            )
        )
        await self._save()

    # -- observations ----------------------------------------------------------------

    async def _handle(self, findings: Sequence[Finding]) -> bool:
        tripped = False
        for f in findings:
            if f.trip:
                if await self.trip(f.message, f.rule, f.data):
                    tripped = True
            else:
                self._bus.publish(
                    RiskWarning(ts=self._clock.now(), message=f.message,
                                rule=f.rule, figures=dict(f.data), severity=f.severity)
                )
        return tripped

    async def on_equity(self, day_start_equity: Decimal | None, equity: Decimal,
                        max_daily_drawdown: Decimal) -> bool:
        now = self._clock.now()
        await self.tick()
        findings: list[Finding] = []
        for rule in self.rules:
            findings.extend(rule.on_equity(now, day_start_equity, equity, max_daily_drawdown))
        if findings:
            tripped = await self._handle(findings)
            await self._save()
            return tripped
        return False

    async def on_trade_closed(self, net_pnl: Decimal) -> bool:
        now = self._clock.now()
        await self.tick()
        findings: list[Finding] = []
        for rule in self.rules:
            findings.extend(rule.on_trade_closed(now, net_pnl))
        tripped = await self._handle(findings)
        await self._save()  # the loss streak survives restarts
        return tripped

    def observe_price(self, symbol: str, price: float, ts_ms: int) -> Finding | None:
        """The market-data path: synchronous, no allocation unless something is found."""
        for rule in self.rules:
            found = rule.on_price(symbol, price, ts_ms)
            if found is not None:
                return found
        return None

    async def act_on_price(self, found: Finding) -> bool:
        """Act on what `observe_price` found (trip, or warn). True when it tripped now."""
        return await self._handle((found,))

    async def on_price(self, symbol: str, price: float, ts_ms: int) -> bool:
        found = self.observe_price(symbol, price, ts_ms)
        if found is None:
            return False
        return await self.act_on_price(found)
