"""The built-in venue simulator (SPEC §1): Bybit v5 and Binance on loopback.

One aiohttp server on one port speaks the venues' wire protocols, so the real pybit and
python-binance clients work against it with only their base URLs changed.

In-process API (stable)::

    from titan.sim import Simulator, SimConfig

    sim = Simulator(SimConfig(seed=1, accounts={"key": "secret"}, tick_hz=0))
    await sim.start()                      # host="127.0.0.1", port=0 (ephemeral)
    sim.base_url                           # "http://127.0.0.1:PORT"
    sim.ws_url                             # "ws://127.0.0.1:PORT"
    ...
    await sim.stop()

`SimConfig` fields: seed, accounts (API key → secret; one account per key, shared by
every client and both venue fronts), symbols (default: BTC ETH SOL XRP DOGE BNB ADA
AVAX LINK LTC /USDT), slippage_bps, latency_ms (added before a market order fills),
taker_fee (0.00055), maker_fee (0.0002), starting_balance (2000 USDT), default_leverage
(10), tick_hz (live generator steps/s; 0 = prices move only when driven),
backfill_minutes (1-minute klines synthesised at start, default 3 days),
check_recv_window, bursts_per_minute (level bursts per symbol, live generator),
recorder_size (wire timestamps kept, default 50,000 of each kind), ws_subscribe_delay_ms
(30: Bybit WS subscriptions take effect/answer after a WAN-like delay, because pybit
registers a subscription only after sending it and an instant reply races it).

Driving the market: `sim.set_price(sym, p)` (prints one trade at p: limits fill, SL/TP
fire, streams publish), `sim.emit_trades(sym, price, count, spread_ms)` (a burst),
`sim.start_feed(trades_per_s, symbols)` / `sim.stop_feed()` (steady benchmark feed),
`sim.market` (the `Market` generator: `step(dt)`, `klines(sym, interval, start, end,
limit)`, `symbols[sym].levels(now_ms)` — the levels bursts land on).
`sim.recorder.trades` / `sim.recorder.orders` hold monotonic-ns send times of every
streamed trade and arrival times of every order submit (wire-to-wire latency).

Faults: `sim.faults` (`Faults`: latency_ms, http_5xx_next, http_5xx_fraction,
http_5xx_status, rate_limit_next (Bybit retCode 10006 / Binance HTTP 429),
ambiguous_next + ambiguous_mode "close"|"5xx" (order booked, response lost),
path_prefix (limit HTTP faults to matching paths), `reset()`);
`await sim.drop_streams(kind)`, `sim.silence_streams(kind, silent)` with kind in
bybit_public / bybit_private / binance_spot / binance_user (None = all).
Out-of-band changes: `close_position_by_hand(key, sym)`, `open_position_by_hand(key,
sym, side, qty)`, `liquidate(key, sym)`, `cancel_order_by_venue(key, sym, order_id=|link_id=)`.
Inspection: `sim.inspect(key)` → {"orders" (every order ever received, Bybit-shaped, with
"venue"), "positions", "wallet", "executions"}; raw state in `sim.engine.accounts[key]`.

Wire endpoints (same port):
- Bybit REST: /v5/order/{create,cancel,cancel-all,realtime,history}, /v5/position/{list,
  set-leverage,trading-stop}, /v5/account/wallet-balance, /v5/execution/list,
  /v5/market/{kline,tickers,instruments-info,time}. pybit: `HTTP(...).endpoint = base_url`.
- Bybit REST (market, per category linear|spot): /v5/market/{orderbook,recent-trade,
  funding/history}; start-up queries /v5/asset/coin/query-info, /v5/user/query-api.
- Bybit WS: /v5/public/linear and /v5/public/spot (tickers.S, publicTrade.S, kline.<i>.S,
  orderbook.{1,50,200}.S), /v5/private (order, execution, position, wallet).
- Binance spot streams: /ws/<sym>@aggTrade, /stream?streams=a/b (BinanceSocketManager
  `STREAM_URL = ws_url + "/"`).
- Binance USD-M: /fapi/v1/{order,openOrders,allOpenOrders,userTrades,exchangeInfo,
  listenKey,time,ping}, /fapi/v3/{positionRisk,balance}, /fapi/v2/{positionRisk,balance};
  `AsyncClient.FUTURES_URL = base_url + "/fapi"`; user stream at /ws/<listenKey> and
  /private/ws/<listenKey> (`FSTREAM_URL = ws_url + "/"`).

Control API (loopback only, no auth), JSON bodies, all under /sim/control:
GET/POST faults, POST faults/reset, POST streams/drop {kind}, POST streams/silence
{kind, silent}, POST price {symbol, price}, POST burst {symbol, price, count, spread_ms},
POST feed {trades_per_s, symbols}, GET prices, GET recorder, POST funding/settle, GET/POST config
{slippage_bps, latency_ms, taker_fee, maker_fee}, POST accounts {key, secret},
GET accounts/{key}[/orders|positions|wallet|executions][?orderLinkId=],
POST accounts/{key}/close-position {symbol}, .../open-position {symbol, side, qty},
.../liquidate {symbol}, .../cancel-order {symbol, orderId|orderLinkId}.

Standalone: `titan sim --port N --api-key K --api-secret S --seed N`
(`titan.sim.standalone.run_standalone`).

Pointing the real clients at it (see tests/sim/conftest.py)::

    http = pybit.unified_trading.HTTP(testnet=False, api_key=K, api_secret=S)
    http.endpoint = sim.base_url

    class LocalWS(pybit.unified_trading.WebSocket):
        def _connect(self, _url): super()._connect(sim.ws_url + "/v5/private")
    ws = LocalWS(testnet=False, channel_type="private", api_key=K, api_secret=S,
                 private_auth_expire=30)   # pybit's default 1 s expiry is tight

    client = binance.AsyncClient(api_key=K, api_secret=S)   # plain constructor
    client.FUTURES_URL = sim.base_url + "/fapi"
    bsm = binance.BinanceSocketManager(client)
    bsm.STREAM_URL = bsm.FSTREAM_URL = sim.ws_url + "/"

Bybit microstructure: a seeded L2 book per symbol around the last trade (one-tick
spread) that market and marketable limit orders walk, one execution per level
(`sim.engine.books[sym]`); funding every 8 h (`sim.funding`, `sim.settle_funding()`,
POST funding/settle); automatic liquidation when a trade reaches `liqPrice` (execType
BustTrade at the bankruptcy price); Bybit spot in the unified account (`sim.spot`).
Simplifications: resting limits fill whole at their price when crossed; one-way mode
only; mark price = last price; Binance market orders answer with their final (FILLED)
state. What is served and what is not: docs/venues.md.
"""

from titan.sim.config import INSTRUMENTS, InstrumentSpec, SimConfig
from titan.sim.faults import Faults
from titan.sim.server import Simulator

__all__ = ["INSTRUMENTS", "Faults", "InstrumentSpec", "SimConfig", "Simulator"]
