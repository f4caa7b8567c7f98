"""`GET /api/regime`: the tail-risk regime per symbol (SPEC §17, docs/regime.md)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel

from titan.api.keys import TITAN
from titan.api.openapi import api_route

routes = web.RouteTableDef()


class ReadingOut(BaseModel):
    regime: str
    alpha: float | None
    exceedance: float | None
    clustering: float | None
    clusteringKind: str | None
    sizeScale: float
    samples: int


class RegimeOut(BaseModel):
    """Per symbol Titan streams, its regime from the last 1,000 one-minute returns"""

    symbols: dict[str, ReadingOut]
    windowReturns: int


@api_route(routes, "GET", "/api/regime", responses={200: RegimeOut}, tags=("status",))
async def regime(request: web.Request) -> web.Response:
    """Each symbol's regime, Hill tail index α, exceedance, volatility clustering and the
    entry size scale; UNKNOWN until 100 returns have been seen (neutral)."""
    return web.json_response(request.app[TITAN].regime.status())
