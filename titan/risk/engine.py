"""`RiskEngine`: the small public surface of the risk package.

It owns the Master Arm, the halt state, the circuit breaker, the phase and the
trading day, and answers one question on the order path: may this intent go out?
The application wires three things into it:

- `save`: an async hook that persists `engine.to_state()` (a JSON-serialisable
  dict) to SQLite; it is called after every state change;
- `actions`: a `HaltActions` implementation (the execution layer) that cancels,
  flattens and pauses when a halt state is entered;
- `verify_flat`: an async callable the kill switch uses to ask the venue what is
  still open; it returns e.g. `{"positions": [...], "orders": [...]}` (empty = flat).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain import Denial, OrderIntent, Severity
from titan.events import KillSwitchActivated, RiskStateUnreadable, SignalRejected
from titan.risk.arm import MasterArm
from titan.risk.breaker import BreakerRule, CircuitBreaker, Finding
from titan.risk.common import ActionRefused, KillCodeRejected, SaveHook, require_reason
from titan.risk.config import RiskConfig
from titan.risk.daily import DayTracker
from titan.risk.gate import GateContext, check
from titan.risk.halt import HaltActions, HaltController, HaltResult, HaltState
from titan.risk.phases import EffectiveLimits, PhaseManager, effective_limits
from titan.risk.regime import RegimeReading
from titan.risk.sizing import SizeDecision, clamp_to_limits, kelly_notional, prices_valid

VerifyFlat = Callable[[], Awaitable[Mapping[str, Any]]]
RegimeSource = Callable[[str], RegimeReading]  # symbol → its regime reading (SPEC §17)

STATE_VERSION = 1
HARD_MAX_STALENESS_MS = 5_000
_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class MarketContext:
    """What the caller knows about the market and the account for one intent."""

    venue_connected: bool
    market_data_age_ms: float | None
    reference_price: Decimal | None = None
    position_notional: Decimal = _ZERO  # open position on the intent's symbol
    account_notional: Decimal = _ZERO  # all open positions
    open_orders_on_symbol: int = 0
    open_risk: Decimal = _ZERO  # loss at stop of open positions and working entries
    rate_budget_available: bool = True
    spot_unhedged: Decimal = _ZERO  # spot coins Titan holds no short hedges (gate 8h)


def _digest(code: str) -> bytes:
    return hashlib.sha256(code.encode("utf-8")).digest()


class RiskEngine:
    def __init__(
        self,
        *,
        bus: EventBus,
        clock: Clock,
        config: RiskConfig | None = None,
        actions: HaltActions | None = None,
        verify_flat: VerifyFlat | None = None,
        kill_code: str | None = None,
        save: SaveHook | None = None,
        state: dict[str, Any] | None = None,
        rules: list[BreakerRule] | None = None,
        require_startup: bool = True,
    ) -> None:
        """A fresh engine (`state=None`: DISARMED, OPEN) or one rebuilt from `to_state()`.

        Arm, halt and breaker are restored exactly, but the engine refuses entries
        (and refuses to ARM) until `complete_startup()` has been called after the
        startup reconciliation and has applied the Master Arm's restart rule.
        `require_startup=False` skips that wait (tests, tools).
        """
        self._bus = bus
        self._clock = clock
        self._config = config or RiskConfig()
        self._save = save
        self._verify_flat = verify_flat
        self._kill_digest = _digest(kill_code) if kill_code else None
        st = state if isinstance(state, dict) else {}
        hook = self._persist_all
        self.arm_ctl = MasterArm(bus, clock, None, hook)
        self.halt = HaltController(bus, clock, self.arm_ctl, actions, None, hook)
        self.breaker = CircuitBreaker(bus, clock, self.arm_ctl, self._config, rules, None, hook)
        self.phases = PhaseManager(bus, clock, None, hook)
        self.day = DayTracker(bus, clock, None, hook)
        if state is not None:
            self._load(st)
        self.startup_pending = require_startup
        self._limits_cache: tuple[int, EffectiveLimits] | None = None
        self._whitelist = frozenset(self._config.whitelist)
        # Which strategies may enter in which phase: the active config version's enabled
        # strategies and their phases (`set_strategy_phases`); until set, the phase table's.
        self._strategy_phases: dict[str, frozenset[int]] | None = None
        self._max_staleness_ms = min(self._config.max_staleness_ms, HARD_MAX_STALENESS_MS)
        # The tail-risk regime per symbol (check 7a and the size scale); None: unknown, neutral.
        self.regime: RegimeSource | None = None
        self.equity: Decimal | None = None
        # Equity is not part of the saved state: it is re-read from the venue on start.
        self.unrealised: Decimal = _ZERO

    def with_regime(self, source: RegimeSource | None) -> RiskEngine:
        """Gate and size with `source`'s readings (titan/runtime/regime.py); returns self."""
        self.regime = source
        return self

    @classmethod
    def from_state(cls, state: dict[str, Any], **kwargs: Any) -> RiskEngine:
        return cls(state=state, **kwargs)

    def _load(self, st: dict[str, Any]) -> None:
        """Restore each component; one that cannot be read is restored failing closed.

        Unreadable arm: DISARMED. Unreadable halt: SOFT_HALT. Unreadable breaker:
        tripped for a full cooldown. Each is a CRITICAL alert.
        """
        unreadable: list[str] = []
        parts: list[tuple[str, Any]] = [
            ("masterArm", self.arm_ctl), ("halt", self.halt), ("circuitBreaker", self.breaker),
            ("phase", self.phases), ("day", self.day),
        ]
        for key, component in parts:
            saved = st.get(key)
            if saved is None:
                continue
            try:
                if not isinstance(saved, dict):
                    raise TypeError(f"expected an object, got {type(saved).__name__}")
                component.load_state(saved)
            except Exception as exc:
                unreadable.append(f"{key}: {exc}")
                self._fail_closed(key)
        if self.arm_ctl.armed and (
            self.halt.state is HaltState.HARD_HALT or self.breaker.is_tripped()
        ):
            # Cannot happen through this code; a hand-edited or foreign state could.
            unreadable.append("masterArm: ARMED together with HARD_HALT or a tripped breaker")
            self._fail_closed("masterArm")
        if unreadable:
            self._bus.publish(
                RiskStateUnreadable(
                    ts=self._clock.now(),
                    severity=Severity.CRITICAL,
                    message="saved risk state partly unreadable, restored failing closed: "
                    + "; ".join(unreadable),
                    unreadable=unreadable,
                )
            )

    def _fail_closed(self, key: str) -> None:
        now = self._clock.now()
        if key == "masterArm":
            self.arm_ctl.load_state({"state": "DISARMED", "actor": "system",
                                     "reason": "saved arm state unreadable"})
        elif key == "halt":
            self.halt.load_state({"state": "SOFT_HALT", "actor": "system",
                                  "reason": "saved halt state unreadable",
                                  "changedAt": now.isoformat()})
            self.arm_ctl.load_state({"state": "DISARMED", "actor": "system",
                                     "reason": "saved halt state unreadable"})
        elif key == "circuitBreaker":
            until = now + timedelta(hours=self._config.cooldown_hours)
            self.breaker.load_state({"tripped": True, "reason": "saved breaker state unreadable",
                                     "rule": "STATE_UNREADABLE", "trippedAt": now.isoformat(),
                                     "cooldownUntil": until.isoformat()})
            self.arm_ctl.load_state({"state": "DISARMED", "actor": "system",
                                     "reason": "saved breaker state unreadable"})
        elif key == "phase":
            self.phases.load_state({"phase": None})
        elif key == "day":
            self.day.load_state({})

    # -- persistence -------------------------------------------------------------------

    def to_state(self) -> dict[str, Any]:
        return {
            "version": STATE_VERSION,
            "masterArm": self.arm_ctl.to_state(),
            "halt": self.halt.to_state(),
            "circuitBreaker": self.breaker.to_state(),
            "phase": self.phases.to_state(),
            "day": self.day.to_state(),
        }

    async def _persist_all(self, _component_state: dict[str, Any]) -> None:
        if self._save is not None:
            await self._save(self.to_state())

    async def complete_startup(self, startup_reconciliation_clean: bool, venue_connected: bool) -> bool:
        """Apply the restart rule once the startup reconciliation has run.

        ARMED only if it was ARMED, the reconciliation was clean and the venue is
        connected; otherwise DISARMED with a HIGH alert saying why. Returns armed.
        """
        armed = await self.arm_ctl.apply_restart_rule(startup_reconciliation_clean, venue_connected)
        self.startup_pending = False
        await self.breaker.tick()
        return armed

    # -- configuration ---------------------------------------------------------------

    @property
    def config(self) -> RiskConfig:
        return self._config

    def set_strategy_phases(self, phases: Mapping[str, Iterable[int]]) -> None:
        """The enabled strategies and their phases; a strategy not named may not enter."""
        self._strategy_phases = {name.lower(): frozenset(p) for name, p in phases.items()}

    def strategies_in_phase(self, number: int) -> frozenset[str]:
        if self._strategy_phases is None:
            return self.phases.current.strategies
        return frozenset(n for n, p in self._strategy_phases.items() if number in p)

    def update_config(self, config: RiskConfig) -> None:
        """Takes effect at once (the next gate check uses it)."""
        self._config = config
        self._limits_cache = None
        self._whitelist = frozenset(config.whitelist)
        # SPEC §1: data older than 5 s is stale whatever the setting says.
        self._max_staleness_ms = min(config.max_staleness_ms, HARD_MAX_STALENESS_MS)
        self.breaker.configure(config)

    @property
    def limits(self) -> EffectiveLimits:
        phase = self.phases.current
        cached = self._limits_cache
        if cached is None or cached[0] != phase.number:
            cached = self._limits_cache = (phase.number, effective_limits(self._config, phase))
        return cached[1]

    @property
    def max_staleness_ms(self) -> int:
        return self._max_staleness_ms

    # -- the order path --------------------------------------------------------------

    def context_for(self, symbol: str, market: MarketContext) -> GateContext:
        now = self._clock.now()
        armed = self.arm_ctl.armed and not self.startup_pending
        if self.startup_pending:
            disarm_reason: str | None = "startup reconciliation has not completed"
        else:
            disarm_reason = None if armed else self.arm_ctl.reason
        return GateContext(
            halt_state=self.halt.state,
            armed=armed,
            breaker_tripped=self.breaker.is_tripped(now),
            venue_connected=market.venue_connected,
            market_data_age_ms=market.market_data_age_ms,
            max_staleness_ms=self.max_staleness_ms,
            whitelist=self._whitelist,
            enabled_strategies=self.strategies_in_phase(self.phases.current.number),
            limits=self.limits,
            equity=self.equity if self.equity is not None else _ZERO,
            day_start_equity=self.day.start_equity_today(now),
            realised_pnl_today=self.day.realised_today(now),
            open_risk=market.open_risk,
            account_notional=market.account_notional,
            position_notional=market.position_notional,
            open_orders_on_symbol=market.open_orders_on_symbol,
            rate_budget_available=market.rate_budget_available,
            reference_price=market.reference_price,
            disarm_reason=disarm_reason,
            tail_alpha=self.regime(symbol).alpha if self.regime is not None else None,
            spot_unhedged=market.spot_unhedged,
        )

    def gate_entry(self, intent: OrderIntent, market: MarketContext) -> Denial | None:
        """The gate (SPEC §2). Exits always pass; a denial is published as SIGNAL_REJECTED."""
        if intent.reduce_only:
            return None
        denial = check(intent, self.context_for(intent.symbol, market))
        if denial is not None:
            self._bus.publish(
                SignalRejected(
                    ts=self._clock.now(),
                    message=f"{intent.symbol} {intent.side.value} {intent.qty} rejected: "
                    f"{denial.code.value}: {denial.message}",
                    code=denial.code.value,
                    symbol=intent.symbol,
                    side=intent.side.value,
                    qty=str(intent.qty),
                    strategy=intent.strategy,
                    intent_id=intent.intent_id,
                    reason=denial.message,
                )
            )
        return denial

    def size_entry(
        self,
        *,
        symbol: str,
        confidence: Decimal | int,
        entry: Decimal,
        stop: Decimal,
        target: Decimal,
        leverage: Decimal,
        market: MarketContext,
        qty_step: Decimal,
        min_qty: Decimal = _ZERO,
        publish: bool = True,
    ) -> SizeDecision:
        """Fractional Kelly (SPEC §6) on current equity, clamped to the gate's limits.

        `publish=False` leaves publishing the reduction (`OrderSizeReduced`) to the caller,
        so a strategy's tick-to-order path can send first and log after.
        """
        equity = self.equity if self.equity is not None else _ZERO
        ctx = self.context_for(symbol, market)
        lev = min(leverage, ctx.limits.max_leverage)
        if prices_valid(entry, stop, target):
            stop_pct = abs(entry - stop) / entry
            target_pct = abs(target - entry) / entry
            qty = kelly_notional(equity, confidence, stop_pct, target_pct, lev) / entry
        else:
            # A stop at the entry, a target on the stop's side (abs() would make it look
            # like a real edge) or no price: nothing to size; clamp_to_limits says why.
            qty = _ZERO
        return clamp_to_limits(symbol=symbol, qty=qty, entry=entry, stop=stop, leverage=leverage,
                               ctx=ctx, qty_step=qty_step, min_qty=min_qty, target=target,
                               bus=self._bus if publish else None, clock=self._clock)

    # -- observations ----------------------------------------------------------------

    async def on_equity(self, equity: Decimal, unrealised: Decimal = _ZERO) -> None:
        """`equity` is account equity INCLUDING unrealised PnL; `unrealised` is that part."""
        self.equity = equity
        self.unrealised = unrealised
        await self.day.on_equity(equity)
        await self.phases.on_equity(equity)
        await self.breaker.on_equity(self.day.start_equity, equity, self.limits.max_daily_drawdown)

    async def on_trade_closed(self, net_pnl: Decimal) -> None:
        """A closed round trip's net PnL (fees included); < 0 is a losing trade."""
        await self.day.on_trade_closed(net_pnl)
        await self.breaker.on_trade_closed(net_pnl)

    async def on_price(self, symbol: str, price: float, ts_ms: int) -> bool:
        """Market-data path: returns True when this price tripped the breaker."""
        return await self.breaker.on_price(symbol, price, ts_ms)

    def observe_price(self, symbol: str, price: float, ts_ms: int) -> Finding | None:
        """The same, in two halves for a hot stream: this synchronous half feeds every
        price to the breaker's rules (no task, no await); only when it finds something
        does the caller need `act_on_price(found)` (which trips and saves)."""
        return self.breaker.observe_price(symbol, price, ts_ms)

    async def act_on_price(self, found: Finding) -> bool:
        """Trip (or warn) on a finding of `observe_price`; True when it tripped now."""
        return await self.breaker.act_on_price(found)

    async def tick(self) -> None:
        """Periodic (e.g. every second): clears an expired breaker, rolls the day."""
        await self.breaker.tick()
        if self.equity is not None and self.day.rolled():
            await self.on_equity(self.equity, self.unrealised)

    # -- operator actions ------------------------------------------------------------

    async def arm(self, reason: str, actor: str) -> None:
        """ARM, unless startup is pending, the system is in HARD_HALT or the breaker is tripped.

        Every check runs after the last await and right before the (synchronous)
        change, so a halt or trip arriving meanwhile cannot be armed over.
        """
        why = require_reason(reason, "ARM")
        await self.breaker.tick()
        if self.startup_pending:
            raise ActionRefused("cannot ARM before the startup reconciliation has completed")
        if self.halt.state is HaltState.HARD_HALT:
            raise ActionRefused("cannot ARM in HARD_HALT: set the halt state to OPEN first")
        if self.breaker.is_tripped():
            until = self.breaker.cooldown_until
            raise ActionRefused(
                "cannot ARM while the circuit breaker is tripped: reset it or wait for the "
                f"cooldown (until {until.isoformat() if until else '?'})"
            )
        await self.arm_ctl.arm(why, actor)

    async def disarm(self, reason: str, actor: str) -> None:
        await self.arm_ctl.disarm(reason, actor)

    async def set_halt(self, state: HaltState | str, reason: str, actor: str) -> HaltResult:
        return await self.halt.set_state(state, reason, actor)

    async def reset_breaker(self, reason: str, actor: str) -> bool:
        return await self.breaker.reset(reason, actor)

    async def trip_breaker(self, reason: str, actor: str) -> bool:
        why = require_reason(reason, "manual circuit breaker trip")
        return await self.breaker.trip(f"{why} (by {actor})", rule="MANUAL")

    async def kill(self, code: object, actor: str, reason: str = "kill switch") -> dict[str, Any]:
        """Kill switch: HARD_HALT behind the confirmation code, then verify flat.

        The code is compared in constant time (digests of equal length). A wrong code
        changes nothing and raises `KillCodeRejected`.
        """
        now = self._clock.now()
        if self._kill_digest is None:
            raise ActionRefused("the kill switch has no confirmation code configured")
        supplied = _digest(code) if isinstance(code, str) else b""
        if not hmac.compare_digest(supplied, self._kill_digest):
            self._bus.publish(
                KillSwitchActivated(
                    ts=now, severity=Severity.HIGH,
                    message=f"kill switch refused: wrong confirmation code (by {actor})",
                    actor=actor, accepted=False,
                )
            )
            raise KillCodeRejected("wrong kill switch confirmation code")
        why = reason.strip() if isinstance(reason, str) and reason.strip() else "kill switch"
        result = await self.halt.set_state(HaltState.HARD_HALT, f"KILL SWITCH: {why}", actor)
        remaining: dict[str, Any] = {}
        verify_error: str | None = None
        if self._verify_flat is None:
            verify_error = "no flatness verification wired"
        else:
            try:
                remaining = {k: v for k, v in (await self._verify_flat()).items() if v}
            except Exception as exc:
                verify_error = f"{type(exc).__name__}: {exc}"
        flat = verify_error is None and not remaining
        report: dict[str, Any] = {
            "success": flat,
            "flat": flat,
            "haltState": self.halt.state.value,
            "masterArm": self.arm_ctl.state.value,
            "remaining": remaining,
            "verifyError": verify_error,
            "halt": result.as_dict(),
        }
        self._bus.publish(
            KillSwitchActivated(
                ts=self._clock.now(),
                message=f"kill switch by {actor}: HARD_HALT, DISARMED; "
                + ("account verified flat" if flat else
                   f"NOT verified flat: {verify_error or remaining}"),
                actor=actor, accepted=True, report=report,
            )
        )
        return report

    # -- reporting -------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        phase = self.phases.current
        equity = self.equity
        return {
            "masterArm": self.arm_ctl.state.value,
            "armed": self.arm_ctl.armed and not self.startup_pending,
            "masterArmDetail": {**self.arm_ctl.to_state(), "startupPending": self.startup_pending},
            "haltState": self.halt.state.value,
            "halt": self.halt.to_state(),
            "circuitBreaker": self.breaker.status(),
            "phase": {
                "number": phase.number,
                "name": phase.name,
                "known": self.phases.known,
                "limits": self.limits.as_dict(),
            },
            "equity": float(equity) if equity is not None else None,
            "unrealisedPnl": float(self.unrealised),
            "dayStartEquity": float(self.day.start_equity)
            if self.day.start_equity is not None and not self.day.rolled() else None,
            "dailyPnl": float(self.day.realised_today()),
            "drawdown": float(self.day.drawdown(equity)) if equity is not None else 0.0,
            "trades": {"today": self.day.trades, "wins": self.day.wins, "losses": self.day.losses},
        }


__all__ = ["MarketContext", "RegimeSource", "RiskEngine", "VerifyFlat"]
