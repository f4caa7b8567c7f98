"""`/health` (for monitors and Nginx) and `/api/health` (the runbook's `{"status":"ok"}`)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from titan import __version__
from titan.api.keys import TITAN

routes = web.RouteTableDef()


@routes.get("/health")
async def health(request: web.Request) -> web.Response:
    titan = request.app[TITAN]
    checks = await titan.health_checks()
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
