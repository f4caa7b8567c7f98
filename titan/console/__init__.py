"""The operator console (SPEC §10): the page at `/`, its files under `/static/`, the
charting library under `/vendor/`, and the live WebSocket `/ws`. All behind the app's
basic auth like every other route except the health checks.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from titan.api.keys import TITAN
from titan.console.ws import HUB, ConsoleHub, console_ws

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# Installed by scripts/lib/env.sh (`npm ci` in titan/console); not committed.
CHARTS = HERE / "node_modules" / "lightweight-charts" / "dist" / \
    "lightweight-charts.standalone.production.mjs"

_HEADERS = {
    "Cache-Control": "no-cache",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self'; img-src 'self' data:; "
        "style-src 'self' 'unsafe-inline'; script-src 'self'; frame-ancestors 'none'; "
        "base-uri 'none'; form-action 'none'"),
}


async def index(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "index.html", headers=_HEADERS)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    # A NUL (or any control character) makes the OS path call raise ValueError: a 500.
    # No console file has one in its name, so such a request is simply not found.
    if any(ord(ch) < 0x20 or ch == "\x7f" for ch in name):
        raise web.HTTPNotFound(reason="no such console file")
    path = (STATIC / name).resolve()
    if path.parent != STATIC or not path.is_file():
        raise web.HTTPNotFound(reason=f"no console file {name}")
    return web.FileResponse(path, headers=_HEADERS)


async def charts(request: web.Request) -> web.StreamResponse:
    if not CHARTS.is_file():
        raise web.HTTPNotFound(reason="charting library not installed (run ./scripts/run)")
    return web.FileResponse(CHARTS, headers={**_HEADERS, "Content-Type": "text/javascript"})


def setup_console(app: web.Application) -> None:
    """Add the console's routes and close its sockets first on shutdown."""
    hub = ConsoleHub(app[TITAN])
    app[HUB] = hub
    app.router.add_get("/", index)
    app.router.add_get("/static/{name}", static_file)
    app.router.add_get("/vendor/lightweight-charts.mjs", charts)
    app.router.add_get("/ws", console_ws)

    async def close_sockets(_app: web.Application) -> None:
        await hub.close_all()

    app.on_shutdown.append(close_sockets)


__all__ = ["setup_console"]
