"""What a breaker rule is: hooks fed observations (with the time as an argument) that
answer with `Finding`s — a trip, or an early warning. Adding a trigger = one new
subclass in its own file, plus one line in `circuit.default_rules`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, ClassVar

from titan.domain import Severity
from titan.risk.config import RiskConfig


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
