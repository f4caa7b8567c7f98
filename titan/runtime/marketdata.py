"""Titan's market-data recording (SPEC §15): the recorder fed by the venue's and the
feed's callbacks, closed 1-minute klines read once a minute, and a stream gap recorded
as a gap and, for the Binance spot trade feed, backfilled from its REST `aggTrades`.

`start_recording(titan)` wires it all and returns the one task that runs it; cancelling
that task (Titan's stop) writes what is buffered and stops the writer thread.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import aiohttp
from loguru import logger

from titan.marketdata.recorder import MarketDataRecorder
from titan.marketdata.store import MarketDataStore, default_root
from titan.venues.base import StreamGap, Trade
from titan.venues.binance_supervisor import binance_urls

if TYPE_CHECKING:
    from titan.core import Titan

KLINE_EVERY_S = 60.0
KLINE_OFFSET_S = 2.0  # after the minute: the venue has closed the bar
BACKFILL_PAD_MS = 1_000  # either side of a gap: clocks differ a little; overlaps dedupe
BACKFILL_WINDOW_MS = 3_600_000  # Binance answers at most an hour per startTime/endTime
BACKFILL_MAX_PAGES = 200
MARKET_STREAMS = {"public", "trades"}  # the private / user streams carry no market data
BINANCE_SPOT_API = "https://api.binance.com/api"
FUNDING_BACKFILL_DAYS = 7  # at start: the settlements of the last week (or the retention)


def store_venue(venue_name: str) -> str:
    """The store's venue name: Binance's futures are not the spot trade feed's prices."""
    return "binance-futures" if venue_name == "binance" else venue_name


def start_recording(titan: Titan) -> list[asyncio.Task[Any]]:
    """Wire the recorder (when TITAN_RECORD_MARKETDATA is on); the tasks to cancel at stop."""
    if not titan.settings.record_marketdata or titan.venue is None or titan.feed is None:
        return []
    rec = MarketDataRecorder(MarketDataStore(default_root(titan.settings)),
                             retention_days=titan.settings.marketdata_retention_days,
                             now_ms=titan.clock.time_ms, registry=titan.metrics.registry)
    wiring = Recording(titan, rec)
    setattr(titan, "marketdata", rec)  # noqa: B010  # for tests: Titan declares no such field
    return [asyncio.create_task(wiring.run(), name="marketdata")]


