"""Sentinel's registry entry: phase 3, its parameters, how it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from titan.strategies.base import Strategy, StrategyContext
from titan.strategies.registry import StrategySpec
from titan.strategies.sentinel.params import SentinelParams
from titan.strategies.sentinel.strategy import STRATEGY, Sentinel


def build_sentinel(ctx: StrategyContext, params: Mapping[str, Any],
                   services: Mapping[str, Any]) -> Strategy:
    """`services`: `books` (the venue's spot side: both books by depth) and `pairs` (the
    both-or-neither pair entry and unwind), both absent on a venue with no spot leg, and
    `options` (constructor overrides)."""
    return Sentinel(ctx, params=SentinelParams.model_validate(dict(params)),
                    books=services.get("books"), pairs=services.get("pairs"),
                    **(services.get("options") or {}))


SENTINEL = StrategySpec(
    name=STRATEGY, phases=(3,), params=SentinelParams, build=build_sentinel, history_days=1,
    description="Phase 3: long Bybit spot / short perpetual, basis z ≥ 2 and carry above "
                "fees, both legs or neither; unwound on convergence or funding against")
