"""Sentinel on the platform — for now the shell that holds its parameters and reports
that it does not trade.

The pure rules of this package are complete (basis, z-score, entry test, unwind, TWAP,
monitors). Trading them needs the spot leg through the venue adapter, the ledger and
reconciliation, and both-or-neither pair entry (issue 20's later steps): until those
land, a Sentinel that opened a perp short without its spot leg would be exactly the
naked leg the rules forbid. So this strategy places nothing; its status says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from titan.strategies.base import Strategy, StrategyContext
from titan.strategies.sentinel.params import SentinelParams

STRATEGY = "sentinel"
NOT_TRADING = "the spot leg is not wired yet: Sentinel observes only (issue 20)"


class Sentinel(Strategy):
    name = STRATEGY

    def __init__(self, ctx: StrategyContext, *, params: SentinelParams | None = None) -> None:
        super().__init__(ctx)
        self.params = params or SentinelParams.model_validate({})

    def on_params(self, params: Mapping[str, Any]) -> None:
        self.params = SentinelParams.model_validate(dict(params))

    def status(self) -> dict[str, Any]:
        return {"trading": False, "reason": NOT_TRADING, "symbols": list(self.params.symbols),
                "pairs": []}
