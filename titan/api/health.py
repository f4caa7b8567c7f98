"""`/health` (for monitors and Nginx) and `/api/health` (the runbook's `{"status":"ok"}`)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan import __version__
from titan.api.keys import TITAN
from titan.ops.nats_wiring import nats_health

if TYPE_CHECKING:
    from titan.core import Titan

routes = web.RouteTableDef()


async def health_checks(titan: Titan) -> dict[str, dict[str, Any]]:
    """Database, disk, venue, feed and (when configured) the NATS bus; the venue, the feed
    and NATS are not critical: the API and the emergency exits work without them."""
    checks: dict[str, dict[str, Any]] = {}
    try:
        await titan.db.scalar("SELECT 1")
        checks["database"] = {"ok": True}
    except Exception as exc:
        checks["database"] = {"ok": False, "detail": f"database unreadable: {exc}"}
    checks["disk"] = titan.db.storage.check()
    connected = titan.market.venue_connected
    checks["bybit"] = {"ok": connected, "critical": False,
                       **({} if connected else {"detail": "Bybit streams not connected"})}
    feed = titan.market.feed_connected
    checks["binance"] = {"ok": feed, "critical": False,
                         **({} if feed else {"detail": "Binance trade feed not connected"})}
    bus = nats_health(titan.nats)  # only when TITAN_NATS_URL is set
    if bus is not None:
        checks["nats"] = bus
    return checks


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    titan = request.app[TITAN]
    checks = await health_checks(titan)
    failed = [name for name, c in checks.items() if not c["ok"] and c.get("critical", True)]
    degraded = [name for name, c in checks.items() if not c["ok"] and not c.get("critical", True)]
    status = "unhealthy" if failed else "degraded" if degraded else "healthy"
    body: dict[str, Any] = {
        "status": status,
        "version": __version__,
        "uptime_s": round(time.monotonic() - titan.started_monotonic, 1),
        "checks": checks,
    }
    if failed or degraded:
        body["reason"] = "; ".join(f"{n}: {checks[n].get('detail', 'failed')}" for n in failed + degraded)
    return web.json_response(body, status=503 if failed else 200)


@routes.get("/api/health")
async def api_health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
