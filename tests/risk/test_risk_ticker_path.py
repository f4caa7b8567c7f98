"""Titan's ticker path into the breaker: synchronous per price, a task only for a finding."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from titan.core import Titan
from titan.risk.engine import RiskEngine
from titan.venues.base import Ticker

from .conftest import T0, Recorder

MS0 = int(T0.timestamp() * 1000)


async def test_on_ticker_observes_every_price_without_a_task_per_ticker(
        make_engine: Callable[..., RiskEngine], rec: Recorder) -> None:
    engine = make_engine()
    prices: list[tuple[str, Decimal]] = []
    spawned: list[Coroutine[Any, Any, Any]] = []
    fake = SimpleNamespace(
        market=SimpleNamespace(on_price=lambda s, p: prices.append((s, p))),
        risk=engine, spawn=spawned.append)

    def tick(price: str, dt_ms: int) -> None:
        Titan._on_ticker(fake, Ticker(symbol="BTCUSDT", last_price=Decimal(price),  # type: ignore[arg-type]
                                      ts_ms=MS0 + dt_ms))

    for i in range(200):  # an ordinary market: small moves, no task at all
        tick(str(100 + (i % 5) * 0.1), i * 100)
    assert spawned == [] and len(prices) == 200
    tick("106", 20_500)  # +6% within the 60 s window: the breaker's finding
    assert len(spawned) == 1
    await asyncio.ensure_future(spawned[0])
    assert engine.breaker.is_tripped()
    assert rec.named("CIRCUIT_BREAKER")[0].data["rule"] == "EXTREME_VOLATILITY"
