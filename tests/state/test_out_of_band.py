"""Out-of-band account changes (SPEC §7): a position opened or closed by hand on the venue,
a liquidation, an order cancelled by the venue — while Titan runs and while it is down.

Each must be detected, classified (the mismatch type in the reconciliation report),
synced (shadow = venue; adopted positions orphaned; RECONCILED_CLOSED / LIQUIDATION in the
journal with the venue's own PnL), alerted (SHADOW_MISMATCH events; the venue-cancel
alert) and visible in GET /api/state/positions. The simulator runs in this process so
the test can act on the account "by hand"; Titan runs in-process, or as a real `titan run`
process for the cases that happen while it is down.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, titan_env
from tests.state.conftest import Starter
from tests.state.oob_kit import (
    KEY,
    SECRET,
    accepted,
    eventually,
    market_intent,
    mismatch_types,
    reports,
    rows,
)
from titan.core import Titan
from titan.domain.orders import OrderIntent, OrderStatus, OrderType, Side
from titan.risk import HaltState
from titan.sim import Simulator

Client = TestClient[Any, Any]
D = Decimal
START_BALANCE = D(2000)


def venue_net(sim: Simulator, symbol: str | None = None) -> Decimal:
    """The venue's own realised PnL net of fees (what its wallet moved by)."""
    acc = sim.engine.accounts[KEY]
    return sum((e.realised_pnl - e.fee for e in acc.executions
                if symbol is None or e.symbol == symbol), D(0))


def venue_size(sim: Simulator, symbol: str) -> Decimal:
    pos = sim.engine.accounts[KEY].positions.get(symbol)
    return D(0) if pos is None else pos.size


async def open_position(titan: Titan, n: str, symbol: str, side: Side, qty: str) -> None:
    if not titan.risk.arm_ctl.armed:
        await titan.risk.arm("out-of-band test", "test")
    price = titan.market.price(symbol)
    assert price is not None
    accepted(await titan.execution.submit(market_intent(n, symbol, side, qty, price)))
    await eventually(lambda: symbol in titan.ledger.positions, f"{symbol} in the shadow")


async def resting_limit(titan: Titan, n: str, symbol: str) -> str:
    price = titan.market.price(symbol)
    assert price is not None
    limit = (price * D("0.8")).quantize(D("0.01"))
    intent = OrderIntent(intent_id=f"oob-{n}", symbol=symbol, side=Side.BUY, qty=D("0.01"),
                         order_type=OrderType.LIMIT, price=limit,
                         stop_loss=(limit * D("0.9")).quantize(D("0.01")),
                         leverage=D(5), strategy="scavenger")
    if not titan.risk.arm_ctl.armed:
        await titan.risk.arm("out-of-band test", "test")
    accepted(await titan.execution.submit(intent))
    return intent.client_order_id


async def positions_api(client: Client) -> dict[str, dict[str, Any]]:
    resp = await client.get("/api/state/positions", headers=auth_header())
    assert resp.status == 200
    return {r["symbol"]: r for r in (await resp.json())["positions"]}


def events(db: Path, name: str) -> list[dict[str, Any]]:
    return rows(db, "SELECT name, severity, message, data FROM events WHERE name=?", (name,))


def assert_shadow_equals_venue(titan: Titan, sim: Simulator) -> None:
    venue = {s: p.size for s, p in sim.engine.accounts[KEY].positions.items() if p.size != 0}
    shadow = {s: p.signed_size for s, p in titan.ledger.positions.items()}
    assert shadow == venue, f"shadow {shadow} != venue {venue}"


# -- while Titan runs ---------------------------------------------------------------------


