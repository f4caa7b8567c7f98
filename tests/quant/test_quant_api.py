"""AI Quant through Titan's API: a run in its own process over a journal and recorded data
where `minTrades` is plainly bad → a proposal that passed the gate; the run changed no
config; approval makes exactly one config version; bad input (unknown, decided, stale,
no reason, too few trades) changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import optuna
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan, titan_env
from tests.quant import scenario as sc
from titan.api.keys import TITAN
from titan.api.quant import QUANT
from titan.app import create_app
from titan.backtest.report import iso_ms
from titan.cli import main
from titan.clock import ManualClock, iso_utc
from titan.core import Titan
from titan.quant.store import QuantStore
from titan.store.audit import Actor

Client = TestClient[Any, Any]
NOW = datetime(2025, 3, 12, 6, 0, tzinfo=UTC)
H = auth_header()
OPERATOR = Actor("titan_admin", "api")


@pytest.fixture
async def client(
    data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Client]:
    sc.write(data_dir)
    app = create_app(make_titan(data_dir, clock=ManualClock(NOW)))
    yield await aiohttp_client(app)


def titan_of(client: Client) -> Titan:
    return client.app[TITAN]


async def add_trades(titan: Titan, pnls: list[str]) -> None:
    for i, pnl in enumerate(pnls):
        opened = NOW - timedelta(days=1) + timedelta(hours=i % 5, minutes=i)
        await titan.db.execute_write(
            "INSERT INTO trades(symbol, side, qty, entry_price, exit_price, gross_pnl, fees,"
            " net_pnl, strategy, close_reason, opened_at, closed_at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            (sc.SYMBOL, "Buy", "1", "150", "151", pnl, "0", pnl, "scavenger", "TakeProfit",
             iso_utc(opened), iso_utc(opened + timedelta(minutes=3))))


async def versions(titan: Titan) -> int:
    return int(await titan.db.scalar("SELECT COUNT(*) FROM config_versions"))


RUN = {"params": ["scavenger.minTrades"], "trials": 6, "minTrades": 1,
       "symbols": [sc.SYMBOL],
       "train": {"start": iso_ms(sc.TRAIN[0]), "end": iso_ms(sc.TRAIN[1])},
       "holdout": {"start": iso_ms(sc.HOLDOUT[0]), "end": iso_ms(sc.HOLDOUT[1])}}


async def test_a_bad_parameter_is_proposed_gated_and_approved_into_one_version(
        client: Client) -> None:
    titan = titan_of(client)
    await titan.config.update_strategy("scavenger", {"params": {"minTrades": 12}}, OPERATOR,
                                       "plainly bad")
    await add_trades(titan, ["-3", "-2", "4", "-1", "-5", "2"])
    before_tag, before_n = titan.config.version_tag, await versions(titan)
    # two worker processes sharing one optuna study through an SQLite storage
    storage = f"sqlite:///{titan.settings.data_dir / 'study.db'}"
    client.app[QUANT].options.storage, client.app[QUANT].options.workers = storage, 2

    resp = await client.post("/api/quant/run", json=RUN, headers=H)
    assert resp.status == 202, await resp.text()
    run = await resp.json()
    busy = await client.post("/api/quant/run", json=RUN, headers=H)
    assert busy.status == 409 and (await busy.json())["error"]["code"] == "BUSY"
    await client.app[QUANT].wait(run["id"])

    study = optuna.load_study(study_name=f"titan-quant-{run['id']}", storage=storage)
    assert {t.user_attrs.get("worker") for t in study.trials} == {0, 1}
    # running AI Quant changed no config
    assert (titan.config.version_tag, await versions(titan)) == (before_tag, before_n)
    got = await (await client.get(f"/api/quant/runs/{run['id']}", headers=H)).json()
    assert got["status"] == "done" and got["progress"]["phase"] == "done", got
    b = await (await client.get("/api/quant/briefing", headers=H)).json()
    assert b["pending"] == 1 and b["insights"]["enough"] is True
    assert b["yesterday"] == {"day": "2025-03-11", "trades": 6, "wins": 2,
                              "win_rate": 0.3333, "net_pnl": "-5"}
    (p,) = b["proposals"]
    change = p["changes"]["scavenger.minTrades"]
    assert change["from"] == 12 and 16 <= change["to"] <= 450
    assert p["config_version"] == before_tag and p["status"] == "pending"
    assert p["evidence"]["gate"]["passed"] is True and p["evidence"]["latency_ms"] == 200
    assert len(p["active_figures"]["equity_curve"]) > 10
    assert float(p["candidate_figures"]["net_pnl"]) > float(p["active_figures"]["net_pnl"])

    for bad in ("999", "abc"):
        r = await client.post(f"/api/quant/proposals/{bad}/approve", json={}, headers=H)
        assert r.status == 404
    r = await client.post(f"/api/quant/proposals/{p['id']}/reject", json={"reason": " "},
                          headers=H)
    assert r.status == 422
    assert await versions(titan) == before_n

    r = await client.post(f"/api/quant/proposals/{p['id']}/approve",
                          json={"reason": "looks right"}, headers=H)
    assert r.status == 200, await r.text()
    out = await r.json()
    assert out["status"] == "approved" and out["decided_by"] == "titan_admin"
    assert await versions(titan) == before_n + 1  # exactly one version
    assert titan.config.strategies["scavenger"].params["minTrades"] == change["to"]
    version = titan.config.version
    assert version.version_tag == out["applied_version"] == out["version_tag"]
    assert version.reason == f"AI Quant proposal #{p['id']} approved: looks right"
    assert version.actor == "titan_admin"
    again = await client.post(f"/api/quant/proposals/{p['id']}/approve", json={}, headers=H)
    assert again.status == 409 and (await again.json())["error"]["code"] == "ALREADY_DECIDED"
    assert await versions(titan) == before_n + 1
    rows = await titan.db.fetch_all(
        "SELECT action, success FROM audit_log WHERE action LIKE 'quant.%' ORDER BY id")
    assert [(r["action"], r["success"]) for r in rows] == [
        ("quant.run", 1), ("quant.run", 0), ("quant.approve", 0), ("quant.reject", 0),
        ("quant.approve", 1), ("quant.approve", 0)]


async def test_stale_and_rejected_proposals_make_no_version(
        client: Client, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """Through the CLI (`titan quant …`, a real HTTP client in a thread) and the API."""
    titan = titan_of(client)
    for k, v in titan_env(titan.settings.data_dir, client.server.port or 0,
                          TITAN_HOST="127.0.0.1").items():
        monkeypatch.setenv(k, v)

    async def cli(*args: str) -> int:
        return int(await asyncio.to_thread(main, ["quant", *args]))

    store = QuantStore(titan.db)
    old_tag = titan.config.version_tag
    await store.add_run("r1", NOW, "api", "t", old_tag, {})
    figures = {"net_pnl": "1", "max_drawdown": "0", "trades": 1, "equity_curve": []}
    proposal = {"config_version": old_tag, "strategy": "scavenger",
                "changes": {"scavenger.minTrades": {"from": 50, "to": 40}},
                "active": figures, "candidate": figures}
    stale = await store.finish_run("r1", NOW, status="done", result={}, proposal=proposal)
    await store.add_run("r2", NOW, "api", "t", old_tag, {})
    fresh = await store.finish_run("r2", NOW, status="done", result={}, proposal=proposal)
    await titan.config.update_risk({"maxLeverage": 10.0}, OPERATOR, "the operator moved on")
    n = await versions(titan)
    proposal["config_version"] = titan.config.version_tag

    r = await client.post(f"/api/quant/proposals/{stale}/approve", json={}, headers=H)
    assert r.status == 409 and (await r.json())["error"]["code"] == "STALE"
    capsys.readouterr()
    assert await cli("approve", str(stale)) == 2
    err = capsys.readouterr().err
    assert "409 STALE" in err and len(err.strip().splitlines()) == 1
    r = await client.post(f"/api/quant/proposals/{fresh}/reject", json={}, headers=H)
    assert r.status == 422  # a rejection needs a reason
    assert await cli("reject", str(fresh), "--reason", "not now") == 0
    assert (await store.proposal(fresh) or {})["reject_reason"] == "not now"
    assert await cli("approve", str(fresh)) == 2
    assert await cli("approve", "12345") == 2
    assert "404 PROPOSAL_NOT_FOUND" in capsys.readouterr().err
    assert await versions(titan) == n
    assert await cli("briefing") == 0
    out = capsys.readouterr().out
    assert f"proposal #{stale} pending (stale)" in out and "yesterday (2025-03-11)" in out
    assert await cli("run", "--wait") == 0  # no trades: done at once, and it says why
    assert "done — no search: too few trades" in capsys.readouterr().out
    b = await (await client.get("/api/quant/briefing", headers=H)).json()
    assert [(p["id"], p["status"], p["stale"]) for p in b["proposals"]] == [
        (fresh, "rejected", False), (stale, "pending", True)]


async def test_too_few_trades_the_briefing_says_so_and_nothing_is_searched(
        client: Client) -> None:
    titan = titan_of(client)
    await add_trades(titan, ["1", "-1"])
    resp = await client.post("/api/quant/run", headers=H)
    assert resp.status == 202
    run = await resp.json()
    assert run["status"] == "done" and "too few trades" in run["note"]
    assert not (titan.settings.data_dir / "quant" / run["id"]).exists()  # no child
    b = await (await client.get("/api/quant/briefing", headers=H)).json()
    assert b["proposals"] == [] and any("too few trades" in n for n in b["notes"])
    for body in ({"trials": 0}, {"bogus": 1}, {"params": ["risk"]},
                 {"train": {"start": "2025-03-11T10:00:00Z", "end": "2025-03-11T09:00:00Z"}}):
        r = await client.post("/api/quant/run", json=body, headers=H)
        assert r.status == 422, body
    rows = await titan.db.fetch_all(
        "SELECT success FROM audit_log WHERE action = 'quant.run' ORDER BY id")
    assert [r["success"] for r in rows] == [1, 0, 0, 0, 0]  # refused attempts audited too
