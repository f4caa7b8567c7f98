"""The recorder in a running paper Titan (SPEC §15): the in-process simulator's trades
(Binance spot feed), tickers and closed klines (Bybit) reach the store over real sockets;
a dropped trade stream is recorded as a gap and backfilled from the simulator's REST
aggTrades, leaving no trade id missing; a funding settlement is recorded once, from the
tickers' fundingRate/nextFundingTime, and the week before the start from Bybit's funding
history; retention prunes old days; /metrics shows the
store's size, its write lag and the rows written."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import make_titan
from titan.app import create_app
from titan.marketdata.recorder import MarketDataRecorder
from titan.marketdata.store import DAY_MS, MarketDataStore

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]


async def wait_for(what: str, check: Callable[[], bool], within_s: float = 40.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not check():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.1)


def metric(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_a_paper_titan_records_trades_tickers_klines_and_a_backfilled_gap(
        data_dir: Path, aiohttp_client: MakeClient) -> None:
    store = MarketDataStore(data_dir / "marketdata")
    old = T_OLD = 1_600_000_000_000  # 2020: far past the retention
    store.append("binance", "BTCUSDT", "trades", pa.table({
        "ts_ms": [T_OLD], "trade_id": [1], "price": [1.0], "qty": [1.0],
        "buyer_is_maker": [True]}))
    titan = make_titan(data_dir, sim_symbols="BTCUSDT,ETHUSDT")
    client = await aiohttp_client(create_app(titan))
    rec: MarketDataRecorder = titan.marketdata  # type: ignore[attr-defined]
    rec.flush_s, rec.write_s = 0.1, 0.3  # write often: the test reads the files
    sim = titan.simulator

    def rows(venue: str, kind: str) -> int:
        return sum(r.rows for r in store.inventory() if (r.venue, r.kind) == (venue, kind))

    await wait_for("trades, tickers and klines on disk",
                   lambda: rows("binance", "trades") > 20 and rows("bybit", "tickers") > 0
                   and rows("bybit", "klines") >= 2)

    # The trade stream drops: a gap, then its trades fetched from REST.
    assert await sim.drop_streams("binance_spot") == 1
    await asyncio.sleep(1.0)  # trades go on printing while the feed reconnects

    def gaps(symbol: str) -> list[dict[str, Any]]:
        return [g for b in store.read("binance", symbol, "gaps", 0, 2**62)
                for g in b.to_pylist()]

    await wait_for("the gap recorded and backfilled",
                   lambda: all(gaps(s) and gaps(s)[-1]["backfilled"]
                               for s in ("BTCUSDT", "ETHUSDT")))
    gap = gaps("BTCUSDT")[-1]
    assert gap["end_ms"] > gap["start_ms"] and gap["reason"].startswith("trades stream:")
    # Bybit's public stream (tickers) drops: a gap, not backfilled (no ticker history).
    assert await sim.drop_streams("bybit_public") == 1

    def bybit_gaps() -> list[dict[str, Any]]:
        return [g for b in store.read("bybit", "ETHUSDT", "gaps", 0, 2**62)
                for g in b.to_pylist()]

    await wait_for("the Bybit public gap recorded", lambda: bool(bybit_gaps()))
    assert bybit_gaps()[-1]["reason"].startswith("public stream:")
    assert not bybit_gaps()[-1]["backfilled"]
    await asyncio.sleep(1.0)  # trades after the gap, from the stream again
    # Funding: Bybit's tickers carry fundingRate and nextFundingTime; a settlement (driven
    # now, hours early) is recorded once, when the tickers show the schedule moved on.
    due, rate = sim.funding.next_ms, sim.funding.current_rate("BTCUSDT")
    settled_at = titan.clock.time_ms()
    sim.settle_funding()

    def funding(since: int = settled_at) -> list[dict[str, Any]]:
        return [r for b in store.read("bybit", "BTCUSDT", "funding", since, 2**62)
                for r in b.to_pylist()]

    await wait_for("the funding settlement recorded", lambda: bool(funding()))
    await asyncio.sleep(1.0)  # more tickers with the new schedule: no second row
    resp = await client.get("/metrics")
    text = await resp.text()
    await client.close()  # Titan stops: what is buffered is written

    now = titan.clock.time_ms()
    trades = list(store.iter_trades("binance", "BTCUSDT", now - DAY_MS, now + DAY_MS))
    ids = [t.trade_id for t in trades]
    in_gap = [t for t in trades if gap["start_ms"] < t.ts_ms < gap["end_ms"]]
    assert in_gap, "the simulator printed trades during the gap; the backfill has them"
    assert ids == list(range(ids[0], ids[-1] + 1)), "a trade id is missing or doubled"
    assert trades[-1].ts_ms > gap["end_ms"]
    tickers = [r for b in store.read("bybit", "BTCUSDT", "tickers", 0, 2**62)
               for r in b.to_pylist()]
    assert tickers and all(r["last_price"] > 0 for r in tickers)
    klines = list(store.iter_klines("bybit", "ETHUSDT", 1, 0, 2**62))
    assert klines and all(k.start_ms % 60_000 == 0 and k.start_ms + 60_000 <= now
                          for k in klines)

    (row,) = funding()  # one row per settlement, not one per ticker
    assert row["rate"] == float(rate) and settled_at <= row["ts_ms"] < due
    # At start, the last week's settlements were read from Bybit's funding history (the
    # simulator's): every 8 hours, at the venue's rates, none missing.
    week = funding(settled_at - 7 * DAY_MS - 60_000)[:-1]
    interval = 8 * 3_600_000
    assert len(week) == 21, week  # 7 days of 8-hour settlements
    assert [r["ts_ms"] for r in week] == list(range(due - 21 * interval, due, interval))
    assert [r["rate"] for r in week] == [float(sim.funding.rate("BTCUSDT", r["ts_ms"]))
                                         for r in week]
    assert metric(text, "titan_marketdata_bytes") > 0
    assert metric(text, "titan_marketdata_lag_seconds") >= 0
    assert metric(text, 'titan_marketdata_rows_total{kind="trades"}') > 20
    # Retention: the 2020 trade went at the writer's first housekeeping (at start).
    assert list(store.iter_trades("binance", "BTCUSDT", old, old + 1)) == []
    assert store.size_bytes() > 0


async def test_recording_off_writes_nothing(data_dir: Path, aiohttp_client: MakeClient) -> None:
    titan = make_titan(data_dir, record_marketdata=False, sim_symbols="BTCUSDT")
    client = await aiohttp_client(create_app(titan))
    await asyncio.sleep(0.5)
    text = await (await client.get("/metrics")).text()
    await client.close()
    assert "titan_marketdata_bytes" not in text
    assert not (data_dir / "marketdata").exists()
