"""The Scavenger's `traps` table: one row per trap while it stays armed.

Each arming round updates the level and score of the rows of traps still armed and
inserts rows for new ones; a trap that is no longer armed keeps its row as history; a
sprung trap gets `sprung_at` and its outcome. A failed write is logged and never stops
trading: the rows are the operator's history, not the strategy's memory.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from loguru import logger

from titan.store.db import Database
from titan.strategies.scavenger.model import Direction, Trap


class TrapStore:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._rows: dict[str, int] = {}  # trap id → its row while armed

    async def save_armed(self, armed: list[Trap], at: datetime) -> None:
        iso = at.isoformat()
        keep = {t.trap_id for t in armed}
        try:
            async with self._db.write() as conn:
                for trap in armed:
                    data = json.dumps({"trapId": trap.trap_id, "label": trap.tripwire.label,
                                       "leverage": trap.leverage,
                                       "distancePct": round(trap.distance_pct, 4),
                                       "volatility": round(trap.volatility, 2),
                                       "volume": round(trap.volume, 2),
                                       "confluence": round(trap.confluence, 2),
                                       "updatedAt": iso})
                    row = self._rows.get(trap.trap_id)
                    if row is not None:
                        await conn.execute(
                            "UPDATE traps SET level=?, direction=?, score=?, data=? WHERE id=?",
                            (repr(trap.level), trap.direction.value, trap.score, data, row))
                    else:
                        cur = await conn.execute(
                            "INSERT INTO traps(symbol, kind, level, direction, score, confidence,"
                            " armed_at, data) VALUES (?,?,?,?,?,?,?,?)",
                            (trap.symbol, trap.kind.value, repr(trap.level),
                             trap.direction.value, trap.score, trap.confidence, iso, data))
                        if cur.lastrowid is not None:
                            self._rows[trap.trap_id] = cur.lastrowid
            for trap_id in [k for k in self._rows if k not in keep]:
                del self._rows[trap_id]  # disarmed: its row stays as history
        except Exception:
            logger.opt(exception=True).warning("TRAPS_PERSIST_FAILED")

    def take_row(self, trap_id: str) -> int | None:
        """The row of an armed trap that just sprang (it is no longer armed)."""
        return self._rows.pop(trap_id, None)

    async def mark_sprung(self, row: int, sprung_ms: int, outcome: str) -> None:
        at = datetime.fromtimestamp(sprung_ms / 1000.0, UTC).isoformat()
        try:
            async with self._db.write() as conn:
                await conn.execute(
                    "UPDATE traps SET sprung_at=?, data=json_set(data, '$.outcome', ?)"
                    " WHERE id=?", (at, outcome, row))
        except Exception:
            logger.opt(exception=True).warning("TRAPS_PERSIST_FAILED sprung")

    async def recent_springs(self, since_ms: int) -> list[tuple[str, float, Direction, int]]:
        """(symbol, level, direction, sprung ms) of traps sprung since `since_ms`: their
        cooldowns outlive a restart."""
        since = datetime.fromtimestamp(since_ms / 1000.0, UTC).isoformat()
        try:
            rows = await self._db.fetch_all(
                "SELECT symbol, level, direction, sprung_at FROM traps"
                " WHERE sprung_at IS NOT NULL AND sprung_at >= ? ORDER BY sprung_at", (since,))
        except Exception:
            logger.opt(exception=True).warning("TRAPS_READ_FAILED recent springs")
            return []
        out: list[tuple[str, float, Direction, int]] = []
        for r in rows:
            try:
                at = datetime.fromisoformat(str(r["sprung_at"]))
                out.append((str(r["symbol"]), float(r["level"]), Direction(r["direction"]),
                            int(at.timestamp() * 1000)))
            except (ValueError, TypeError):
                continue  # a hand-edited row: no cooldown rather than no start
        return out
