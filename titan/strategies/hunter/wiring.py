"""Hunter's registry entry: phases (2), parameters, and how it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from titan.strategies.base import Strategy, StrategyContext
from titan.strategies.hunter.params import HunterParams
from titan.strategies.hunter.scan import DAILY_BARS
from titan.strategies.hunter.store import HunterStore
from titan.strategies.hunter.strategy import Hunter
from titan.strategies.hunter.trading import STRATEGY
from titan.strategies.registry import StrategySpec


def build_hunter(ctx: StrategyContext, params: Mapping[str, Any],
                 services: Mapping[str, Any]) -> Strategy:
    """`services`: `db` (the `hunter_positions` table, optional: a replay keeps records in
    memory) and `options` (constructor overrides: tests shorten the order-flow samples).

    The regime is the context's (SPEC §17: live from the venue's 1-minute bars, in a
    backtest from the replayed ones), so the grade thresholds rise in VOLATILE_BREAKOUT
    and CRASH the same way in both."""
    db = services.get("db")
    options: dict[str, Any] = {"regime": lambda symbol: ctx.regime(symbol).value,
                               **(services.get("options") or {})}
    return Hunter(ctx, store=HunterStore(db) if db is not None else None,
                  params=HunterParams.model_validate(dict(params)), **options)


HUNTER = StrategySpec(
    name=STRATEGY, phases=(2,), params=HunterParams, build=build_hunter,
    history_days=DAILY_BARS + 1,
    description="Phase 2: market structure (daily/4 h/15 m), order flow (Binance CVD), "
                "post-only entries at order blocks with SL 1.5 % / TP 4.5 %")