class Recording:
    def __init__(self, titan: Titan, recorder: MarketDataRecorder) -> None:
        assert titan.venue is not None and titan.feed is not None
        self.titan, self.rec = titan, recorder
        self.venue, self.feed = titan.venue, titan.feed
        self.venue_name, self.feed_name = store_venue(self.venue.name), self.feed.name
        url = titan.settings.binance_url  # the feed's base URL (the simulator's in paper)
        self.agg_trades_url = (binance_urls(url)["API_URL"] if url else BINANCE_SPOT_API) \
            + "/v3/aggTrades"
        self._last_kline: dict[str, int] = {}
        self._backfills: set[asyncio.Task[None]] = set()
        self.feed.on_trade(recorder.trade_sink(self.feed_name))
        self.venue.on_ticker(recorder.ticker_sink(self.venue_name))
        for source, name in ((self.feed, self.feed_name), (self.venue, self.venue_name)):
            on_gap = getattr(source, "on_stream_gap", None)  # StreamGapSource (optional)
            if on_gap is not None:
                on_gap(lambda gap, name=name: self.on_gap(name, gap))

    def symbols(self) -> list[str]:
        universe = self.titan.universe
        return list(universe.streamed) if universe is not None else []

    async def run(self) -> None:
        self.rec.start()
        loop = asyncio.get_running_loop()
        next_kline = 0.0  # loop time: read at once (once connected), then every minute
        funding_done = False
        try:
            while True:
                if loop.time() >= next_kline and self.titan.market.venue_connected:
                    await self._record_klines()
                    next_kline = loop.time() + self._until_next_minute()
                    if not funding_done and self.symbols():  # settled while Titan was off
                        funding_done = True
                        now = self.titan.clock.time_ms()
                        days = min(FUNDING_BACKFILL_DAYS, self.rec.retention_days)
                        self._spawn(self._backfill_funding(self.symbols(),
                                                           now - days * 86_400_000, now))
                await asyncio.sleep(self.rec.flush_s)
                self.rec.flush()
        finally:
            for task in list(self._backfills):
                task.cancel()
            self.rec.flush()
            await asyncio.to_thread(self.rec.close)

    def _until_next_minute(self) -> float:
        now_s = self.titan.clock.time_ms() / 1000
        return KLINE_EVERY_S - now_s % KLINE_EVERY_S + KLINE_OFFSET_S

    async def _record_klines(self) -> None:
        """The 1-minute bars that closed since the last read, per streamed symbol."""
        now = self.titan.clock.time_ms()
        for symbol in self.symbols():
            try:
                bars = await self.venue.klines(symbol, 1, 3)
            except Exception as exc:
                logger.debug("MARKETDATA_KLINES_FAILED {}: {}", symbol, exc)
                continue
            last = self._last_kline.get(symbol, -1)
            closed = [k for k in bars if k.start_ms + 60_000 <= now and k.start_ms > last]
            if closed:
                self._last_kline[symbol] = closed[-1].start_ms
                self.rec.add_klines(self.venue_name, symbol, 1, closed)

    # -- gaps -----------------------------------------------------------------------------

    def on_gap(self, venue: str, gap: StreamGap) -> None:
        if gap.stream not in MARKET_STREAMS:
            return
        start = int(gap.started_at.timestamp() * 1000)
        end = int(gap.ended_at.timestamp() * 1000)
        reason = f"{gap.stream} stream: {gap.reason}"
        symbols = self.symbols()
        self.rec.add_gap(venue, symbols, start, end, reason)
        if venue == self.feed_name and gap.stream == "trades":
            self._spawn(self._backfill(symbols, start, end, reason))
        elif venue == self.venue_name and gap.stream == "public":
            # The tickers the gap hid may have shown a settlement: the venue's history has it.
            self._spawn(self._backfill_funding(symbols, start, end))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._backfills.add(task)
        task.add_done_callback(self._backfills.discard)

    async def _backfill_funding(self, symbols: list[str], start: int, end: int) -> None:
        """Settled funding from the venue's REST when it offers it (Bybit's
        `/v5/market/funding/history`), one row per settlement (the same time as one the
        tickers showed: read once)."""
        history = getattr(self.venue, "funding_history", None)
        if history is None:
            return
        for symbol in symbols:
            try:
                rows = await history(symbol, start, end)
            except Exception as exc:
                logger.warning("MARKETDATA_FUNDING_BACKFILL_FAILED {}: {}", symbol, exc)
                continue
            for ts, rate in rows:
                if start <= ts <= end:
                    self.rec.add_funding(self.venue_name, symbol, ts, float(rate))

    async def _backfill(self, symbols: list[str], start: int, end: int, reason: str) -> None:
        """The trades the stream missed, from Binance's REST; the gap then marked filled."""
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            for symbol in symbols:
                try:
                    trades = await self._agg_trades(http, symbol, start - BACKFILL_PAD_MS,
                                                    end + BACKFILL_PAD_MS)
                except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as exc:
                    logger.warning("MARKETDATA_BACKFILL_FAILED {} {}: {}", symbol, reason, exc)
                    continue
                self.rec.add_trades(self.feed_name, trades)
                self.rec.add_gap(self.feed_name, [symbol], start, end, reason, backfilled=True)
                logger.info("MARKETDATA_BACKFILLED {} {} trades over {} ms", symbol,
                            len(trades), end - start)

    async def _agg_trades(self, http: aiohttp.ClientSession, symbol: str, start: int,
                          end: int) -> list[Trade]:
        out: list[Trade] = []
        params: dict[str, Any] = {"symbol": symbol, "startTime": start,
                                  "endTime": min(end, start + BACKFILL_WINDOW_MS), "limit": 1000}
        for _ in range(BACKFILL_MAX_PAGES):
            async with http.get(self.agg_trades_url, params=params) as resp:
                resp.raise_for_status()
                rows = await resp.json()
            page = [Trade(symbol, float(r["p"]), float(r["q"]), int(r["T"]), bool(r["m"]),
                          int(r["a"])) for r in rows]
            out += [t for t in page if start <= t.ts_ms <= end]
            if not page:
                if params.get("endTime", end) >= end:
                    break
                start_next = int(params["endTime"]) + 1  # an empty hour: the next one
                params = {"symbol": symbol, "startTime": start_next,
                          "endTime": min(end, start_next + BACKFILL_WINDOW_MS), "limit": 1000}
                continue
            if page[-1].ts_ms > end:
                break
            params = {"symbol": symbol, "fromId": page[-1].trade_id + 1, "limit": 1000}
            await asyncio.sleep(0)
        out.sort(key=lambda t: t.trade_id)
        return out
