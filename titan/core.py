"""The composition root: builds Titan's components and starts and stops them in order.

It wires; it does not decide. Every rule lives in its own module (risk/, execution/,
state/, strategies/); this file only connects them and owns their lifetimes.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from loguru import logger

from titan import __version__
from titan.bus import EventBus
from titan.clock import Clock, SystemClock
from titan.events import SystemStarted, SystemStopping
from titan.ops.backup import BackupJob
from titan.ops.journal import EventJournal, log_event
from titan.ops.metrics import Metrics
from titan.ops.scheduler import Scheduler
from titan.secrets import RuntimeSecrets, resolve_secrets
from titan.settings import Settings
from titan.store.db import Database

if TYPE_CHECKING:
    from titan.ops.nats_bridge import Handlers, NatsBridge

BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC = 0, 30  # nightly backup, after the 00:00 UTC day roll


class Titan:
    def __init__(self, settings: Settings, clock: Clock | None = None,
                 secrets: RuntimeSecrets | None = None) -> None:
        self.settings = settings
        self.clock: Clock = clock or SystemClock()
        self.bus = EventBus()
        self.bus.subscribe(log_event)
        self.db = Database(settings.database)
        self.secrets = secrets or resolve_secrets(settings)
        self.journal = EventJournal(self.db, self.bus)
        self.started_monotonic = time.monotonic()
        self._started = False
        # --- ops: scheduler, metrics, nightly backup (titan/ops/) ---
        self.scheduler = Scheduler()
        self.metrics = Metrics(self.bus)
        self.backups = BackupJob(settings.database, settings.backups, settings.backup_keep,
                                 self.bus, self.clock)
        self.scheduler.daily(BACKUP_HOUR_UTC, BACKUP_MINUTE_UTC, self.backups.run, "nightly-backup")
        # NATS bridge: started in start() when TITAN_NATS_URL is set and these are wired:
        # self.nats_handlers = Handlers(on_halt=..., on_risk_update=..., on_risk_reload=...)
        self.nats_handlers: Handlers | None = None
        self.nats: NatsBridge | None = None
        # --- end ops ---

    async def start(self) -> None:
        applied = await self.db.open()
        if applied:
            logger.info("DB_MIGRATED applied={}", ",".join(applied))
        self.journal.start()
        self.metrics.start()  # ops
        self.scheduler.start()  # ops
        self._start_nats()  # ops
        self._started = True
        self.bus.publish(SystemStarted(
            ts=self.clock.now(), message=f"Titan {__version__} started",
            data={"venue": self.settings.venue.value, "db": str(self.settings.database)}))

    async def stop(self) -> None:
        if not self._started:
            await self.db.close()
            return
        self.bus.publish(SystemStopping(ts=self.clock.now(), message="Titan is shutting down"))
        self.scheduler.stop()  # ops
        if self.nats is not None:  # ops
            await self.nats.stop()
            self.nats = None
        await self.metrics.stop()  # ops
        await self.journal.stop()
        try:
            await self.db.checkpoint()
        except Exception:
            logger.opt(exception=True).warning("DB_CHECKPOINT_FAILED")
        await self.db.close()
        self._started = False
        logger.info("SYSTEM_STOPPED database closed")

    def _start_nats(self) -> None:  # ops
        if not self.settings.nats_url:
            return
        if self.nats_handlers is None:
            logger.warning("NATS_BRIDGE_NOT_WIRED TITAN_NATS_URL is set but no halt/config "
                           "handlers are wired: NATS commands are not obeyed; use the API")
            return
        from titan.ops.nats_bridge import NatsBridge

        self.nats = NatsBridge(self.settings.nats_url, self.nats_handlers)
        self.nats.start()

    async def health_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            await self.db.scalar("SELECT 1")
            checks["database"] = {"ok": True}
        except Exception as exc:
            checks["database"] = {"ok": False, "detail": f"database unreadable: {exc}"}
        return checks
