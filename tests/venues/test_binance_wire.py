"""Binance wire parsing, URL overrides, request building and the factory: no network."""

from decimal import Decimal

import pytest

from titan.clock import ManualClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.settings import Settings
from titan.venues.base import Instrument, VenueError
from titan.venues.binance_feed import BinanceTradeFeed
from titan.venues.binance_futures import BinanceFuturesVenue
from titan.venues.binance_supervisor import binance_urls
from titan.venues.binance_wire import (
    parse_agg_trade,
    parse_balance,
    parse_instrument,
    parse_order,
    parse_position,
    parse_user_event,
)
from titan.venues.bybit import BybitVenue
from titan.venues.factory import PAPER_API_KEY, build_trade_feed, build_venue


def test_urls_for_a_local_base() -> None:
    u = binance_urls("http://127.0.0.1:9001")
    assert u == {
        "API_URL": "http://127.0.0.1:9001/api",
        "FUTURES_URL": "http://127.0.0.1:9001/fapi",
        "STREAM_URL": "ws://127.0.0.1:9001/",
        "FSTREAM_URL": "ws://127.0.0.1:9001/",
    }
    assert binance_urls(None) == {}


def test_agg_trade_combined_and_bare_and_errors() -> None:
    msg = {
        "stream": "btcusdt@aggTrade",
        "data": {
            "e": "aggTrade",
            "s": "BTCUSDT",
            "a": 12,
            "p": "100.5",
            "q": "0.2",
            "T": 99,
            "m": True,
        },
    }
    t = parse_agg_trade(msg)
    assert t is not None and (t.symbol, t.trade_id, t.price, t.qty, t.ts_ms, t.buyer_is_maker) == (
        "BTCUSDT",
        12,
        100.5,
        0.2,
        99,
        True,
    )
    assert parse_agg_trade(msg["data"]) == t
    assert parse_agg_trade({"e": "error", "type": "ConnectionClosedError", "m": "x"}) is None


def test_agg_trade_off_shape_fields_take_the_general_conversion() -> None:
    full = {"e": "aggTrade", "E": 7, "s": "BTCUSDT", "a": 12, "p": "100.5", "q": "0.2", "T": 99,
            "m": False}
    want = parse_agg_trade(full)
    assert want is not None
    # Each off-shape field still converts as it always did (the fast path is only a shortcut).
    cases: list[tuple[dict[str, object], tuple[object, ...]]] = [
        ({"s": "btcusdt"}, ("BTCUSDT", 12, 99, False)),
        ({"T": 0}, ("BTCUSDT", 12, 7, False)),  # no trade time: the event time
        ({"a": "12"}, ("BTCUSDT", 12, 99, False)),
        ({"T": "99"}, ("BTCUSDT", 12, 99, False)),
        ({"m": 1}, ("BTCUSDT", 12, 99, True)),
    ]
    for change, (sym, agg_id, ts, maker) in cases:
        t = parse_agg_trade({**full, **change})
        assert t is not None and (t.symbol, t.trade_id, t.ts_ms, t.buyer_is_maker) == (
            sym, agg_id, ts, maker), change
        assert type(t.trade_id) is int and type(t.ts_ms) is int and type(t.buyer_is_maker) is bool
    missing = {k: v for k, v in full.items() if k not in ("m", "T")}
    t = parse_agg_trade(missing)
    assert t is not None and (t.ts_ms, t.buyer_is_maker, t.price) == (7, False, 100.5)
    with pytest.raises(ValueError):  # a price that is not a number is refused, not zeroed
        parse_agg_trade({**full, "p": "n/a"})


def test_exchange_info_order_position_balance() -> None:
    inst = parse_instrument(
        {
            "symbol": "BTCUSDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "tickSize": "0.10"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
            ],
        }
    )
    assert inst is not None and inst.tick_size == Decimal("0.1") and inst.min_notional == 100
    o = parse_order(
        {
            "symbol": "BTCUSDT",
            "clientOrderId": "tn-e-1",
            "orderId": 7,
            "side": "SELL",
            "type": "LIMIT",
            "origQty": "0.01",
            "executedQty": "0",
            "price": "60000",
            "avgPrice": "0",
            "status": "CANCELED",
            "reduceOnly": True,
        }
    )
    assert o.status is OrderStatus.CANCELLED and o.side is Side.SELL and o.avg_price is None
    p = parse_position(
        {"symbol": "ETHUSDT", "positionAmt": "-0.5", "entryPrice": "3000", "unRealizedProfit": "2"}
    )
    assert p is not None and p.side is Side.SELL and p.size == Decimal("0.5")
    assert parse_position({"symbol": "ETHUSDT", "positionAmt": "0"}) is None
    w = parse_balance(
        [{"asset": "USDT", "balance": "100", "crossUnPnl": "5", "availableBalance": "90"}]
    )
    assert (w.equity, w.wallet_balance, w.available, w.unrealised_pnl) == (105, 100, 90, 5)


