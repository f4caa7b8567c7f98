"""The circuit breaker (SPEC §4) and its trigger rules.

Each trigger is a small `BreakerRule` (freqtrade's protections are the model): it is
fed observations through hooks that take the time as an argument and answers with
`Finding`s: a trip, or an early warning. Adding a trigger = one new subclass that
overrides the hooks it needs, plus one line in `default_rules`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import BreakerReset, BreakerTripped, RiskWarning
from titan.risk.arm import MasterArm
from titan.risk.common import SaveHook, iso_or_none, parse_dt, persist, require_reason
from titan.risk.config import RiskConfig

EARLY_DRAWDOWN_WARNING = Decimal("0.05")


@dataclass(frozen=True, slots=True)
class Finding:
    """A rule's answer: `trip=True` trips the breaker, otherwise it is a warning."""

    rule: str
    trip: bool
    message: str
    severity: Severity
    data: dict[str, Any] = field(default_factory=dict)


NOTHING: tuple[Finding, ...] = ()


class BreakerRule:
    """One trigger. Hooks return findings; the default is to find nothing."""

    name: ClassVar[str] = "rule"

    def configure(self, config: RiskConfig) -> None:
        """Take new thresholds from the operator's configuration."""

    def on_equity(
        self, now: datetime, day_start_equity: Decimal | None, equity: Decimal,
        max_daily_drawdown: Decimal,
    ) -> Sequence[Finding]:
        return NOTHING

    def on_trade_closed(self, now: datetime, net_pnl: Decimal) -> Sequence[Finding]:
        return NOTHING

    def on_price(self, symbol: str, price: float, ts_ms: int) -> Finding | None:
        return None

    def on_tripped(self) -> None:
        """The breaker tripped (by any rule): forget evidence already acted on."""

    def on_reset(self) -> None:
        """The breaker was reset or cleared."""

    def to_state(self) -> dict[str, Any]:
        return {}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `to_state` saved."""


class DailyDrawdownRule(BreakerRule):
    """Drawdown from 00:00 UTC equity (incl. unrealised PnL) above the effective maximum.

    Trips at most once per UTC day: after a reset or cooldown the gate's daily-loss
    check still refuses entries that would go deeper, so re-tripping would only make
    the breaker impossible to reset until midnight. Warns (HIGH) once per day above 5%.
    """

    name = "DAILY_DRAWDOWN"

    def __init__(self) -> None:
        self.tripped_day: str | None = None
        self.warned_day: str | None = None

    def on_equity(
        self, now: datetime, day_start_equity: Decimal | None, equity: Decimal,
        max_daily_drawdown: Decimal,
    ) -> Sequence[Finding]:
        if day_start_equity is None or day_start_equity <= 0:
            return NOTHING
        drawdown = (day_start_equity - equity) / day_start_equity
        day = now.date().isoformat()
        found: list[Finding] = []
        data = {
            "drawdown": float(drawdown),
            "dayStartEquity": str(day_start_equity),
            "equity": str(equity),
            "maxDailyDrawdown": float(max_daily_drawdown),
        }
        if drawdown > EARLY_DRAWDOWN_WARNING and self.warned_day != day:
            self.warned_day = day
            found.append(Finding(
                self.name, False,
                f"daily drawdown {drawdown:.2%} is above {EARLY_DRAWDOWN_WARNING:.0%} "
                f"(equity {equity:.2f} vs {day_start_equity:.2f} at 00:00 UTC)",
                Severity.HIGH, data,
            ))
        if drawdown > max_daily_drawdown and self.tripped_day != day:
            self.tripped_day = day
            found.append(Finding(
                self.name, True,
                f"daily drawdown {drawdown:.2%} exceeds the maximum {max_daily_drawdown:.2%} "
                f"(equity {equity:.2f} vs {day_start_equity:.2f} at 00:00 UTC)",
                Severity.CRITICAL, data,
            ))
        return found

    def to_state(self) -> dict[str, Any]:
        return {"trippedDay": self.tripped_day, "warnedDay": self.warned_day}

    def load_state(self, state: dict[str, Any]) -> None:
        self.tripped_day = state.get("trippedDay")
        self.warned_day = state.get("warnedDay")


class ConsecutiveLossRule(BreakerRule):
    """N consecutive closed trades with net PnL < 0; a trade that is not a loss ends the run."""

    name = "CONSECUTIVE_LOSSES"

    def __init__(self, limit: int = 3) -> None:
        self.limit = limit
        self.streak = 0

    def configure(self, config: RiskConfig) -> None:
        self.limit = config.consecutive_loss_limit

    def on_trade_closed(self, now: datetime, net_pnl: Decimal) -> Sequence[Finding]:
        if net_pnl >= 0:
            self.streak = 0
            return NOTHING
        self.streak += 1
        if self.streak < self.limit:
            return NOTHING
        data = {"streak": self.streak, "limit": self.limit, "lastNetPnl": str(net_pnl)}
        message = f"{self.streak} consecutive losing trades (limit {self.limit}); last net PnL {net_pnl:.2f}"
        return (
            Finding(self.name, False, message, Severity.MEDIUM, data),
            Finding(self.name, True, message, Severity.CRITICAL, data),
        )

    def on_tripped(self) -> None:
        # The losses that tripped it are acted on; a new run starts after the trip.
        self.streak = 0

    def on_reset(self) -> None:
        self.streak = 0

    def to_state(self) -> dict[str, Any]:
        return {"streak": self.streak}

    def load_state(self, state: dict[str, Any]) -> None:
        self.streak = int(state.get("streak", 0))


class _Window:
    """Sliding window min/max of one symbol's prices (monotonic deques: amortised O(1))."""

    __slots__ = ("last_ts", "maxs", "mins")

    def __init__(self) -> None:
        self.mins: deque[tuple[int, float]] = deque()
        self.maxs: deque[tuple[int, float]] = deque()
        self.last_ts = 0


