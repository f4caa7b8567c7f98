"""The strategy platform (SPEC §14) end to end: a strategy written only against
`titan.strategies.base` trades on the simulator through the gate, and the operator
switches it off and on through the API, one config version each time.

The probe strategy below imports nothing of Titan's but the interface, the domain
types and the parameters model it declares: what it may touch is its context.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from pydantic import BaseModel, ConfigDict, Field

from tests.helpers import SECRETS, auth_header
from titan.app import create_app
from titan.core import Titan
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.settings import Settings
from titan.strategies.base import Strategy, StrategyContext, Timer
from titan.strategies.registry import StrategySpec
from titan.venues.factory import PAPER_API_KEY

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
H = auth_header()
SYMBOL_ENTRY, SYMBOL_POSITION = "BTCUSDT", "ETHUSDT"


class ProbeParams(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)
    distance_pct: float = Field(10.0, ge=1.0, le=50.0, alias="distancePct")


class Probe(Strategy):
    """Every tick while it may trade: one market entry on ETHUSDT (once), and a limit
    entry resting `distancePct` below BTCUSDT's price whenever it has none working."""

    name = "probe"
    kline_intervals = (1,)

    def __init__(self, ctx: StrategyContext, params: Mapping[str, Any]) -> None:
        super().__init__(ctx)
        self.distance = ProbeParams.model_validate(dict(params)).distance_pct
        self.ticks = 0
        self.proposed: list[str] = []
        self.results: list[Any] = []
        self.entered_position = False
        self.working: str | None = None
        self.klines: list[tuple[str, int, Any]] = []

    def timers(self) -> tuple[Timer, ...]:
        return (Timer("tick", 0.1),)

    def on_kline(self, symbol: str, interval_min: int, kline: Any) -> None:
        self.klines.append((symbol, interval_min, kline))

    def on_params(self, params: Mapping[str, Any]) -> None:
        self.distance = ProbeParams.model_validate(dict(params)).distance_pct

    def status(self) -> dict[str, Any]:
        return {"running": not self.ctx.pauses(), "counters": {"proposed": len(self.proposed)}}

    async def on_timer(self, name: str) -> None:
        self.ticks += 1
        if self.ctx.pauses():
            return
        if not self.entered_position and not self.ctx.has_position(SYMBOL_POSITION):
            self.entered_position = True
            await self._propose(SYMBOL_POSITION, OrderType.MARKET, None)
        status = self.ctx.order_status(self.working) if self.working else None
        if status is None or status.is_terminal:
            price = Decimal(str(self.ctx.prices()[SYMBOL_ENTRY]))
            limit = (price * (1 - Decimal(str(self.distance)) / 100)).quantize(Decimal("0.1"))
            self.working = await self._propose(SYMBOL_ENTRY, OrderType.LIMIT, limit)

    async def _propose(self, symbol: str, kind: OrderType, limit: Decimal | None) -> str:
        market = Decimal(str(self.ctx.prices()[symbol]))
        price = limit or market
        inst = self.ctx.instrument(symbol)
        assert inst is not None
        tick = inst.tick_size
        intent = OrderIntent(
            intent_id=f"probe:{symbol}:{self.ctx.clock.time_ms()}:{len(self.proposed)}",
            symbol=symbol, side=Side.BUY, qty=inst.min_qty, order_type=kind, price=limit,
            stop_loss=(price * Decimal("0.98") / tick).quantize(Decimal(1)) * tick,
            take_profit=(market * Decimal("1.05") / tick).quantize(Decimal(1)) * tick,
            leverage=Decimal(5), strategy=self.name)
        self.proposed.append(intent.client_order_id)
        self.results.append(await self.ctx.submit(intent, "probe"))
        return intent.client_order_id


def _build(ctx: StrategyContext, params: Mapping[str, Any], services: Mapping[str, Any]) -> Probe:
    return Probe(ctx, params)


PROBE = StrategySpec(name="probe", phases=(1,), params=ProbeParams, build=_build,
                     description="test strategy")


