"""Operator alerts: events that carry a severity (the manual's alert table).

| Alert (manual) | Event | Severity |
|---|---|---|
| Circuit breaker triggered | `CIRCUIT_BREAKER` (`BreakerTripped`) | CRITICAL |
| Bybit connection lost | `VENUE_DISCONNECTED` | HIGH |
| Daily drawdown > 5% | `RISK_WARNING` | HIGH |
| 3 consecutive losses | `RISK_WARNING` with `severity=MEDIUM` | MEDIUM |
| Signal rejected | `SIGNAL_REJECTED` | LOW |

They are published on the bus like every event, logged with their severity, and
written to the `events` table by the journal (`severity` column set). This module
reads them back for the API (`/api/events`) and the console.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from titan.domain.reasons import Severity
from titan.store.db import Database

SEVERITY_ORDER = (Severity.LOW, Severity.MEDIUM, Severity.HIGH, Severity.CRITICAL)


@dataclass(frozen=True, slots=True)
class AlertRow:
    id: int
    ts: str
    event: str
    severity: Severity
    message: str
    data: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "ts": self.ts, "event": self.event,
                "severity": self.severity.value, "message": self.message, "data": self.data}


def at_least(severity: Severity | str) -> tuple[Severity, ...]:
    """The severities at or above `severity` (e.g. HIGH → HIGH, CRITICAL)."""
    sev = Severity(str(severity).upper())
    return SEVERITY_ORDER[SEVERITY_ORDER.index(sev):]


def _row(r: dict[str, Any]) -> AlertRow:
    try:
        data = json.loads(r["data"]) if r["data"] else {}
    except ValueError:
        data = {"raw": r["data"]}
    return AlertRow(id=int(r["id"]), ts=str(r["ts"]), event=str(r["name"]),
                    severity=Severity(r["severity"]), message=str(r["message"]),
                    data=data if isinstance(data, dict) else {"value": data})


async def recent_alerts(db: Database, *, limit: int = 50,
                        severities: tuple[Severity, ...] | None = None,
                        min_severity: Severity | str | None = None,
                        since: datetime | None = None,
                        before_id: int | None = None) -> list[AlertRow]:
    """Alerts newest first. Filter by exact severities or a minimum, a start time, and
    `before_id` for paging (pass the last id of the previous page)."""
    where = ["severity IS NOT NULL"]
    params: list[Any] = []
    wanted = severities if severities is not None else (
        at_least(min_severity) if min_severity is not None else None)
    if wanted is not None:
        if not wanted:
            return []
        where.append(f"severity IN ({','.join('?' for _ in wanted)})")
        params.extend(s.value for s in wanted)
    if since is not None:
        where.append("ts >= ?")
        params.append(since.isoformat())
    if before_id is not None:
        where.append("id < ?")
        params.append(before_id)
    limit = max(1, min(int(limit), 1000))
    rows = await db.fetch_all(
        f"SELECT id, ts, name, severity, message, data FROM events WHERE {' AND '.join(where)} "
        f"ORDER BY id DESC LIMIT {limit}", params)
    return [_row(r) for r in rows if r["severity"] in Severity.__members__]


async def alert_counts(db: Database, since: datetime | None = None) -> dict[str, int]:
    """How many alerts of each severity (all four keys, zeros included)."""
    sql = "SELECT severity, count(*) AS n FROM events WHERE severity IS NOT NULL"
    params: list[Any] = []
    if since is not None:
        sql += " AND ts >= ?"
        params.append(since.isoformat())
    rows = await db.fetch_all(sql + " GROUP BY severity", params)
    counts = {s.value: 0 for s in SEVERITY_ORDER}
    for r in rows:
        if r["severity"] in counts:
            counts[r["severity"]] = int(r["n"])
    return counts
