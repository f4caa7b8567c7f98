"""Journal endpoints (SPEC §9): trades, events/alerts, the audit log, performance.

Lists are newest first and paged by row id: `?limit=N` (1–500, default 50) and
`?before=ID` for the next page (each page's `next_before` says what to pass). Money is
a Decimal string; timestamps are ISO-8601 UTC as stored.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from titan.api.keys import TITAN
from titan.api.openapi import api_route
from titan.api.operator import parse_query
from titan.clock import iso_utc, utc_day_start
from titan.domain.reasons import Severity

routes = web.RouteTableDef()


class PageQuery(BaseModel):
    limit: int = Field(50, ge=1, le=500, description="at most this many rows")
    before: int | None = Field(None, ge=1, le=2**62, description="rows older than this id")


STRATEGY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"


class TradesQuery(PageQuery):
    symbol: str | None = Field(None, pattern=r"^[A-Z0-9]{2,30}$", description="one symbol only")
    strategy: str | None = Field(None, pattern=STRATEGY_PATTERN,
                                 description="one strategy only (e.g. scavenger)")


class PerformanceQuery(BaseModel):
    strategy: str | None = Field(None, pattern=STRATEGY_PATTERN,
                                 description="one strategy only (e.g. scavenger)")


class EventsQuery(PageQuery):
    severity: Severity | None = Field(None, description="only alerts of this severity")
    alerts: bool = Field(False, description="only alerts (events with a severity)")
    name: str | None = Field(None, pattern=r"^[A-Z_]{1,64}$", description="only this event")


class AuditQuery(PageQuery):
    action: str | None = Field(None, max_length=100, description="only this action")
    success: bool | None = Field(None, description="only successful / refused actions")


class TradeOut(BaseModel):
    id: int
    symbol: str
    side: str
    qty: str
    entry_price: str
    exit_price: str
    gross_pnl: str
    fees: str
    net_pnl: str
    strategy: str
    close_reason: str
    opened_at: str
    closed_at: str


class TradesPage(BaseModel):
    """Closed trades, newest first"""

    items: list[TradeOut]
    next_before: int | None


class EventOut(BaseModel):
    id: int
    ts: str
    name: str
    severity: Severity | None
    message: str
    data: Any


class EventsPage(BaseModel):
    """Events and alerts, newest first"""

    items: list[EventOut]
    next_before: int | None


class AuditOut(BaseModel):
    id: int
    ts: str
    actor: str
    source: str
    source_ip: str
    action: str
    params: Any
    result: Any
    success: bool


class AuditPage(BaseModel):
    """Operator actions, newest first"""

    items: list[AuditOut]
    next_before: int | None


class PerfStats(BaseModel):
    realised_pnl: str = Field(description="sum of net PnL (after fees), Decimal string")
    gross_pnl: str
    fees: str
    trades: int
    wins: int
    losses: int
    win_rate: str | None = Field(description="wins / trades as a Decimal string; null: no trades")
    best_trade: str | None
    worst_trade: str | None


class Performance(BaseModel):
    """Realised performance from the trade journal"""

    as_of: str
    day_start: str
    today: PerfStats
    all_time: PerfStats
    strategy: str | None = None
    by_strategy: dict[str, dict[str, PerfStats]] = Field(
        default_factory=dict, description="per strategy: today and all_time")


def _page(rows: list[dict[str, Any]], limit: int) -> tuple[list[dict[str, Any]], int | None]:
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, (int(rows[-1]["id"]) if more and rows else None)


def _where(q: PageQuery, extra: list[tuple[str, Any]]) -> tuple[str, list[Any]]:
    clauses, args = [], []
    if q.before is not None:
        clauses.append("id < ?")
        args.append(q.before)
    for clause, value in extra:
        clauses.append(clause)
        if value is not None:
            args.append(value)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


@api_route(routes, "GET", "/api/trades", query=TradesQuery, responses={200: TradesPage},
           tags=("journal",))
async def trades(request: web.Request) -> web.Response:
    """The trade journal: closed round trips with net PnL after fees."""
    q = parse_query(request, TradesQuery)
    extra = [("symbol = ?", q.symbol)] if q.symbol else []
    if q.strategy:
        extra.append(("strategy = ?", q.strategy))
    where, args = _where(q, extra)
    rows = await request.app[TITAN].db.fetch_all(
        "SELECT id, symbol, side, qty, entry_price, exit_price, gross_pnl, fees, net_pnl,"
        f" strategy, close_reason, opened_at, closed_at FROM trades{where}"
        " ORDER BY id DESC LIMIT ?", (*args, q.limit + 1))
    items, nxt = _page(rows, q.limit)
    return web.json_response({"items": items, "next_before": nxt})


@api_route(routes, "GET", "/api/events", query=EventsQuery, responses={200: EventsPage},
           tags=("journal",))
async def events(request: web.Request) -> web.Response:
    """Events and alerts; filter by `severity`, `alerts=true` or event `name`."""
    q = parse_query(request, EventsQuery)
    extra: list[tuple[str, Any]] = []
    if q.severity is not None:
        extra.append(("severity = ?", q.severity.value))
    elif q.alerts:
        extra.append(("severity IS NOT NULL", None))
    if q.name:
        extra.append(("name = ?", q.name))
    where, args = _where(q, extra)
    rows = await request.app[TITAN].db.fetch_all(
        f"SELECT id, ts, name, severity, message, data FROM events{where}"
        " ORDER BY id DESC LIMIT ?", (*args, q.limit + 1))
    items, nxt = _page(rows, q.limit)
    for r in items:
        try:
            r["data"] = json.loads(r["data"])
        except ValueError:
            pass
    return web.json_response({"items": items, "next_before": nxt})


@api_route(routes, "GET", "/api/audit", query=AuditQuery, responses={200: AuditPage},
           tags=("journal",))
async def audit(request: web.Request) -> web.Response:
    """Operator actions: who, from where, what, with what result (refusals included)."""
    q = parse_query(request, AuditQuery)
    rows = await request.app[TITAN].audit.page(q.limit + 1, q.before, q.action, q.success)
    items, nxt = _page(rows, q.limit)
    return web.json_response({"items": items, "next_before": nxt})


def _dec(value: Any) -> Decimal:
    try:
        d = Decimal(str(value))
    except (InvalidOperation, ValueError):
        return Decimal(0)
    return d if d.is_finite() else Decimal(0)


def _fmt(d: Decimal) -> str:
    return format(d.normalize(), "f") if d != 0 else "0"


def stats(rows: list[dict[str, Any]]) -> dict[str, Any]:
    nets = [_dec(r["net_pnl"]) for r in rows]
    gross = sum((_dec(r["gross_pnl"]) for r in rows), Decimal(0))
    fees = sum((_dec(r["fees"]) for r in rows), Decimal(0))
    wins = sum(1 for n in nets if n > 0)
    losses = sum(1 for n in nets if n < 0)
    rate = None
    if nets:
        rate = _fmt((Decimal(wins) / Decimal(len(nets))).quantize(Decimal("0.0001")))
    return {
        "realised_pnl": _fmt(sum(nets, Decimal(0))),
        "gross_pnl": _fmt(gross),
        "fees": _fmt(fees),
        "trades": len(nets),
        "wins": wins,
        "losses": losses,
        "win_rate": rate,
        "best_trade": _fmt(max(nets)) if nets else None,
        "worst_trade": _fmt(min(nets)) if nets else None,
    }


@api_route(routes, "GET", "/api/performance", query=PerformanceQuery,
           responses={200: Performance}, tags=("journal",))
async def performance(request: web.Request) -> web.Response:
    """Today's (UTC) and all-time realised PnL, win rate and trade count (`?strategy=`
    for one strategy's; `by_strategy` has each strategy's beside the total)."""
    q = parse_query(request, PerformanceQuery)
    titan = request.app[TITAN]
    now = titan.clock.now()
    start = utc_day_start(now)
    rows = await titan.db.fetch_all(
        "SELECT net_pnl, gross_pnl, fees, closed_at, strategy FROM trades")
    # closed_at is ISO-8601 UTC text; compare by the day prefix so both `…Z` and
    # `…+00:00` forms count.
    day, next_day = start.strftime("%Y-%m-%d"), (start + timedelta(days=1)).strftime("%Y-%m-%d")

    def both(subset: list[dict[str, Any]]) -> dict[str, Any]:
        today = [r for r in subset if day <= str(r["closed_at"]) < next_day]
        return {"today": stats(today), "all_time": stats(subset)}

    names = sorted({str(r["strategy"] or "") for r in rows} | set(titan.strategy_specs))
    by = {n or "(none)": both([r for r in rows if str(r["strategy"] or "") == n]) for n in names}
    chosen = rows if q.strategy is None else [r for r in rows if r["strategy"] == q.strategy]
    body = {"as_of": iso_utc(now), "day_start": iso_utc(start), **both(chosen),
            "strategy": q.strategy, "by_strategy": by}
    return web.json_response(body)


