"""Bybit v5 public market endpoints, per category, and the start-up asset/user queries.

`linear` answers from the perpetuals, `spot` from the spot desk (the perp's market with
a seeded basis); `inverse` and `option` list nothing (the simulator has no such
instruments) and a symbol asked for there is "Not supported symbols" (10001), as Bybit
answers for a symbol it does not list. A category Bybit does not know is refused.
"""

from __future__ import annotations

import collections
import time
import zlib
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from titan.sim.bybit_shapes import num
from titan.sim.config import InstrumentSpec
from titan.sim.market import INTERVAL_MINUTES, Kline, Trade

if TYPE_CHECKING:
    from titan.sim.server import Simulator

CATEGORIES = ("linear", "spot", "inverse", "option")
TAPE_SIZE = 1000  # recent trades kept per symbol (Bybit linear serves up to 1000)


class ParamError(Exception):
    """A refused request: Bybit's retCode and message."""

    def __init__(self, code: int, msg: str) -> None:
        super().__init__(msg)
        self.code = code
        self.msg = msg


def category(p: dict[str, Any], allowed: tuple[str, ...] = CATEGORIES) -> str:
    cat = str(p.get("category") or "")
    if not cat:
        raise ParamError(10001, "params error: category is required")
    if cat not in CATEGORIES:
        raise ParamError(10001, "Illegal category")
    if cat not in allowed:
        raise ParamError(10001, f"params error: category {cat} is not supported here")
    return cat


def int_param(p: dict[str, Any], name: str, default: int | None, lo: int, hi: int) -> int | None:
    raw = p.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(str(raw))
    except ValueError:
        raise ParamError(10001, f"params error: {name} invalid") from None
    if v < lo or v > hi:
        raise ParamError(10001, f"params error: {name} must be between {lo} and {hi}")
    return v


class PublicTape:
    """The last trades of each symbol, as `/v5/market/recent-trade` serves them."""

    def __init__(self) -> None:
        self.trades: dict[str, collections.deque[Trade]] = {}

    def record(self, symbol: str, trades: list[Trade]) -> None:
        tape = self.trades.get(symbol)
        if tape is None:
            tape = self.trades[symbol] = collections.deque(maxlen=TAPE_SIZE)
        tape.extend(trades)


