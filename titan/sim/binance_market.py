"""Binance public market data served by the simulator: USD-M and spot klines and the
USD-M 24-hour ticker, in Binance's shapes and with its error codes.

Bars come from `Market.klines`, so Binance and Bybit agree on every candle; like Binance,
`startTime` pages forward from the bar containing it, and `endTime` caps the last bar.
"""

from __future__ import annotations

import bisect
import collections
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from aiohttp import web

from titan.sim.binance import BinanceError
from titan.sim.bybit_shapes import num
from titan.sim.market import MINUTE_MS, Kline, Trade

if TYPE_CHECKING:
    from titan.sim.binance import BinanceFront

# Binance interval names → the simulator's (Bybit's) interval names.
INTERVALS: dict[str, str] = {
    "1m": "1", "3m": "3", "5m": "5", "15m": "15", "30m": "30", "1h": "60", "2h": "120",
    "4h": "240", "6h": "360", "12h": "720", "1d": "D",
}
_MINUTES = {"D": 1440}
AGG_TAPE_SIZE = 20_000  # trades kept per symbol for `GET /api/v3/aggTrades`
HOUR_MS = 3_600_000


class AggTape:
    """The trades the aggTrade stream sent, per symbol, for REST backfills. The
    simulator prints every trade as its own aggregate (`a` = `f` = `l` = trade id),
    exactly as the stream does, so a client can splice REST rows into its stream."""

    def __init__(self, size: int = AGG_TAPE_SIZE) -> None:
        self.size = size
        self.trades: dict[str, collections.deque[Trade]] = {}

    def record(self, symbol: str, trades: list[Trade]) -> None:
        tape = self.trades.get(symbol)
        if tape is None:
            tape = self.trades[symbol] = collections.deque(maxlen=self.size)
        tape.extend(trades)

    def select(self, symbol: str, from_id: int | None, start: int | None, end: int | None,
               limit: int) -> list[Trade]:
        tape = list(self.trades.get(symbol, ()))
        if from_id is not None:
            i = bisect.bisect_left(tape, from_id, key=lambda t: t.trade_id)
            return tape[i:i + limit]
        if start is None and end is None:
            return tape[-limit:]
        # A scan, not a bisect: a forced burst stamps its trades a few ms ahead, so trade
        # times are not strictly ordered by id.
        hit = [t for t in tape if (start is None or t.time_ms >= start)
               and (end is None or t.time_ms <= end)]
        return hit[:limit] if start is not None else hit[-limit:]


def market_routes(front: BinanceFront) -> list[web.RouteDef]:
    h = front._handle  # the front's auth-free handler: same error shapes
    return [
        web.get("/fapi/v1/klines", h(lambda r, k, p: _klines(front, p, 1500))),
        web.get("/api/v3/klines", h(lambda r, k, p: _klines(front, p, 1000))),
        web.get("/fapi/v1/ticker/24hr", h(lambda r, k, p: _ticker_24h(front, p))),
        web.get("/api/v3/exchangeInfo", h(lambda r, k, p: _spot_exchange_info(front, p))),
        web.get("/api/v3/aggTrades", h(lambda r, k, p: _agg_trades(front, p))),
        web.get("/fapi/v1/ticker/price", h(lambda r, k, p: _price_ticker(front, p))),
        web.get("/fapi/v2/ticker/price", h(lambda r, k, p: _price_ticker(front, p))),
    ]


async def _price_ticker(front: BinanceFront, p: dict[str, str]) -> Any:
    sym = _symbol(front, p, required=False)
    now = front.sim.now_ms()
    rows = [{"symbol": s, "price": num(front.sim.market.last(s),
                                       front.sim.engine.specs[s].price_scale), "time": now}
            for s in ([sym] if sym else front.sim.market.symbols)]
    return rows[0] if sym else rows


async def _agg_trades(front: BinanceFront, p: dict[str, str]) -> Any:
    sym = _symbol(front, p)
    assert sym is not None
    limit = _int(p, "limit")
    limit = 500 if limit is None else limit
    if not 1 <= limit <= 1000:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    from_id, start, end = _int(p, "fromId"), _int(p, "startTime"), _int(p, "endTime")
    if from_id is not None and (start is not None or end is not None):
        raise BinanceError(-1128, "Combination of optional parameters invalid.")
    if start is not None and end is not None and not 0 <= end - start <= HOUR_MS:
        raise BinanceError(-1127, "More than 1 hours between startTime and endTime.")
    rows = front.sim.agg_tape.select(sym, from_id, start, end, limit)
    # Formatted as the stream formats them (binance.publish_trades).
    return [{"a": t.trade_id, "p": f"{t.price:f}", "q": f"{t.qty:f}", "f": t.trade_id,
             "l": t.trade_id, "T": t.time_ms, "m": t.buyer_maker, "M": True} for t in rows]


