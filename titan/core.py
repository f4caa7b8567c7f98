"""The composition root: builds Titan's components and starts and stops them in order.

It wires; it does not decide. Every rule lives in its own module (risk/, execution/,
state/, strategies/); this file only connects them and owns their lifetimes.

Start-up order (SPEC §3, §7): database → saved state → venue (paper: the built-in
simulator first) → equity → start-up reconciliation → Master Arm restart rule → periodic
jobs. If the venue cannot be reached Titan still starts, DISARMED, so the operator has the
console and API; it keeps trying to connect.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Mapping
from contextlib import suppress
from functools import partial
from typing import TYPE_CHECKING, Any

from loguru import logger

from titan import __version__
from titan.bus import EventBus
from titan.clock import Clock, SystemClock
from titan.config_versioning import SIM_SYMBOLS, ConfigService
from titan.domain.reasons import Severity
from titan.events import Alert, HaltChanged, PhaseChanged, SystemStarted, SystemStopping
from titan.execution.engine import ExecutionEngine
from titan.execution.market import MarketState
from titan.notify.wiring import build_notifier
from titan.ops.backup import BackupJob
from titan.ops.disk import disk_full_alert
from titan.ops.journal import EventJournal, log_event
from titan.ops.metrics import Metrics
from titan.ops.nats_wiring import nats_handlers, start_nats_bridge
from titan.ops.scheduler import Scheduler
from titan.risk import RiskConfig, RiskEngine
from titan.runtime.halt_actions import HaltActions
from titan.runtime.jobs import every
from titan.runtime.marketdata import start_recording
from titan.runtime.regime import RegimeService
from titan.runtime.spot_leg import SpotLeg, wire_spot_leg
from titan.runtime.universe import REFRESH_S as UNIVERSE_REFRESH_S
from titan.runtime.universe import Universe
from titan.runtime.venue_link import VenueLink
from titan.secrets import RuntimeSecrets, resolve_secrets
from titan.settings import Settings, VenueName
from titan.state.equity import EquityTracker
from titan.state.interrupted import report_interrupted
from titan.state.ledger import Ledger
from titan.state.reconciler import Reconciler
from titan.state.risk_state import RiskStateStore
from titan.state.sync import StreamSync
from titan.store.audit import AuditLog
from titan.store.db import Database
from titan.strategies.config import StrategySetting
from titan.strategies.host import StrategyHost
from titan.strategies.pauses import StrategyPauses
from titan.strategies.registry import StrategySpec, builtin_specs
from titan.strategies.scavenger.strategy import Scavenger
from titan.venues.base import Ticker, TradeFeed, Venue

RISK_STATE_KEY = "risk"
EPOCH_KEY = "ledger_epoch_ms"
RECONCILE_EVERY_S = 60.0
WALLET_POLL_S = 5.0
RISK_TICK_S = 1.0
METRICS_REFRESH_S = 2.0

BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC = 0, 30  # nightly backup, after the 00:00 UTC day roll

if TYPE_CHECKING:
    from titan.ops.nats_bridge import Handlers, NatsBridge


class Titan:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 secrets: RuntimeSecrets | None = None,
                 strategies: dict[str, StrategySpec] | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self.bus.subscribe(log_event)
        self.db = Database(settings.database)
        self.secrets = secrets or resolve_secrets(settings)
        self.journal = EventJournal(self.db, self.bus)
        self.audit = AuditLog(self.db, self.clock, self.bus)
        self.strategy_specs = builtin_specs() if strategies is None else dict(strategies)
        self.config = ConfigService(self.db, self.bus, self.clock,
                                    known_symbols=self._known_symbols,
                                    strategy_specs=self.strategy_specs)
        # Every new config version takes effect at once, without a restart (SPEC §9).
        self.config.on_change(lambda cfg: self.risk.update_config(cfg))
        self.started_monotonic = time.monotonic()
        self.ledger = Ledger(self.db, self.clock)
        self.risk_store = RiskStateStore(self.ledger, settings.database.parent, RISK_STATE_KEY)
        self.market = MarketState(self.clock)
        self.simulator: Any = None  # titan.sim.Simulator in the paper profile
        self.venue: Venue | None = None
        self.feed: TradeFeed | None = None
        self.pauses = StrategyPauses()
        self.strategy_pauses = self.pauses.reasons  # read by the views
        self.risk: RiskEngine = self._new_risk(None)
        self.execution: ExecutionEngine = None  # type: ignore[assignment]  # set in start()
        self.reconciler: Reconciler = None  # type: ignore[assignment]
        self.sync: StreamSync = None  # type: ignore[assignment]
        self.equity = EquityTracker(self.db, self.risk, self.clock)
        self.strategies: StrategyHost | None = None  # built in start()
        # Per strategy, what its builder needs beyond its context (tests add `options`).
        self.strategy_services: dict[str, dict[str, Any]] = {}
        # Hunter's constructor overrides (tests: shorter order-flow samples, a killzone).
        self.hunter_options: dict[str, Any] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._started = False
        self.link: VenueLink | None = None  # built in start()
        self.spot_leg: SpotLeg | None = None  # the spot side, when the venue has one
        self.universe: Universe | None = None  # what the venue lists, what Titan streams
        self.scavenger_options: dict[str, Any] = {}  # Scavenger constructor overrides (tests)

        self.scheduler = Scheduler()
        self.metrics = Metrics(self.bus)
        self.regime = RegimeService(self.bus, self.clock, self.metrics)  # SPEC §17, per symbol
        # A full disk is visible (SPEC §11): free space and refused writes in /metrics and
        # /health, one DISK_LOW alert each time the disk is found full.
        self.metrics.watch_storage(self.db.storage.free_bytes)
        self.db.storage.on_failure.append(self.metrics.write_failed)
        self.db.storage.on_full.append(disk_full_alert(self.bus, self.clock, self.db.storage))
        self.backups = BackupJob(settings.database, settings.backups, settings.backup_keep,
                                 self.bus, self.clock)
        self.scheduler.daily(BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC, self.backups.run, "nightly-backup")
        # NATS bridge (titan/ops/nats_wiring.py): started in start() when TITAN_NATS_URL is set.
        self.nats_handlers: Handlers | None = nats_handlers(self)
        self.nats: NatsBridge | None = None
        self.notifier = build_notifier(settings, self.bus, self.metrics.registry,  # notify
                                       self.scheduler, self.db, self.clock)

    # -- construction -------------------------------------------------------------------

    def _new_risk(self, state: dict[str, Any] | None, config: RiskConfig | None = None) -> RiskEngine:
        return RiskEngine(
            bus=self.bus, clock=self.clock, config=config,
            actions=HaltActions(lambda: self.execution, self.pauses),
            verify_flat=lambda: self.execution.verify_flat(), kill_code=self.secrets.kill_code,
            save=self._save_risk, state=state,
        ).with_regime(lambda symbol: self.regime.reading(symbol))

    async def _save_risk(self, state: dict[str, Any]) -> None:
        await self.risk_store.save(state)

    def _build_venue(self) -> tuple[Venue, TradeFeed]:
        from titan.venues.factory import build_trade_feed, build_venue

        # The adapters talk to a real venue in real time: request timestamps, rate limits
        # and stream silence need the wall clock, whatever clock the rules are given.
        wall = SystemClock()
        assert self.universe is not None
        return (build_venue(self.settings, self.universe.streamed, wall),
                build_trade_feed(self.settings, wall))

    def _known_symbols(self) -> set[str]:  # the simulator's symbols until started
        return self.universe.known() if self.universe is not None else set(SIM_SYMBOLS)

    # -- lifetime -----------------------------------------------------------------------

    async def start(self) -> None:
        applied = await self.db.open()
        if applied:
            logger.info("DB_MIGRATED applied={}", ",".join(applied))
        self.journal.start()
        await self.config.start()  # the active config version (or the defaults, written)
        self.metrics.start()  # ops
        self.scheduler.start()  # ops
        self.nats = start_nats_bridge(self)  # ops: only when TITAN_NATS_URL is set
        self._started = True

        # The safer of the database's copy and the safety file's (issue 15: disk full).
        saved = await self.risk_store.load()
        self.risk = self._new_risk(saved, self.config.active)
        self.risk_store.follow(lambda: self.risk.to_state())
        self.equity = EquityTracker(self.db, self.risk, self.clock)
        await self.ledger.load()
        epoch = await self.ledger.get_state(EPOCH_KEY)
        if not isinstance(epoch, int):
            epoch = self.clock.time_ms()
            await self.ledger.put_state(EPOCH_KEY, epoch)

        if self.settings.venue is VenueName.PAPER:
            from titan.sim.paper import start_paper_simulator

            self.simulator, self.settings = await start_paper_simulator(self.settings)
            universe = Universe(self.simulator.config.symbols, follow_whitelist=False)
        else:
            universe = Universe(self.config.active.whitelist, follow_whitelist=True)
        self.universe = universe
        venue, feed = self._build_venue()
        universe.venue, universe.feed = self.venue, self.feed = venue, feed
        self.execution = ExecutionEngine(venue, self.ledger, self.risk, self.market, self.bus,
                                         self.clock)
        self.reconciler = Reconciler(venue, self.ledger, self.risk, self.bus, self.clock,
                                     epoch_ms=epoch)
        await self.reconciler.load()
        self.spot_leg = await wire_spot_leg(self, venue, epoch)  # Sentinel's spot side
        self.sync = StreamSync(self.ledger, self.risk, self.bus, self.clock,
                               self.reconciler.request_soon, self.equity.on_wallet)
        venue.on_private(self.sync.on_private)
        venue.on_ticker(self._on_ticker)
        self.link = VenueLink(venue=venue, feed=feed, symbols=universe.streamed, market=self.market,
                              bus=self.bus, clock=self.clock, reconciler=self.reconciler,
                              pauses=self.pauses, equity=self.equity, spawn=self.spawn)
        self.sync.start()
        host = self._wire_strategies(venue, feed)  # before the streams start: no tick missed

        self.config.on_change(lambda cfg: self.spawn(universe.follow(cfg.whitelist)))
        self._tasks += start_recording(self)  # market data (SPEC §15), before the streams
        connected = await self.link.connect()
        if connected:
            await universe.refresh()
        report = await self.reconciler.run("startup") if connected else None
        clean = report is not None and report.clean
        # An operator action a previous run did not finish: alerted, audited, not clean.
        if await report_interrupted(self.ledger, self.audit, self.bus, self.clock) is not None:
            clean = False
        await self.risk.complete_startup(clean, self.market.venue_connected)
        self.link.live = True
        self._tasks.append(self.regime.start(venue, lambda: universe.streamed))  # warm-up first
        await host.start()  # timers start (the Scavenger arms now); they trade when unpaused
        if not connected:
            self._tasks.append(asyncio.create_task(self.link.retry_until_connected(),
                                                   name="venue-retry"))
        self._tasks += [
            asyncio.create_task(every(RISK_TICK_S, self.risk.tick), name="risk-tick"),
            asyncio.create_task(every(RECONCILE_EVERY_S, partial(self.reconciler.run, "schedule")),
                                name="reconcile"),
            asyncio.create_task(every(WALLET_POLL_S, self.link.poll_wallet),
                                name="wallet-poll"),
            asyncio.create_task(every(METRICS_REFRESH_S, self._refresh_metrics),
                                name="metrics"),
            asyncio.create_task(every(UNIVERSE_REFRESH_S, universe.refresh),
                                name="universe"),
        ]
        await self._refresh_metrics()
        self.bus.publish(SystemStarted(
            ts=self.clock.now(), message=f"Titan {__version__} started",
            venue=self.settings.venue.value, db=str(self.settings.database),
            venue_connected=self.market.venue_connected,
            master_arm=self.risk.arm_ctl.state.value, halt_state=self.risk.halt.state.value))

    def _wire_strategies(self, venue: Venue, feed: TradeFeed) -> StrategyHost:
        services: dict[str, dict[str, Any]] = {
                    "scavenger": {"db": self.db, "options": self.scavenger_options},
                    "hunter": {"db": self.db, "options": self.hunter_options},
                    **self.strategy_services}
        self.strategies = host = StrategyHost(
            specs=self.strategy_specs, venue=venue, risk=self.risk, execution=self.execution,
            ledger=self.ledger, market=self.market, bus=self.bus, clock=self.clock,
            titan_pauses=self.strategy_pauses, services=services)
        host.build(self.config.strategies)
        venue.on_ticker(host.on_ticker)
        feed.on_trade(host.on_trade)
        self.pauses.on_change(host.pauses_changed)
        self.config.on_strategies_change(host.apply)
        self.config.on_strategies_change(self._gate_strategies)
        self._gate_strategies(self.config.strategies)
        self.bus.subscribe(lambda _e: self.pauses.changed(), PhaseChanged)
        self.bus.subscribe(self.pauses.on_halt_changed, HaltChanged)
        return host

    async def stop(self) -> None:
        if not self._started:
            await self.db.close()
            return
        if self.link is not None:
            self.link.live = False  # our own shutdown is not a connection loss
        self.bus.publish(SystemStopping(ts=self.clock.now(), message="Titan is shutting down"))
        self.pauses.pause("shutdown", "Titan is shutting down")
        if self.strategies is not None:  # stop their timers, cancel unfilled entries
            await self.strategies.stop()
        if self.execution is not None:
            self.execution.stop_accepting_entries()
            await self.execution.drain()
        if self.reconciler is not None:
            self.reconciler.cancel_requested_run()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        if self.sync is not None:
            await self.sync.stop()
        if self.link is not None:
            await self.link.close()
        if self.simulator is not None:
            with suppress(Exception):
                await self.simulator.stop()
        self.scheduler.stop()  # ops
        if self.nats is not None:  # ops
            await self.nats.stop()
            self.nats = None
        await self.metrics.stop()  # ops
        await self.journal.stop()
        await self.risk_store.close()  # a safety change the disk refused: one last try
        try:
            await self.db.checkpoint()
        except Exception:
            logger.opt(exception=True).warning("DB_CHECKPOINT_FAILED")
        await self.db.close()
        self._started = False
        logger.info("SYSTEM_STOPPED database closed")

    # -- streams ------------------------------------------------------------------------

    def _on_ticker(self, t: Ticker) -> None:
        self.market.on_price(t.symbol, t.last_price)
        # Every price goes through the breaker's rules synchronously; a task only when
        # one of them found something (a trip to record and save).
        found = self.risk.observe_price(t.symbol, float(t.last_price), t.ts_ms)
        if found is not None:
            self.spawn(self.risk.act_on_price(found))

    async def _refresh_metrics(self) -> None:
        self.metrics.refresh_gauges(self.risk, len(self.ledger.positions),
                                    self.market.venue_connected, self.market.feed_connected,
                                    self.clock.now())

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a short job in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- strategies ---------------------------------------------------------------------

    def _gate_strategies(self, settings: Mapping[str, StrategySetting]) -> None:
        """The gate lets a strategy enter only when enabled and in one of its phases."""
        self.risk.set_strategy_phases({n: s.phases for n, s in settings.items() if s.enabled})

    @property
    def scavenger(self) -> Scavenger | None:
        """The Phase 1 strategy (tests, benchmarks and the status view look inside it)."""
        found = self.strategies.get("scavenger") if self.strategies is not None else None
        return found if isinstance(found, Scavenger) else None

    def alert(self, severity: Severity, message: str) -> None:
        self.bus.publish(Alert(ts=self.clock.now(), severity=severity, message=message))
