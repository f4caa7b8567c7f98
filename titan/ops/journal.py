"""Subscribers that give every event its three lasting forms: a log line, a row, an alert.

The log line is written synchronously (cheap). The database row is queued and written by
a background task in batches, so the trading path never waits on SQLite.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import suppress

from loguru import logger

from titan.bus import EventBus
from titan.domain.reasons import Severity
from titan.events import Event
from titan.jsonsafe import as_jsonable
from titan.logs import format_fields
from titan.store.db import Database

_LEVEL = {
    None: "INFO",
    Severity.LOW: "INFO",
    Severity.MEDIUM: "WARNING",
    Severity.HIGH: "WARNING",
    Severity.CRITICAL: "ERROR",
}


def log_event(event: Event) -> None:
    """One line per event: `NAME message key=value ...`, greppable by NAME."""
    sev = event.alert_severity
    fields = format_fields(event.data) if event.data else ""
    prefix = f"[{sev.value}] " if sev else ""
    logger.log(_LEVEL[sev], "{} {}{}{}", event.name, prefix, event.message,
               f" {fields}" if fields else "")


class EventJournal:
    """Persists events to the `events` table from a queue, in batches."""

    def __init__(self, db: Database, bus: EventBus) -> None:
        self.db = db
        self._queue, self._unsubscribe = bus.subscribe_queue(maxsize=50_000)
        self._task: asyncio.Task[None] | None = None
        self._writing = False
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-journal")

    async def _run(self) -> None:
        while not self._stopping:
            first = await self._queue.get()
            batch = [first]
            while not self._queue.empty() and len(batch) < 500:
                batch.append(self._queue.get_nowait())
            self._writing = True
            try:
                await self._write(batch)
            finally:
                self._writing = False

    async def _write(self, batch: list[Event]) -> None:
        rows = [
            (e.ts.isoformat(), e.name, e.alert_severity.value if e.alert_severity else None,
             e.message, json.dumps(as_jsonable(e.data)))
            for e in batch
        ]
        try:
            async with self.db.write() as conn:
                await conn.executemany(
                    "INSERT INTO events(ts, name, severity, message, data) VALUES (?,?,?,?,?)", rows
                )
        except Exception:
            logger.opt(exception=True).error("EVENT_JOURNAL_FAILED lost={}", len(rows))

    async def flush(self) -> None:
        """Write whatever is queued now (at shutdown, and in tests)."""
        batch = []
        while not self._queue.empty():
            batch.append(self._queue.get_nowait())
        if batch:
            await self._write(batch)

    async def stop(self) -> None:
        self._unsubscribe()
        self._stopping = True
        if self._task is not None:
            # Never cancel a batch mid-write: it was already taken off the queue.
            if not self._writing:
                self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