async def _spot_exchange_info(front: BinanceFront, p: dict[str, str]) -> Any:
    """Spot listings for the simulated symbols (the signal feed's pairs), with the
    same tick and step as the perpetual: the simulator has one price per symbol."""
    sym = _symbol(front, p, required=False)
    rows = []
    for s in front.sim.engine.specs.values():
        if sym and s.symbol != sym:
            continue
        rows.append({
            "symbol": s.symbol, "status": "TRADING", "baseAsset": s.base_coin,
            "baseAssetPrecision": 8, "quoteAsset": "USDT", "quotePrecision": 8,
            "quoteAssetPrecision": 8, "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": True, "ocoAllowed": True, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "permissions": ["SPOT"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": num(s.tick_size),
                 "maxPrice": "1000000.00", "tickSize": num(s.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": num(s.min_qty),
                 "maxQty": num(s.max_qty), "stepSize": num(s.qty_step)},
                {"filterType": "NOTIONAL", "minNotional": num(s.min_notional),
                 "applyMinToMarket": True, "maxNotional": "9000000.00",
                 "applyMaxToMarket": False, "avgPriceMins": 5},
            ],
        })
    return {"timezone": "UTC", "serverTime": front.sim.now_ms(), "rateLimits": [],
            "exchangeFilters": [], "symbols": rows}


def _symbol(front: BinanceFront, p: dict[str, str], required: bool = True) -> str | None:
    sym = p.get("symbol")
    if sym is None:
        if required:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent, was empty/"
                                      "null, or malformed.")
        return None
    if sym not in front.sim.market.symbols:
        raise BinanceError(-1121, "Invalid symbol.")
    return sym


def _int(p: dict[str, str], name: str) -> int | None:
    raw = p.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal "
                                  "range is '^[0-9]{1,20}$'.") from None


async def _klines(front: BinanceFront, p: dict[str, str], max_limit: int) -> Any:
    sym = _symbol(front, p)
    assert sym is not None
    interval = INTERVALS.get(p.get("interval", ""))
    if interval is None:
        raise BinanceError(-1120, "Invalid interval.")
    limit = _int(p, "limit") or 500
    if not 1 <= limit <= max_limit:
        raise BinanceError(-1130, "Data sent for parameter 'limit' is not valid.")
    start, end = _int(p, "startTime"), _int(p, "endTime")
    size = _MINUTES.get(interval, 0) or int(interval)
    scale = front.sim.engine.specs[sym].price_scale
    bars = front.sim.market.klines(sym, interval, start, end, limit)
    return [_row(k, size * MINUTE_MS, scale) for k in bars]


def _row(k: Kline, size_ms: int, scale: int) -> list[Any]:
    # Taker-buy volumes are not tracked per bar: half of each, as a balanced market.
    return [k.start_ms, num(k.open, scale), num(k.high, scale), num(k.low, scale),
            num(k.close, scale), num(k.volume), k.start_ms + size_ms - 1, num(k.turnover),
            0, num(k.volume / 2), num(k.turnover / 2), "0"]


async def _ticker_24h(front: BinanceFront, p: dict[str, str]) -> Any:
    sym = _symbol(front, p, required=False)
    rows = [_ticker(front, s) for s in ([sym] if sym else front.sim.market.symbols)]
    return rows[0] if sym else rows


def _ticker(front: BinanceFront, sym: str) -> dict[str, Any]:
    mkt = front.sim.market
    scale = front.sim.engine.specs[sym].price_scale
    last = mkt.last(sym)
    prev, high, low, vol, turnover = mkt.stats_24h(sym)
    now = front.sim.now_ms()
    change = last - prev
    pct = (change / prev * 100) if prev else Decimal(0)
    wavg = (turnover / vol) if vol else last
    last_id = mkt.symbols[sym].next_trade_id - 1
    return {
        "symbol": sym, "priceChange": num(change, scale),
        "priceChangePercent": num(pct.quantize(Decimal("0.001"))),
        "weightedAvgPrice": num(wavg.quantize(Decimal(1).scaleb(-scale))),
        "lastPrice": num(last, scale), "lastQty": num(mkt.symbols[sym].spec.min_qty),
        "openPrice": num(prev, scale), "highPrice": num(high, scale),
        "lowPrice": num(low, scale), "volume": num(vol), "quoteVolume": num(turnover),
        "openTime": now - 86_400_000, "closeTime": now,
        # Trade ids start at 1 with the simulator; runs shorter than a day count them all.
        "firstId": 1 if last_id else 0, "lastId": last_id, "count": last_id,
    }
