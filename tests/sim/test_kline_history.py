"""Kline history as Bybit serves it: `start` pages forward, `end` is honoured, and
months of higher-interval candles exist from the start (generated lazily, seeded)."""

from __future__ import annotations

import itertools

from pybit.unified_trading import HTTP

from titan.sim import SimConfig, Simulator
from titan.sim.market import MINUTE_MS, Market

from .conftest import call

T0 = 1_767_225_600_000 + 3 * 3_600_000


def _pub(sim: Simulator) -> HTTP:
    pub = HTTP(testnet=False)
    pub.endpoint = sim.base_url
    return pub


async def test_start_returns_bars_from_start_and_end_is_honoured(sim: Simulator) -> None:
    pub = _pub(sim)
    now = sim.now_ms()
    start = now - now % MINUTE_MS - 600 * MINUTE_MS
    rows = (await call(pub.get_kline, category="linear", symbol="BTCUSDT", interval="1",
                       start=start, limit=10))["result"]["list"]
    # Bybit: the 10 bars from `start` on, newest first.
    assert [int(r[0]) for r in rows] == [start + i * MINUTE_MS for i in range(9, -1, -1)]
    end = start + 4 * MINUTE_MS
    rows = (await call(pub.get_kline, category="linear", symbol="BTCUSDT", interval="1",
                       start=start, end=end, limit=10))["result"]["list"]
    assert [int(r[0]) for r in rows] == [start + i * MINUTE_MS for i in range(4, -1, -1)]
    rows = (await call(pub.get_kline, category="linear", symbol="BTCUSDT", interval="1",
                       end=end, limit=3))["result"]["list"]
    assert [int(r[0]) for r in rows] == [end, end - MINUTE_MS, end - 2 * MINUTE_MS]


async def test_months_of_history_page_through_the_real_endpoint(sim: Simulator) -> None:
    pub = _pub(sim)
    now = sim.now_ms()
    for interval, count in (("D", 200), ("240", 1200), ("15", 3000)):
        size = (1440 if interval == "D" else int(interval)) * MINUTE_MS
        first = now - now % size - (count - 1) * size
        got: list[list[str]] = []
        start = first
        while len(got) < count:
            rows = (await call(pub.get_kline, category="linear", symbol="ETHUSDT",
                               interval=interval, start=start, limit=1000))["result"]["list"]
            assert rows, (interval, len(got))
            got += list(reversed(rows))
            start = int(rows[0][0]) + size
        starts = [int(r[0]) for r in got]
        # The clock may cross a bar boundary while paging: one newer bar is then served.
        assert starts[0] == first and len(starts) in (count, count + 1), interval
        assert starts[count - 1] == first + (count - 1) * size, interval
        assert all(b - a == size for a, b in itertools.pairwise(starts)), interval
        for r in got:
            o, h, lo, c = (float(x) for x in r[1:5])
            assert lo <= min(o, c) <= max(o, c) <= h and lo > 0


def _market(seed: int) -> Market:
    m = Market(SimConfig(seed=seed, symbols=("BTCUSDT",)), lambda: T0)
    m.backfill()
    return m


def test_history_is_seeded_and_consistent_across_intervals() -> None:
    a, b, c = _market(4), _market(4), _market(5)
    day = 1440 * MINUTE_MS
    start = T0 - T0 % day - 150 * day

    def rows(m: Market, iv: str, n: int) -> list[tuple[object, ...]]:
        return [(k.start_ms, k.open, k.high, k.low, k.close, k.volume)
                for k in m.klines("BTCUSDT", iv, start=start, limit=n)]

    assert rows(a, "D", 100) == rows(b, "D", 100) != rows(c, "D", 100)
    # A 4-hour bar is its sixteen 15-minute bars, a day its six 4-hour bars, in old
    # generated history and in the recent 1-minute history alike.
    for first in (start, T0 - T0 % day - day):
        d = a.klines("BTCUSDT", "D", start=first, limit=1)[0]
        h4 = a.klines("BTCUSDT", "240", start=first, limit=6)
        m15 = a.klines("BTCUSDT", "15", start=first, limit=96)
        for parts in (h4, m15):
            assert parts[0].open == d.open and parts[-1].close == d.close
            assert max(k.high for k in parts) == d.high and min(k.low for k in parts) == d.low
            assert sum(k.volume for k in parts) == d.volume
        assert [k.close for k in h4] == [m15[i * 16 + 15].close for i in range(6)]
    # Old history joins the recent bars without a gap in time.
    days = a.klines("BTCUSDT", "D", end=T0, limit=200)
    assert len(days) == 200
    assert all(y.start_ms - x.start_ms == day for x, y in itertools.pairwise(days))


def test_the_current_bar_is_served_before_its_first_trade() -> None:
    # Bybit always returns the bar in progress; a request just after a minute (or 15-
    # minute) boundary, before anything traded in it, must still end at that bar.
    now = [T0]
    m = Market(SimConfig(seed=4, symbols=("BTCUSDT",)), lambda: now[0])
    m.backfill()
    last_close = m.symbols["BTCUSDT"].klines[-1].close
    now[0] = T0 + 15 * MINUTE_MS + 500  # the clock crossed a 15-minute boundary, no trade
    for interval in ("1", "15"):
        size = int(interval) * MINUTE_MS
        newest = m.klines("BTCUSDT", interval, limit=3)[-1]
        assert newest.start_ms == now[0] - now[0] % size, interval
        paged = m.klines("BTCUSDT", interval, start=now[0] - 2 * size, limit=10)
        assert paged[-1].start_ms == now[0] - now[0] % size, interval
    flat = m.klines("BTCUSDT", "1", limit=1)[0]
    assert flat.open == flat.high == flat.low == flat.close == last_close
    assert flat.volume == 0
    # A trade in that minute lands in the same bar, not a second one.
    t = m.set_price("BTCUSDT", float(last_close) * 1.001)
    bars = m.klines("BTCUSDT", "1", limit=2)
    assert bars[-1].start_ms == flat.start_ms and bars[-1].close == t.price
    assert bars[-1].open == last_close and bars[-1].volume == t.qty
