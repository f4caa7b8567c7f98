"""Breaker rule: the day's drawdown from 00:00 UTC equity above the effective maximum
(SPEC §4: 7 % by default), with an early warning at 5 %."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from titan.domain import Severity
from titan.risk.breaker.rule import NOTHING, BreakerRule, Finding

EARLY_DRAWDOWN_WARNING = Decimal("0.05")


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