class BybitMarket:
    def __init__(self, sim: Simulator) -> None:
        self.sim = sim
        self.tape = PublicTape()

    # ---- helpers --------------------------------------------------------------------

    def _specs(self, cat: str) -> dict[str, InstrumentSpec]:
        if cat == "linear":
            return self.sim.engine.specs
        if cat == "spot":
            return self.sim.spot.specs
        return {}

    def _symbols(self, cat: str, p: dict[str, Any]) -> list[str]:
        specs = self._specs(cat)
        sym = p.get("symbol")
        if sym:
            if sym not in specs:
                raise ParamError(10001, "Not supported symbols")
            return [str(sym)]
        return list(specs)

    def _one_symbol(self, cat: str, p: dict[str, Any]) -> str:
        if not p.get("symbol"):
            raise ParamError(10001, "params error: symbol is required")
        return self._symbols(cat, p)[0]

    def last(self, cat: str, sym: str) -> Decimal:
        return self.sim.spot.last[sym] if cat == "spot" else self.sim.market.last(sym)

    def book(self, cat: str, sym: str) -> Any:
        return self.sim.spot.books[sym] if cat == "spot" else self.sim.engine.books[sym]

    def _spotify(self, sym: str, price: Decimal) -> Decimal:
        return self.sim.spot.spot_price(sym, price)

    # ---- endpoints ------------------------------------------------------------------

    def kline(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p, ("linear", "spot", "inverse"))
        sym = self._one_symbol(cat, p)
        interval = str(p.get("interval", ""))
        if interval not in INTERVAL_MINUTES:
            raise ParamError(10001, "params error: interval invalid")
        limit = int_param(p, "limit", 200, 1, 1000)
        start = int_param(p, "start", None, 0, 2**62)
        end = int_param(p, "end", None, 0, 2**62)
        assert limit is not None
        bars = self.sim.market.klines(sym, interval, start, end, limit)
        if cat == "spot":
            bars = [self.spot_bar(sym, k) for k in bars]
        scale = self._specs(cat)[sym].price_scale
        rows = [[str(k.start_ms), num(k.open, scale), num(k.high, scale), num(k.low, scale),
                 num(k.close, scale), num(k.volume), num(k.turnover)] for k in reversed(bars)]
        return {"symbol": sym, "category": cat, "list": rows}

    def spot_bar(self, sym: str, k: Kline) -> Kline:
        f = self._spotify
        return Kline(k.start_ms, f(sym, k.open), f(sym, k.high), f(sym, k.low), f(sym, k.close),
                     k.volume, k.turnover)

    def ticker(self, sym: str, cat: str = "linear") -> dict[str, Any]:
        mkt = self.sim.market
        spec = self._specs(cat)[sym]
        scale = spec.price_scale
        last = self.last(cat, sym)
        prev, high, low, vol, turnover = mkt.stats_24h(sym)
        if cat == "spot":
            prev, high, low = (self._spotify(sym, x) for x in (prev, high, low))
        pct = (last / prev - 1) if prev else Decimal(0)
        (bid, bid_sz), (ask, ask_sz) = self.book(cat, sym).best()
        common = {
            "symbol": sym, "lastPrice": num(last, scale), "prevPrice24h": num(prev, scale),
            "price24hPcnt": num(pct, 6), "highPrice24h": num(high, scale),
            "lowPrice24h": num(low, scale), "turnover24h": num(turnover, 4),
            "volume24h": num(vol), "bid1Price": num(bid, scale), "bid1Size": num(bid_sz),
            "ask1Price": num(ask, scale), "ask1Size": num(ask_sz),
        }
        if cat == "spot":
            return {**common, "usdIndexPrice": num(last, scale)}
        funding = self.sim.funding
        return {
            **common, "indexPrice": num(last, scale), "markPrice": num(last, scale),
            "prevPrice1h": num(prev, scale), "openInterest": "0", "openInterestValue": "0",
            "fundingRate": num(funding.current_rate(sym)),
            "nextFundingTime": str(funding.next_ms), "fundingIntervalHour": "8",
            "predictedDeliveryPrice": "", "basisRate": "", "deliveryFeeRate": "",
            "deliveryTime": "0", "basis": "",
        }

    def ticker_delta(self, sym: str) -> dict[str, Any]:
        """What a linear `tickers` delta carries: the fields a trade moves (no 24-hour
        statistics, which would cost a scan of a day of bars on every push)."""
        scale = self.sim.engine.specs[sym].price_scale
        last = self.sim.market.last(sym)
        (bid, bid_sz), (ask, ask_sz) = self.sim.engine.books[sym].best()
        funding = self.sim.funding
        return {"symbol": sym, "lastPrice": num(last, scale), "markPrice": num(last, scale),
                "indexPrice": num(last, scale), "bid1Price": num(bid, scale),
                "bid1Size": num(bid_sz), "ask1Price": num(ask, scale), "ask1Size": num(ask_sz),
                "fundingRate": num(funding.current_rate(sym)),
                "nextFundingTime": str(funding.next_ms)}

    def tickers(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p)
        return {"category": cat, "list": [self.ticker(s, cat) for s in self._symbols(cat, p)]}

    def instruments(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p)
        rows = [self._instrument(cat, self._specs(cat)[s]) for s in self._symbols(cat, p)]
        return {"category": cat, "list": rows, "nextPageCursor": ""}

    @staticmethod
    def _instrument(cat: str, s: InstrumentSpec) -> dict[str, Any]:
        if cat == "spot":
            return {
                "symbol": s.symbol, "baseCoin": s.base_coin, "quoteCoin": "USDT",
                "innovation": "0", "status": "Trading", "marginTrading": "utaOnly",
                "stTag": "0",
                "lotSizeFilter": {"basePrecision": num(s.qty_step), "quotePrecision": "0.00000001",
                                  "minOrderQty": num(s.min_qty), "maxOrderQty": num(s.max_qty),
                                  "minOrderAmt": num(s.min_notional), "maxOrderAmt": "2000000"},
                "priceFilter": {"tickSize": f"{s.tick_size:f}"},
                "riskParameters": {"priceLimitRatioX": "0.05", "priceLimitRatioY": "0.05"},
            }
        return {
            "symbol": s.symbol, "contractType": "LinearPerpetual", "status": "Trading",
            "baseCoin": s.base_coin, "quoteCoin": "USDT", "launchTime": "1585526400000",
            "deliveryTime": "0", "deliveryFeeRate": "", "priceScale": str(s.price_scale),
            "leverageFilter": {"minLeverage": "1", "maxLeverage": num(s.max_leverage, 2),
                               "leverageStep": "0.01"},
            "priceFilter": {"minPrice": num(s.tick_size), "maxPrice": "1999999.80",
                            "tickSize": f"{s.tick_size:f}"},
            "lotSizeFilter": {"maxOrderQty": num(s.max_qty), "minOrderQty": num(s.min_qty),
                              "qtyStep": num(s.qty_step), "postOnlyMaxOrderQty": num(s.max_qty),
                              "maxMktOrderQty": num(s.max_qty),
                              "minNotionalValue": num(s.min_notional)},
            "unifiedMarginTrade": True, "fundingInterval": 480, "settleCoin": "USDT",
            "copyTrading": "both", "upperFundingRate": "0.00375", "lowerFundingRate": "-0.00375",
            "isPreListing": False, "preListingInfo": None,
        }

    def orderbook(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p, ("linear", "spot", "inverse", "option"))
        sym = self._one_symbol(cat, p)
        hi = 200 if cat == "spot" else 500
        limit = int_param(p, "limit", 1 if cat == "spot" else 25, 1, hi)
        assert limit is not None
        return self.book_payload(cat, sym, limit)

    def book_payload(self, cat: str, sym: str, depth: int) -> dict[str, Any]:
        book = self.book(cat, sym)
        scale = self._specs(cat)[sym].price_scale
        return {"s": sym, "b": [[num(px, scale), num(q)] for px, q in book.bids(depth)],
                "a": [[num(px, scale), num(q)] for px, q in book.asks(depth)],
                "ts": book.ts or self.sim.now_ms(), "u": book.u, "seq": book.seq,
                "cts": book.ts or self.sim.now_ms()}

    def trade_row(self, cat: str, sym: str, t: Trade) -> dict[str, Any]:
        scale = self._specs(cat)[sym].price_scale
        px = self._spotify(sym, t.price) if cat == "spot" else t.price
        return {"execId": f"{sym}-{cat}-{t.trade_id}", "symbol": sym, "price": num(px, scale),
                "size": num(t.qty), "side": "Sell" if t.buyer_maker else "Buy",
                "time": str(t.time_ms), "isBlockTrade": False, "isRPITrade": False}

    def recent_trades(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p, ("linear", "spot", "inverse", "option"))
        sym = self._one_symbol(cat, p)
        limit = int_param(p, "limit", 60 if cat == "spot" else 500, 1,
                          60 if cat == "spot" else 1000)
        assert limit is not None
        tape = list(self.tape.trades.get(sym, ()))[-limit:]
        return {"category": cat, "list": [self.trade_row(cat, sym, t) for t in reversed(tape)]}

    def funding_history(self, p: dict[str, Any]) -> dict[str, Any]:
        cat = category(p, ("linear", "inverse"))
        sym = self._one_symbol(cat, p)
        limit = int_param(p, "limit", 200, 1, 200)
        start = int_param(p, "startTime", None, 0, 2**62)
        end = int_param(p, "endTime", None, 0, 2**62)
        assert limit is not None
        if start is not None and end is None:
            raise ParamError(10001, "params error: endTime is required when startTime is set")
        rows = self.sim.funding.history(sym, start, end, limit)
        return {"category": cat, "list": [
            {"symbol": sym, "fundingRate": num(r), "fundingRateTimestamp": str(t)}
            for t, r in rows]}

    def server_time(self) -> dict[str, Any]:
        ns = time.time_ns()
        return {"timeSecond": str(ns // 1_000_000_000), "timeNano": str(ns)}

    # ---- start-up queries of third-party clients (authenticated) ---------------------

    def coin_info(self, p: dict[str, Any]) -> dict[str, Any]:
        coins = ["USDT", *sorted({s.base_coin for s in self.sim.engine.specs.values()})]
        want = p.get("coin")
        if want:
            coins = [c for c in coins if c == want]
        rows = []
        for c in coins:
            rows.append({"name": c, "coin": c, "remainAmount": "150000", "chains": [{
                "chainType": c, "confirmation": "12", "withdrawFee": "0.5",
                "depositMin": "0", "withdrawMin": "1", "chain": c, "chainDeposit": "1",
                "chainWithdraw": "1", "minAccuracy": "8", "withdrawPercentageFee": "0",
                "contractAddress": "", "safeConfirmNumber": "12"}]})
        return {"rows": rows}

    def api_key_info(self, key: str) -> dict[str, Any]:
        return {
            "id": str(zlib.crc32(key.encode())), "note": "titan sim", "apiKey": key,
            "readOnly": 0, "secret": "", "permissions": {
                "ContractTrade": ["Order", "Position"], "Spot": ["SpotTrade"], "Wallet": [],
                "Options": [], "Derivatives": [], "CopyTrading": [], "BlockTrade": [],
                "Exchange": [], "NFT": [], "Affiliate": []},
            "ips": ["*"], "type": 1, "deadlineDay": 90, "expiredAt": "",
            "createdAt": "2024-06-01T00:00:00Z", "unified": 0, "uta": 1, "userID": 1000001,
            "inviterID": 0, "vipLevel": "No VIP", "mktMakerLevel": "0", "affiliateID": 0,
            "rsaPublicKey": "", "isMaster": True, "parentUid": "0", "kycLevel": "LEVEL_DEFAULT",
            "kycRegion": ""}
