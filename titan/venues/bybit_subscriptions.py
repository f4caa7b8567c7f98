"""What `BybitVenue` streams and whom it tells: the topics of its two WebSocket streams
(private: orders, executions, positions, wallet; public: tickers, the top of the book and,
when someone listens, public trades), the callbacks registered through the `Venue`
interface, and the dispatch of each stream message to them (the last ticker per symbol
kept). Supervising one socket (reconnect, resubscribe, silence) is `bybit_streams.py`;
parsing a message is `bybit_wire.py`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from loguru import logger

from titan.clock import Clock
from titan.venues.base import PrivateUpdate, StreamGap, StreamState, Ticker, Trade
from titan.venues.bybit_streams import PRIVATE_STREAM, PUBLIC_STREAM, _BybitStream
from titan.venues.bybit_wire import (
    parse_book_top,
    parse_private_message,
    parse_public_trade,
    parse_ticker,
)
from titan.venues.streams import StreamMonitor

if TYPE_CHECKING:
    from titan.domain.orders import Position


class BybitSubscriptions:
    """The stream side of `BybitVenue` (one of its base classes). The venue sets these up
    in its constructor: the streams' settings (`testnet`, `_key`, `_secret`, `_clock`,
    `_ws_opts`, the URLs, `_ticker_silence_timeout`, `_book_top`), `symbols`, `monitor`,
    the callback lists (empty), `_tickers`, `_streams`, `_bg` (empty), `_public_opts`
    (None) and `_closed`."""

    testnet: bool
    _key: str
    _secret: str
    _clock: Clock
    _ws_opts: dict[str, Any]
    public_ws_url: str
    private_ws_url: str
    _ticker_silence_timeout: float | None
    _book_top: bool
    symbols: list[str]
    settle_coin: str
    monitor: StreamMonitor
    _private_cbs: list[Callable[[PrivateUpdate], None]]
    _ticker_cbs: list[Callable[[Ticker], None]]
    _trade_cbs: list[Callable[[Trade], None]]
    _tickers: dict[str, Ticker]
    _streams: dict[str, _BybitStream]
    _public_opts: dict[str, Any] | None
    _bg: set[asyncio.Task[None]]
    _closed: bool

    if TYPE_CHECKING:
        # The instrument cache's (`bybit_instruments.py`), the venue's other base class.
        def _learn_position_symbols(self, positions: list[Position]) -> None: ...

    def _make_streams(self, loop: asyncio.AbstractEventLoop) -> None:
        """The private stream, and the public one when there are symbols (not started)."""
        common: dict[str, Any] = {
            "testnet": self.testnet,
            "api_key": self._key,
            "api_secret": self._secret,
            "monitor": self.monitor,
            "clock": self._clock,
            "loop": loop,
            **self._ws_opts,
        }
        self._streams[PRIVATE_STREAM] = _BybitStream(
            name=PRIVATE_STREAM,
            url=self.private_ws_url,
            private=True,
            topics=["order", "execution", "position", "wallet"],
            on_message=self._on_private_message,
            data_silence_timeout=None,
            **common,
        )
        self._public_opts = common
        if self.symbols:
            self._make_public_stream(self.symbols)

    def _public_topics(self, symbols: list[str]) -> list[str]:
        """Tickers always (prices, breaker, staleness); `publicTrade` only when someone
        registered `on_public_trade`: the Scavenger's trades come from Binance, and at
        a venue's trade rate an unread topic is most of what this stream carries."""
        topics = [f"tickers.{s}" for s in symbols]
        if self._book_top:
            topics += [f"orderbook.1.{s}" for s in symbols]
        if self._trade_cbs:
            topics += [f"publicTrade.{s}" for s in symbols]
        return topics

    def _make_public_stream(self, symbols: list[str]) -> _BybitStream:
        assert self._public_opts is not None
        stream = _BybitStream(
            name=PUBLIC_STREAM,
            url=self.public_ws_url,
            private=False,
            topics=self._public_topics(symbols),
            on_message=self._on_public_message,
            data_silence_timeout=self._ticker_silence_timeout,
            **self._public_opts,
        )
        self._streams[PUBLIC_STREAM] = stream
        return stream

    async def _stream_symbols(self, new: list[str]) -> None:
        """Stream `new` (already upper-case): subscribe/unsubscribe on the live public
        stream, or open one when the venue streams and there was none."""
        stream = self._streams.get(PUBLIC_STREAM)
        if stream is None:
            if self._public_opts is not None and new:
                stream = self._make_public_stream(new)
                await stream.start()
            return
        await stream.set_topics(self._public_topics(new))

    def last_ticker(self, symbol: str) -> Ticker | None:
        """The latest ticker the public stream delivered (None before the first)."""
        return self._tickers.get(symbol.upper())

    # -- callbacks and dispatch ------------------------------------------------------------

    def on_private(self, callback: Callable[[PrivateUpdate], None]) -> None:
        self._private_cbs.append(callback)

    def on_ticker(self, callback: Callable[[Ticker], None]) -> None:
        self._ticker_cbs.append(callback)

    def on_public_trade(self, callback: Callable[[Trade], None]) -> None:
        """Bybit's public trades; the first callback subscribes `publicTrade.*` (on a live
        stream too: in the background, the same way as a whitelist change)."""
        first = not self._trade_cbs
        self._trade_cbs.append(callback)
        stream = self._streams.get(PUBLIC_STREAM)
        if first and stream is not None and not self._closed:
            task = asyncio.get_running_loop().create_task(
                stream.set_topics(self._public_topics(self.symbols)),
                name="bybit-public-trades-subscribe")
            self._bg.add(task)
            task.add_done_callback(self._bg.discard)

    def on_stream_state(self, callback: Callable[[str, StreamState], None]) -> None:
        self.monitor.on_state(callback)

    def on_stream_gap(self, callback: Callable[[StreamGap], None]) -> None:
        self.monitor.on_gap(callback)

    def stream_states(self) -> dict[str, StreamState]:
        return self.monitor.states()

    def last_gap(self, stream: str) -> StreamGap | None:
        return self.monitor.last_gap(stream)

    def _on_private_message(self, msg: dict[str, Any]) -> None:
        update = parse_private_message(msg, self.settle_coin)
        if update is None:
            return
        if update.positions:
            self._learn_position_symbols(update.positions)
        for cb in list(self._private_cbs):
            try:
                cb(update)
            except Exception:
                logger.exception("bybit private callback failed")

    def _on_public_message(self, msg: dict[str, Any]) -> None:
        topic = str(msg.get("topic", ""))
        if topic.startswith(("tickers.", "orderbook.1.")):
            data = msg.get("data") or {}
            ts = int(msg.get("ts") or self._clock.time_ms())
            # A ticker (its deltas merged), or the top of the book on the last price.
            t = (parse_ticker(data, ts, self._tickers.get(str(data.get("symbol", ""))))
                 if topic[0] == "t" else
                 parse_book_top(data, ts, self._tickers.get(str(data.get("s", "")))))
            if t is None:
                return
            self._tickers[t.symbol] = t
            for tcb in list(self._ticker_cbs):
                try:
                    tcb(t)
                except Exception:
                    logger.exception("bybit ticker callback failed")
        elif topic.startswith("publicTrade."):
            for row in msg.get("data") or []:
                trade = parse_public_trade(row)
                for pcb in list(self._trade_cbs):
                    try:
                        pcb(trade)
                    except Exception:
                        logger.exception("bybit trade callback failed")
