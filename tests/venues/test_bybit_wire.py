"""Bybit wire parsing and request building: pure, no network."""

from decimal import Decimal

import pytest

from titan.clock import ManualClock
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.venues.base import Instrument, VenueError
from titan.venues.bybit import BybitVenue
from titan.venues.bybit_streams import ws_urls
from titan.venues.bybit_wire import (
    interval_code,
    parse_execution,
    parse_instrument,
    parse_order,
    parse_position,
    parse_private_message,
    parse_public_trade,
    parse_ticker,
    parse_wallet,
)

BTC = Instrument(
    "BTCUSDT", tick_size=Decimal("0.10"), qty_step=Decimal("0.001"), min_qty=Decimal("0.001")
)


def test_ws_urls_follow_the_rest_base() -> None:
    assert ws_urls("http://127.0.0.1:9000", False) == (
        "ws://127.0.0.1:9000/v5/public/linear",
        "ws://127.0.0.1:9000/v5/private",
    )
    assert ws_urls(None, True) == (
        "wss://stream-testnet.bybit.com/v5/public/linear",
        "wss://stream-testnet.bybit.com/v5/private",
    )
    assert ws_urls(None, False)[1] == "wss://stream.bybit.com/v5/private"


def test_instrument() -> None:
    inst = parse_instrument(
        {
            "symbol": "BTCUSDT",
            "priceFilter": {"tickSize": "0.10"},
            "lotSizeFilter": {"qtyStep": "0.001", "minOrderQty": "0.001", "minNotionalValue": "5"},
            "leverageFilter": {"maxLeverage": "100.00"},
        }
    )
    assert inst.tick_size == Decimal("0.1") and inst.qty_step == Decimal("0.001")
    assert inst.min_notional == 5 and inst.max_leverage == 100


def test_order_statuses() -> None:
    o = parse_order(
        {
            "symbol": "BTCUSDT",
            "orderId": "abc",
            "orderLinkId": "tn-e-1",
            "side": "Sell",
            "orderType": "Limit",
            "price": "50000.0",
            "qty": "0.010",
            "cumExecQty": "0.004",
            "avgPrice": "50000",
            "orderStatus": "PartiallyFilled",
            "reduceOnly": True,
            "stopLoss": "",
            "updatedTime": "1700000000000",
        }
    )
    assert o.side is Side.SELL and o.status is OrderStatus.PARTIALLY_FILLED
    assert o.filled_qty == Decimal("0.004") and o.reduce_only and o.stop_loss is None
    assert o.updated_at is not None and o.updated_at.year == 2023
    for raw, st in [
        ("Filled", OrderStatus.FILLED),
        ("Cancelled", OrderStatus.CANCELLED),
        ("Deactivated", OrderStatus.CANCELLED),
        ("Rejected", OrderStatus.REJECTED),
        ("New", OrderStatus.NEW),
        ("Untriggered", OrderStatus.NEW),
    ]:
        assert parse_order({"orderStatus": raw}).status is st
    assert parse_order({"orderType": "Market", "price": "0"}).price is None


def test_execution_position_wallet() -> None:
    f = parse_execution(
        {
            "execId": "e1",
            "orderLinkId": "tn-e-1",
            "orderId": "o1",
            "symbol": "BTCUSDT",
            "side": "Buy",
            "execQty": "0.01",
            "execPrice": "50010.5",
            "execFee": "0.3",
            "execTime": "1700000000000",
            "execType": "Trade",
        }
    )
    assert f is not None and f.price == Decimal("50010.5") and f.fee == Decimal("0.3")
    assert parse_execution({"execId": "f", "side": "Buy", "execType": "Funding"}) is None
    assert parse_position({"symbol": "BTCUSDT", "side": "", "size": "0"}) is None
    p = parse_position(
        {"symbol": "BTCUSDT", "side": "Sell", "size": "0.5", "avgPrice": "100", "leverage": "10"}
    )
    assert p is not None and p.signed_size == Decimal("-0.5") and p.leverage == 10
    w = parse_wallet(
        {
            "totalEquity": "1010",
            "totalWalletBalance": "1000",
            "totalAvailableBalance": "900",
            "totalPerpUPL": "10",
            "coin": [{"coin": "USDT", "equity": "1"}],
        }
    )
    assert (w.equity, w.wallet_balance, w.available, w.unrealised_pnl) == (1010, 1000, 900, 10)
    w2 = parse_wallet(
        {"coin": [{"coin": "USDT", "equity": "5", "walletBalance": "4", "unrealisedPnl": "1"}]}
    )
    assert (w2.equity, w2.wallet_balance, w2.available, w2.unrealised_pnl) == (5, 4, 4, 1)


def test_private_messages() -> None:
    u = parse_private_message(
        {"topic": "position", "data": [{"symbol": "ETHUSDT", "side": "", "size": "0"}]}
    )
    assert u is not None and u.closed_symbols == ["ETHUSDT"] and not u.positions
    u = parse_private_message({"topic": "wallet", "data": [{"totalEquity": "7"}]})
    assert u is not None and u.wallet is not None and u.wallet.equity == 7
    u = parse_private_message(
        {"topic": "order", "data": [{"orderLinkId": "x", "orderStatus": "New"}]}
    )
    assert u is not None and u.orders[0].client_order_id == "x"
    assert parse_private_message({"topic": "greeks", "data": []}) is None


