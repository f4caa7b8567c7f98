"""Where the risk state (Master Arm, halt, breaker, phase, day) is saved: the pre-allocated
safety file first (it takes a write even on a full disk), then the database.

A save the database refused is retried in the background until it is taken, and once more
at shutdown; `unsaved` says one is pending, and the operator API refuses loosening actions
(ARM, lifting a halt) meanwhile. At start-up the safer of the two copies wins.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from loguru import logger

from titan.state.ledger import Ledger
from titan.store.safety_file import SafetyStateFile, safer_state

RETRY_S = 1.0


class RiskStateStore:
    def __init__(self, ledger: Ledger, folder: Path, key: str) -> None:
        self.ledger = ledger
        self.key = key
        self.file = SafetyStateFile(folder)
        self._latest: Callable[[], dict[str, Any]] | None = None
        self._pending = False
        self._retry: asyncio.Task[None] | None = None

    @property
    def unsaved(self) -> bool:
        """A change the database has not taken yet (the safety file may hold it)."""
        return self._pending

    async def load(self) -> dict[str, Any] | None:
        """Start-up: allocate the safety file and return the safer of the two copies."""
        saved = await self.ledger.get_state(self.key)
        from_file = self.file.read()
        merged = safer_state(saved if isinstance(saved, dict) else None, from_file)
        if merged is not saved and merged != saved:
            logger.warning("RISK_STATE_FROM_SAFETY_FILE the safety file holds a safer state"
                           " than the database (a change saved while the disk was full)")
        self.file.allocate()
        return merged

    def follow(self, latest: Callable[[], dict[str, Any]]) -> None:
        """What the retries save: the risk engine's state at the time of the retry."""
        self._latest = latest

    async def save(self, state: dict[str, Any]) -> None:
        """Safety file, then database. A refused database write raises (the risk engine
        alerts) and is retried until taken."""
        try:
            self.file.write(state)
        except OSError as exc:
            logger.error("SAFETY_FILE_NOT_WRITTEN error={}", exc)
        try:
            await self.ledger.put_state(self.key, state)
        except Exception:
            self._pending = True
            if self._retry is None or self._retry.done():
                self._retry = asyncio.create_task(self._retry_until_saved(), name="risk-state-retry")
            raise
        self._pending = False

    async def can_save(self, state: dict[str, Any]) -> bool:
        """Save `state` (the current one) now: False when the database refuses it (a
        loosening action must then be refused)."""
        try:
            await self.ledger.put_state(self.key, state)
        except Exception as exc:
            logger.warning("RISK_STATE_NOT_SAVABLE error={}", exc)
            return False
        self._pending = False
        return True

    async def _retry_until_saved(self) -> None:
        while self._pending:
            await asyncio.sleep(RETRY_S)
            if await self._save_latest():
                logger.info("RISK_STATE_SAVED the safety state refused earlier is saved now")
                return

    async def _save_latest(self) -> bool:
        if self._latest is None:
            return False
        try:
            await self.ledger.put_state(self.key, self._latest())
        except Exception as exc:
            logger.warning("RISK_STATE_RETRY_FAILED error={}", exc)
            return False
        self._pending = False
        return True

    async def close(self) -> None:
        """Shutdown: one last try for a pending save (the safety file already holds it)."""
        if self._retry is not None:
            self._retry.cancel()
        if self._pending and not await self._save_latest():
            logger.error("RISK_STATE_NOT_PERSISTED at shutdown: the safety file holds it")
