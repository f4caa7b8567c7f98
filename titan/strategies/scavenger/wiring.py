"""The Scavenger's registry entry: phases, parameters, and how it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from titan.strategies.base import Strategy, StrategyContext
from titan.strategies.registry import StrategySpec
from titan.strategies.scavenger.params import ScavengerParams
from titan.strategies.scavenger.scoring import DEFAULT_SCORING, ScoringParams
from titan.strategies.scavenger.strategy import STRATEGY, Scavenger
from titan.strategies.scavenger.trap_store import TrapStore
from titan.strategies.scavenger.traps import DEFAULT_TRIPWIRES, TripwireParams


def build_scavenger(ctx: StrategyContext, params: Mapping[str, Any],
                    services: Mapping[str, Any]) -> Strategy:
    """`services`: `db` (the trap table's database, optional) and `options` (constructor
    overrides: tests and benchmarks shorten the arming period this way)."""
    p = ScavengerParams.model_validate(dict(params))
    db = services.get("db")
    kwargs: dict[str, Any] = {
        "min_trades": p.min_trades, "window_ms": p.window_ms, "band_pct": p.band_pct,
        "cooldown_ms": p.cooldown_ms, "max_drift_pct": p.max_drift_pct,
        "limit_cancel_after_s": p.limit_cancel_after_s,
        "scoring": ScoringParams(atr_period=p.atr_period, confluence_pct=p.confluence_pct,
                                 vol_full_scale_pct=DEFAULT_SCORING.vol_full_scale_pct,
                                 volume_recent=DEFAULT_SCORING.volume_recent,
                                 volume_baseline=DEFAULT_SCORING.volume_baseline),
        "tripwires": TripwireParams(cluster_lookback=DEFAULT_TRIPWIRES.cluster_lookback,
                                    cluster_bins=DEFAULT_TRIPWIRES.cluster_bins,
                                    bollinger_period=p.bollinger_period,
                                    bollinger_k=p.bollinger_k),
    }
    kwargs.update(services.get("options") or {})
    return Scavenger(ctx, traps=TrapStore(db) if db is not None else None, **kwargs)


SCAVENGER = StrategySpec(
    name=STRATEGY, phases=(1,), params=ScavengerParams, build=build_scavenger,
    description="Phase 1: liquidity-sweep traps at the levels traders watch, sprung by "
                "bursts of Binance trades, entered on Bybit with SL 1 % / TP 3 %")
