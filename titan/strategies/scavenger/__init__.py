"""The Scavenger, Phase 1 strategy (SPEC §6): pure logic, no I/O.

Every minute: `build_traps` (= `compute_tripwires` per symbol → `score_tripwires` →
`select_traps` across symbols) → `SpringDetector.arm`. On every Binance trade:
`SpringDetector.on_trade` → a sprung `Trap` → `plan_entry` with the symbol's
`VelocityTracker` (fed Bybit prices) → an `EntryPlan` for sizing and the gate.
"""

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.orders import (
    EntryPlan,
    EntryRefused,
    VelocityTracker,
    order_type_for,
    plan_entry,
    stop_and_target,
)
from titan.strategies.scavenger.scoring import ScoringParams, score_tripwires, select_traps
from titan.strategies.scavenger.springs import SpringDetector
from titan.strategies.scavenger.state import ScavengerState, SprungRecord
from titan.strategies.scavenger.traps import ArmingResult, TripwireParams, build_traps
from titan.strategies.scavenger.tripwires import (
    bollinger,
    closed_klines,
    compute_tripwires,
    daily_levels,
    liquidation_cluster,
)

__all__ = [
    "ArmingResult",
    "Direction",
    "EntryPlan",
    "EntryRefused",
    "ScavengerState",
    "ScoringParams",
    "SpringDetector",
    "SprungRecord",
    "Trap",
    "Tripwire",
    "TripwireKind",
    "TripwireParams",
    "VelocityTracker",
    "bollinger",
    "build_traps",
    "closed_klines",
    "compute_tripwires",
    "daily_levels",
    "liquidation_cluster",
    "order_type_for",
    "plan_entry",
    "score_tripwires",
    "select_traps",
    "stop_and_target",
]
