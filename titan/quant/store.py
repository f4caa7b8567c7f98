"""AI Quant's tables (migration 0004): runs with their briefing, and proposals.

A proposal is decided once: `decide` moves it from pending to approved or rejected in one
conditional UPDATE, so two operators deciding at once cannot both win.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

import aiosqlite

from titan.clock import iso_utc
from titan.store.db import Database

_PROPOSAL_COLS = ("id, run_id, created_at, status, config_version, strategy, changes,"
                  " active_figures, candidate_figures, evidence, reject_reason, decided_by,"
                  " decided_at, applied_version")


def _j(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def _proposal(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    for k in ("changes", "active_figures", "candidate_figures", "evidence"):
        out[k] = json.loads(row[k] or "{}")
    return out


def _run(row: dict[str, Any]) -> dict[str, Any]:
    out = dict(row)
    out["briefing"] = json.loads(row["briefing"] or "{}")
    out["result"] = json.loads(row["result"] or "{}")
    return out


class QuantStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # -- runs ------------------------------------------------------------------------

    async def add_run(self, run_id: str, now: datetime, trigger: str, actor: str,
                      config_version: str, briefing: dict[str, Any]) -> None:
        await self.db.execute_write(
            "INSERT INTO quant_runs(id, created_at, trigger, actor, status, config_version,"
            " briefing) VALUES (?,?,?,?,?,?,?)",
            (run_id, iso_utc(now), trigger, actor, "running", config_version, _j(briefing)))

    async def finish_run(self, run_id: str, now: datetime, *, status: str,
                         result: dict[str, Any], error: str | None = None,
                         proposal: dict[str, Any] | None = None) -> int | None:
        """Record how a run ended and, in the same transaction, its proposal (if any)."""
        async with self.db.write() as conn:
            await conn.execute(
                "UPDATE quant_runs SET status = ?, finished_at = ?, result = ?, error = ?"
                " WHERE id = ?", (status, iso_utc(now), _j(result), error, run_id))
            if proposal is None:
                return None
            return await self._insert_proposal(conn, run_id, now, proposal)

    @staticmethod
    async def _insert_proposal(conn: aiosqlite.Connection, run_id: str, now: datetime,
                               p: dict[str, Any]) -> int:
        cur = await conn.execute(
            "INSERT INTO quant_proposals(run_id, created_at, config_version, strategy, changes,"
            " active_figures, candidate_figures, evidence) VALUES (?,?,?,?,?,?,?,?)",
            (run_id, iso_utc(now), p["config_version"], p["strategy"], _j(p["changes"]),
             _j(p["active"]), _j(p["candidate"]), _j(p.get("evidence", {}))))
        return int(cur.lastrowid or 0)

    async def run(self, run_id: str) -> dict[str, Any] | None:
        row = await self.db.fetch_one("SELECT * FROM quant_runs WHERE id = ?", (run_id,))
        return None if row is None else _run(row)

    async def runs(self, limit: int = 20) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT * FROM quant_runs ORDER BY created_at DESC, id DESC LIMIT ?", (limit,))
        return [_run(r) for r in rows]

    async def latest_done(self) -> dict[str, Any] | None:
        row = await self.db.fetch_one(
            "SELECT * FROM quant_runs WHERE status = 'done'"
            " ORDER BY created_at DESC, id DESC LIMIT 1")
        return None if row is None else _run(row)

    async def running(self) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all("SELECT * FROM quant_runs WHERE status = 'running'")
        return [_run(r) for r in rows]

    # -- proposals -------------------------------------------------------------------

    async def proposal(self, proposal_id: int) -> dict[str, Any] | None:
        row = await self.db.fetch_one(
            f"SELECT {_PROPOSAL_COLS} FROM quant_proposals WHERE id = ?", (proposal_id,))
        return None if row is None else _proposal(row)

    async def proposals(self, status: str | None = None, limit: int = 50) -> list[dict[str, Any]]:
        if status is None:
            rows = await self.db.fetch_all(
                f"SELECT {_PROPOSAL_COLS} FROM quant_proposals ORDER BY id DESC LIMIT ?",
                (limit,))
        else:
            rows = await self.db.fetch_all(
                f"SELECT {_PROPOSAL_COLS} FROM quant_proposals WHERE status = ?"
                " ORDER BY id DESC LIMIT ?", (status, limit))
        return [_proposal(r) for r in rows]

    async def rejected_since(self, since: datetime) -> list[dict[str, Any]]:
        rows = await self.db.fetch_all(
            "SELECT decided_at, changes FROM quant_proposals WHERE status = 'rejected'"
            " AND decided_at >= ?", (iso_utc(since),))
        return [{"decided_at": r["decided_at"], "changes": json.loads(r["changes"])}
                for r in rows]

    async def decide(self, proposal_id: int, status: str, actor: str, now: datetime, *,
                     reason: str | None = None, applied_version: str | None = None) -> bool:
        """pending → `status`; False when it was no longer pending."""
        async with self.db.write() as conn:
            cur = await conn.execute(
                "UPDATE quant_proposals SET status = ?, decided_by = ?, decided_at = ?,"
                " reject_reason = ?, applied_version = ? WHERE id = ? AND status = 'pending'",
                (status, actor, iso_utc(now), reason, applied_version, proposal_id))
            return bool(cur.rowcount)
