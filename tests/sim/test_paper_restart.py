"""The paper account survives a restart: the in-process simulator keeps its accounts in
the data folder, so a restarted paper Titan finds its position, wallet and resting order
on the venue, and reconciliation has nothing to close."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan
from titan.app import create_app
from titan.core import Titan
from titan.domain.orders import OrderIntent, OrderType, Side
from titan.sim import SimConfig, Simulator
from titan.venues.factory import PAPER_API_KEY

from .conftest import KEY, SECRET

Client = TestClient[Any, Any]
MakeClient = Callable[[web.Application], Awaitable[Client]]
H = auth_header()


async def _start(data_dir: Path, aiohttp_client: MakeClient) -> tuple[Client, Titan]:
    titan = make_titan(data_dir)
    return await aiohttp_client(create_app(titan)), titan


async def _until(pred: Callable[[], Any], within: float = 10.0) -> None:
    for _ in range(int(within / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


def _venue(titan: Titan) -> dict[str, Any]:
    state: dict[str, Any] = titan.simulator.inspect(PAPER_API_KEY)
    return {
        "wallet": (state["wallet"]["totalWalletBalance"],
                   [(c["coin"], c["walletBalance"]) for c in state["wallet"]["coin"]]),
        "positions": [(p["symbol"], p["side"], p["size"], p["avgPrice"], p["stopLoss"])
                      for p in state["positions"]],
        "open": [o["orderLinkId"] for o in state["orders"] if o["orderStatus"] == "New"],
    }


def _rows(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        return conn.execute(sql).fetchall()


async def test_a_paper_position_wallet_and_order_survive_a_restart(
        data_dir: Path, aiohttp_client: MakeClient) -> None:
    client, titan = await _start(data_dir, aiohttp_client)
    resp = await client.post("/api/console/arm", headers=H, json={"armed": True, "reason": "t"})
    assert resp.status == 200
    price = titan.market.price("BTCUSDT")
    assert price is not None
    tenth = Decimal("0.1")
    entry = OrderIntent(intent_id="restart-entry", symbol="BTCUSDT", side=Side.BUY,
                        qty=Decimal("0.002"), order_type=OrderType.MARKET, leverage=Decimal(5),
                        strategy="scavenger", stop_loss=(price * Decimal("0.97")).quantize(tenth),
                        take_profit=(price * Decimal("1.05")).quantize(tenth))
    assert (await titan.execution.submit(entry)).accepted
    eth = titan.market.price("ETHUSDT")
    assert eth is not None
    limit = (eth * Decimal("0.9")).quantize(tenth)
    rest = OrderIntent(intent_id="restart-rest", symbol="ETHUSDT", side=Side.BUY,
                       qty=Decimal("0.01"), order_type=OrderType.LIMIT, leverage=Decimal(5),
                       strategy="scavenger", price=limit,
                       stop_loss=(limit * Decimal("0.97")).quantize(tenth))
    assert (await titan.execution.submit(rest)).accepted
    await _until(lambda: "BTCUSDT" in titan.ledger.positions)
    before = _venue(titan)
    assert [p[0] for p in before["positions"]] == ["BTCUSDT"]
    assert before["open"] == [rest.client_order_id]
    assert Decimal(before["wallet"][0]) < 2000  # the entry's fee
    await client.close()  # Titan stops; the simulator writes its accounts
    assert (data_dir / "paper-venue.json").exists()

    client, titan = await _start(data_dir, aiohttp_client)
    after = _venue(titan)
    assert after == before
    assert titan.ledger.positions["BTCUSDT"].signed_size == Decimal("0.002")
    status = await (await client.get("/api/status", headers=H)).json()
    # ARMED again only after a clean start-up reconciliation (SPEC §3 restart rule).
    assert status["masterArm"] == "ARMED", status
    db = data_dir / "titan.db"
    assert _rows(db, "SELECT name FROM events WHERE name='SHADOW_MISMATCH'") == []
    assert _rows(db, "SELECT close_reason FROM trades WHERE close_reason IS NOT NULL") == []
    await client.close()


async def test_state_file_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "venue.json"
    cfg = dict(seed=7, accounts={KEY: SECRET}, tick_hz=0, backfill_minutes=60,
               symbols=("BTCUSDT", "ETHUSDT"), state_path=str(path))
    sim = Simulator(SimConfig(**cfg))  # type: ignore[arg-type]
    await sim.start()
    sim.set_price("BTCUSDT", "60000")
    eng = sim.engine
    eng.place(KEY, symbol="BTCUSDT", side="Sell", order_type="Market", qty=Decimal("0.010"),
              now_ms=sim.now_ms(), stop_loss=Decimal("61000"))
    eng.place(KEY, symbol="ETHUSDT", side="Buy", order_type="Limit", qty=Decimal("0.10"),
              price=Decimal("1000"), link_id="resting", now_ms=sim.now_ms())
    sim.set_price("BTCUSDT", "59000")
    await _until(lambda: path.exists() and json.loads(path.read_text())["last"]["BTCUSDT"]
                 is not None)
    await sim.stop()
    kept = sim.inspect(KEY)
    acc = eng.account(KEY)
    num = acc.orders[-1].num_id

    again = Simulator(SimConfig(**cfg))  # type: ignore[arg-type]
    assert again.inspect(KEY) == kept
    assert again.market.last("BTCUSDT") == Decimal("59000.0")
    restored = again.engine.account(KEY)
    assert restored.positions["BTCUSDT"].stop_loss == Decimal("61000")
    assert restored.by_link["resting"].is_open
    # New orders continue the id sequence instead of reusing a kept one.
    await again.start()
    o = again.engine.place(KEY, symbol="ETHUSDT", side="Buy", order_type="Limit",
                           qty=Decimal("0.10"), price=Decimal("1001"), now_ms=again.now_ms())
    assert o.num_id > num
    # The kept stop still fires at the kept price level.
    again.set_price("BTCUSDT", "61000")
    assert "BTCUSDT" not in {p["symbol"] for p in again.inspect(KEY)["positions"]}
    await again.stop()
    assert json.loads(path.read_text())["counters"]["num"] > num


async def test_a_refused_state_write_never_stops_the_venue(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    sim = Simulator(SimConfig(seed=7, accounts={KEY: SECRET}, tick_hz=0, backfill_minutes=60,
                              symbols=("BTCUSDT",), state_path=str(blocker / "venue.json")))
    await sim.start()
    try:
        sim.set_price("BTCUSDT", "60000")
        sim.engine.place(KEY, symbol="BTCUSDT", side="Buy", order_type="Market",
                         qty=Decimal("0.001"), now_ms=sim.now_ms())
        assert sim.save_state() is False and sim.save_error
        assert sim.engine.account(KEY).positions["BTCUSDT"].size == Decimal("0.001")
    finally:
        await sim.stop()  # its last write is refused too; stop still completes
