"""Hunter on the strategy platform, end to end against the in-process simulator: a scan
ranks ETHUSDT A+, order flow confirms, a post-only entry rests at the order block with
its stop and target, fills, and is managed to an exit (break-even, the 2R partial, the
managed stop). Hunter runs only in its phases, switched through the registry's API.

The simulator cannot shape market structure or order flow, so the candles Hunter reads
(`ctx.klines`) are hand-built around the simulator's live ETHUSDT price and the CVD trades
are handed to `on_trade`; everything else — the listing, prices, the gate, orders, fills,
positions — is the real path over the adapters to the simulator. The POI round is called
directly (its timer is 60 s), as a replay would.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import SECRETS, auth_header
from tests.strategies.hunter_bars import mapped, zigzag_units
from titan.app import create_app
from titan.core import Titan
from titan.settings import Settings
from titan.strategies.base import Strategy, StrategyContext
from titan.strategies.hunter.strategy import Hunter
from titan.strategies.hunter.wiring import HUNTER, build_hunter
from titan.venues.base import Kline, Trade
from titan.venues.factory import PAPER_API_KEY

Client = TestClient[Any, Any]
H = auth_header()
SYMBOL = "ETHUSDT"


class BarsContext:
    """The live context, with the candles served from `bars` (a short history otherwise)."""

    def __init__(self, inner: StrategyContext, bars: dict[tuple[str, int], list[Kline]]) -> None:
        self._inner = inner
        self._bars = bars

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    async def klines(self, symbol: str, interval_min: int, limit: int) -> list[Kline]:
        bars = self._bars.get((symbol, interval_min))
        if bars is None:
            return (await self._inner.klines(symbol, interval_min, 10))[-10:]
        return bars[-limit:]


def _build(bars: dict[tuple[str, int], list[Kline]]
           ) -> Callable[[StrategyContext, Mapping[str, Any], Mapping[str, Any]], Strategy]:
    def build(ctx: StrategyContext, params: Mapping[str, Any],
              services: Mapping[str, Any]) -> Strategy:
        return build_hunter(BarsContext(ctx, bars), params, services)  # type: ignore[arg-type]
    return build


def _make_bars(price: float, now_ms: int) -> dict[tuple[str, int], list[Kline]]:
    """ETHUSDT: daily, 4 h and 15 m uptrends, 4 h in DISCOUNT, the 15 m order block's top
    0.2 % under `price`; BTCUSDT's 4 h falling harder on the last bar (ETH's RS > 0)."""
    def last(interval: int) -> int:
        size = interval * 60_000
        return (now_ms // size) * size - size

    u15 = zigzag_units(83)
    x_end, x_ob = u15[-1][3], 348.1  # the unit series' last close and its block's top
    a = price * 0.002 / (x_end - x_ob)
    out = {(SYMBOL, 15): mapped(u15, a, price - a * x_end, 15, last(15))}
    for interval, cycles in ((240, 33), (1440, 16)):
        u = zigzag_units(cycles)
        out[(SYMBOL, interval)] = mapped(u, a, price - a * u[-1][3], interval, last(interval))
    out[("BTCUSDT", 240)] = mapped(zigzag_units(33), 1.0, 0.0, 240, last(240))
    return out


async def _until(cond: Callable[[], Any], what: str, limit_s: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not (value := cond()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


def _absorption(hunter: Hunter, price: float, now_ms: int) -> None:
    """Three whole seconds (the test's sample size) of lower lows on fading selling."""
    end = now_ms - now_ms % 1000
    steps = [(end - 3000, price * 0.9990, 1000.0, True), (end - 2000, price * 0.9985, 100.0, True),
             (end - 2000 + 10, price * 0.9986, 3000.0, False),
             (end - 1000, price * 0.9980, 50.0, True), (end - 1000 + 10, price * 0.9981, 500.0,
                                                         False)]
    for ts, px, qty, sell in steps:
        hunter.on_trade(Trade(SYMBOL, px, qty, ts, buyer_is_maker=sell))


def _position(titan: Titan) -> Decimal:
    state = titan.simulator.inspect(PAPER_API_KEY)
    return sum((Decimal(str(p["size"])) for p in state["positions"] if p["symbol"] == SYMBOL),
               Decimal(0))


async def test_hunter_from_scan_to_post_only_entry_to_managed_exit(
        data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> None:
    bars: dict[tuple[str, int], list[Kline]] = {}
    settings = Settings(data_dir=data_dir, sim_bursts_per_minute=0,  # type: ignore[call-arg]
                        _env_file=None)
    titan = Titan(settings, secrets=SECRETS,
                  strategies={"hunter": dataclasses.replace(HUNTER, build=_build(bars))})
    titan.hunter_options = {"killzone": lambda ms: True, "flow_sample_ms": 1000,
                            "manage_every_s": 0.1}
    events: list[Any] = []
    titan.bus.subscribe(events.append)
    client = await aiohttp_client(create_app(titan))

    def named(name: str, **match: Any) -> list[Any]:
        return [e for e in events if e.name == name
                and all(getattr(e, k, None) == v for k, v in match.items())]

    async def state() -> dict[str, Any]:
        resp = await client.get("/api/strategies/hunter", headers=H)
        assert resp.status == 200
        body: dict[str, Any] = await resp.json()
        return body

    async def post(body: dict[str, Any]) -> None:
        resp = await client.post("/api/strategies/hunter", headers=H, json=body)
        assert resp.status == 200, await resp.text()

    assert titan.strategies is not None
    hunter = titan.strategies.get("hunter")
    assert isinstance(hunter, Hunter)
    # Only in its phases: in a phase it does not run in, paused with the reason "phase".
    phase = titan.risk.phases.current.number
    await post({"phases": [3 if phase != 3 else 1], "reason": "not this phase"})
    body = await state()
    assert not body["running"] and "phase" in body["strategy"]["pauses"]
    assert not hunter.running
    await post({"phases": [phase], "reason": "this phase"})
    await _until(lambda: hunter.running, "Hunter running in its phase")
    resp = await client.post("/api/console/arm", headers=H, json={"armed": True, "reason": "t"})
    assert resp.status == 200, await resp.text()

    # Scan: the hand-built ETHUSDT ranks A+ long; the others' short history is a named skip.
    price = float(await _until(lambda: titan.market.prices.get(SYMBOL), "a price"))
    titan.simulator.set_price(SYMBOL, Decimal(repr(price)))
    await _until(lambda: abs(float(titan.market.prices[SYMBOL]) - price) < price * 1e-4, "seen")
    bars.update(_make_bars(price, titan.clock.time_ms()))
    await hunter.scan()
    scan = named("HUNTER_SCAN")[-1]
    eth = next(e for e in scan.ranked if e["symbol"] == SYMBOL)
    assert (eth["grade"], eth["direction"], eth["location"]) == ("A+", "LONG", "DISCOUNT")
    assert any(why.startswith("SHORT_HISTORY") for why in scan.skipped.values()), scan.skipped
    # No order flow yet: a skip naming the condition, nothing sent.
    assert named("HUNTER_SKIP", symbol=SYMBOL, condition="CVD_NOT_CONFIRMED")
    assert not named("HUNTER_ENTRY")

    # Order flow confirms (absorption): the post-only entry at the block's top.
    await _until(lambda: titan.clock.time_ms() % 1000 < 300, "the start of a second")
    _absorption(hunter, price, titan.clock.time_ms())
    await hunter.refresh_pois()
    [signal] = named("HUNTER_SIGNAL", symbol=SYMBOL)
    assert signal.direction == "LONG" and signal.flow_strength >= 70
    entry = await _until(lambda: named("HUNTER_ENTRY", symbol=SYMBOL), "the entry")
    assert entry[0].status == "NEW", entry[0].message
    assert abs(entry[0].price - price * 0.998) < price * 1e-6
    orders = [o for o in titan.simulator.inspect(PAPER_API_KEY)["orders"]
              if o["orderLinkId"] == entry[0].client_order_id]
    assert orders and orders[0]["timeInForce"] == "PostOnly"
    assert Decimal(orders[0]["stopLoss"]) > 0 and Decimal(orders[0]["takeProfit"]) > 0

    # The price trades down through the block: filled as maker, now a managed position.
    titan.simulator.set_price(SYMBOL, Decimal(repr(price * 0.997)))
    await _until(lambda: named("HUNTER_ENTRY", status="FILLED"), "the fill")
    filled = _position(titan)
    assert filled > 0
    plan = (await state())["positions"][0]
    assert plan["state"] == "OPEN" and plan["symbol"] == SYMBOL
    assert plan["done"] == {"breakeven": False, "partial": False, "partialQty": 0.0,
                            "trailing": False}
    fill_px = plan["entry"]
    rows = await titan.db.fetch_all("SELECT closed FROM hunter_positions")
    assert [r["closed"] for r in rows] == [0]

    # 2R: break-even and half closed, once.
    titan.simulator.set_price(SYMBOL, Decimal(repr(fill_px * 1.031)))
    await _until(lambda: named("HUNTER_EXIT", action="PARTIAL"), "the 2R partial")
    assert named("HUNTER_EXIT", action="BREAKEVEN")
    await _until(lambda: _position(titan) < filled, "half closed on the venue")
    assert abs(_position(titan) - filled / 2) <= filled * Decimal("0.01")
    titan.simulator.set_price(SYMBOL, Decimal(repr(fill_px * 1.032)))
    await asyncio.sleep(0.5)  # several manage rounds
    assert len(named("HUNTER_EXIT", action="PARTIAL")) == 1

    # Back under the managed stop: the rest is closed by Hunter.
    titan.simulator.set_price(SYMBOL, Decimal(repr(fill_px * 0.9995)))
    await _until(lambda: named("HUNTER_EXIT", action="EXIT"), "the managed exit")
    await _until(lambda: _position(titan) == 0, "flat on the venue")
    await _until(lambda: named("HUNTER_EXIT", action="CLOSED"), "the close recorded")
    body = await state()
    assert body["positions"] == []
    assert {"symbol", "score", "grade", "trends", "location", "veto"} <= set(body["ranked"][0])
    assert SYMBOL in body["pois"] and body["pois"][SYMBOL]["zones"]
    assert SYMBOL in body["flow"]
    kinds = [d["kind"] for d in body["decisions"]]
    assert {"scan", "signal", "entry", "filled", "partial", "exit", "closed"} <= set(kinds)
    rows = await titan.db.fetch_all("SELECT closed FROM hunter_positions")
    assert [r["closed"] for r in rows] == [1]


async def test_a_refused_post_only_is_retried_twice_then_a_named_skip(
        data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]) -> None:
    """The price already under the block's top: the buy would take liquidity, the venue
    refuses it; Hunter sends it twice more, 1 s apart, then skips POST_ONLY_REFUSED — no
    order left working, no position."""
    bars: dict[tuple[str, int], list[Kline]] = {}
    settings = Settings(data_dir=data_dir, sim_bursts_per_minute=0,  # type: ignore[call-arg]
                        _env_file=None)
    titan = Titan(settings, secrets=SECRETS,
                  strategies={"hunter": dataclasses.replace(HUNTER, build=_build(bars))})
    titan.hunter_options = {"killzone": lambda ms: True, "flow_sample_ms": 1000,
                            "manage_every_s": 0.1}
    events: list[Any] = []
    titan.bus.subscribe(events.append)
    client = await aiohttp_client(create_app(titan))
    assert titan.strategies is not None
    hunter = titan.strategies.get("hunter")
    assert isinstance(hunter, Hunter)
    phase = titan.risk.phases.current.number
    resp = await client.post("/api/strategies/hunter", headers=H,
                             json={"phases": [phase], "reason": "t"})
    assert resp.status == 200
    resp = await client.post("/api/console/arm", headers=H, json={"armed": True, "reason": "t"})
    assert resp.status == 200
    await _until(lambda: hunter.running, "running")
    price = float(await _until(lambda: titan.market.prices.get(SYMBOL), "a price"))
    titan.simulator.set_price(SYMBOL, Decimal(repr(price)))
    bars.update(_make_bars(price, titan.clock.time_ms()))
    await hunter.scan()
    low = price * 0.997  # under the block's top (0.998): a resting buy there would take
    titan.simulator.set_price(SYMBOL, Decimal(repr(low)))
    await _until(lambda: abs(float(titan.market.prices[SYMBOL]) - low) < low * 1e-4, "seen")
    await _until(lambda: titan.clock.time_ms() % 1000 < 300, "the start of a second")
    _absorption(hunter, price, titan.clock.time_ms())
    await hunter.refresh_pois()

    def named(name: str, **match: Any) -> list[Any]:
        return [e for e in events if e.name == name
                and all(getattr(e, k, None) == v for k, v in match.items())]

    skip = await _until(lambda: named("HUNTER_SKIP", condition="POST_ONLY_REFUSED"),
                        "the skip after the retries")
    assert skip[0].numbers["attempts"] == 3.0
    entries = named("HUNTER_ENTRY", symbol=SYMBOL)
    assert [e.attempt for e in entries] == [1, 2, 3]
    assert len({e.client_order_id for e in entries}) == 3
    venue = [o for o in titan.simulator.inspect(PAPER_API_KEY)["orders"]
             if o["orderLinkId"] in {e.client_order_id for e in entries}]
    assert venue and all(o["orderStatus"] == "Cancelled" for o in venue), venue
    assert all(o["rejectReason"] == "EC_PostOnlyWillTakeLiquidity" for o in venue), venue
    assert _position(titan) == 0 and not hunter.trader.working
