"""`GET /api/universe`: what the execution venue lists (with 24 h turnover), which of it
is whitelisted and which Titan streams."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import BaseModel

from titan.api.keys import TITAN
from titan.api.openapi import api_route

routes = web.RouteTableDef()


class ListedOut(BaseModel):
    symbol: str
    turnover24h: str
    whitelisted: bool
    streamed: bool


class UniverseOut(BaseModel):
    """The venue's instruments, highest 24 h turnover first"""

    venue: str | None
    streamed: list[str]
    instruments: list[ListedOut]
    totalTurnover24h: str


@api_route(routes, "GET", "/api/universe", responses={200: UniverseOut}, tags=("config",))
async def universe(request: web.Request) -> web.Response:
    """The venue's instruments with 24 h turnover (the whitelist may hold only these)."""
    titan = request.app[TITAN]
    whitelist = titan.config.active.whitelist
    body: dict[str, Any] = (titan.universe.as_dict(whitelist) if titan.universe is not None
                            else {"venue": None, "streamed": [], "instruments": [],
                                  "totalTurnover24h": "0"})
    return web.json_response(body)
