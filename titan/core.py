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
from collections.abc import Awaitable, Callable, Coroutine
from contextlib import suppress
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from loguru import logger

from titan import __version__
from titan.bus import EventBus
from titan.clock import Clock, SystemClock, iso_utc
from titan.config_service import ConfigService
from titan.domain.reasons import Severity
from titan.events import (
    Alert,
    DiskLow,
    Event,
    HaltChanged,
    PhaseChanged,
    SystemStarted,
    SystemStopping,
    VenueConnected,
    VenueDisconnected,
)
from titan.execution.engine import ExecutionEngine
from titan.execution.market import MarketState
from titan.notify.wiring import build_notifier
from titan.ops.backup import BackupJob
from titan.ops.journal import EventJournal, log_event
from titan.ops.metrics import Metrics
from titan.ops.nats_wiring import nats_handlers, nats_health, nats_status
from titan.ops.scheduler import Scheduler
from titan.risk import RiskConfig, RiskEngine
from titan.secrets import RuntimeSecrets, resolve_secrets
from titan.settings import Settings, VenueName
from titan.state.equity import EquityTracker
from titan.state.interrupted import report_interrupted
from titan.state.ledger import Ledger
from titan.state.reconciler import Reconciler
from titan.state.sync import StreamSync
from titan.store.audit import AuditLog
from titan.store.db import Database
from titan.store.risk_state import RiskStateStore
from titan.store.storage import STILL_WORKS
from titan.strategies.host import StrategyHost
from titan.strategies.registry import StrategySpec, builtin_specs
from titan.strategies.scavenger.strategy import Scavenger
from titan.venues.base import (
    StreamState,
    Ticker,
    TradeFeed,
    Venue,
    VenueError,
)

RISK_STATE_KEY = "risk"
EPOCH_KEY = "ledger_epoch_ms"
# The symbols whose market data Titan streams: the simulator's universe. A whitelisted
# symbol must be one of these (SPEC §9: unknown symbols are refused).
UNIVERSE = ("BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "DOGEUSDT", "BNBUSDT", "ADAUSDT",
            "AVAXUSDT", "LINKUSDT", "LTCUSDT")
RECONCILE_EVERY_S = 60.0
WALLET_POLL_S = 5.0
RISK_TICK_S = 1.0
VENUE_RETRY_S = 5.0
METRICS_REFRESH_S = 2.0


class _HaltActions:
    """The execution layer's side of halts (risk.HaltActions), bound late to Titan."""

    def __init__(self, titan: Titan) -> None:
        self._t = titan

    async def cancel_entry_orders(self) -> Any:
        return await self._t.execution.cancel_entry_orders()

    async def cancel_all_orders(self) -> Any:
        return await self._t.execution.cancel_all_orders()

    async def flatten_all(self) -> Any:
        return await self._t.execution.flatten_all()

    async def pause_strategies(self, reason: str) -> Any:
        self._t.pause_strategies("halt", reason)
        return {"paused": True, "reason": reason}

if TYPE_CHECKING:
    from titan.ops.nats_bridge import Handlers, NatsBridge

BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC = 0, 30  # nightly backup, after the 00:00 UTC day roll


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
        # -- config versions and audit (api branch) --
        # Pass known_symbols=<the execution venue's instrument names> once the venue is
        # wired; until then the whitelist accepts the built-in simulator's symbols.
        self.audit = AuditLog(self.db, self.clock, self.bus)
        self.strategy_specs = builtin_specs() if strategies is None else dict(strategies)
        self.config = ConfigService(self.db, self.bus, self.clock,
                                    known_symbols=lambda: set(UNIVERSE),
                                    strategy_specs=self.strategy_specs)
        # Every new config version takes effect at once, without a restart (SPEC §9).
        self.config.on_change(lambda cfg: self.risk.update_config(cfg))
        # -- end config versions and audit --
        self.started_monotonic = time.monotonic()
        self.ledger = Ledger(self.db, self.clock)
        self.risk_store = RiskStateStore(self.ledger, settings.database.parent, RISK_STATE_KEY)
        self.market = MarketState(self.clock)
        self.simulator: Any = None  # titan.sim.Simulator in the paper profile
        self.venue: Venue | None = None
        self.feed: TradeFeed | None = None
        self.risk: RiskEngine = self._new_risk(None)
        self.execution: ExecutionEngine = None  # type: ignore[assignment]  # set in start()
        self.reconciler: Reconciler = None  # type: ignore[assignment]
        self.sync: StreamSync = None  # type: ignore[assignment]
        self.equity = EquityTracker(self.db, self.risk, self.clock)
        self.strategy_pauses: dict[str, str] = {}
        self.on_pause_change: list[Callable[[], None]] = []
        self.strategies: StrategyHost | None = None  # built in start()
        # Per strategy, what its builder needs beyond its context (tests add `options`).
        self.strategy_services: dict[str, dict[str, Any]] = {}
        self._tasks: list[asyncio.Task[Any]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._reconcile_pending: asyncio.Task[Any] | None = None
        self._started = False
        self._startup_done = False  # the first reconciliation has run
        self._stopping = False
        self.scavenger_options: dict[str, Any] = {}  # Scavenger constructor overrides (tests)

        # --- ops: scheduler, metrics, nightly backup (titan/ops/) ---
        self.scheduler = Scheduler()
        self.metrics = Metrics(self.bus)
        # A full disk is visible (SPEC §11): free space and refused writes in /metrics and
        # /health, one DISK_LOW alert each time the disk is found full.
        self.metrics.watch_storage(self.db.storage.free_bytes)
        self.db.storage.on_failure.append(self.metrics.write_failed)
        self.db.storage.on_full.append(self._disk_full)
        self.backups = BackupJob(settings.database, settings.backups, settings.backup_keep,
                                 self.bus, self.clock)
        self.scheduler.daily(BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC, self.backups.run, "nightly-backup")
        # NATS bridge (titan/ops/nats_wiring.py): started in start() when TITAN_NATS_URL is set.
        self.nats_handlers: Handlers | None = nats_handlers(self)
        self.nats: NatsBridge | None = None
        # --- end ops ---
        self.notifier = build_notifier(settings, self.bus, self.metrics.registry,  # notify
                                       self.scheduler, self.db, self.clock)

    # -- construction -------------------------------------------------------------------

    def _new_risk(self, state: dict[str, Any] | None, config: RiskConfig | None = None) -> RiskEngine:
        return RiskEngine(
            bus=self.bus, clock=self.clock, config=config, actions=_HaltActions(self),
            verify_flat=self._verify_flat, kill_code=self.secrets.kill_code,
            save=self._save_risk, state=state,
        )

    async def _save_risk(self, state: dict[str, Any]) -> None:
        await self.risk_store.save(state)

    async def _verify_flat(self) -> dict[str, Any]:
        return await self.execution.verify_flat()

    def _build_venue(self) -> tuple[Venue, TradeFeed]:
        from titan.venues.factory import build_trade_feed, build_venue

        # The adapters talk to a real venue in real time: request timestamps, rate limits
        # and stream silence need the wall clock, whatever clock the rules are given.
        wall = SystemClock()
        return (build_venue(self.settings, list(UNIVERSE), wall),
                build_trade_feed(self.settings, wall))

    async def _start_simulator(self) -> None:
        from titan.sim import SimConfig, Simulator
        from titan.venues.factory import PAPER_API_KEY, PAPER_API_SECRET

        extra: dict[str, Any] = {}
        if self.settings.sim_symbols:
            extra["symbols"] = tuple(self.settings.sim_symbols.split(","))
        self.simulator = Simulator(SimConfig(seed=self.settings.sim_seed,
                                             accounts={PAPER_API_KEY: PAPER_API_SECRET},
                                             bursts_per_minute=self.settings.sim_bursts_per_minute,
                                             state_path=str(self.settings.data_dir / "paper-venue.json"),
                                             **extra))
        await self.simulator.start(host="127.0.0.1", port=self.settings.sim_port)
        url = self.simulator.base_url
        self.settings = self.settings.model_copy(update={"bybit_url": url, "binance_url": url})
        logger.info("SIMULATOR_STARTED url={} seed={} bursts_per_minute={}", url,
                    self.settings.sim_seed, self.settings.sim_bursts_per_minute)

    # -- lifetime -----------------------------------------------------------------------

    async def start(self) -> None:
        applied = await self.db.open()
        if applied:
            logger.info("DB_MIGRATED applied={}", ",".join(applied))
        self.journal.start()
        await self.config.start()  # api branch: load the active risk config (or write defaults)
        self.metrics.start()  # ops
        self.scheduler.start()  # ops
        self._start_nats()  # ops
        self._started = True

        # The safer of the database's copy and the safety file's (issue 15: a change made
        # while the disk was full is in the file only).
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
            await self._start_simulator()
        venue, feed = self._build_venue()
        self.venue, self.feed = venue, feed
        self.execution = ExecutionEngine(venue, self.ledger, self.risk, self.market, self.bus,
                                         self.clock)
        self.reconciler = Reconciler(venue, self.ledger, self.risk, self.bus, self.clock,
                                     epoch_ms=epoch)
        await self.reconciler.load()
        self.sync = StreamSync(self.ledger, self.risk, self.bus, self.clock,
                               self.request_reconcile, self.equity.on_wallet)
        venue.on_private(self.sync.on_private)
        venue.on_ticker(self._on_ticker)
        venue.on_stream_state(self._on_venue_stream)
        feed.on_stream_state(self._on_feed_stream)
        self.sync.start()
        # The strategies are built before the streams start so they see every tick.
        services = {"scavenger": {"db": self.db, "options": self.scavenger_options},
                    **self.strategy_services}
        self.strategies = StrategyHost(
            specs=self.strategy_specs, venue=venue, risk=self.risk, execution=self.execution,
            ledger=self.ledger, market=self.market, bus=self.bus, clock=self.clock,
            titan_pauses=self.strategy_pauses, services=services)
        self.strategies.build(self.config.strategies)
        venue.on_ticker(self.strategies.on_ticker)
        feed.on_trade(self.strategies.on_trade)
        self.on_pause_change.append(self.strategies.pauses_changed)
        self.config.on_strategies_change(self.strategies.apply)
        self.bus.subscribe(lambda _e: self.on_pause_change_all(), PhaseChanged)
        self.bus.subscribe(self._on_halt_changed, HaltChanged)

        connected = await self._connect_venue()
        report = await self.reconciler.run("startup") if connected else None
        clean = report is not None and report.clean
        # An operator action a previous run did not finish: alerted, audited, not clean.
        if await report_interrupted(self.ledger, self.audit, self.bus, self.clock) is not None:
            clean = False
        await self.risk.complete_startup(clean, self.market.venue_connected)
        self._startup_done = True
        await self.strategies.start()  # timers start (the Scavenger arms now); trade when unpaused
        if not connected:
            self.pause_strategies("venue", "Bybit not connected at start-up")  # [scavenger]
            self._tasks.append(asyncio.create_task(self._retry_venue(), name="venue-retry"))

        self._tasks += [
            asyncio.create_task(self._every(RISK_TICK_S, self.risk.tick), name="risk-tick"),
            asyncio.create_task(self._every(RECONCILE_EVERY_S, self._scheduled_reconcile),
                                name="reconcile"),
            asyncio.create_task(self._every(WALLET_POLL_S, self._poll_wallet), name="wallet-poll"),
            asyncio.create_task(self._every(METRICS_REFRESH_S, self._metrics_job), name="metrics"),
        ]
        self._refresh_metrics()
        self.bus.publish(SystemStarted(
            ts=self.clock.now(), message=f"Titan {__version__} started",
            data={"venue": self.settings.venue.value, "db": str(self.settings.database),
                  "venueConnected": self.market.venue_connected,
                  "masterArm": self.risk.arm_ctl.state.value,
                  "haltState": self.risk.halt.state.value}))

    async def _connect_venue(self) -> bool:
        assert self.venue is not None and self.feed is not None
        try:
            await self.venue.start()
            await self.feed.start(list(UNIVERSE))
        except VenueError as exc:
            self.bus.publish(VenueDisconnected(
                ts=self.clock.now(), message=f"cannot reach the venue: {exc}; Titan stays DISARMED",
                data={"venue": self.venue.name}))
            return False
        self.market.venue_streams.update(self.venue.stream_states())
        self.market.feed_streams.update(self.feed.stream_states())
        await self._poll_wallet()
        return True

    async def _retry_venue(self) -> None:
        while True:
            await asyncio.sleep(VENUE_RETRY_S)
            if await self._connect_venue():
                report = await self.reconciler.run("reconnect")
                if report.clean or report.ok:  # [scavenger]
                    self.resume_strategies("venue")
                return

    async def _every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                logger.opt(exception=True).error("JOB_FAILED job={}", getattr(job, "__name__", job))

    async def _scheduled_reconcile(self) -> None:
        await self.reconciler.run("schedule")

    async def _poll_wallet(self) -> None:
        if self.venue is None:
            return
        try:
            wallet = await self.venue.wallet()
        except VenueError as exc:
            logger.warning("WALLET_POLL_FAILED error={}", exc)
            return
        await self.equity.on_wallet(wallet)

    async def stop(self) -> None:
        if not self._started:
            await self.db.close()
            return
        self._stopping = True
        self.bus.publish(SystemStopping(ts=self.clock.now(), message="Titan is shutting down"))
        self.pause_strategies("shutdown", "Titan is shutting down")
        if self.strategies is not None:  # stop their timers, cancel unfilled entries
            await self.strategies.stop()
        if self.execution is not None:
            self.execution.stop_accepting_entries()
            await self.execution.drain()
        for task in self._tasks + ([self._reconcile_pending] if self._reconcile_pending else []):
            task.cancel()
        for task in self._tasks:
            with suppress(asyncio.CancelledError, Exception):
                await task
        if self.sync is not None:
            await self.sync.stop()
        for closer in (self.feed, self.venue):
            if closer is not None:
                with suppress(Exception):
                    await closer.close()
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

    def _on_venue_stream(self, name: str, state: StreamState) -> None:
        was = self.market.venue_connected
        self.market.venue_streams[name] = state
        now = self.market.venue_connected
        if self._stopping or not self._startup_done:
            return  # our own start-up and shutdown are not connection losses
        if was and not now:
            self.bus.publish(VenueDisconnected(
                ts=self.clock.now(), message=f"Bybit {name} stream {state.value}; Scavenger paused,"
                " positions watched by REST", data={"venue": "bybit", "stream": name}))
            self.pause_strategies("venue", f"Bybit {name} stream {state.value}")
        elif now and not was:
            self.bus.publish(VenueConnected(ts=self.clock.now(), message="Bybit streams connected",
                                            data={"venue": "bybit"}))
            self.spawn(self._resume_after_reconcile())

    def _on_feed_stream(self, name: str, state: StreamState) -> None:
        self.market.feed_streams[name] = state

    async def _resume_after_reconcile(self) -> None:
        report = await self.reconciler.run("reconnect")
        if report.clean or report.ok:
            self.resume_strategies("venue")

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        """Run a short job in the background, keeping a reference until it ends."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def request_reconcile(self, reason: str) -> None:
        """Run a reconciliation soon; requests that arrive meanwhile share it."""
        if self._reconcile_pending is not None and not self._reconcile_pending.done():
            return

        async def later() -> None:
            await asyncio.sleep(0.3)
            logger.info("RECONCILE_REQUESTED reason={}", reason)
            await self.reconciler.run("stream")

        self._reconcile_pending = asyncio.create_task(later(), name="reconcile-request")

    # -- strategies ---------------------------------------------------------------------

    @property
    def scavenger(self) -> Scavenger | None:
        """The Phase 1 strategy (tests, benchmarks and the status view look inside it)."""
        found = self.strategies.get("scavenger") if self.strategies is not None else None
        return found if isinstance(found, Scavenger) else None

    def pause_strategies(self, source: str, reason: str) -> None:
        self.strategy_pauses[source] = reason
        for cb in self.on_pause_change:
            cb()

    def on_pause_change_all(self) -> None:
        for cb in self.on_pause_change:
            cb()

    def resume_strategies(self, source: str) -> None:
        if self.strategy_pauses.pop(source, None) is not None:
            for cb in self.on_pause_change:
                cb()

    def _on_halt_changed(self, event: Event) -> None:
        # [scavenger] HARD_HALT paused the strategies; an explicit OPEN lets them run again
        # (entries still need the operator to re-ARM).
        if event.data.get("to") == "OPEN":
            self.resume_strategies("halt")

    # -- operator view ------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        risk = self.risk.status()
        wallet = self.equity.wallet
        report = self.reconciler.last_report if self.reconciler is not None else None
        positions = [
            {"symbol": p.symbol, "side": p.side.value, "size": str(p.size),
             "entryPrice": str(p.entry_price), "unrealisedPnl": str(p.unrealised_pnl),
             "stopLoss": str(p.stop_loss) if p.stop_loss is not None else None,
             "takeProfit": str(p.take_profit) if p.take_profit is not None else None,
             "orphaned": p.orphaned, "strategy": p.strategy}
            for p in self.ledger.positions.values()
        ]
        return {
            **risk,
            "bybitConnected": self.market.venue_connected,
            "binanceConnected": self.market.feed_connected,
            "venue": {"name": self.settings.venue.value,
                      "streams": {k: v.value for k, v in self.market.venue_streams.items()},
                      "feed": {k: v.value for k, v in self.market.feed_streams.items()}},
            "wallet": None if wallet is None else {
                "equity": str(wallet.equity), "walletBalance": str(wallet.wallet_balance),
                "available": str(wallet.available), "unrealisedPnl": str(wallet.unrealised_pnl)},
            "positions": positions,
            "openOrders": [o.as_dict() for o in self.ledger.live_orders.values()],
            "strategies": {"paused": bool(self.strategy_pauses),
                           "pauses": dict(self.strategy_pauses)},
            "strategyList": self.strategies.describe_all() if self.strategies else [],
            "scavenger": self.scavenger.status() if self.scavenger is not None else {
                "running": False, "status": "paused", "pauseReason": "not started",
                "armedTraps": [], "sprung": []},
            "lastReconciliation": report.as_dict() if report is not None else None,
            "configVersion": self.config.version_tag,
            "nats": nats_status(self.nats, bool(self.settings.nats_url)),  # ops
            "notifications": self.notifier.status(),  # notify: the console's System tab
            "uptime_s": round(time.monotonic() - self.started_monotonic, 1),
            "version": __version__,
            "serverTime": iso_utc(self.clock.now()),
        }

    async def positions_view(self) -> dict[str, Any]:
        """Shadow positions beside the venue's, with orphan and mismatch flags (SPEC §9)."""
        venue_error = ""
        venue_positions: dict[str, Any] = {}
        try:
            assert self.venue is not None
            for p in await self.venue.positions():
                if p.size > 0:
                    venue_positions[p.symbol] = p
        except (VenueError, AssertionError) as exc:
            venue_error = f"venue unreadable: {exc}"
        rows = []
        for symbol in sorted(set(self.ledger.positions) | set(venue_positions)):
            s, v = self.ledger.positions.get(symbol), venue_positions.get(symbol)
            shadow = None if s is None else {
                "side": s.side.value, "size": str(s.size), "entryPrice": str(s.entry_price),
                "unrealisedPnl": str(s.unrealised_pnl), "orphaned": s.orphaned,
                "strategy": s.strategy, "openedAt": s.opened_at.isoformat(),
                "stopLoss": None if s.stop_loss is None else str(s.stop_loss),
                "takeProfit": None if s.take_profit is None else str(s.take_profit)}
            venue = None if v is None else {
                "side": v.side.value, "size": str(v.size), "entryPrice": str(v.entry_price),
                "unrealisedPnl": str(v.unrealised_pnl),
                "stopLoss": None if v.stop_loss is None else str(v.stop_loss),
                "takeProfit": None if v.take_profit is None else str(v.take_profit)}
            mismatch = None
            if not venue_error:
                if s is None:
                    mismatch = "MISSING_IN_SHADOW"
                elif v is None:
                    mismatch = "MISSING_IN_BROKER"
                elif s.side is not v.side:
                    mismatch = "SIDE_MISMATCH"
                elif s.size != v.size:
                    mismatch = "SIZE_MISMATCH"
            rows.append({"symbol": symbol, "shadow": shadow, "venue": venue,
                         "orphaned": bool(s is not None and s.orphaned), "mismatch": mismatch})
        report = self.reconciler.last_report if self.reconciler is not None else None
        return {"positions": rows, "venueError": venue_error or None,
                "lastReconciliation": report.as_dict() if report is not None else None}

    def _refresh_metrics(self) -> None:
        """Gauges that mirror state (counters follow bus events inside Metrics)."""
        m, risk = self.metrics, self.risk
        if risk.equity is not None:
            m.set_equity(float(risk.equity))
            m.set_drawdown(float(risk.day.drawdown(risk.equity)))
        m.set_phase(risk.phases.current.number)
        m.set_master_arm(risk.arm_ctl.armed)
        m.set_open_positions(len(self.ledger.positions))
        m.set_halt_state(risk.halt.state.value)
        m.set_breaker(risk.breaker.is_tripped(self.clock.now()))
        m.set_venue_connected("bybit", self.market.venue_connected)
        m.set_venue_connected("binance", self.market.feed_connected)
        trades = risk.day.wins + risk.day.losses
        if trades:
            m.set_win_rate(risk.day.wins / trades)

    async def _metrics_job(self) -> None:
        self._refresh_metrics()

    def _start_nats(self) -> None:  # ops: the bridge logs its own connection state
        from titan.ops.nats_wiring import build_nats_bridge

        if self.nats_handlers is None:
            return
        self.nats = build_nats_bridge(self, self.nats_handlers)
        if self.nats is not None:
            self.nats.start()

    async def health_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            await self.db.scalar("SELECT 1")
            checks["database"] = {"ok": True}
        except Exception as exc:
            checks["database"] = {"ok": False, "detail": f"database unreadable: {exc}"}
        checks["disk"] = self.db.storage.check()
        connected = self.market.venue_connected
        checks["bybit"] = {"ok": connected, "critical": False,
                           **({} if connected else {"detail": "Bybit streams not connected"})}
        feed = self.market.feed_connected
        checks["binance"] = {"ok": feed, "critical": False,
                             **({} if feed else {"detail": "Binance trade feed not connected"})}
        bus = nats_health(self.nats)  # ops: only when TITAN_NATS_URL is set
        if bus is not None:
            checks["nats"] = bus
        return checks

    def _disk_full(self, detail: str) -> None:
        self.bus.publish(DiskLow(
            ts=self.clock.now(),
            message=f"data folder disk full, writes refused ({detail}); {STILL_WORKS}",
            data={"folder": str(self.db.storage.folder),
                  "freeBytes": self.db.storage.free_bytes()}))

    def alert(self, severity: Severity, message: str, **data: Any) -> None:
        self.bus.publish(Alert(ts=self.clock.now(), severity=severity, message=message, data=data))


def decimal_or_none(v: Any) -> Decimal | None:
    return None if v is None else Decimal(str(v))
