"""Issue 17's done-when: an unmodified pybit, as an outside client of `titan sim` (its own
process, live market generator on), trades spot and linear, reads the book and funding,
and sees a liquidation."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from pybit.unified_trading import HTTP, WebSocket

from tests.helpers import free_port

from .conftest import blocking, call, eventually

ROOT = Path(__file__).resolve().parents[2]
D = Decimal


async def _control(base: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
    async with aiohttp.ClientSession() as s, s.post(f"{base}/sim/control/{path}",
                                                    json=body) as r:
        data: dict[str, Any] = await r.json()
        assert r.status == 200, data
        return data


async def test_pybit_trades_spot_and_linear_reads_book_funding_and_sees_liquidation() -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "titan", "sim", "--port", str(port), "--api-key", "ok",
        "--api-secret", "os", "--seed", "17", stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    try:
        assert proc.stdout is not None
        assert base in (await asyncio.wait_for(proc.stdout.readline(), 30)).decode()
        http = HTTP(testnet=False, api_key="ok", api_secret="os", retry_codes={-1})
        http.endpoint = base

        # Start-up calls of an unmodified client.
        assert (await call(http.get_api_key_information))["result"]["apiKey"] == "ok"
        assert (await call(http.get_coin_info, coin="BTC"))["result"]["rows"]

        # The book and the tape.
        ob = (await call(http.get_orderbook, category="linear", symbol="BTCUSDT",
                         limit=50))["result"]
        assert D(ob["b"][0][0]) < D(ob["a"][0][0]) and len(ob["a"]) == 50
        async def tape() -> list[dict[str, Any]]:
            res = await call(http.get_public_trade_history, category="linear",
                             symbol="BTCUSDT", limit=5)
            rows: list[dict[str, Any]] = res["result"]["list"]
            return rows

        for _ in range(200):  # the live generator prints a few trades a second
            if len(await tape()) == 5:
                break
            await asyncio.sleep(0.1)
        assert len(await tape()) == 5

        # Funding: ticker, history.
        tk = (await call(http.get_tickers, category="linear", symbol="ETHUSDT"))["result"]
        assert tk["list"][0]["fundingRate"] and int(tk["list"][0]["nextFundingTime"]) > 0
        fh = (await call(http.get_funding_rate_history, category="linear", symbol="ETHUSDT",
                         limit=3))["result"]["list"]
        assert len(fh) == 3

        # Book stream through pybit's own local-book merging.
        url = f"ws://127.0.0.1:{port}/v5/public/linear"

        class LocalWS(WebSocket):  # type: ignore[misc]
            def _connect(self, _url: str) -> None:
                super()._connect(url)

        ws = await blocking(LocalWS, testnet=False, channel_type="linear")
        books: list[dict[str, Any]] = []
        try:
            await blocking(ws.orderbook_stream, depth=1, symbol="BTCUSDT", callback=books.append)
            await eventually(lambda: len(books) >= 2, within=10)  # snapshot, then deltas
        finally:
            await blocking(ws.exit)
        assert D(books[-1]["data"]["b"][0][0]) < D(books[-1]["data"]["a"][0][0])

        # Spot: buy 200 USDT of ETH by quote amount; the coin lands in the wallet.
        await call(http.place_order, category="spot", symbol="ETHUSDT", side="Buy",
                   orderType="Market", qty="200", orderLinkId="oc-spot")
        coins = {c["coin"]: c for c in (await call(
            http.get_wallet_balance, accountType="UNIFIED"))["result"]["list"][0]["coin"]}
        assert D(coins["ETH"]["walletBalance"]) > 0

        # Linear: a short ETH hedge, then funding settles on it.
        await call(http.place_order, category="linear", symbol="ETHUSDT", side="Sell",
                   orderType="Market", qty="0.05", orderLinkId="oc-perp")
        await _control(base, "funding/settle", {})
        fx = (await call(http.get_executions, category="linear", execType="Funding"))
        assert fx["result"]["list"][0]["symbol"] == "ETHUSDT"

        # A 50x BTC long, then the price reaches its liquidation price.
        await call(http.set_leverage, category="linear", symbol="BTCUSDT", buyLeverage="50",
                   sellLeverage="50")
        await call(http.place_order, category="linear", symbol="BTCUSDT", side="Buy",
                   orderType="Market", qty="0.01", orderLinkId="oc-liq")
        pos = (await call(http.get_positions, category="linear",
                          symbol="BTCUSDT"))["result"]["list"][0]
        await _control(base, "price", {"symbol": "BTCUSDT", "price": pos["liqPrice"]})
        pos = (await call(http.get_positions, category="linear",
                          symbol="BTCUSDT"))["result"]["list"][0]
        assert pos["size"] == "0"
        ex = (await call(http.get_executions, category="linear",
                         symbol="BTCUSDT"))["result"]["list"][0]
        assert ex["execType"] == "BustTrade"
    finally:
        proc.send_signal(signal.SIGINT)
        rc = await asyncio.wait_for(proc.wait(), 15)
    assert rc == 0, (await proc.stderr.read()).decode() if proc.stderr else ""
