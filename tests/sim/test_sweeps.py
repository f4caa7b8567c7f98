"""A generated liquidity sweep prints the way real sweeps print, on both venues'
streams: ≥ 20 trades within 5 ms, several at the same millisecond walking the book.
Read over real sockets by plain aiohttp WebSocket clients."""

from __future__ import annotations

import asyncio
import itertools
import json
from decimal import Decimal
from typing import Any

import aiohttp

from titan.sim import Simulator

from .conftest import eventually, subscribed

SYM = "BTCUSDT"


def densest_window(times: list[int], width_ms: int = 5) -> int:
    """Most trades whose times fall within one `width_ms` window."""
    times = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while t - times[lo] >= width_ms:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def check_sweep(rows: list[tuple[int, Decimal]], direction: int) -> None:
    assert densest_window([t for t, _ in rows]) >= 20
    by_ms: dict[int, list[Decimal]] = {}
    for t, p in rows:
        by_ms.setdefault(t, []).append(p)
    crowded = [ps for ps in by_ms.values() if len(ps) >= 3]
    assert len(crowded) >= 3, by_ms  # several fills at one millisecond, more than once
    # Walking the book: no fill back behind the one before it, through many levels.
    prices = [p for _, p in rows]
    assert all((b - a) * direction >= 0 for a, b in itertools.pairwise(prices))
    assert len(set(prices)) >= 10


async def test_a_level_sweep_shows_on_bybit_and_binance_streams(sim: Simulator) -> None:
    sim.set_price(SYM, "60000")
    bybit: list[dict[str, Any]] = []
    binance: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        async with http.ws_connect(sim.ws_url + "/v5/public/linear") as by_ws, \
                http.ws_connect(sim.ws_url + f"/ws/{SYM.lower()}@aggTrade") as bn_ws:
            await by_ws.send_json({"op": "subscribe", "args": [f"publicTrade.{SYM}"]})
            await subscribed(sim, f"publicTrade.{SYM}")
            await eventually(lambda: sim.binance._by_stream.get(f"{SYM.lower()}@aggTrade"))

            market = sim.market
            before = market.symbols[SYM].next_trade_id
            count = market._level_burst(SYM, market.symbols[SYM], sim.now_ms())
            assert count >= 55

            async def read_bybit() -> None:
                while sum(len(m["data"]) for m in bybit) < count:
                    msg = json.loads((await by_ws.receive()).data)
                    if msg.get("topic") == f"publicTrade.{SYM}":
                        bybit.append(msg)

            async def read_binance() -> None:
                while len(binance) < count:
                    binance.append(json.loads((await bn_ws.receive()).data))

            await asyncio.wait_for(asyncio.gather(read_bybit(), read_binance()), 10)

    by_rows = [r for m in bybit for r in m["data"]]
    assert [r["i"].rsplit("-", 1)[-1] for r in by_rows] == [
        str(i) for i in range(before, before + count)]
    assert [r["a"] for r in binance] == list(range(before, before + count))
    sides = {r["S"] for r in by_rows}
    assert len(sides) == 1  # one aggressor side for the whole sweep
    direction = 1 if sides == {"Buy"} else -1
    assert all(r["m"] is (direction < 0) for r in binance)
    check_sweep([(r["T"], Decimal(r["p"])) for r in by_rows], direction)
    check_sweep([(r["T"], Decimal(r["p"])) for r in binance], direction)
    # The two venues printed the same trades at the same times and prices.
    assert [(r["T"], Decimal(r["p"])) for r in by_rows] == [
        (r["T"], Decimal(r["p"])) for r in binance]
    # Within the trap band of the level swept (0.1 %).
    prices = [Decimal(r["p"]) for r in by_rows]
    assert (max(prices) - min(prices)) / min(prices) < Decimal("0.002")
