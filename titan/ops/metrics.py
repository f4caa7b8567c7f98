"""Prometheus metrics (SPEC §11), on Titan's own `CollectorRegistry`, served at `/metrics`.

The contract with the rest of Titan:

Counters are driven by bus events (nothing on the trading path calls them):

| event | series | label from |
|---|---|---|
| `SignalRejected` | `titan_signals_total{result="rejected", reason}` | `code` |
| `SignalAccepted`-like: call `metrics.signal_accepted(strategy)` | `titan_signals_total{result="accepted", reason=""}` | — |
| `OrderSubmitted` / `OrderUpdated` / `OrderFilled` / `OrderUnknown` | `titan_orders_total{status}` | `status`, else SUBMITTED / UPDATED / FILLED / UNKNOWN |
| `ShadowMismatch` | `titan_reconciliation_mismatches_total{type}` | `mismatch_type` |
| any event with a severity | `titan_alerts_total{severity}` | the severity |
| every event | `titan_events_total{event}` | the event name |
| `OrderSubmitted` with `latency_ms` (the venue call) | `titan_order_latency_seconds` | — |
| `BreakerTripped` / `BreakerReset` | `titan_circuit_breaker_tripped` 1 / 0 | — |
| `VenueConnected` / `VenueDisconnected` | `titan_venue_connected{venue}` 1 / 0 | `venue` |
| `HaltChanged` | `titan_halt_state{state}` (one-hot) | `state` |
| `ArmChanged` | `titan_master_arm` | `armed` |
| `PhaseChanged` | `titan_phase` | `to` |
| `BackupDone` | `titan_backup_last_success_timestamp_seconds` | event time |

Gauges the core sets directly when the value changes (cheap, synchronous):
`set_equity(usd)`, `set_drawdown(ratio)`, `set_phase(n)`, `set_win_rate(ratio)`,
`set_master_arm(bool)`, `set_open_positions(n)`, `set_halt_state("OPEN"|"SOFT_HALT"|"HARD_HALT")`,
`set_breaker(tripped)`, `set_venue_connected(venue, bool)`; and the histograms:
`observe_order_latency(seconds)`, `observe_tick_to_order(seconds)`.

Also: `titan_event_loop_lag_seconds` (histogram) and `titan_event_loop_lag_last_seconds`
from a small task that measures how late the loop wakes it; the process collector's
`process_resident_memory_bytes`, `process_cpu_seconds_total` (and friends) plus
`titan_process_cpu_ratio` (CPU share over the last few seconds); `titan_info{version}`;
`titan_asyncio_tasks` (tasks alive on the event loop, counted at each scrape only: a task
leak shows as a count that keeps growing; the soak bench watches it).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from titan import __version__
from titan.bus import EventBus
from titan.events import (
    ArmChanged,
    BackupDone,
    BreakerReset,
    BreakerTripped,
    Event,
    HaltChanged,
    OrderFilled,
    OrderSubmitted,
    OrderUnknown,
    OrderUpdated,
    PhaseChanged,
    SentinelBasis,
    SentinelFunding,
    SentinelPairEntered,
    SentinelPairUnwound,
    ShadowMismatch,
    SignalRejected,
    VenueConnected,
    VenueDisconnected,
)
from titan.risk.regime import Regime

HALT_STATES = ("OPEN", "SOFT_HALT", "HARD_HALT")
REGIME_NAMES = tuple(r.value for r in Regime)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0)
LAG_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0)
LOOP_PROBE_INTERVAL_S = 0.25
# Why the API's auth layer refused a request (titan/api/auth_trace.py).
AUTH_REFUSAL_REASONS = ("no_credentials", "bad_credentials", "locked_out", "cross_origin")

SERIES = (
    "titan_equity_usd", "titan_drawdown_ratio", "titan_phase", "titan_win_rate",
    "titan_master_arm", "titan_halt_state", "titan_circuit_breaker_tripped",
    "titan_venue_connected", "titan_order_latency_seconds",
    "titan_tick_to_order_latency_seconds", "titan_signals_total", "titan_orders_total",
    "titan_reconciliation_mismatches_total", "titan_event_loop_lag_seconds",
    "titan_event_loop_lag_last_seconds", "process_resident_memory_bytes",
    "process_cpu_seconds_total", "titan_process_cpu_ratio", "titan_events_total",
    "titan_alerts_total", "titan_backup_last_success_timestamp_seconds", "titan_info",
    "titan_auth_refusals_total", "titan_nats_commands_total", "titan_nats_connected",
    "titan_open_positions", "titan_asyncio_tasks", "titan_regime_alpha", "titan_regime",
)
"""Every series name `/metrics` exposes (the tests check each one is there)."""

_ORDER_STATUS = {OrderSubmitted: "SUBMITTED", OrderUpdated: "UPDATED", OrderFilled: "FILLED",
                 OrderUnknown: "UNKNOWN"}


def _label(value: Any, default: str) -> str:
    text = str(value) if value is not None and value != "" else default
    return text[:64]  # bounded label values: a bad payload cannot explode cardinality


def _task_count() -> float:
    """`asyncio.all_tasks()` of the running loop: a scrape is served on Titan's loop; a
    render with no loop running (a test, a shell) has no tasks to count."""
    try:
        return float(len(asyncio.all_tasks()))
    except RuntimeError:
        return 0.0


class Metrics:
    content_type = CONTENT_TYPE_LATEST

    def __init__(self, bus: EventBus | None = None, venues: tuple[str, ...] = ("bybit", "binance")) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.equity = Gauge("titan_equity_usd", "Account equity in USDT, unrealised PnL included",
                            registry=r)
        self.drawdown = Gauge("titan_drawdown_ratio",
                              "Daily drawdown from the 00:00 UTC equity (0.05 = 5%)", registry=r)
        self.phase = Gauge("titan_phase", "Current phase (1 Scavenger, 2 Hunter, 3 Sentinel)",
                           registry=r)
        self.win_rate = Gauge("titan_win_rate", "Share of closed trades with positive net PnL",
                              registry=r)
        self.master_arm = Gauge("titan_master_arm", "1 when Master Arm is ARMED", registry=r)
        self.halt_state = Gauge("titan_halt_state", "1 for the current halt state",
                                ["state"], registry=r)
        self.open_positions = Gauge("titan_open_positions",
                                    "Positions open in Titan's ledger (for disarmed-while-open alerts)",
                                    registry=r)
        self.breaker = Gauge("titan_circuit_breaker_tripped", "1 while the breaker is tripped",
                             registry=r)
        self.regime_alpha = Gauge("titan_regime_alpha",
                                  "Hill tail index of the symbol's 1-minute returns (SPEC §17)",
                                  ["symbol"], registry=r)
        self.regime = Gauge("titan_regime", "1 for the symbol's current tail-risk regime",
                            ["symbol", "regime"], registry=r)
        # Sentinel's pairs (SPEC §16), from its events: the last basis sample and z-score,
        # the open pair's delta (spot − perp over the larger leg), funding booked.
        self.sentinel_basis = Gauge("titan_sentinel_basis", "Last depth-weighted basis sample",
                                    ["symbol"], registry=r)
        self.sentinel_z = Gauge("titan_sentinel_zscore", "Z-score of the last basis sample",
                                ["symbol"], registry=r)
        self.sentinel_delta = Gauge("titan_sentinel_delta_ratio",
                                    "Open pair's spot − perp over its larger leg (0: none)",
                                    ["symbol"], registry=r)
        self.sentinel_funding = Gauge("titan_sentinel_funding_earned_usd",
                                      "Funding booked to Sentinel's pairs since start",
                                      ["symbol"], registry=r)
        self.venue_connected = Gauge("titan_venue_connected", "1 while the venue's streams are up",
                                     ["venue"], registry=r)
        self.order_latency = Histogram("titan_order_latency_seconds",
                                       "Order submit to venue acknowledgement",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.tick_to_order = Histogram("titan_tick_to_order_latency_seconds",
                                       "Triggering trade received to order sent",
                                       buckets=LATENCY_BUCKETS, registry=r)
        self.signals = Counter("titan_signals", "Signals by result and reason",
                               ["result", "reason"], registry=r)
        self.orders = Counter("titan_orders", "Order events by status", ["status"], registry=r)
        self.mismatches = Counter("titan_reconciliation_mismatches",
                                  "Reconciliation mismatches by type", ["type"], registry=r)
        self.events = Counter("titan_events", "Events published on the bus", ["event"],
                              registry=r)
        self.alerts = Counter("titan_alerts", "Operator alerts by severity", ["severity"],
                              registry=r)
        self.loop_lag = Histogram("titan_event_loop_lag_seconds",
                                  "How late the event loop ran a timer", buckets=LAG_BUCKETS,
                                  registry=r)
        self.loop_lag_last = Gauge("titan_event_loop_lag_last_seconds",
                                   "Event-loop lag at the last probe", registry=r)
        self.cpu_ratio = Gauge("titan_process_cpu_ratio",
                               "CPU used by the process over the last seconds (1.0 = one core)",
                               registry=r)
        self.backup_ts = Gauge("titan_backup_last_success_timestamp_seconds",
                               "Unix time of the last good backup made by this process",
                               registry=r)
        self.disk_free = Gauge("titan_disk_free_bytes",
                               "Free bytes on the data folder's disk", registry=r)
        self.write_failures = Counter("titan_storage_write_failures",
                                      "Database writes refused (disk full, I/O error)",
                                      registry=r)
        # Access control (docs/reliability.md): refusals by the auth layer and the bus.
        self.auth_refusals = Counter("titan_auth_refusals",
                                     "Requests refused by the API's auth layer, by reason",
                                     ["reason"], registry=r)
        self.nats_commands = Counter("titan_nats_commands",
                                     "NATS commands by result (obeyed, refused, failed)",
                                     ["result"], registry=r)
        self.nats_connected = Gauge("titan_nats_connected",
                                    "1 while the NATS command bridge is connected to an "
                                    "authenticating server (0 also when not configured)",
                                    registry=r)
        self.tasks = Gauge("titan_asyncio_tasks",
                           "Tasks alive on the event loop (counted at each scrape)", registry=r)
        self.tasks.set_function(_task_count)
        ProcessCollector(registry=r)
        Info("titan", "Titan build", registry=r).info({"version": __version__})

        # Series exist from the start (a dashboard sees 0, not "no data").
        for state in HALT_STATES:
            self.halt_state.labels(state=state).set(0)
        for venue in venues:
            self.venue_connected.labels(venue=venue).set(0)
        self.signals.labels(result="accepted", reason="")
        self.orders.labels(status="SUBMITTED")
        self.mismatches.labels(type="SIZE_MISMATCH")
        for reason in AUTH_REFUSAL_REASONS:
            self.auth_refusals.labels(reason=reason)
        for result in ("obeyed", "refused", "failed"):
            self.nats_commands.labels(result=result)

        self._task: asyncio.Task[None] | None = None
        self._unsubscribe = bus.subscribe(self.on_event) if bus is not None else None

    # --- gauges the core sets -------------------------------------------------------
    def watch_storage(self, free_bytes: Callable[[], int]) -> None:
        """Free space read at each scrape; `write_failed` counts each refused write."""
        self.disk_free.set_function(lambda: float(free_bytes()))

    def write_failed(self) -> None:
        self.write_failures.inc()

    def refresh_gauges(self, risk: Any, open_positions: int, venue_connected: bool,
                       feed_connected: bool, now: Any) -> None:
        """Gauges that mirror state (counters follow bus events): run every few seconds."""
        if risk.equity is not None:
            self.set_equity(float(risk.equity))
            self.set_drawdown(float(risk.day.drawdown(risk.equity)))
        self.set_phase(risk.phases.current.number)
        self.set_master_arm(risk.arm_ctl.armed)
        self.set_open_positions(open_positions)
        self.set_halt_state(risk.halt.state.value)
        self.set_breaker(risk.breaker.is_tripped(now))
        self.set_venue_connected("bybit", venue_connected)
        self.set_venue_connected("binance", feed_connected)
        trades = risk.day.wins + risk.day.losses
        if trades:
            self.set_win_rate(risk.day.wins / trades)

    def set_equity(self, usd: float | Any) -> None:
        self.equity.set(float(usd))

    def set_drawdown(self, ratio: float | Any) -> None:
        self.drawdown.set(float(ratio))

    def set_phase(self, phase: int) -> None:
        self.phase.set(int(phase))

    def set_win_rate(self, ratio: float | Any) -> None:
        self.win_rate.set(float(ratio))

    def set_master_arm(self, armed: bool) -> None:
        self.master_arm.set(1 if armed else 0)

    def set_halt_state(self, state: str) -> None:
        state = str(state).upper()
        for s in {*HALT_STATES, state}:
            self.halt_state.labels(state=s).set(1 if s == state else 0)

    def set_open_positions(self, count: int) -> None:
        self.open_positions.set(count)

    def set_breaker(self, tripped: bool) -> None:
        self.breaker.set(1 if tripped else 0)

    def set_regime(self, symbol: str, regime: str, alpha: float | None) -> None:
        """One series per regime name (1 for the current one); α only once it is known
        (a dashboard sees no α rather than a made-up one while the regime is UNKNOWN)."""
        sym = _label(symbol, "unknown")
        for name in {*REGIME_NAMES, regime}:
            self.regime.labels(symbol=sym, regime=name).set(1 if name == regime else 0)
        if alpha is not None:
            self.regime_alpha.labels(symbol=sym).set(alpha)
        else:
            with suppress(KeyError):
                self.regime_alpha.remove(sym)

    def set_venue_connected(self, venue: str, connected: bool) -> None:
        self.venue_connected.labels(venue=_label(venue, "unknown")).set(1 if connected else 0)

    def observe_order_latency(self, seconds: float) -> None:
        self.order_latency.observe(seconds)

    def observe_tick_to_order(self, seconds: float) -> None:
        self.tick_to_order.observe(seconds)

    def auth_refused(self, reason: str) -> None:
        self.auth_refusals.labels(reason=_label(reason, "unknown")).inc()

    def nats_command(self, result: str) -> None:
        self.nats_commands.labels(result=_label(result, "unknown")).inc()

    def set_nats_connected(self, connected: bool) -> None:
        self.nats_connected.set(1 if connected else 0)

    def signal_accepted(self, strategy: str = "") -> None:
        self.signals.labels(result="accepted", reason="").inc()

    # --- bus subscriber -------------------------------------------------------------
    def on_event(self, event: Event) -> None:
        self.events.labels(event=event.name).inc()
        sev = event.alert_severity
        if sev is not None:
            self.alerts.labels(severity=sev.value).inc()
        if isinstance(event, SignalRejected):
            self.signals.labels(result="rejected", reason=_label(event.code, "UNKNOWN")).inc()
        elif isinstance(event, OrderSubmitted | OrderUpdated | OrderFilled | OrderUnknown):
            status = getattr(event, "status", None)  # a fill or a lost answer has none
            self.orders.labels(status=_label(status, _ORDER_STATUS[type(event)])).inc()
            if isinstance(event, OrderSubmitted) and event.latency_ms is not None:
                self.order_latency.observe(event.latency_ms / 1000)
        elif isinstance(event, ShadowMismatch):
            self.mismatches.labels(type=_label(event.mismatch_type, "UNKNOWN")).inc()
        elif isinstance(event, BreakerTripped):
            self.set_breaker(True)
        elif isinstance(event, BreakerReset):
            self.set_breaker(False)
        elif isinstance(event, VenueConnected | VenueDisconnected):
            self.set_venue_connected(_label(event.venue, "unknown"),
                                     isinstance(event, VenueConnected))
        elif isinstance(event, HaltChanged):
            self.set_halt_state(event.state)
        elif isinstance(event, ArmChanged):
            self.set_master_arm(event.armed)
        elif isinstance(event, PhaseChanged):
            self.set_phase(event.to)
        elif isinstance(event, BackupDone):
            self.backup_ts.set(event.ts.timestamp())
        elif isinstance(event, SentinelBasis | SentinelFunding | SentinelPairEntered
                        | SentinelPairUnwound):
            self._sentinel(event)

    def _sentinel(self, event: Event) -> None:
        if isinstance(event, SentinelBasis):
            self.sentinel_basis.labels(symbol=event.symbol).set(event.basis)
            if event.z is not None:
                self.sentinel_z.labels(symbol=event.symbol).set(event.z)
        elif isinstance(event, SentinelFunding):
            self.sentinel_funding.labels(symbol=event.symbol).inc(float(event.payment))
        elif isinstance(event, SentinelPairEntered):
            spot, perp = float(event.spot_qty), float(event.perp_qty)
            size = max(spot, perp)
            self.sentinel_delta.labels(symbol=event.symbol).set(
                (spot - perp) / size if size > 0 else 0.0)
        elif isinstance(event, SentinelPairUnwound):
            self.sentinel_delta.labels(symbol=event.symbol).set(0.0)

    # --- exposition and the loop monitor ------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._monitor(), name="metrics-loop-monitor")

    async def stop(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _monitor(self) -> None:
        loop = asyncio.get_running_loop()
        cpu_prev, wall_prev = time.process_time(), time.monotonic()
        while True:
            expected = loop.time() + LOOP_PROBE_INTERVAL_S
            await asyncio.sleep(LOOP_PROBE_INTERVAL_S)
            lag = max(0.0, loop.time() - expected)
            self.loop_lag.observe(lag)
            self.loop_lag_last.set(lag)
            wall = time.monotonic()
            if wall - wall_prev >= 5:
                cpu = time.process_time()
                self.cpu_ratio.set((cpu - cpu_prev) / (wall - wall_prev))
                cpu_prev, wall_prev = cpu, wall
