from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import OrderIntent, OrderType, Side
from titan.events import Event
from titan.risk.config import RiskConfig
from titan.risk.engine import MarketContext, RiskEngine
from titan.risk.gate import GateContext
from titan.risk.halt import HaltState
from titan.risk.phases import PHASES, effective_limits

T0 = datetime(2025, 3, 10, 12, 0, tzinfo=UTC)
KILL_CODE = "correct horse battery staple"


class Recorder:
    def __init__(self, bus: EventBus) -> None:
        self.events: list[Event] = []
        bus.subscribe(self.events.append)

    def named(self, name: str) -> list[Event]:
        return [e for e in self.events if e.name == name]

    def clear(self) -> None:
        self.events.clear()


class FakeHaltActions:
    """Test double for the execution layer: records what the halt controller asked for."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.fail: set[str] = set()

    async def _do(self, name: str) -> str:
        self.calls.append(name)
        if name in self.fail:
            raise RuntimeError(f"{name} failed")
        return "ok"

    async def cancel_entry_orders(self) -> str:
        return await self._do("cancel_entry_orders")

    async def cancel_all_orders(self) -> str:
        return await self._do("cancel_all_orders")

    async def flatten_all(self) -> str:
        return await self._do("flatten_all")

    async def pause_strategies(self, reason: str) -> str:
        return await self._do("pause_strategies")


class Saver:
    def __init__(self) -> None:
        self.saved: list[dict[str, Any]] = []

    async def __call__(self, state: dict[str, Any]) -> None:
        self.saved.append(state)

    @property
    def last(self) -> dict[str, Any]:
        return self.saved[-1]


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(T0)


@pytest.fixture
def bus() -> EventBus:
    return EventBus()


@pytest.fixture
def rec(bus: EventBus) -> Recorder:
    return Recorder(bus)


@pytest.fixture
def actions() -> FakeHaltActions:
    return FakeHaltActions()


@pytest.fixture
def saver() -> Saver:
    return Saver()


def make_intent(**kw: Any) -> OrderIntent:
    base: dict[str, Any] = dict(
        intent_id="i-1", symbol="BTCUSDT", side=Side.BUY, qty=Decimal("0.01"),
        order_type=OrderType.LIMIT, price=Decimal(50_000), stop_loss=Decimal(49_500),
        take_profit=Decimal(51_500), leverage=Decimal(10), strategy="scavenger",
    )
    base.update(kw)
    return OrderIntent(**base)


def make_ctx(**kw: Any) -> GateContext:
    base: dict[str, Any] = dict(
        halt_state=HaltState.OPEN, armed=True, breaker_tripped=False, venue_connected=True,
        market_data_age_ms=100.0, max_staleness_ms=5000, whitelist=frozenset({"BTCUSDT", "ETHUSDT"}),
        enabled_strategies=frozenset({"scavenger"}),
        limits=effective_limits(RiskConfig(), PHASES[0]), equity=Decimal(4000),
        day_start_equity=Decimal(4000), realised_pnl_today=Decimal(0), open_risk=Decimal(0),
        account_notional=Decimal(0), position_notional=Decimal(0), open_orders_on_symbol=0,
        rate_budget_available=True, reference_price=Decimal(50_000),
    )
    base.update(kw)
    return GateContext(**base)


def good_market(**kw: Any) -> MarketContext:
    base: dict[str, Any] = dict(venue_connected=True, market_data_age_ms=50.0,
                                reference_price=Decimal(50_000))
    base.update(kw)
    return MarketContext(**base)


@pytest.fixture
def make_engine(bus: EventBus, clock: ManualClock, actions: FakeHaltActions,
                saver: Saver) -> Callable[..., RiskEngine]:
    def build(**kw: Any) -> RiskEngine:
        async def verify() -> dict[str, Any]:
            return {"positions": [], "orders": []}

        args: dict[str, Any] = dict(bus=bus, clock=clock, actions=actions, verify_flat=verify,
                                    kill_code=KILL_CODE, save=saver, require_startup=False)
        args.update(kw)
        return RiskEngine(**args)

    return build