async def test_hand_open_while_running_is_adopted_as_orphan(
        sim: Simulator, start_titan: Starter, data_dir: Path) -> None:
    titan, client = await start_titan()
    sim.open_position_by_hand(KEY, "SOLUSDT", "Buy", D(2))
    pos = await eventually(lambda: titan.ledger.positions.get("SOLUSDT"), "SOL adopted")
    assert pos.orphaned and pos.side is Side.BUY and pos.size == D(2)
    acc = sim.engine.accounts[KEY]
    assert pos.entry_price == acc.positions["SOLUSDT"].avg_price  # from the venue's execution
    db = titan.settings.database
    found = await eventually(lambda: [r for r in reports(db)
                                      if ("MISSING_IN_SHADOW", "SOLUSDT") in mismatch_types(r)],
                             "a report with MISSING_IN_SHADOW SOLUSDT")
    assert any(a["action"] == "recorded_venue_fill" for a in found[0]["actions"])
    view = (await positions_api(client))["SOLUSDT"]
    assert view["orphaned"] is True and view["mismatch"] is None
    assert view["shadow"]["size"] == view["venue"]["size"] == "2"
    await eventually(lambda: events(db, "SHADOW_MISMATCH"), "SHADOW_MISMATCH event")
    assert_shadow_equals_venue(titan, sim)


async def test_hand_close_while_running_journals_reconciled_closed_with_venue_pnl(
        sim: Simulator, start_titan: Starter) -> None:
    titan, client = await start_titan()
    await open_position(titan, "hc", "ETHUSDT", Side.BUY, "0.05")
    assert not titan.ledger.positions["ETHUSDT"].orphaned
    sim.set_price("ETHUSDT", sim.market.last("ETHUSDT") * D("1.01"))
    assert sim.close_position_by_hand(KEY, "ETHUSDT")
    await eventually(lambda: "ETHUSDT" not in titan.ledger.positions, "ETH closed in the shadow")
    db = titan.settings.database
    await eventually(lambda: [r for r in reports(db)
                              if ("MISSING_IN_BROKER", "ETHUSDT") in mismatch_types(r)],
                     "a report with MISSING_IN_BROKER ETHUSDT")
    trades = rows(db, "SELECT * FROM trades")
    assert [t["close_reason"] for t in trades] == ["RECONCILED_CLOSED"]
    assert D(trades[0]["net_pnl"]) == venue_net(sim) != 0
    assert D(trades[0]["net_pnl"]).quantize(D("0.01")) == \
        (sim.engine.accounts[KEY].wallet_balance - START_BALANCE).quantize(D("0.01"))
    assert "ETHUSDT" not in await positions_api(client)
    await eventually(lambda: events(db, "SHADOW_MISMATCH"), "SHADOW_MISMATCH event")


async def test_liquidation_while_running_is_journalled_as_liquidation(
        sim: Simulator, start_titan: Starter) -> None:
    titan, _ = await start_titan()
    await open_position(titan, "lq", "SOLUSDT", Side.SELL, "1")
    assert sim.liquidate(KEY, "SOLUSDT")
    await eventually(lambda: "SOLUSDT" not in titan.ledger.positions, "SOL liquidated in shadow")
    db = titan.settings.database
    trades = await eventually(lambda: rows(db, "SELECT * FROM trades"), "a trade")
    assert [t["close_reason"] for t in trades] == ["LIQUIDATION"]
    assert D(trades[0]["net_pnl"]) == venue_net(sim) < 0
    await eventually(lambda: [r for r in reports(db)
                              if ("MISSING_IN_BROKER", "SOLUSDT") in mismatch_types(r)],
                     "a report with MISSING_IN_BROKER SOLUSDT")
    await eventually(lambda: events(db, "SHADOW_MISMATCH"), "SHADOW_MISMATCH event")


async def test_venue_cancel_while_running_is_alerted_and_recorded(
        sim: Simulator, start_titan: Starter) -> None:
    titan, _ = await start_titan()
    cid = await resting_limit(titan, "vc", "ETHUSDT")
    await eventually(lambda: titan.ledger.live_orders.get(cid) is not None
                     and titan.ledger.live_orders[cid].status is OrderStatus.NEW, "order NEW")
    sim.cancel_order_by_venue(KEY, "ETHUSDT", link_id=cid)
    await eventually(lambda: cid not in titan.ledger.live_orders, "order no longer live")
    db = titan.settings.database
    row = rows(db, "SELECT status FROM orders WHERE client_order_id=?", (cid,))
    assert row == [{"status": "CANCELLED"}]
    alerts = await eventually(lambda: [e for e in events(db, "ALERT")
                                       if "cancelled by the venue" in e["message"]],
                              "venue-cancel alert")
    assert cid in alerts[0]["message"]


