"""Hunter's `hunter_positions` table: each managed position's record (plan and what has
been done). Written **before** acting on it (the 2R partial is recorded, then sent), so
after a restart the partial is never taken twice. Without a database (a replay) Hunter
keeps the same records in memory only."""

from __future__ import annotations

import json
from datetime import datetime

from loguru import logger

from titan.store.db import Database
from titan.strategies.hunter.manage import Managed


class HunterStore:
    def __init__(self, db: Database) -> None:
        self._db = db

    async def save(self, m: Managed, at: datetime, pnl: float | None = None) -> None:
        data = m.to_json()
        if pnl is not None:
            data["pnl"] = pnl
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    "INSERT INTO hunter_positions(plan_id, symbol, closed, data, updated_at)"
                    " VALUES (?,?,?,?,?) ON CONFLICT(plan_id) DO UPDATE SET"
                    " closed=excluded.closed, data=excluded.data, updated_at=excluded.updated_at",
                    (m.plan_id, m.symbol, 1 if m.closed else 0, json.dumps(data), at.isoformat()))
        except Exception:
            logger.opt(exception=True).warning("HUNTER_PERSIST_FAILED {}", m.plan_id)
            raise

    async def load(self) -> tuple[list[Managed], int]:
        """The open records, and the loss streak from the closed ones (newest first)."""
        try:
            rows = await self._db.fetch_all(
                "SELECT closed, data FROM hunter_positions ORDER BY updated_at DESC")
        except Exception:
            logger.opt(exception=True).warning("HUNTER_READ_FAILED")
            return [], 0
        open_: list[Managed] = []
        streak, counting = 0, True
        for r in rows:
            try:
                data = json.loads(str(r["data"]))
                pnl = data.pop("pnl", None)
                if int(r["closed"]):
                    if counting and isinstance(pnl, int | float):
                        if pnl < 0:
                            streak += 1
                        else:
                            counting = False
                    continue
                open_.append(Managed.from_json(data))
            except (ValueError, TypeError, KeyError):
                continue  # a hand-edited row: skipped, logged by nobody
        return open_, streak