def test_public_trade_and_intervals() -> None:
    t = parse_public_trade({"s": "BTCUSDT", "p": "100.5", "v": "2", "T": 5, "S": "Sell", "i": "77"})
    assert t.buyer_is_maker and t.trade_id == 77 and t.price == 100.5
    assert interval_code(1) == "1" and interval_code(1440) == "D"
    with pytest.raises(ValueError):
        interval_code(7)


def make_venue() -> BybitVenue:
    return BybitVenue(
        "key", "secret", base_url="http://127.0.0.1:1", clock=ManualClock(), streams=False
    )


def test_order_params_round_and_stringify() -> None:
    v = make_venue()
    intent = OrderIntent(
        intent_id="i1",
        symbol="BTCUSDT",
        side=Side.BUY,
        qty=Decimal("0.01234"),
        order_type=OrderType.LIMIT,
        price=Decimal("50000.07"),
        stop_loss=Decimal("49500.01"),
        take_profit=Decimal("51500.09"),
    )
    p = v.order_params(intent, BTC)
    assert p["qty"] == "0.012"
    assert p["price"] == "50000"  # buy limit rounds down to the tick
    assert p["stopLoss"] == "49500.1"  # long stop rounds up, toward the entry
    assert p["takeProfit"] == "51500"
    assert p["orderLinkId"] == intent.client_order_id and p["timeInForce"] == "GTC"
    assert p["tpslMode"] == "Full" and "reduceOnly" not in p
    sell = OrderIntent(
        intent_id="i2",
        symbol="BTCUSDT",
        side=Side.SELL,
        qty=Decimal("1"),
        order_type=OrderType.LIMIT,
        price=Decimal("50000.01"),
        reduce_only=True,
        stop_loss=Decimal("1"),
    )
    p = v.order_params(sell, BTC)
    assert p["price"] == "50000.1" and p["reduceOnly"] is True and "stopLoss" not in p


def test_order_params_refuse_dust_and_missing_price() -> None:
    v = make_venue()
    with pytest.raises(VenueError) as ei:
        v.order_params(
            OrderIntent(
                intent_id="d",
                symbol="BTCUSDT",
                side=Side.BUY,
                qty=Decimal("0.0009"),
                order_type=OrderType.MARKET,
            ),
            BTC,
        )
    assert ei.value.code == "QTY_BELOW_MIN"
    with pytest.raises(VenueError):
        v.order_params(
            OrderIntent(
                intent_id="d",
                symbol="BTCUSDT",
                side=Side.BUY,
                qty=Decimal("1"),
                order_type=OrderType.LIMIT,
            ),
            BTC,
        )


def test_repr_hides_secret() -> None:
    assert "secret" not in repr(make_venue())


def test_ticker_deltas_merge_onto_the_last_snapshot() -> None:
    snap = parse_ticker({"symbol": "BTCUSDT", "lastPrice": "100.5", "bid1Price": "100.4",
                         "ask1Price": "100.6"}, 1_000)
    assert snap is not None and (snap.last_price, snap.bid, snap.ask) == (
        Decimal("100.5"), Decimal("100.4"), Decimal("100.6"))
    # Bybit sends only what changed: a new top without a trade keeps the last price.
    top = parse_ticker({"symbol": "BTCUSDT", "ask1Price": "100.7"}, 1_100, snap)
    assert top is not None and (top.last_price, top.bid, top.ask, top.ts_ms) == (
        Decimal("100.5"), Decimal("100.4"), Decimal("100.7"), 1_100)
    # A delta without a price and nothing before it is no ticker.
    assert parse_ticker({"symbol": "BTCUSDT", "ask1Price": "100.7"}, 1_100) is None


def test_ticker_funding_from_the_linear_tickers_stream() -> None:
    # Bybit v5's linear `tickers` snapshot (docs' example): strings, times in ms.
    snap = parse_ticker({
        "symbol": "BTCUSDT", "tickDirection": "PlusTick", "price24hPcnt": "0.017103",
        "lastPrice": "17216.00", "prevPrice24h": "16926.50", "markPrice": "17217.33",
        "indexPrice": "17227.36", "nextFundingTime": "1673280000000",
        "fundingRate": "-0.000212", "bid1Price": "17215.50", "bid1Size": "84.489",
        "ask1Price": "17216.00", "ask1Size": "83.020"}, 1_673_272_800_000)
    assert snap is not None
    assert (snap.funding_rate, snap.next_funding_ms) == (Decimal("-0.000212"), 1_673_280_000_000)
    # A delta carries funding only when it changed: kept from the snapshot otherwise.
    delta = parse_ticker({"symbol": "BTCUSDT", "lastPrice": "17217.00"}, 1_673_272_801_000,
                         snap)
    assert delta is not None and delta.funding_rate == Decimal("-0.000212")
    assert delta.next_funding_ms == 1_673_280_000_000
    moved = parse_ticker({"symbol": "BTCUSDT", "fundingRate": "0.0001",
                          "nextFundingTime": "1673308800000"}, 1_673_280_000_500, delta)
    assert moved is not None and (moved.funding_rate, moved.next_funding_ms) == (
        Decimal("0.0001"), 1_673_308_800_000)
    # A spot ticker (no funding at all) has none.
    spot = parse_ticker({"symbol": "BTCUSDT", "lastPrice": "1"}, 1)
    assert spot is not None and spot.funding_rate is None and spot.next_funding_ms is None
