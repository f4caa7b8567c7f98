"""The audit log: every operator action — who, from where, what, and what came of it.

`AuditLog.record(...)` is the one way to write it; `audited_action(...)` wraps an
operator action so it is recorded whatever its outcome (the API, the console and the
NATS commands all go through it). Failed attempts (refused input,
refused actions) are recorded too, with `success=False`. Each record is also published
as an `OPERATOR_ACTION` event, so it is logged as one greppable line.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock, iso_utc
from titan.events import OperatorAction
from titan.jsonsafe import as_jsonable
from titan.store.db import Database
from titan.store.storage import is_storage_full

MAX_JSON_CHARS = 16_000  # params/result are truncated past this: the log must stay small


@dataclass(frozen=True, slots=True)
class Actor:
    """Who did something, through what, from where."""

    name: str
    source: str  # api | console | cli | nats | startup | system
    ip: str = ""


def _json(value: Any) -> str:
    text = json.dumps(as_jsonable(value), sort_keys=True, default=str)
    if len(text) > MAX_JSON_CHARS:
        return json.dumps({"truncated": True, "head": text[:MAX_JSON_CHARS]})
    return text


def _outcome(result: Any) -> dict[str, Any] | None:
    """A flatten's outcome for the event (the notifier tells the operator what is left)."""
    if not isinstance(result, dict) or "positions_closed" not in result:
        return None
    keep = ("success", "positions_closed", "results", "error")
    return {k: result[k] for k in keep if k in result}


class AuditLog:
    def __init__(self, db: Database, clock: Clock, bus: EventBus | None = None) -> None:
        self.db = db
        self.clock = clock
        self.bus = bus

    async def record(self, actor: str, source: str, ip: str, action: str,
                     params: Any = None, result: Any = None, success: bool = True) -> int:
        """Write one audit row; returns its id."""
        now = self.clock.now()
        row_id = await self.db.execute_write(
            "INSERT INTO audit_log(ts, actor, source, source_ip, action, params, result, success)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (iso_utc(now), actor, source, ip, action, _json(params or {}), _json(result or {}),
             1 if success else 0))
        if self.bus is not None:
            self.bus.publish(OperatorAction(
                ts=now,
                message=f"{action} by {actor} via {source}{' from ' + ip if ip else ''}: "
                        f"{'ok' if success else 'refused'}",
                action=action, actor=actor, source=source, ip=ip, success=success,
                result=_outcome(result),
                ))
        return row_id

    async def record_as(self, actor: Actor, action: str, params: Any = None,
                        result: Any = None, success: bool = True) -> int:
        return await self.record(actor.name, actor.source, actor.ip, action, params, result,
                                 success)

    async def page(self, limit: int, before_id: int | None = None, action: str | None = None,
                   success: bool | None = None) -> list[dict[str, Any]]:
        where, args = [], []  # type: list[str], list[Any]
        if before_id is not None:
            where.append("id < ?")
            args.append(before_id)
        if action is not None:
            where.append("action = ?")
            args.append(action)
        if success is not None:
            where.append("success = ?")
            args.append(1 if success else 0)
        sql = ("SELECT id, ts, actor, source, source_ip, action, params, result, success"
               " FROM audit_log")
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY id DESC LIMIT ?"
        rows = await self.db.fetch_all(sql, (*args, limit))
        out = []
        for r in rows:
            out.append({
                "id": r["id"], "ts": r["ts"], "actor": r["actor"], "source": r["source"],
                "source_ip": r["source_ip"], "action": r["action"],
                "params": json.loads(r["params"]), "result": json.loads(r["result"]),
                "success": bool(r["success"]),
            })
        return out


# -- one audited action ------------------------------------------------------------------


@dataclass
class AuditEntry:
    """What an audited block records: set `result` (and `success`) inside the block;
    after it, `saved` says whether the row was written."""

    params: Any
    result: Any = None
    success: bool = True
    saved: bool | None = None
    storage_full: bool = False


def describe_error(exc: BaseException) -> dict[str, Any]:
    """The audit row's result for a refused action: the error's status, code, message and
    details when it has them (API, config and risk errors do), else a 500."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        return {"status": 500, "code": "INTERNAL_ERROR", "message": str(exc)}
    out: dict[str, Any] = {"code": code, "message": getattr(exc, "message", str(exc))}
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        out["status"] = status
    details = getattr(exc, "details", None)
    if details is not None:
        out["details"] = details
    return out


@asynccontextmanager
async def audited_action(log: AuditLog, actor: Actor, action: str,
                         params: Any = None) -> AsyncIterator[AuditEntry]:
    """Audit the operator action done inside the block, whoever asked (API, console, CLI,
    NATS): one row with `success=True` and `entry.result` when the block ends, or with
    `success=False` and the error when it raises (the error is raised on). A row that
    cannot be written never hides or undoes the action: it is logged, and `entry.saved`
    is False (with `storage_full` when the disk is why) so the caller can say so."""
    entry = AuditEntry(params=params)
    try:
        yield entry
    except Exception as exc:
        await _try_record(log, actor, action, entry, describe_error(exc), False)
        raise
    await _try_record(log, actor, action, entry, entry.result, entry.success)


async def _try_record(log: AuditLog, actor: Actor, action: str, entry: AuditEntry,
                      result: Any, success: bool) -> None:
    try:
        await log.record_as(actor, action, entry.params, result, success)
        entry.saved = True
    except Exception as exc:  # the action happened; a failed audit write must not hide it
        entry.saved = False
        entry.storage_full = is_storage_full(exc)
        logger.opt(exception=not entry.storage_full).error(
            "AUDIT_NOT_SAVED action={} actor={} via {} result={}", action, actor.name,
            actor.source, result)
