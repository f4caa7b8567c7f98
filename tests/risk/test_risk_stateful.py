"""Random sequences of operator actions, trips, clock moves and restarts.

Whatever happens, an entry never passes while halted, disarmed or tripped, and an
exit is never refused.
"""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from titan.bus import EventBus
from titan.clock import ManualClock
from titan.domain import Side
from titan.events import BreakerReset, BreakerTripped, Event
from titan.risk.common import ActionRefused, KillCodeRejected
from titan.risk.config import RiskConfig, apply_update
from titan.risk.engine import MarketContext, RiskEngine
from titan.risk.halt import HaltState

from .conftest import KILL_CODE, T0, FakeHaltActions, make_intent

D = Decimal
SYMBOLS = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]


class RiskMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.clock = ManualClock(T0)
        self.bus = EventBus()
        self.actions = FakeHaltActions()
        self.saved: list[dict[str, Any]] = []
        self.trip_events = 0
        self.bus.subscribe(self._on_event)
        self.engine = self._build(None)
        self.prices: dict[str, float] = {s: 100.0 for s in SYMBOLS}
        self.price_ts = int(T0.timestamp() * 1000)
        self.passed_entries = 0
        self.codes: list[str] = []
        # model, maintained independently of the engine's own flags
        self.model_halt = HaltState.OPEN
        self.model_armed = False  # the persisted Master Arm flag
        self.model_pending = False  # restarted, startup reconciliation not applied yet
        self.model_cooldown_until: datetime | None = None

    def _on_event(self, event: Event) -> None:
        if isinstance(event, BreakerTripped):
            self.trip_events += 1
            self.model_armed = False
            self.model_cooldown_until = datetime.fromisoformat(event.data["cooldownUntil"])
        elif isinstance(event, BreakerReset):
            self.model_cooldown_until = None

    def _build(self, state: dict[str, Any] | None, require_startup: bool = False,
               config: RiskConfig | None = None) -> RiskEngine:
        async def verify() -> dict[str, Any]:
            return {}

        async def save(s: dict[str, Any]) -> None:
            self.saved.append(s)

        return RiskEngine(bus=self.bus, clock=self.clock, actions=self.actions, verify_flat=verify,
                          kill_code=KILL_CODE, save=save, state=state,
                          require_startup=require_startup, config=config)

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        self.loop.close()

    def _model_tripped(self) -> bool:
        return self.model_cooldown_until is not None and self.clock.now() < self.model_cooldown_until

    # -- operator ----------------------------------------------------------------------

    @initialize(equity=st.integers(min_value=1_000, max_value=100_000), arm=st.booleans())
    def start(self, equity: int, arm: bool) -> None:
        self.run(self.engine.on_equity(D(equity)))
        if arm:
            self.arm()

    @rule()
    def recover(self) -> None:
        """The operator's way back to trading: OPEN, reset, finish startup, ARM."""
        if self.engine.halt.state is not HaltState.OPEN:
            self.halt(HaltState.OPEN)
        self.reset_breaker()
        if self.engine.startup_pending:
            self.run(self.engine.complete_startup(True, True))
            self.model_pending = False
        self.arm()

    @rule()
    def arm(self) -> None:
        try:
            self.run(self.engine.arm("operator arms", "op"))
        except ActionRefused:
            return
        self.model_armed = True

    @rule()
    def disarm(self) -> None:
        self.run(self.engine.disarm("operator disarms", "op"))
        self.model_armed = False

    @rule(state=st.sampled_from(list(HaltState)))
    def halt(self, state: HaltState) -> None:
        self.actions.calls.clear()
        self.run(self.engine.set_halt(state, "operator halt", "op"))
        self.model_halt = state
        if state is HaltState.HARD_HALT:
            self.model_armed = False
            assert {"flatten_all", "cancel_all_orders", "pause_strategies"} <= set(self.actions.calls)
        elif state is HaltState.SOFT_HALT:
            assert self.actions.calls == ["cancel_entry_orders"]
        else:
            assert self.actions.calls == []

    @rule(good=st.booleans())
    def kill(self, good: bool) -> None:
        try:
            report = self.run(self.engine.kill(KILL_CODE if good else "nope", "op"))
        except KillCodeRejected:
            assert not good
            return
        assert good and report["haltState"] == "HARD_HALT" and report["masterArm"] == "DISARMED"
        self.model_halt = HaltState.HARD_HALT
        self.model_armed = False

    @rule()
    def reset_breaker(self) -> None:
        self.run(self.engine.reset_breaker("operator reset", "op"))

    @rule()
    def trip_breaker(self) -> None:
        self.run(self.engine.trip_breaker("operator trip", "op"))

    @rule(change=st.sampled_from([
        {"whitelist": ["ETHUSDT"]}, {"whitelist": ["BTCUSDT", "ETHUSDT", "SOLUSDT"]},
        {"cooldownHours": 0.5}, {"cooldownHours": 4}, {"consecutiveLossLimit": 5},
        {"maxLeverage": 5}, {"volatilityMovePct": 10.0}, {"maxStalenessMs": 60_000},
    ]))
    def config_change(self, change: dict[str, Any]) -> None:
        self.engine.update_config(apply_update(self.engine.config, change))

    # -- market and account ------------------------------------------------------------

    @rule(factor=st.sampled_from(["0.5", "0.9", "0.97", "0.99", "1", "1.02", "1.1", "3"]))
    def equity(self, factor: str) -> None:
        current = self.engine.equity or D(4000)
        self.run(self.engine.on_equity(max(D(100), current * D(factor))))

    @rule(pnl=st.integers(min_value=-60, max_value=60))
    def trade_closed(self, pnl: int) -> None:
        self.run(self.engine.on_trade_closed(D(pnl)))

    @rule(symbol=st.sampled_from(SYMBOLS), move=st.sampled_from([-0.08, -0.01, 0.0, 0.002, 0.01, 0.03, 0.08]),
          dt_ms=st.integers(min_value=0, max_value=90_000))
    def price(self, symbol: str, move: float, dt_ms: int) -> None:
        self.price_ts += dt_ms
        self.prices[symbol] = max(1.0, self.prices[symbol] * (1 + move))
        self.run(self.engine.on_price(symbol, self.prices[symbol], self.price_ts))

    @rule(seconds=st.sampled_from([1, 59, 600, 3600, 4 * 3600, 4 * 3600 + 1, 20 * 3600]))
    def advance(self, seconds: int) -> None:
        self.clock.advance(seconds)
        self.price_ts += seconds * 1000

    @rule()
    def tick(self) -> None:
        self.run(self.engine.tick())

    @rule(complete=st.booleans(), clean=st.booleans(), connected=st.booleans())
    def restart(self, complete: bool, clean: bool, connected: bool) -> None:
        state = json.loads(json.dumps(self.engine.to_state()))
        if self.saved:
            assert self.saved[-1] == self.engine.to_state()  # the hook saw the last change
        self.engine = self._build(state, require_startup=True, config=self.engine.config)
        assert self.engine.to_state() == state
        self.model_pending = not complete
        if complete:
            armed = self.run(self.engine.complete_startup(clean, connected))
            self.model_armed = self.model_armed and clean and connected
            assert armed == self.model_armed

    # -- the gate ----------------------------------------------------------------------

    @rule(symbol=st.sampled_from(SYMBOLS), side=st.sampled_from(list(Side)),
          qty=st.sampled_from(["0.001", "0.01", "1"]),
          connected=st.sampled_from([True, True, True, False]),
          age=st.sampled_from([10.0, 10.0, 4_999.0, 6_000.0, None]))
    def entry(self, symbol: str, side: Side, qty: str, connected: bool, age: float | None) -> None:
        stop = D(49_500) if side is Side.BUY else D(50_500)
        intent = make_intent(symbol=symbol, side=side, qty=D(qty), stop_loss=stop, leverage=D(3))
        market = MarketContext(venue_connected=connected, market_data_age_ms=age,
                               reference_price=D(50_000))
        denial = self.engine.gate_entry(intent, market)
        self.codes.append(denial.code.value if denial else "PASS")
        if denial is None:
            self.passed_entries += 1
            assert self.model_halt is HaltState.OPEN
            assert self.model_armed and not self.model_pending
            assert not self._model_tripped()
            assert self.engine.halt.state is HaltState.OPEN
            assert self.engine.arm_ctl.armed and not self.engine.startup_pending
            assert not self.engine.breaker.is_tripped()
            assert connected and age is not None and age <= 5000
        if (self.model_halt is not HaltState.OPEN or not self.model_armed or self.model_pending
                or self._model_tripped()):
            assert denial is not None

    @rule(symbol=st.sampled_from(SYMBOLS), side=st.sampled_from(list(Side)),
          connected=st.booleans())
    def exit(self, symbol: str, side: Side, connected: bool) -> None:
        intent = make_intent(symbol=symbol, side=side, qty=D(5), reduce_only=True,
                             stop_loss=None, leverage=D(100), strategy="flatten")
        market = MarketContext(venue_connected=connected, market_data_age_ms=None)
        assert self.engine.gate_entry(intent, market) is None

    # -- invariants --------------------------------------------------------------------

    @invariant()
    def hard_halt_means_disarmed(self) -> None:
        if self.engine.halt.state is HaltState.HARD_HALT:
            assert not self.engine.arm_ctl.armed

    @invariant()
    def tripped_means_disarmed(self) -> None:
        if self.engine.breaker.is_tripped():
            assert not self.engine.arm_ctl.armed

    @invariant()
    def model_agrees(self) -> None:
        assert self.engine.halt.state is self.model_halt
        assert self.engine.arm_ctl.armed == self.model_armed
        assert self.engine.startup_pending == self.model_pending
        assert self.engine.breaker.is_tripped() == self._model_tripped()

    @precondition(lambda self: True)
    @invariant()
    def status_serialises(self) -> None:
        json.dumps(self.engine.status())


RiskMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TestRiskStateful = RiskMachine.TestCase


def test_machine_lets_a_good_entry_through() -> None:
    """The state machine's entry rule is not vacuous: a clean system does allow entries."""
    m = RiskMachine()
    try:
        m.start(equity=4000, arm=True)
        m.entry(symbol="BTCUSDT", side=Side.BUY, qty="0.001", connected=True, age=10.0)
        assert m.passed_entries == 1
        m.price(symbol="BTCUSDT", move=0.0, dt_ms=1000)
        m.price(symbol="BTCUSDT", move=0.08, dt_ms=1000)  # volatility trip
        assert m.trip_events == 1
        m.entry(symbol="BTCUSDT", side=Side.BUY, qty="0.001", connected=True, age=10.0)
        assert m.passed_entries == 1
        m.advance(seconds=4 * 3600 + 1)
        m.tick()
        m.entry(symbol="BTCUSDT", side=Side.BUY, qty="0.001", connected=True, age=10.0)
        assert m.passed_entries == 1  # cleared but still DISARMED
        m.recover()
        m.entry(symbol="BTCUSDT", side=Side.BUY, qty="0.001", connected=True, age=10.0)
        assert m.passed_entries == 2
        m.model_agrees()
    finally:
        m.teardown()
