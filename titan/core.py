"""The composition root: builds Titan's components and starts and stops them in order.

It wires; it does not decide. Every rule lives in its own module (risk/, execution/,
state/, strategies/); this file only connects them and owns their lifetimes.
"""

from __future__ import annotations

import time
from typing import Any

from loguru import logger

from titan import __version__
from titan.bus import EventBus
from titan.clock import Clock, SystemClock
from titan.config_service import ConfigService
from titan.events import SystemStarted, SystemStopping
from titan.ops.journal import EventJournal, log_event
from titan.secrets import RuntimeSecrets, resolve_secrets
from titan.settings import Settings
from titan.store.audit import AuditLog
from titan.store.db import Database


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
        # -- config versions and audit (api branch) --
        # Pass known_symbols=<the execution venue's instrument names> once the venue is
        # wired; until then the whitelist accepts the built-in simulator's symbols.
        self.audit = AuditLog(self.db, self.clock, self.bus)
        self.config = ConfigService(self.db, self.bus, self.clock)
        # -- end config versions and audit --
        self.started_monotonic = time.monotonic()
        self._started = False

    async def start(self) -> None:
        applied = await self.db.open()
        if applied:
            logger.info("DB_MIGRATED applied={}", ",".join(applied))
        self.journal.start()
        await self.config.start()  # api branch: load the active risk config (or write defaults)
        self._started = True
        self.bus.publish(SystemStarted(
            ts=self.clock.now(), message=f"Titan {__version__} started",
            data={"venue": self.settings.venue.value, "db": str(self.settings.database)}))

    async def stop(self) -> None:
        if not self._started:
            await self.db.close()
            return
        self.bus.publish(SystemStopping(ts=self.clock.now(), message="Titan is shutting down"))
        await self.journal.stop()
        try:
            await self.db.checkpoint()
        except Exception:
            logger.opt(exception=True).warning("DB_CHECKPOINT_FAILED")
        await self.db.close()
        self._started = False
        logger.info("SYSTEM_STOPPED database closed")

    async def health_checks(self) -> dict[str, dict[str, Any]]:
        checks: dict[str, dict[str, Any]] = {}
        try:
            await self.db.scalar("SELECT 1")
            checks["database"] = {"ok": True}
        except Exception as exc:
            checks["database"] = {"ok": False, "detail": f"database unreadable: {exc}"}
        return checks
