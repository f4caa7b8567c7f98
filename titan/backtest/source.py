"""What a replay reads: time-ordered market events and the klines known up to a time.

The engine takes any `ReplaySource`: `ListSource` over hand-built events (tests), and
`StoreSource` over the market-data store (`titan.marketdata.store.MarketDataStore`: venue
"binance" is the Scavenger's signal feed, Binance spot aggTrades; venue "bybit" is the
perpetual traded on — its trades, tickers, klines and funding).

An event is a plain tuple `(ts_ms, channel, payload)`: millions go by in a run, and a
tuple is the cheapest thing Python builds. At one millisecond the channels come in this
order: the execution venue's ticker, its trade, then the signal trade, then funding — so
a spring always sees the venue's price of the same millisecond.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import repeat
from typing import Any, Protocol

from titan.venues.base import Kline, Ticker, Trade

VENUE_TICKER = 0  # payload: Ticker (Bybit)
VENUE_TRADE = 1  # payload: Trade (Bybit public trade: moves the matching engine)
SIGNAL_TRADE = 2  # payload: Trade (Binance aggTrade: the strategies' on_trade)
FUNDING = 3  # payload: FundingRate (a settlement on the perpetual)

CHANNEL_NAMES = {VENUE_TICKER: "venueTickers", VENUE_TRADE: "venueTrades",
                 SIGNAL_TRADE: "signalTrades", FUNDING: "funding"}

ReplayEvent = tuple[int, int, Any]

SIGNAL_VENUE = "binance"
EXECUTION_VENUE = "bybit"
MINUTE_MS = 60_000
DAY_MS = 86_400_000
STORED_INTERVALS = (15, 60, 240, 1440)  # read as stored when the store has them


@dataclass(frozen=True, slots=True)
class FundingRate:
    symbol: str
    ts_ms: int
    rate: Decimal


class ReplaySource(Protocol):
    """Time-ordered events in [start, end) and the klines a strategy may ask for."""

    def events(self) -> Iterator[ReplayEvent]: ...

    def klines(self, symbol: str, interval_min: int) -> Sequence[Kline]:
        """Every known bar of the interval (history before the start included), oldest
        first; the engine hands out only those closed at the replay time."""
        ...

    def venue_priced(self) -> frozenset[str]:
        """Symbols with execution-venue trades or tickers; the others are priced (and
        matched) from their signal trades."""
        ...

    def estimate(self) -> int:
        """About how many events `events()` yields (for progress; 0 when unknown)."""
        ...


def aggregate(bars: Sequence[Kline], interval_min: int) -> list[Kline]:
    """Bars of `interval_min` minutes from 1-minute bars (UTC-aligned; partial groups kept)."""
    size = interval_min * MINUTE_MS
    out: list[Kline] = []
    cur: list[Kline] = []
    for bar in bars:
        if cur and bar.start_ms - bar.start_ms % size != cur[0].start_ms - cur[0].start_ms % size:
            out.append(_merge(cur, size))
            cur = []
        cur.append(bar)
    if cur:
        out.append(_merge(cur, size))
    return out


def _merge(bars: list[Kline], size: int) -> Kline:
    return Kline(start_ms=bars[0].start_ms - bars[0].start_ms % size, open=bars[0].open,
                 high=max(b.high for b in bars), low=min(b.low for b in bars),
                 close=bars[-1].close, volume=sum(b.volume for b in bars))


class _KlineTable:
    """Klines per (symbol, interval): stored ones, else built from the 1-minute bars."""

    def __init__(self, minute: Mapping[str, Sequence[Kline]],
                 stored: Mapping[tuple[str, int], Sequence[Kline]] | None = None) -> None:
        self._minute = {s: sorted(b, key=lambda k: k.start_ms) for s, b in minute.items()}
        self._cache: dict[tuple[str, int], list[Kline]] = {
            k: sorted(v, key=lambda b: b.start_ms) for k, v in (stored or {}).items() if v}

    def get(self, symbol: str, interval_min: int) -> list[Kline]:
        key = (symbol, interval_min)
        bars = self._cache.get(key)
        if bars is None:
            minute = self._minute.get(symbol, [])
            bars = list(minute) if interval_min == 1 else aggregate(minute, interval_min)
            self._cache[key] = bars
        return bars


@dataclass
class ListSource:
    """Hand-built events (tests, small tools). Each list is sorted here, stably."""

    signal_trades: list[Trade] = field(default_factory=list)
    venue_trades: list[Trade] = field(default_factory=list)
    venue_tickers: list[Ticker] = field(default_factory=list)
    funding: list[FundingRate] = field(default_factory=list)
    minute_klines: dict[str, list[Kline]] = field(default_factory=dict)
    # bars of longer intervals given as such (a 100-day history need not be minutes)
    klines_by_interval: dict[tuple[str, int], list[Kline]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._klines = _KlineTable(self.minute_klines, self.klines_by_interval)

    def events(self) -> Iterator[ReplayEvent]:
        streams: list[list[ReplayEvent]] = [
            [(t.ts_ms, VENUE_TICKER, t) for t in self.venue_tickers],
            [(t.ts_ms, VENUE_TRADE, t) for t in self.venue_trades],
            [(t.ts_ms, SIGNAL_TRADE, t) for t in self.signal_trades],
            [(f.ts_ms, FUNDING, f) for f in self.funding],
        ]
        for s in streams:
            s.sort(key=lambda e: e[0])
        return heapq.merge(*streams, key=lambda e: (e[0], e[1]))

    def klines(self, symbol: str, interval_min: int) -> Sequence[Kline]:
        return self._klines.get(symbol, interval_min)

    def venue_priced(self) -> frozenset[str]:
        return frozenset([t.symbol for t in self.venue_trades]
                         + [t.symbol for t in self.venue_tickers])

    def estimate(self) -> int:
        return (len(self.signal_trades) + len(self.venue_trades) + len(self.venue_tickers)
                + len(self.funding))


class MarketDataReader(Protocol):
    """The part of `titan.marketdata.store.MarketDataStore` a replay reads."""

    def read(self, venue: str, symbol: str, kind: str, start_ms: int,
             end_ms: int) -> Iterable[Any]: ...

    def iter_klines(self, venue: str, symbol: str, interval_min: int, start_ms: int,
                    end_ms: int) -> Iterator[Kline]: ...


class StoreSource:
    """Events and klines of `symbols` in [start_ms, end_ms) from the market-data store.

    Klines reach back `history_ms` before the start (the strategy's lookback: the
    Scavenger wants the previous UTC day and ~100 minutes, Hunter 100 daily candles).
    Klines come from the execution venue when it has them, else from the signal venue.
    Bars of `STORED_INTERVALS` that the store holds are used as stored (a long history
    need not be kept minute by minute); the others are built from the 1-minute bars."""

    def __init__(self, store: MarketDataReader, symbols: Sequence[str], start_ms: int,
                 end_ms: int, history_ms: int = 2 * DAY_MS) -> None:
        self.store = store
        self.symbols = tuple(sorted(symbols))
        self.start_ms, self.end_ms = start_ms, end_ms
        self._counts: dict[tuple[str, str, str], int] = {}
        minute: dict[str, list[Kline]] = {}
        stored: dict[tuple[str, int], list[Kline]] = {}
        for sym in self.symbols:
            lo = start_ms - history_ms
            for venue in (EXECUTION_VENUE, SIGNAL_VENUE):
                bars = list(store.iter_klines(venue, sym, 1, lo, end_ms))
                longer = {i: got for i in STORED_INTERVALS
                          if (got := list(store.iter_klines(venue, sym, i, lo, end_ms)))}
                if bars or longer:
                    minute[sym] = bars
                    stored.update({(sym, i): got for i, got in longer.items()})
                    break
        self._klines = _KlineTable(minute, stored)
        self._batches: dict[tuple[str, str, str], list[Any]] = {}
        for sym in self.symbols:
            for venue, kind in ((SIGNAL_VENUE, "trades"), (EXECUTION_VENUE, "trades"),
                                (EXECUTION_VENUE, "tickers"), (EXECUTION_VENUE, "funding")):
                batches = [b for b in store.read(venue, sym, kind, start_ms, end_ms)
                           if b.num_rows]
                self._batches[(venue, sym, kind)] = batches
                self._counts[(venue, sym, kind)] = sum(b.num_rows for b in batches)
        self._venue_priced = frozenset(
            s for s in self.symbols
            if self._counts[(EXECUTION_VENUE, s, "trades")]
            or self._counts[(EXECUTION_VENUE, s, "tickers")])

    def counts(self) -> dict[str, int]:
        """Rows per `venue/symbol/kind` in the range (for the report's data section)."""
        return {f"{v}/{s}/{k}": n for (v, s, k), n in sorted(self._counts.items())}

    def estimate(self) -> int:
        return sum(self._counts.values())

    def venue_priced(self) -> frozenset[str]:
        return self._venue_priced

    def klines(self, symbol: str, interval_min: int) -> Sequence[Kline]:
        return self._klines.get(symbol, interval_min)

    def events(self) -> Iterator[ReplayEvent]:
        streams: list[Iterator[ReplayEvent]] = []
        for sym in self.symbols:
            streams.append(self._trades(SIGNAL_VENUE, sym, SIGNAL_TRADE))
            streams.append(self._trades(EXECUTION_VENUE, sym, VENUE_TRADE))
            streams.append(self._tickers(sym))
            streams.append(self._funding(sym))
        return heapq.merge(*streams, key=_order)

    def _trades(self, venue: str, symbol: str, channel: int) -> Iterator[ReplayEvent]:
        for b in self._batches[(venue, symbol, "trades")]:
            ts, tid, px, qty, bim = (b.column(n).to_pylist()
                                     for n in ("ts_ms", "trade_id", "price", "qty",
                                               "buyer_is_maker"))
            # Iterated in C (zip, map, repeat): no Python frame per trade.
            yield from zip(ts, repeat(channel),
                           map(Trade, repeat(symbol), px, qty, ts, bim, tid))

    def _tickers(self, symbol: str) -> Iterator[ReplayEvent]:
        for b in self._batches[(EXECUTION_VENUE, symbol, "tickers")]:
            cols = [b.column(n).to_pylist() for n in ("ts_ms", "last_price", "bid", "ask")]
            for ts, last, bid, ask in zip(*cols, strict=True):
                yield ts, VENUE_TICKER, Ticker(symbol, _dec(last), ts, _opt(bid), _opt(ask))

    def _funding(self, symbol: str) -> Iterator[ReplayEvent]:
        for b in self._batches[(EXECUTION_VENUE, symbol, "funding")]:
            cols = [b.column(n).to_pylist() for n in ("ts_ms", "rate")]
            for ts, rate in zip(*cols, strict=True):
                yield ts, FUNDING, FundingRate(symbol, ts, _dec(rate))


def _order(e: ReplayEvent) -> tuple[int, int]:
    return e[0], e[1]


def _dec(x: float) -> Decimal:
    return Decimal(repr(x))


def _opt(x: float | None) -> Decimal | None:
    return None if x is None else Decimal(repr(x))
