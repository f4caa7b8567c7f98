"""Binance fronts (spot aggTrade streams, USD-M futures REST + user stream) — pending."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

from titan.sim.market import Trade
from titan.sim.streams import Conn

if TYPE_CHECKING:
    from titan.sim.server import Simulator


class BinanceFront:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def routes(self) -> list[web.RouteDef]:
        return []

    def conns(self) -> list[Conn]:
        return []

    def publish_trades(self, sym: str, trades: list[Trade]) -> None:
        return None

    def account_event(self, key: str, kind: str, obj: object) -> None:
        return None

    async def drop(self, which: str) -> int:
        return 0