async def test_three_consecutive_mismatch_runs_soft_halt(
        sim: Simulator, start_titan: Starter) -> None:
    titan, client = await start_titan()
    titan.sync.request_reconcile = lambda reason: None  # only the operator's runs count here
    for n, symbol in enumerate(("SOLUSDT", "XRPUSDT", "LINKUSDT"), 1):
        qty = {"SOLUSDT": D(1), "XRPUSDT": D(10), "LINKUSDT": D(1)}[symbol]
        sim.open_position_by_hand(KEY, symbol, "Sell", qty)
        resp = await client.post("/api/state/reconcile", headers=auth_header(), json={})
        report = await resp.json()
        assert resp.status == 200 and ("MISSING_IN_SHADOW", symbol) in mismatch_types(report)
        assert report["consecutiveMismatchRuns"] == n
        expected = HaltState.SOFT_HALT if n == 3 else HaltState.OPEN
        assert titan.risk.halt.state is expected
    assert_shadow_equals_venue(titan, sim)
    resp = await client.post("/api/state/reconcile", headers=auth_header(), json={})
    assert (await resp.json())["clean"] is True  # synced: the next run is clean again


async def test_unreadable_venue_fails_closed(sim: Simulator, start_titan: Starter) -> None:
    titan, client = await start_titan()
    await titan.risk.arm("test", "test")
    sim.faults.update(http_5xx_fraction=1.0)
    try:
        resp = await client.post("/api/state/reconcile", headers=auth_header(), json={})
        report = await resp.json()
    finally:
        sim.faults.reset()
    assert resp.status == 503 and report["ok"] is False and "unreadable" in report["error"]
    assert not titan.risk.arm_ctl.armed
    assert titan.risk.arm_ctl.state.value == "DISARMED"


# -- while Titan is down -------------------------------------------------------------------


async def _wait_http(session: aiohttp.ClientSession, url: str, proc: asyncio.subprocess.Process,
                     within: float = 30) -> None:
    async def probe() -> bool:
        if proc.returncode is not None:
            raise AssertionError(f"titan exited early with {proc.returncode}")
        try:
            async with session.get(url) as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False
    await eventually(probe, url, within=within, every=0.1)


