"""The audit log: every operator action — who, from where, what, and what came of it.

`AuditLog.record(...)` is the one way to write it. Failed attempts (refused input,
refused actions) are recorded too, with `success=False`. Each record is also published
as an `OPERATOR_ACTION` event, so it is logged as one greppable line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from titan.bus import EventBus
from titan.clock import Clock, iso_utc
from titan.events import OperatorAction
from titan.store.db import Database
from titan.venues.base import as_jsonable

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


def _outcome(result: Any) -> dict[str, Any]:
    """A flatten's outcome for the event (the notifier tells the operator what is left)."""
    if not isinstance(result, dict) or "positions_closed" not in result:
        return {}
    keep = ("success", "positions_closed", "results", "error")
    return {"result": {k: result[k] for k in keep if k in result}}


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
                data={"action": action, "actor": actor, "source": source, "ip": ip,
                      "success": success, **_outcome(result)},
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
