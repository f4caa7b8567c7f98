"""Breaker rule: N consecutive losing trades (SPEC §4: 3 by default)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from titan.domain import Severity
from titan.risk.breaker.rule import NOTHING, BreakerRule, Finding
from titan.risk.config import RiskConfig


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
