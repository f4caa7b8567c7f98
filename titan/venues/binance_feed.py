"""The Binance spot aggTrade signal feed: one combined stream for all symbols, trades
delivered in aggTrade-id order per symbol (duplicates after a reconnect dropped)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from binance import AsyncClient
from loguru import logger

from titan.clock import Clock
from titan.venues.base import (
    StreamGap,
    StreamState,
    Trade,
)
from titan.venues.binance_socket import MessageSink, PushSocketManager
from titan.venues.binance_supervisor import TRADES_STREAM, _SocketRunner, binance_urls
from titan.venues.binance_wire import (
    parse_agg_trade,
)
from titan.venues.streams import StreamMonitor


class BinanceTradeFeed:
    """Binance spot aggTrade stream for many symbols, as Titan `Trade`s in order."""

    name = "binance"

    def __init__(
        self,
        *,
        clock: Clock,
        base_url: str | None = None,
        stream_url: str | None = None,
        testnet: bool = False,
        silence_timeout: float = 30.0,
        connect_timeout: float = 10.0,
        reconnect_max_delay: float = 15.0,
        max_queue_size: int = 10_000,
    ) -> None:
        self._clock = clock
        urls = binance_urls(base_url)
        self.stream_url = stream_url or urls.get("STREAM_URL")
        self.testnet = testnet
        self._opts = {
            "silence_timeout": silence_timeout,
            "connect_timeout": connect_timeout,
            "reconnect_max_delay": reconnect_max_delay,
        }
        # How far behind the wire (messages) the feed may fall before it counts as lost.
        self._max_queue_size = max_queue_size
        self.monitor = StreamMonitor("binance", clock)
        self._trade_cbs: list[Callable[[Trade], None]] = []
        self._last_id: dict[str, int] = {}
        self.symbols: list[str] = []
        self._client: AsyncClient | None = None
        self._runner: _SocketRunner | None = None
        self.dropped_out_of_order = 0

    async def start(self, symbols: list[str]) -> None:
        self.symbols = [s.upper() for s in symbols]
        if not self.symbols:
            raise ValueError("BinanceTradeFeed needs at least one symbol")
        self._client = AsyncClient(testnet=self.testnet)
        self._runner = self._make_runner()
        try:
            await self._runner.start()
        except BaseException:
            await self.close()
            raise

    def _make_runner(self) -> _SocketRunner:
        client = self._client
        assert client is not None

        def make_socket(sink: MessageSink) -> Any:
            bsm = PushSocketManager(client, on_message=sink, max_queue_size=self._max_queue_size)
            if self.stream_url:
                bsm.STREAM_URL = self.stream_url
            return bsm.multiplex_socket([f"{s.lower()}@aggTrade" for s in self.symbols])

        return _SocketRunner(
            name=TRADES_STREAM,
            make_socket=make_socket,
            on_message=self._on_message,
            monitor=self.monitor,
            **self._opts,
        )

    async def set_symbols(self, symbols: list[str]) -> None:
        """Change the streamed symbols: the combined stream is reopened with the new set."""
        new = [s.upper() for s in symbols]
        if not new:
            raise ValueError("BinanceTradeFeed needs at least one symbol")
        if new == self.symbols or self._runner is None:
            self.symbols = new
            return
        self.symbols = new
        await self._runner.close()
        self._runner = self._make_runner()
        await self._runner.start()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.close()
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close_connection()
            self._client = None

    def _on_message(self, msg: dict[str, Any]) -> None:
        trade = parse_agg_trade(msg)
        if trade is None:
            return
        last = self._last_id.get(trade.symbol)
        if last is not None and trade.trade_id <= last:
            self.dropped_out_of_order += 1  # a replay or reorder: each aggTrade once, in order
            return
        if last is not None and trade.trade_id > last + 1:
            logger.debug("binance {}: {} aggTrades missed", trade.symbol, trade.trade_id - last - 1)
        self._last_id[trade.symbol] = trade.trade_id
        for cb in list(self._trade_cbs):
            try:
                cb(trade)
            except Exception:
                logger.exception("binance trade callback failed")

    def on_trade(self, callback: Callable[[Trade], None]) -> None:
        self._trade_cbs.append(callback)

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None:
        self.monitor.on_state(callback)

    def on_stream_gap(self, callback: Callable[[StreamGap], None]) -> None:
        self.monitor.on_gap(callback)

    def stream_states(self) -> dict[str, StreamState]:
        return self.monitor.states()

    def last_gap(self, stream: str) -> StreamGap | None:
        return self.monitor.last_gap(stream)
