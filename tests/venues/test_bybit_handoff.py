"""The pybit thread → event loop hand-off of `_BybitStream`: pure, no network."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from titan.clock import ManualClock
from titan.venues.bybit import BybitVenue
from titan.venues.bybit_socket import _owned, _TitanWebSocket
from titan.venues.bybit_streams import _DRAIN_BATCH, _BybitStream
from titan.venues.streams import StreamMonitor


class StubLoop:
    """Records what the pybit thread schedules; the test runs it by hand."""

    def __init__(self) -> None:
        self.threadsafe: list[Callable[[], None]] = []
        self.soon: list[Callable[[], None]] = []

    def call_soon_threadsafe(self, fn: Callable[..., None], *args: Any) -> None:
        self.threadsafe.append(lambda: fn(*args))

    def call_soon(self, fn: Callable[..., None], *args: Any) -> None:
        self.soon.append(lambda: fn(*args))

    def run(self) -> None:
        while self.threadsafe or self.soon:
            batch, self.threadsafe, self.soon = self.threadsafe + self.soon, [], []
            for fn in batch:
                fn()


def make_stream(got: list[dict[str, Any]], loop: StubLoop) -> tuple[_BybitStream, StreamMonitor]:
    clock = ManualClock()
    monitor = StreamMonitor("bybit", clock)
    stream = _BybitStream(
        name="public", url="ws://x/v5/public/linear", private=False, testnet=False, api_key="k",
        api_secret="s", topics=[], on_message=got.append, monitor=monitor, clock=clock,
        loop=loop, ping_interval=10, silence_timeout=25, data_silence_timeout=30,  # type: ignore[arg-type]
        connect_timeout=5, reconnect_max_delay=5)
    stream._gen = 1
    return stream, monitor


def test_one_wake_per_batch_in_order() -> None:
    got: list[dict[str, Any]] = []
    loop = StubLoop()
    stream, monitor = make_stream(got, loop)
    for i in range(50):  # what _TitanWebSocket._on_message does per frame
        stream.from_thread_heard(1)
        stream.from_thread_topic(1, {"topic": "publicTrade.BTCUSDT", "data": [{"i": str(i)}]})
    assert len(loop.threadsafe) == 1  # not two per message: one for the whole batch
    loop.run()
    assert [m["data"][0]["i"] for m in got] == [str(i) for i in range(50)]
    assert monitor.silence("public") == 0 and monitor.silence("public", data=True) == 0
    # the next message after the drain wakes the loop again
    stream.from_thread_topic(1, {"topic": "publicTrade.BTCUSDT", "data": []})
    assert len(loop.threadsafe) == 1
    loop.run()
    assert len(got) == 51


def test_backlog_is_drained_in_bounded_slices_and_old_generations_dropped() -> None:
    got: list[dict[str, Any]] = []
    loop = StubLoop()
    stream, _ = make_stream(got, loop)
    for i in range(_DRAIN_BATCH * 2 + 5):
        stream.from_thread_topic(1, {"topic": "t", "n": i})
    stream.from_thread_topic(0, {"topic": "t", "n": "stale"})  # a torn-down connection
    stream.from_thread_lost(1, "closed by server")
    assert len(loop.threadsafe) == 1
    first = loop.threadsafe.pop()
    first()
    assert len(got) == _DRAIN_BATCH and len(loop.soon) == 1  # the rest on a later turn
    loop.run()
    assert [m["n"] for m in got] == list(range(_DRAIN_BATCH * 2 + 5))
    assert stream._lost_reason == "closed by server"


def test_tickers_reach_the_callback_as_a_shallow_copy_of_pybits_cache() -> None:
    ws = object.__new__(_TitanWebSocket)  # no connection: only the message path
    ws.data = {}
    got: list[dict[str, Any]] = []
    ws.callback_directory = {"tickers.BTCUSDT": got.append}
    snap = {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 1, "cs": 5,
            "data": {"symbol": "BTCUSDT", "lastPrice": "100", "markPrice": "100"}}
    ws._process_normal_message(snap)
    ws._process_normal_message({"topic": "tickers.BTCUSDT", "type": "delta", "ts": 2, "cs": 6,
                                "data": {"symbol": "BTCUSDT", "lastPrice": "101"}})
    assert [m["data"]["lastPrice"] for m in got] == ["100", "101"]  # not mutated afterwards
    assert got[1] == {"topic": "tickers.BTCUSDT", "type": "snapshot", "ts": 2, "cs": 6,
                      "data": {"symbol": "BTCUSDT", "lastPrice": "101", "markPrice": "100"}}
    assert got[1]["data"] is not ws.data["tickers.BTCUSDT"]


def test_owned_copies_only_what_pybit_mutates() -> None:
    ticker = {"topic": "tickers.BTCUSDT", "data": {"lastPrice": "1"}}
    assert _owned(ticker) is ticker  # already copied by _TitanWebSocket
    trade = {"topic": "publicTrade.BTCUSDT", "data": [{"p": "1"}]}
    assert _owned(trade) is trade  # fresh from json.loads, never touched again by pybit
    book = {"topic": "orderbook.1.BTCUSDT", "data": {"b": [["1", "2"]]}}
    mine_book = _owned(book)
    book["data"]["b"][0][1] = "0"
    assert mine_book["data"]["b"][0][1] == "2"


def test_public_trades_subscribed_only_when_someone_listens() -> None:
    v = BybitVenue("k", "s", symbols=["BTCUSDT"], clock=ManualClock(), streams=False)
    # The top of the book (orderbook.1) always: entries are priced from it.
    assert v._public_topics(["BTCUSDT"]) == ["tickers.BTCUSDT", "orderbook.1.BTCUSDT"]
    v.on_public_trade(lambda t: None)
    assert v._public_topics(["BTCUSDT"]) == ["tickers.BTCUSDT", "orderbook.1.BTCUSDT",
                                             "publicTrade.BTCUSDT"]
    quiet = BybitVenue("k", "s", symbols=["BTCUSDT"], clock=ManualClock(), streams=False,
                       book_top=False)
    assert quiet._public_topics(["BTCUSDT"]) == ["tickers.BTCUSDT"]



def test_the_top_of_the_book_arrives_as_a_ticker_on_the_last_price() -> None:
    from decimal import Decimal

    from titan.venues.base import Ticker

    v = BybitVenue("k", "s", symbols=["BTCUSDT"], clock=ManualClock(), streams=False)
    got: list[Ticker] = []
    v.on_ticker(got.append)
    book = {"topic": "orderbook.1.BTCUSDT", "ts": 1_000,
            "data": {"s": "BTCUSDT", "b": [["100.1", "2"]], "a": [["100.3", "1"]]}}
    v._on_public_message(book)
    assert got == []  # no ticker yet: no last price to carry
    v._on_public_message({"topic": "tickers.BTCUSDT", "ts": 900,
                          "data": {"symbol": "BTCUSDT", "lastPrice": "100.2"}})
    v._on_public_message(book)
    top = got[-1]
    assert (top.last_price, top.bid, top.ask, top.ts_ms) == (
        Decimal("100.2"), Decimal("100.1"), Decimal("100.3"), 1_000)
