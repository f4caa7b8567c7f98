"""The L2 book: depth around the last trade, orders walking it, its REST and WS forms."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pybit.unified_trading import HTTP

from titan.sim import SimConfig, Simulator

from .conftest import KEY, D, blocking, call, eventually, make_ws, subscribed


def _levels(rows: list[list[str]]) -> list[tuple[Decimal, Decimal]]:
    return [(D(p), D(q)) for p, q in rows]


async def test_book_brackets_the_last_trade_with_a_one_tick_spread(sim: Simulator,
                                                                   http: HTTP) -> None:
    sim.set_price("BTCUSDT", "60000")
    ob = (await call(http.get_orderbook, category="linear", symbol="BTCUSDT",
                     limit=50))["result"]
    bids, asks = _levels(ob["b"]), _levels(ob["a"])
    assert len(bids) == len(asks) == 50
    assert bids[0][0] < asks[0][0] and asks[0][0] - bids[0][0] == D("0.1")
    assert D(60000) in (bids[0][0], asks[0][0])  # the trade printed on the touch
    assert [p for p, _ in bids] == sorted((p for p, _ in bids), reverse=True)
    assert [p for p, _ in asks] == sorted(p for p, _ in asks)
    assert all(q > 0 for _, q in bids + asks)
    # Sizes like a liquid perp: tens of thousands of USDT near the touch.
    assert 0.1 < sum(q for _, q in asks[:5]) < 20
    assert ob["s"] == "BTCUSDT" and ob["u"] > 0 and ob["seq"] > 0
    tk = (await call(http.get_tickers, category="linear", symbol="BTCUSDT"))["result"]["list"][0]
    assert (D(tk["bid1Price"]), D(tk["ask1Price"])) == (bids[0][0], asks[0][0])
    assert D(tk["ask1Size"]) == asks[0][1]
    spot = (await call(http.get_orderbook, category="spot", symbol="BTCUSDT"))["result"]
    assert len(spot["a"]) == 1 and D(spot["b"][0][0]) < D(spot["a"][0][0])


async def test_same_seed_same_book() -> None:
    books = []
    for _ in range(2):
        s = Simulator(SimConfig(seed=11, accounts={}, tick_hz=0))
        s.set_price("ETHUSDT", "3000")
        books.append((s.engine.books["ETHUSDT"].bids(200), s.engine.books["ETHUSDT"].asks(200)))
    assert books[0] == books[1]
    other = Simulator(SimConfig(seed=12, accounts={}, tick_hz=0))
    other.set_price("ETHUSDT", "3000")
    assert other.engine.books["ETHUSDT"].asks(200) != books[0][1]


async def test_a_large_market_order_walks_the_book(sim: Simulator, http: HTTP) -> None:
    sim.config.starting_balance = Decimal(10**7)
    sim.engine.accounts[KEY].wallet_balance = Decimal(10**7)
    sim.set_price("ETHUSDT", "3000")
    asks = sim.engine.books["ETHUSDT"].asks(10)
    part = (asks[2][1] / 2).quantize(D("0.01"), rounding="ROUND_DOWN")
    qty = asks[0][1] + asks[1][1] + part
    await call(http.place_order, category="linear", symbol="ETHUSDT", side="Buy",
               orderType="Market", qty=str(qty), orderLinkId="walk-1")
    ex = (await call(http.get_executions, category="linear", orderLinkId="walk-1"))["result"]
    fills = sorted((D(e["execPrice"]), D(e["execQty"])) for e in ex["list"])
    assert fills == [asks[0], asks[1], (asks[2][0], part)]
    o = (await call(http.get_order_history, category="linear", orderLinkId="walk-1"))["result"]
    avg = D(o["list"][0]["avgPrice"])
    assert asks[0][0] < avg < asks[2][0] and o["list"][0]["orderStatus"] == "Filled"
    # The liquidity taken is gone until the next trade moves the book.
    after = _levels((await call(http.get_orderbook, category="linear", symbol="ETHUSDT",
                                limit=5))["result"]["a"])
    assert after[0] == (asks[2][0], asks[2][1] - part)


async def test_marketable_limit_fills_to_its_price_and_rests_the_rest(sim: Simulator,
                                                                      http: HTTP) -> None:
    sim.engine.accounts[KEY].wallet_balance = Decimal(10**7)
    sim.set_price("SOLUSDT", "150")
    asks = sim.engine.books["SOLUSDT"].asks(10)
    limit = asks[1][0]
    qty = asks[0][1] + asks[1][1] + D(5)
    await call(http.place_order, category="linear", symbol="SOLUSDT", side="Buy",
               orderType="Limit", price=str(limit), qty=str(qty), orderLinkId="ml-1")
    o = (await call(http.get_open_orders, category="linear", orderLinkId="ml-1"))["result"]
    row = o["list"][0]
    assert row["orderStatus"] == "PartiallyFilled" and D(row["leavesQty"]) == 5
    ex = (await call(http.get_executions, category="linear", orderLinkId="ml-1"))["result"]
    assert sorted(D(e["execPrice"]) for e in ex["list"]) == [asks[0][0], asks[1][0]]
    assert all(e["isMaker"] is False for e in ex["list"])


async def test_orderbook_stream_snapshot_then_deltas_match_rest(sim: Simulator,
                                                                http: HTTP) -> None:
    ws = await blocking(make_ws, sim, False)
    got: list[dict[str, Any]] = []
    try:
        await blocking(ws.orderbook_stream, depth=50, symbol="BTCUSDT", callback=got.append)
        await subscribed(sim, "orderbook.50.BTCUSDT")
        await eventually(lambda: got)
        first_u = int(got[-1]["data"]["u"])
        sim.set_price("BTCUSDT", "60500")
        sim.set_price("BTCUSDT", "60490")
        # Deltas come at Bybit's cadence (20 ms for depth 50), coalescing both moves.
        await eventually(lambda: int(got[-1]["data"]["u"]) == sim.engine.books["BTCUSDT"].u)
        assert len(got) >= 2
        rest = (await call(http.get_orderbook, category="linear", symbol="BTCUSDT",
                           limit=50))["result"]
        # pybit applied the deltas to its snapshot: its book is the venue's.
        local = got[-1]["data"]
        assert local["u"] > first_u
        assert dict(map(tuple, local["b"])) == dict(map(tuple, rest["b"]))
        assert dict(map(tuple, local["a"])) == dict(map(tuple, rest["a"]))
        assert local["u"] == rest["u"] and local["seq"] == rest["seq"]
    finally:
        await blocking(ws.exit)


async def test_recent_trades_and_public_trade_stream_agree(sim: Simulator, http: HTTP) -> None:
    ws = await blocking(make_ws, sim, False)
    got: list[dict[str, Any]] = []
    try:
        await blocking(ws.trade_stream, symbol="ETHUSDT", callback=got.append)
        await subscribed(sim, "publicTrade.ETHUSDT")
        trades = sim.emit_trades("ETHUSDT", "3000", 25, spread_ms=5)
        await eventually(lambda: sum(len(m["data"]) for m in got) >= 25)
    finally:
        await blocking(ws.exit)
    rest = (await call(http.get_public_trade_history, category="linear", symbol="ETHUSDT",
                       limit=25))["result"]["list"]
    streamed = [r for m in got for r in m["data"]]
    assert [r["execId"] for r in rest] == [r["i"] for r in reversed(streamed)]
    assert [D(r["price"]) for r in rest] == [t.price for t in reversed(trades)]
    assert {r["side"] for r in rest} <= {"Buy", "Sell"}
    # The book sits on the last print: its touch is the last trade's price.
    bid, ask = sim.engine.books["ETHUSDT"].best()
    assert trades[-1].price in (bid[0], ask[0])
    spot = (await call(http.get_public_trade_history, category="spot", symbol="ETHUSDT",
                       limit=3))["result"]["list"]
    assert len(spot) == 3 and spot[0]["execId"] != rest[0]["execId"]


async def test_a_market_order_larger_than_the_book_fills_what_is_there() -> None:
    sim = Simulator(SimConfig(seed=3, accounts={"big": "s"}, tick_hz=0,
                              starting_balance=Decimal(10**9)))
    sim.set_price("ETHUSDT", "3000")
    book = sim.engine.books["ETHUSDT"]
    book.take(book.asks(197), 1)  # others took all but the last three levels
    left = book.asks(200)
    assert len(left) == 3
    o = sim.engine.place("big", symbol="ETHUSDT", side="Buy", order_type="Market",
                         qty=sum(q for _, q in left) + 1, now_ms=2)
    # Derivatives keep "Cancelled" with the executed qty (Bybit: PartiallyFilledCanceled
    # is spot's status only).
    assert o.status == "Cancelled" and o.cum_qty == sum(q for _, q in left)
    assert [(e.price, e.qty) for e in sim.engine.accounts["big"].executions] == left
    assert book.asks(1) == []
    bid, ask = book.best()  # the ticker still answers: an emptied side shows size 0
    assert ask[1] == 0 and bid[0] < ask[0]
    assert sim.bybit_market.ticker("ETHUSDT")["ask1Size"] == "0"
