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
    return Sentinel(ctx, params=SentinelParams.model_validate(dict(params)))


SENTINEL = StrategySpec(
    name=STRATEGY, phases=(3,), params=SentinelParams, build=build_sentinel, history_days=1,
    description="Phase 3: long Bybit spot / short perpetual, basis z ≥ 2 and carry above "
                "fees, both legs or neither (not trading yet: the spot leg is being wired)")