async def test_changes_while_down_are_found_at_startup(
        sim: Simulator, start_titan: Starter, data_dir: Path, free_port: int,
        tmp_path: Path) -> None:
    titan, client = await start_titan()
    await open_position(titan, "d1", "ETHUSDT", Side.BUY, "0.05")
    await open_position(titan, "d2", "SOLUSDT", Side.SELL, "1")
    await open_position(titan, "d3", "BTCUSDT", Side.BUY, "0.003")
    cid = await resting_limit(titan, "d4", "ETHUSDT")
    await titan.risk.disarm("going down", "test")
    await client.close()  # Titan stops
    # While Titan is down: ETH closed by hand, SOL liquidated, BTC reduced by hand,
    # LINK opened by hand, the resting ETH order cancelled by the venue.
    sim.set_price("ETHUSDT", sim.market.last("ETHUSDT") * D("0.99"))
    assert sim.close_position_by_hand(KEY, "ETHUSDT")
    assert sim.liquidate(KEY, "SOLUSDT")
    sim.open_position_by_hand(KEY, "BTCUSDT", "Sell", D("0.001"))
    sim.open_position_by_hand(KEY, "LINKUSDT", "Buy", D(3))
    sim.cancel_order_by_venue(KEY, "ETHUSDT", link_id=cid)
    hand_order = sim.engine.place(KEY, symbol="ETHUSDT", side="Buy", order_type="Limit",
                                  qty=D("0.01"), price=(sim.market.last("ETHUSDT") * D("0.7"))
                                  .quantize(D("0.01")), now_ms=sim.now_ms())

    env = titan_env(data_dir, free_port, TITAN_VENUE="bybit", TITAN_BYBIT_URL=sim.base_url,
                    TITAN_BINANCE_URL=sim.base_url, TITAN_BYBIT_API_KEY=KEY,
                    TITAN_BYBIT_API_SECRET=SECRET)
    log = (tmp_path / "titan-down.log").open("wb")
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "titan", "run", env=env,
                                                stdout=log, stderr=asyncio.subprocess.STDOUT,
                                                cwd=str(tmp_path))
    base = f"http://127.0.0.1:{free_port}"
    try:
        async with aiohttp.ClientSession(headers=auth_header()) as http:
            await _wait_http(http, f"{base}/health", proc)
            db = data_dir / "titan.db"
            startup = await eventually(
                lambda: [r for r in reports(db) if r["trigger"] == "startup"][1:],
                "the second start's reconciliation report")
            report = startup[0]
            assert mismatch_types(report) == {
                ("MISSING_IN_BROKER", "ETHUSDT"), ("MISSING_IN_BROKER", "SOLUSDT"),
                ("SIZE_MISMATCH", "BTCUSDT"), ("MISSING_IN_SHADOW", "LINKUSDT")}, report
            assert [o["venueOrderId"] for o in report["unknownOrders"]] == [hand_order.order_id]
            async with http.get(f"{base}/api/state/positions") as resp:
                view = {r["symbol"]: r for r in (await resp.json())["positions"]}
            assert set(view) == {"BTCUSDT", "LINKUSDT"}
            assert view["LINKUSDT"]["orphaned"] is True and view["LINKUSDT"]["mismatch"] is None
            assert view["BTCUSDT"]["shadow"]["size"] == view["BTCUSDT"]["venue"]["size"] == "0.002"
            async with http.get(f"{base}/api/status") as resp:
                status = await resp.json()
            assert status["masterArm"] == "DISARMED"
            trades = {t["symbol"]: t for t in rows(db, "SELECT * FROM trades")}
            assert trades["ETHUSDT"]["close_reason"] == "RECONCILED_CLOSED"
            assert trades["SOLUSDT"]["close_reason"] == "LIQUIDATION"
            for symbol in ("ETHUSDT", "SOLUSDT"):
                assert D(trades[symbol]["net_pnl"]) == venue_net(sim, symbol), symbol
            assert rows(db, "SELECT status FROM orders WHERE client_order_id=?", (cid,)) == \
                [{"status": "CANCELLED"}]
            alerts = await eventually(
                lambda: [e for e in events(db, "ALERT") if cid in e["message"]],
                "an alert for the order the venue cancelled while Titan was down")
            assert "cancelled by the venue" in alerts[0]["message"]
            mism = await eventually(lambda: events(db, "SHADOW_MISMATCH"), "SHADOW_MISMATCH")
            assert len(mism) >= 4
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                os.kill(proc.pid, signal.SIGKILL)
        log.close()


async def test_a_fill_between_the_venue_reads_does_not_corrupt_the_shadow(
        sim: Simulator, start_titan: Starter) -> None:
    """The venue trades while reconciliation reads it (positions first, executions after):
    the snapshot must be consistent, or the sync overwrites a correct shadow with stale
    positions (adopting a Titan position as an orphan, or closing it at an estimate)."""
    titan, _ = await start_titan()
    titan.sync.request_reconcile = lambda reason: None
    await open_position(titan, "race", "ETHUSDT", Side.BUY, "0.05")
    venue = titan.venue
    assert venue is not None
    real_positions = venue.positions
    calls = 0

    async def positions_then_trade() -> Any:
        nonlocal calls
        calls += 1
        out = await real_positions()
        if calls == 1:  # the venue moves right after the positions were read
            sim.open_position_by_hand(KEY, "ETHUSDT", "Buy", D("0.02"))
        return out

    venue.positions = positions_then_trade  # type: ignore[method-assign]
    try:
        report = (await titan.reconciler.run("operator")).as_dict()
    finally:
        venue.positions = real_positions  # type: ignore[method-assign]
    assert not [a for a in report["actions"]
                if a["action"] in ("adopted_orphan", "closed_reconciled")], report
    assert_shadow_equals_venue(titan, sim)
    pos = titan.ledger.positions["ETHUSDT"]
    assert not pos.orphaned
    assert pos.entry_price.quantize(D("0.0001")) == \
        sim.engine.accounts[KEY].positions["ETHUSDT"].avg_price.quantize(D("0.0001"))
