"""The circuit breaker (SPEC §4), one trigger rule per file:

- `rule.py`: `BreakerRule` (the hooks) and `Finding` (a trip or a warning);
- `daily_drawdown.py`, `consecutive_losses.py`, `volatility.py`: the three triggers;
- `circuit.py`: `CircuitBreaker` (trip, disarm, cooldown, reset, persistence) and
  `default_rules`.
"""

from titan.risk.breaker.circuit import CircuitBreaker, default_rules
from titan.risk.breaker.consecutive_losses import ConsecutiveLossRule
from titan.risk.breaker.daily_drawdown import EARLY_DRAWDOWN_WARNING, DailyDrawdownRule
from titan.risk.breaker.rule import NOTHING, BreakerRule, Finding
from titan.risk.breaker.volatility import VolatilityRule

__all__ = ["EARLY_DRAWDOWN_WARNING", "NOTHING", "BreakerRule", "CircuitBreaker",
           "ConsecutiveLossRule", "DailyDrawdownRule", "Finding", "VolatilityRule",
           "default_rules"]
