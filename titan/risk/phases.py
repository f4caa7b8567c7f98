"""The phase table (SPEC §5): equity decides the phase, the phase tightens the limits."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Severity
from titan.events import PhaseChanged
from titan.risk.common import SaveHook, persist
from titan.risk.config import RiskConfig

SCAVENGER = "scavenger"
HYSTERESIS = Decimal("0.9")


@dataclass(frozen=True, slots=True)
class PhaseSpec:
    number: int
    name: str
    lower: Decimal  # equity at which the phase starts (inclusive)
    max_risk_per_trade: Decimal
    max_leverage: Decimal
    max_daily_drawdown: Decimal
    strategies: frozenset[str]

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "name": self.name,
            "lowerBound": float(self.lower),
            "limits": {
                "maxRiskPerTrade": float(self.max_risk_per_trade),
                "maxLeverage": float(self.max_leverage),
                "maxDailyDrawdown": float(self.max_daily_drawdown),
            },
            "strategies": sorted(self.strategies),
        }


# Until the Hunter and Sentinel strategies exist, the Scavenger runs in every phase
# under that phase's limits (SPEC §5). Adding them = adding their names here.
PHASES: tuple[PhaseSpec, ...] = (
    PhaseSpec(1, "Scavenger", Decimal(0), Decimal("0.02"), Decimal(20), Decimal("0.07"), frozenset({SCAVENGER})),
    PhaseSpec(2, "Hunter", Decimal(5_000), Decimal("0.015"), Decimal(5), Decimal("0.05"), frozenset({SCAVENGER})),
    PhaseSpec(3, "Sentinel", Decimal(50_000), Decimal("0.005"), Decimal(3), Decimal("0.03"), frozenset({SCAVENGER})),
)


def phase_spec(number: int) -> PhaseSpec:
    if not 1 <= number <= len(PHASES):
        raise ValueError(f"no phase {number}")
    return PHASES[number - 1]


def phase_for_equity(equity: Decimal) -> PhaseSpec:
    """The phase of `equity` without history (first start)."""
    spec = PHASES[0]
    for candidate in PHASES:
        if equity >= candidate.lower:
            spec = candidate
    return spec


def next_phase(current: int, equity: Decimal) -> int:
    """Up as soon as equity reaches the next bound; down only below 0.9 × the current bound."""
    number = current
    while number > 1 and equity < phase_spec(number).lower * HYSTERESIS:
        number -= 1
    while number < len(PHASES) and equity >= phase_spec(number + 1).lower:
        number += 1
    return number


@dataclass(frozen=True, slots=True)
class EffectiveLimits:
    """The stricter of the operator's parameters and the phase's (SPEC §2)."""

    phase: int
    max_risk_per_trade: Decimal
    max_leverage: Decimal
    max_daily_drawdown: Decimal
    max_position_notional: Decimal
    max_open_orders_per_symbol: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "maxRiskPerTrade": float(self.max_risk_per_trade),
            "maxLeverage": float(self.max_leverage),
            "maxDailyDrawdown": float(self.max_daily_drawdown),
            "maxPositionNotional": float(self.max_position_notional),
            "maxOpenOrdersPerSymbol": self.max_open_orders_per_symbol,
        }


def effective_limits(config: RiskConfig, phase: PhaseSpec) -> EffectiveLimits:
    return EffectiveLimits(
        phase=phase.number,
        max_risk_per_trade=min(config.d_max_risk_per_trade, phase.max_risk_per_trade),
        max_leverage=min(config.d_max_leverage, phase.max_leverage),
        max_daily_drawdown=min(config.d_max_daily_drawdown, phase.max_daily_drawdown),
        max_position_notional=config.d_max_position_notional,
        max_open_orders_per_symbol=config.max_open_orders_per_symbol,
    )


class PhaseManager:
    """Tracks the phase across equity updates, with hysteresis on the way down."""

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
        self._number: int | None = None
        if state is not None:
            self.load_state(state)

    @property
    def known(self) -> bool:
        """False until the first equity update (or a restored state) fixes the phase."""
        return self._number is not None

    @property
    def current(self) -> PhaseSpec:
        # Before any equity is known, assume the strictest phase: fail closed.
        return phase_spec(self._number) if self._number is not None else PHASES[-1]

    def to_state(self) -> dict[str, Any]:
        return {"phase": self._number}

    def load_state(self, state: dict[str, Any]) -> None:
        number = state.get("phase")
        self._number = None if number is None else phase_spec(int(number)).number

    async def on_equity(self, equity: Decimal) -> PhaseChanged | None:
        """Re-evaluate the phase; returns (and publishes) the change, if any."""
        if self._number is None:
            new = phase_for_equity(equity).number
            old: int | None = None
        else:
            old = self._number
            new = next_phase(old, equity)
            if new == old:
                return None
        self._number = new
        spec = phase_spec(new)
        drop = old is not None and new < old
        verb = "dropped" if drop else ("rose" if old is not None else "set")
        event = PhaseChanged(
            ts=self._clock.now(),
            message=(
                f"phase {verb} to {new} ({spec.name})"
                + (f" from {old} ({phase_spec(old).name})" if old is not None else "")
                + f" at equity {equity:.2f}"
            ),
            from_phase=old,
            to=new,
            phase_name=spec.name,
            equity=str(equity),
            drop=drop,
            limits=spec.as_dict()["limits"],
            severity=Severity.HIGH if drop else None,
        )
        self._bus.publish(event)
        await persist(self._on_change, self.to_state(), self._bus, self._clock, "phase")
        return event
