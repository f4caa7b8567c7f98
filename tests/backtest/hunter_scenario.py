"""A hand-built market where Hunter's planned long fills at the order block and exits.

ETHUSDT on 2025-03-11 in the London killzone. The stored candles (daily, 4 h, 15 m, on
the execution venue) are uptrends built by `tests.strategies.hunter_bars`: daily BULL with
4 h in DISCOUNT and a 15 m order block whose top is 0.2 % under the last close `P`
(3,400); BTCUSDT's 4 h falls harder on its last bar, so ETH's relative strength is > 0.

From 08:00 the perpetual (Bybit trades, one a second) trades at P; Binance trades show
absorption over the minutes 08:00–08:02 (lower lows, CVD's low rising). At 08:03 the POI
round sees the confirmation: a post-only buy at the block's top (0.998 P) rests; at
08:03:10 the perpetual trades down to 0.9975 P (filled, maker), then climbs 0.05 % a
second through break-even (1.5R), the 2R partial and the 3R target.
"""

from __future__ import annotations

from datetime import UTC, datetime

import pyarrow as pa

from tests.strategies.hunter_bars import mapped, zigzag_units
from titan.marketdata.store import MarketDataStore
from titan.venues.base import Kline, Trade

SYMBOL = "ETHUSDT"
BTC = "BTCUSDT"
P = 3400.0
BLOCK_TOP = P * 0.998
DAY = int(datetime(2025, 3, 11, tzinfo=UTC).timestamp() * 1000)
START = DAY + 8 * 3_600_000  # 08:00, London
SIGNAL = START + 3 * 60_000  # the POI round that confirms
DIP = SIGNAL + 10_000  # the perpetual trades through the block
END = START + 10 * 60_000


def _last_closed(interval_min: int) -> int:
    size = interval_min * 60_000
    return START - START % size - size


def uptrend(symbol: str, price: float) -> dict[tuple[str, int], list[Kline]]:
    """`symbol`'s daily, 4 h and 15 m uptrends closing at `price` (the 15 m block's top
    0.2 % under it) and an hour of minutes before the start (the listing's turnover)."""
    u15 = zigzag_units(83)
    x_end, x_ob = u15[-1][3], 348.1  # the unit series' last close and its block's top
    a = price * 0.002 / (x_end - x_ob)
    out = {(symbol, 15): mapped(u15, a, price - a * x_end, 15, _last_closed(15))}
    for interval, cycles in ((240, 33), (1440, 17)):
        u = zigzag_units(cycles)
        out[(symbol, interval)] = mapped(u, a, price - a * u[-1][3], interval,
                                         _last_closed(interval))
    out[(symbol, 1)] = [Kline(START - (60 - i) * 60_000, price, price, price, price, 5.0)
                        for i in range(60)]
    return out


def candles() -> dict[tuple[str, int], list[Kline]]:
    out = uptrend(SYMBOL, P)
    out[(BTC, 240)] = mapped(zigzag_units(33), 1.0, 0.0, 240, _last_closed(240))
    out[(BTC, 1)] = [Kline(START - (60 - i) * 60_000, 200.0, 200.0, 200.0, 200.0, 5.0)
                     for i in range(60)]
    return out


def signal_trades() -> list[Trade]:
    """Binance: absorption over 08:00–08:02 (quote CVD: −3.4 M, then +6.8 M, +8.3 M)."""
    steps = [(START + 5_000, P * 0.9990, 1000.0, True),
             (START + 65_000, P * 0.9985, 100.0, True),
             (START + 65_010, P * 0.9986, 3000.0, False),
             (START + 125_000, P * 0.9980, 50.0, True),
             (START + 125_010, P * 0.9981, 500.0, False)]
    return [Trade(SYMBOL, px, qty, ts, sell, i + 1)
            for i, (ts, px, qty, sell) in enumerate(steps)]


def venue_trades(*, dip: bool = True) -> list[Trade]:
    """Bybit: P each second to the dip, 0.9975 P, then +0.05 % a second to 1.05 × P.
    Without the dip: 1.001 × P from the signal on, never back to the block."""
    out: list[Trade] = []
    ts, tid = START, 1
    while ts < (DIP if dip else END):
        out.append(Trade(SYMBOL, P if ts < SIGNAL or dip else P * 1.001, 1.0, ts, False, tid))
        ts, tid = ts + 1_000, tid + 1
    px = P * 0.9975
    while ts < END and px < P * 1.05:
        out.append(Trade(SYMBOL, round(px, 2), 1.0, ts, px == P * 0.9975, tid))
        ts, tid, px = ts + 1_000, tid + 1, px * 1.0005
    for t in range(START, END, 1_000):  # BTC: quiet (priced, never entered: RS is 0)
        out.append(Trade(BTC, 200.0, 1.0, t, False, 10_000 + t // 1_000 % 1_000_000))
    return out


def _kline_table(interval: int, bars: list[Kline]) -> pa.Table:
    return pa.table({"interval_min": [interval] * len(bars),
                     "start_ms": [b.start_ms for b in bars], "open": [b.open for b in bars],
                     "high": [b.high for b in bars], "low": [b.low for b in bars],
                     "close": [b.close for b in bars], "volume": [b.volume for b in bars]})


def _trade_table(trades: list[Trade]) -> pa.Table:
    return pa.table({"ts_ms": [t.ts_ms for t in trades], "trade_id": [t.trade_id for t in trades],
                     "price": [t.price for t in trades], "qty": [t.qty for t in trades],
                     "buyer_is_maker": [t.buyer_is_maker for t in trades]})


def write_store(store: MarketDataStore, *, flow: bool = True, dip: bool = True) -> None:
    """The scenario into `store`; `flow=False` leaves the Binance trades out, `dip=False`
    the perpetual's dip to the block."""
    for (sym, interval), bars in sorted(candles().items()):
        store.append("bybit", sym, "klines", _kline_table(interval, bars))
    if flow:
        store.append("binance", SYMBOL, "trades", _trade_table(signal_trades()))
    venue = venue_trades(dip=dip)
    for sym in (SYMBOL, BTC):
        store.append("bybit", sym, "trades", _trade_table([t for t in venue if t.symbol == sym]))