class VolatilityRule(BreakerRule):
    """A whitelisted symbol moving more than X% within W seconds.

    Every pair of prices less than W apart is compared when the later one arrives:
    the move is measured against the window's low (rise) and high (fall).
    """

    name = "EXTREME_VOLATILITY"

    def __init__(self, move_pct: float = 5.0, window_s: float = 60.0,
                 whitelist: Sequence[str] = ()) -> None:
        self._windows: dict[str, _Window] = {}
        self.move = move_pct / 100.0
        self.window_ms = int(window_s * 1000)
        self.whitelist = frozenset(whitelist)

    def configure(self, config: RiskConfig) -> None:
        self.move = config.volatility_move_pct / 100.0
        self.window_ms = int(config.volatility_window_s * 1000)
        self.whitelist = frozenset(config.whitelist)
        for symbol in list(self._windows):
            if symbol not in self.whitelist:
                del self._windows[symbol]

    def on_price(self, symbol: str, price: float, ts_ms: int) -> Finding | None:
        if symbol not in self.whitelist or not price > 0:
            return None
        w = self._windows.get(symbol)
        if w is None:
            w = self._windows[symbol] = _Window()
        # Out-of-order timestamps are taken as "now": the window only moves forward.
        ts = ts_ms if ts_ms > w.last_ts else w.last_ts
        w.last_ts = ts
        horizon = ts - self.window_ms
        mins, maxs = w.mins, w.maxs
        while mins and mins[0][0] < horizon:
            mins.popleft()
        while maxs and maxs[0][0] < horizon:
            maxs.popleft()
        while mins and mins[-1][1] >= price:
            mins.pop()
        mins.append((ts, price))
        while maxs and maxs[-1][1] <= price:
            maxs.pop()
        maxs.append((ts, price))
        low = mins[0][1]
        high = maxs[0][1]
        rise = (price - low) / low
        fall = (high - price) / high
        if rise <= self.move and fall <= self.move:
            return None
        up = rise >= fall
        move = rise if up else fall
        ref = low if up else high
        return Finding(
            self.name, True,
            f"{symbol} moved {'+' if up else '-'}{move:.2%} within {self.window_ms / 1000:g}s "
            f"({ref:g} -> {price:g}; limit {self.move:.2%})",
            Severity.CRITICAL,
            {"symbol": symbol, "movePct": round(move * 100, 4), "from": ref, "to": price,
             "windowS": self.window_ms / 1000, "limitPct": self.move * 100},
        )

    def on_tripped(self) -> None:
        # The move that tripped it must not trip it again when the breaker clears.
        self._windows.clear()

    def on_reset(self) -> None:
        self._windows.clear()


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
                data={"rule": rule, "reason": reason, "trippedAt": now.isoformat(),
                      "cooldownUntil": self.cooldown_until.isoformat(), **(data or {})},
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
                data={"reason": reason, "actor": actor, "auto": auto,
                      "wasTripped": was_tripped, "previous": previous},
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
                                data={"rule": f.rule, **f.data}, severity=f.severity)
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
