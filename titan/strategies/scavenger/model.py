"""Value types of the Scavenger (SPEC §6): tripwires and the traps armed on them."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from titan.domain.orders import Side


class Direction(StrEnum):
    """Which way a trap trades: a level above the price is a long breakout, below a short breakdown."""

    LONG = "long"
    SHORT = "short"

    @property
    def side(self) -> Side:
        return Side.BUY if self is Direction.LONG else Side.SELL

    @staticmethod
    def of_level(level: float, price: float) -> Direction | None:
        """LONG above the price, SHORT below it, None exactly at it (no side to break)."""
        if level > price:
            return Direction.LONG
        if level < price:
            return Direction.SHORT
        return None


class TripwireKind(StrEnum):
    LIQUIDATION_CLUSTER = "liquidation_cluster"
    DAILY_LEVEL = "daily_level"
    BOLLINGER = "bollinger"


@dataclass(frozen=True, slots=True)
class Tripwire:
    """A price level worth watching.

    `label` tells apart the tripwires one kind yields for a symbol: "peak" for the
    liquidation cluster, "high"/"low" for the daily level, "upper"/"lower" for Bollinger.
    """

    symbol: str
    kind: TripwireKind
    level: float
    confidence: int
    leverage: int
    direction: Direction
    label: str = ""

    @property
    def trap_id(self) -> str:
        """Stable across the minute-by-minute recomputation (the level moves, the id does not)."""
        return f"{self.symbol}:{self.kind.value}:{self.label}"


@dataclass(frozen=True, slots=True)
class Trap:
    """A scored tripwire; once selected by `select_traps` it is armed.

    `distance_pct` is |level − price| / price × 100 at scoring time; the component
    scores are kept so the console can say why a trap scored as it did.
    """

    tripwire: Tripwire
    score: float
    volatility: float
    volume: float
    confluence: float
    distance_pct: float

    @property
    def trap_id(self) -> str:
        return self.tripwire.trap_id

    @property
    def symbol(self) -> str:
        return self.tripwire.symbol

    @property
    def level(self) -> float:
        return self.tripwire.level

    @property
    def direction(self) -> Direction:
        return self.tripwire.direction

    @property
    def kind(self) -> TripwireKind:
        return self.tripwire.kind

    @property
    def confidence(self) -> int:
        return self.tripwire.confidence

    @property
    def leverage(self) -> int:
        return self.tripwire.leverage
