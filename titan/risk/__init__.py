"""Risk: the gate, the circuit breaker, halt states, the Master Arm, phases and sizing.

No I/O happens here. The application wires into `RiskEngine`:

- `save(state: dict) -> Awaitable[None]`: persist `engine.to_state()` (JSON) to SQLite;
  called after every state change. On start, rebuild with
  `RiskEngine.from_state(saved, ...)`, run the startup reconciliation, then call
  `await engine.complete_startup(reconciliation_clean, venue_connected)`: until then
  the engine refuses entries and refuses to ARM.
- `actions: HaltActions`: the execution layer's `cancel_entry_orders()`,
  `cancel_all_orders()`, `flatten_all()`, `pause_strategies(reason)`.
- `verify_flat() -> Awaitable[Mapping[str, Any]]`: what is still open on the venue
  (`{"positions": [...], "orders": [...]}`, empty lists when flat), for the kill switch.
- feeds: `on_equity(equity_incl_unrealised, unrealised)`, `on_trade_closed(net_pnl)`,
  `on_price(symbol, price, ts_ms)` and a periodic `tick()` (cooldown expiry, day roll).
"""

from titan.risk.arm import ArmState, MasterArm
from titan.risk.breaker import (
    BreakerRule,
    CircuitBreaker,
    ConsecutiveLossRule,
    DailyDrawdownRule,
    Finding,
    VolatilityRule,
)
from titan.risk.common import (
    ActionRefused,
    KillCodeRejected,
    ReasonRequired,
    RiskError,
    SaveHook,
)
from titan.risk.config import (
    RiskConfig,
    RiskConfigError,
    apply_update,
    apply_whitelist_change,
    parse_config,
)
from titan.risk.daily import DayTracker
from titan.risk.engine import MarketContext, RiskEngine, VerifyFlat
from titan.risk.gate import GateContext, check
from titan.risk.halt import HaltActions, HaltController, HaltResult, HaltState
from titan.risk.phases import PHASES, EffectiveLimits, PhaseManager, PhaseSpec, effective_limits
from titan.risk.sizing import (
    SizeDecision,
    clamp_to_limits,
    kelly_fraction,
    kelly_margin,
    kelly_notional,
)

__all__ = [
    "PHASES",
    "ActionRefused",
    "ArmState",
    "BreakerRule",
    "CircuitBreaker",
    "ConsecutiveLossRule",
    "DailyDrawdownRule",
    "DayTracker",
    "EffectiveLimits",
    "Finding",
    "GateContext",
    "HaltActions",
    "HaltController",
    "HaltResult",
    "HaltState",
    "KillCodeRejected",
    "MarketContext",
    "MasterArm",
    "PhaseManager",
    "PhaseSpec",
    "ReasonRequired",
    "RiskConfig",
    "RiskConfigError",
    "RiskEngine",
    "RiskError",
    "SaveHook",
    "SizeDecision",
    "VerifyFlat",
    "VolatilityRule",
    "apply_update",
    "apply_whitelist_change",
    "check",
    "clamp_to_limits",
    "effective_limits",
    "kelly_fraction",
    "kelly_margin",
    "kelly_notional",
    "parse_config",
]