async def until(cond: Callable[[], Any], what: str, limit_s: float = 15.0) -> Any:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not (value := cond()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


@pytest.fixture
async def rig(data_dir: Path, aiohttp_client: MakeClient) -> AsyncIterator[tuple[Client, Titan]]:
    settings = Settings(data_dir=data_dir, _env_file=None)  # type: ignore[call-arg]
    titan = Titan(settings, secrets=SECRETS, strategies={"probe": PROBE})
    client = await aiohttp_client(create_app(titan))
    yield client, titan


def _probe(titan: Titan) -> Probe:
    assert titan.strategies is not None
    found = titan.strategies.get("probe")
    assert isinstance(found, Probe)
    return found


def _venue_orders(titan: Titan) -> dict[str, str]:
    state = titan.simulator.inspect(PAPER_API_KEY)
    return {o["orderLinkId"]: o["orderStatus"] for o in state["orders"]}


def _venue_position(titan: Titan, symbol: str) -> Decimal:
    state = titan.simulator.inspect(PAPER_API_KEY)
    return sum((Decimal(str(p["size"])) for p in state["positions"] if p["symbol"] == symbol),
               Decimal(0))


async def _post(client: Client, path: str, body: Any) -> tuple[int, Any]:
    resp = await client.post(path, headers=H, json=body)
    return resp.status, await resp.json()


async def test_a_strategy_on_the_interface_trades_and_is_switched_through_the_api(
        rig: tuple[Client, Titan]) -> None:
    client, titan = rig
    probe = _probe(titan)
    # DISARMED: the gate refuses what the probe proposes, nothing reaches the venue.
    await until(lambda: probe.results, "a proposal while DISARMED")
    assert all(r.denial is not None and r.denial.code.value == "EXECUTION_DISABLED_BY_OPERATOR"
               for r in probe.results), probe.results
    assert not _venue_orders(titan)
    status, body = await _post(client, "/api/console/arm", {"armed": True, "reason": "test"})
    assert status == 200, body
    # Only once ARMED: reset before the ARM, a tick during a slow ARM request proposed the
    # position again while still DISARMED, and never again after.
    probe.entered_position = False

    # ARMED: a position opens on ETHUSDT and a limit entry rests on BTCUSDT, both through
    # the gate and the execution engine, attributed to the strategy.
    await until(lambda: _venue_position(titan, SYMBOL_POSITION) > 0, "the probe's position")
    working = await until(lambda: probe.working if _venue_orders(titan).get(probe.working or "")
                          == "New" else None, "the probe's resting entry")
    assert titan.ledger.positions[SYMBOL_POSITION].strategy == "probe"
    assert titan.ledger.live_orders[working].strategy == "probe"

    resp = await client.get("/api/strategies", headers=H)
    listed = (await resp.json())["strategies"]
    assert [s["name"] for s in listed] == ["probe"]
    assert listed[0]["enabled"] is True and listed[0]["running"] is True
    assert listed[0]["pauses"] == {} and listed[0]["paramRanges"]["distancePct"]["maximum"] == 50
    first_tag = titan.config.version_tag

    # Off: a new version; its working entry is cancelled on the venue, its position stays,
    # and while off it proposes nothing however many ticks pass.
    status, body = await _post(client, "/api/strategies/probe",
                               {"enabled": False, "reason": "operator test"})
    assert status == 200 and body["changed"] is True, body
    off_tag = body["version_tag"]
    assert off_tag != first_tag and body["previous_version_tag"] == first_tag
    assert body["strategy"]["enabled"] is False
    assert "operator" in body["strategy"]["pauses"]
    await until(lambda: _venue_orders(titan).get(working) == "Cancelled", "the entry cancelled")
    assert _venue_position(titan, SYMBOL_POSITION) > 0  # never touches positions
    proposed, ticks = len(probe.proposed), probe.ticks
    await until(lambda: probe.ticks >= ticks + 5, "five ticks while disabled")
    assert len(probe.proposed) == proposed
    # The venue's CANCELLED was Titan's own request: no "cancelled by the venue" alert.
    events = await (await client.get("/api/events?limit=200", headers=H)).json()
    names = [e["name"] for e in events["items"]]
    assert "STRATEGY_SWITCHED" in names
    assert not any("cancelled by the venue" in e["message"] for e in events["items"])

    # Same switch again: nothing changes, no version.
    status, body = await _post(client, "/api/strategies/probe", {"enabled": False})
    assert status == 200 and body["changed"] is False and body["version_tag"] == off_tag

    # On again: another version, and it trades again.
    status, body = await _post(client, "/api/strategies/probe",
                               {"enabled": True, "reason": "back on"})
    assert status == 200 and body["changed"] is True and body["version_tag"] != off_tag
    await until(lambda: len(probe.proposed) > proposed, "a proposal after re-enabling")
    versions = (await (await client.get("/api/config/versions?limit=5", headers=H)).json())["items"]
    assert [v["strategies"]["probe"]["enabled"] for v in versions[:3]] == [True, False, True]
    assert versions[1]["strategies"]["probe"]["reason"] == "operator test"
    audit = await (await client.get("/api/audit?limit=20", headers=H)).json()
    assert sum(1 for a in audit["items"] if a["action"] == "strategy.change") >= 3


async def test_closed_klines_reach_the_strategy_once_each(rig: tuple[Client, Titan]) -> None:
    _, titan = rig
    probe = _probe(titan)
    whitelist = set(titan.config.active.whitelist)
    await until(lambda: {s for s, _, _ in probe.klines} == whitelist, "a closed bar per symbol")
    now = titan.clock.time_ms()
    assert titan.venue is not None
    for symbol, interval, bar in probe.klines:
        assert interval == 1 and bar.start_ms + 60_000 <= now  # closed, not the open bar
        venue_bars = {k.start_ms: k for k in await titan.venue.klines(symbol, 1, 5)}
        assert venue_bars[bar.start_ms] == bar  # the venue's own bar
    starts = [(s, b.start_ms) for s, _, b in probe.klines]
    assert len(starts) == len(set(starts))  # each bar once


async def test_bad_strategy_changes_are_refused_and_change_nothing(
        rig: tuple[Client, Titan]) -> None:
    client, titan = rig
    await until(lambda: titan.config.version_tag, "the config")
    tag = titan.config.version_tag
    before = titan.config.strategies["probe"]
    for path, body, want in (
            ("/api/strategies/nosuch", {"enabled": False}, 404),
            ("/api/strategies/probe", {"enabled": "no"}, 422),
            ("/api/strategies/probe", {"phases": [4]}, 422),
            ("/api/strategies/probe", {"phases": []}, 422),
            ("/api/strategies/probe", {"params": {"distancePct": 0.5}}, 422),
            ("/api/strategies/probe", {"params": {"nosuch": 1}}, 422),
            ("/api/strategies/probe", {"colour": "red"}, 422),
            ("/api/strategies/probe", {"reason": "only a reason"}, 422)):
        status, answer = await _post(client, path, body)
        assert status == want, (path, body, answer)
        assert answer["error"]["code"] in ("STRATEGY_NOT_FOUND", "VALIDATION_ERROR"), answer
    assert titan.config.version_tag == tag and titan.config.strategies["probe"] == before
    # A parameter change is a version too, and reaches the running strategy at once.
    status, answer = await _post(client, "/api/strategies/probe",
                                 {"params": {"distancePct": 20.0}, "reason": "wider"})
    assert status == 200 and answer["changed"] is True, answer
    assert answer["changes"]["strategies.probe"]["to"]["params"] == {"distancePct": 20.0}
    assert _probe(titan).distance == 20.0
    # Phase 2 only: Titan is in phase 1, so the probe is paused with the reason said.
    status, answer = await _post(client, "/api/strategies/probe", {"phases": [2]})
    assert status == 200 and answer["strategy"]["pauses"]["phase"].startswith("runs in phase 2")