def test_user_stream_events() -> None:
    orders, fills, _, _, _ = parse_user_event(
        {
            "e": "ORDER_TRADE_UPDATE",
            "T": 1,
            "o": {
                "s": "BTCUSDT",
                "c": "tn-e-1",
                "S": "BUY",
                "o": "MARKET",
                "q": "0.01",
                "X": "FILLED",
                "i": 5,
                "x": "TRADE",
                "l": "0.01",
                "L": "60000",
                "n": "0.3",
                "t": 77,
                "z": "0.01",
            },
        }
    )
    assert orders[0].status is OrderStatus.FILLED and fills[0].exec_id == "BTCUSDT-77"
    _, _, positions, closed, wallet = parse_user_event(
        {
            "e": "ACCOUNT_UPDATE",
            "a": {
                "B": [{"a": "USDT", "wb": "99", "cw": "99"}],
                "P": [{"s": "BTCUSDT", "pa": "0"}, {"s": "ETHUSDT", "pa": "1", "ep": "3000"}],
            },
        }
    )
    assert closed == ["BTCUSDT"] and positions[0].symbol == "ETHUSDT" and wallet is not None


def test_futures_order_params() -> None:
    v = BinanceFuturesVenue("k", "s", base_url="http://127.0.0.1:1", clock=ManualClock())
    inst = Instrument("BTCUSDT", Decimal("0.1"), Decimal("0.001"), Decimal("0.001"))
    intent = OrderIntent(
        "x", "BTCUSDT", Side.SELL, Decimal("0.0219"), OrderType.LIMIT, price=Decimal("60000.01")
    )
    p = v.order_params(intent, inst)
    assert (
        p["quantity"] == "0.021"
        and p["price"] == "60000.1"
        and p["newClientOrderId"] == intent.client_order_id
    )
    with pytest.raises(VenueError):
        v.order_params(
            OrderIntent("y", "BTCUSDT", Side.BUY, Decimal("0.0001"), OrderType.MARKET), inst
        )
    assert "s'" not in repr(v)


def test_factory_chooses_by_profile() -> None:
    clock = ManualClock()
    paper = Settings(venue="paper", bybit_url="http://127.0.0.1:9000")  # type: ignore[arg-type]
    v = build_venue(paper, ["BTCUSDT"], clock)
    assert isinstance(v, BybitVenue) and v.base_url == "http://127.0.0.1:9000"
    assert v._key == PAPER_API_KEY
    assert v.private_ws_url == "ws://127.0.0.1:9000/v5/private"
    feed = build_trade_feed(paper, clock)
    assert isinstance(feed, BinanceTradeFeed) and feed.stream_url == "ws://127.0.0.1:9000/"
    with pytest.raises(ValueError):
        build_venue(Settings(venue="paper"), ["BTCUSDT"], clock)  # type: ignore[arg-type]
    real = Settings(venue="bybit", bybit_api_key="k", bybit_api_secret="s", bybit_testnet=True)  # type: ignore[arg-type]
    rv = build_venue(real, ["BTCUSDT"], clock)
    assert isinstance(rv, BybitVenue) and rv.base_url == "https://api-testnet.bybit.com"
    assert rv.private_ws_url == "wss://stream-testnet.bybit.com/v5/private"
    bn = Settings(
        venue="binance",
        binance_api_key="k",
        binance_api_secret="s",
        binance_url="http://127.0.0.1:9",
    )  # type: ignore[arg-type]
    assert isinstance(build_venue(bn, ["BTCUSDT"], clock), BinanceFuturesVenue)
    assert build_trade_feed(real, clock).stream_url is None  # type: ignore[attr-defined]
