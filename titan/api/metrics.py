"""`GET /metrics` (Prometheus exposition, no auth in the app;
Nginx lets only allowed addresses reach it)."""

from __future__ import annotations

from aiohttp import web

from titan.api.keys import TITAN

routes = web.RouteTableDef()


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    m = request.app[TITAN].metrics
    return web.Response(body=m.render(), headers={"Content-Type": m.content_type})
