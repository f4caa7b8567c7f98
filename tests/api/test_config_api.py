"""Config versions over the API, in-process: view, update, whitelist, versions, rollback,
bad input (never a state change), listeners, restarts, the audit trail."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan
from titan.api.keys import TITAN
from titan.app import create_app
from titan.clock import ManualClock
from titan.core import Titan
from titan.events import ConfigChanged, Event
from titan.risk.config import RiskConfig
from titan.store.audit import Actor
from titan.store.config_versions import next_tag, parse_tag

Client = TestClient[Any, Any]
START = datetime(2025, 1, 2, 12, 0, 0, tzinfo=UTC)
CLOCK = web.AppKey("test_clock", ManualClock)
H = auth_header()
JSON_H = {**H, "Content-Type": "application/json"}


@pytest.fixture
async def client(
    data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Client]:
    clock = ManualClock(START)
    app = create_app(make_titan(data_dir, clock=clock))
    app[CLOCK] = clock
    yield await aiohttp_client(app)


def titan_of(client: Client) -> Titan:
    return client.app[TITAN]


async def state(client: Client) -> tuple[str, int]:
    t = titan_of(client)
    return t.config.version.version_tag, await t.config.store.count()


async def post(client: Client, path: str, body: Any, headers: dict[str, str] | None = None) -> Any:
    resp = await client.post(path, data=json.dumps(body), headers=headers or JSON_H)
    return resp.status, await resp.json()


async def test_first_start_writes_defaults_and_get_shows_ranges(client: Client) -> None:
    resp = await client.get("/api/console/config", headers=H)
    assert resp.status == 200
    body = await resp.json()
    assert body["version_tag"] == "2025-01-02T12:00:00Z"
    assert body["source"] == "startup" and body["rolled_back_from"] is None
    assert body["config"] == RiskConfig().to_api()
    assert body["ranges"]["maxRiskPerTrade"]["minimum"] == 0.01
    assert body["ranges"]["maxRiskPerTrade"]["maximum"] == 0.05
    assert body["ranges"]["maxDailyDrawdown"] == {**body["ranges"]["maxDailyDrawdown"],
                                                  "minimum": 0.03, "maximum": 0.10}
    assert body["ranges"]["maxLeverage"]["minimum"] == 5
    assert body["ranges"]["maxLeverage"]["maximum"] == 50
    assert "SOLUSDT" in body["known_symbols"]


async def test_manual_risk_update_takes_effect_at_once(client: Client) -> None:
    titan = titan_of(client)
    seen: list[RiskConfig] = []
    events: list[Event] = []
    titan.config.on_change(seen.append)
    titan.bus.subscribe(events.append, ConfigChanged)
    client.app[CLOCK].advance(5)
    status, body = await post(client, "/api/console/config/risk", {
        "maxRiskPerTrade": 0.02, "maxDailyDrawdown": 0.05, "maxLeverage": 20})
    assert status == 200, body
    assert body["changed"] is True
    assert body["version_tag"] == "2025-01-02T12:00:05Z"
    assert body["previous_version_tag"] == "2025-01-02T12:00:00Z"
    assert body["changes"] == {"maxDailyDrawdown": {"from": 0.07, "to": 0.05}}
    assert body["actor"] == "titan_admin" and body["source"] == "api"
    assert len(seen) == 1 and seen[0].max_daily_drawdown == 0.05
    assert titan.config.active.max_daily_drawdown == 0.05
    assert events and events[-1].data["version_tag"] == "2025-01-02T12:00:05Z"
    got = await (await client.get("/api/console/config", headers=H)).json()
    assert got["version_tag"] == "2025-01-02T12:00:05Z" and got["config"]["maxDailyDrawdown"] == 0.05
    # The same values again change nothing: no new version.
    status, body = await post(client, "/api/console/config/risk", {"maxDailyDrawdown": 0.05})
    assert status == 200 and body["changed"] is False
    assert await state(client) == ("2025-01-02T12:00:05Z", 2)
    assert len(seen) == 1


async def test_max_account_leverage_is_an_alias(client: Client) -> None:
    status, body = await post(client, "/api/console/config/risk", {"maxAccountLeverage": 5.0})
    assert status == 200 and body["config"]["maxLeverage"] == 5.0
    # The NATS bridge's call:
    titan = titan_of(client)
    client.app[CLOCK].advance(1)
    result = await titan.config.update_risk({"maxAccountLeverage": 7.5}, Actor("nats", "nats"))
    assert result.changed and titan.config.active.max_leverage == 7.5
    assert result.version.source == "nats"


BAD_RISK: list[tuple[Any, int, str]] = [
    ({"maxRiskPerTrade": 0.06}, 422, "maxRiskPerTrade"),
    ({"maxRiskPerTrade": 0.009}, 422, "maxRiskPerTrade"),
    ({"maxDailyDrawdown": 0.11}, 422, "maxDailyDrawdown"),
    ({"maxLeverage": 51}, 422, "maxLeverage"),
    ({"maxLeverage": 4.99}, 422, "maxLeverage"),
    ({"maxLeverage": "20"}, 422, "maxLeverage"),
    ({"maxLeverage": None}, 422, "maxLeverage"),
    ({"maxLeverage": True}, 422, "maxLeverage"),
    ({"maxOpenOrdersPerSymbol": 2.5}, 422, "maxOpenOrdersPerSymbol"),
    ({"maxPositionNotional": -1}, 422, "maxPositionNotional"),
    ({"maxRiskPerTrade": 0.02, "maxLeverage": 20, "noSuchField": 1}, 422, "noSuchField"),
    ({"max_leverage": 20}, 422, "max_leverage"),
    ({"whitelist": ["FOOUSDT"]}, 422, "whitelist"),
    ({"whitelist": "BTCUSDT"}, 422, "whitelist"),
    ({"maxLeverage": 10, "maxAccountLeverage": 20}, 422, "maxAccountLeverage"),
    ({}, 422, "body"),
    ([1, 2], 400, ""),
    ("x", 400, ""),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_RISK)
async def test_bad_risk_updates_change_nothing(client: Client, body: Any, status: int,
                                               field: str) -> None:
    before = await state(client)
    got_status, got = await post(client, "/api/console/config/risk", body)
    assert got_status == status, got
    assert set(got) == {"error"} and {"code", "message", "details"} <= set(got["error"])
    if field:
        assert field in got["error"]["message"]
        assert any(d["field"] == field for d in got["error"]["details"])
    assert await state(client) == before
    audit = await titan_of(client).audit.page(1)
    assert audit[0]["action"] == "config.risk.update" and audit[0]["success"] is False


async def test_nan_and_broken_json_and_huge_bodies(client: Client) -> None:
    before = await state(client)
    for raw, status in [(b'{"maxLeverage": NaN}', 422), (b'{"maxLeverage": Infinity}', 422),
                        (b"{broken", 400), (b'{"maxLeverage": 20', 400),
                        (b"\xff\xfe", 400)]:
        resp = await client.post("/api/console/config/risk", data=raw, headers=JSON_H)
        assert resp.status == status, (raw, await resp.text())
        assert "error" in await resp.json()
    for path in ("/api/console/config/risk", "/api/console/config/whitelist",
                 "/api/config/rollback"):
        big = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'
        resp = await client.post(path, data=big, headers=JSON_H)
        assert resp.status == 413 and (await resp.json())["error"]["code"] == "BODY_TOO_LARGE"
    assert await state(client) == before


@pytest.mark.parametrize("path", ["/api/console/config/risk", "/api/console/config/whitelist",
                                  "/api/config/rollback"])
async def test_auth_and_origin_refusals_change_nothing(client: Client, path: str) -> None:
    before = await state(client)
    body = json.dumps({"maxLeverage": 10})
    resp = await client.post(path, data=body, headers={"Content-Type": "application/json"})
    assert resp.status == 401
    resp = await client.post(path, data=body, headers={
        **auth_header(password="wrong"), "Content-Type": "application/json"})
    assert resp.status == 401
    resp = await client.post(path, data=body, headers={**JSON_H, "Origin": "https://evil.example"})
    assert resp.status == 403
    resp = await client.post(path, data=body, headers={**JSON_H, "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403
    assert await state(client) == before


@pytest.mark.parametrize("path", ["/api/console/config", "/api/config/versions", "/api/trades",
                                  "/api/events", "/api/audit", "/api/performance",
                                  "/api/openapi.json"])
async def test_reads_need_credentials(client: Client, path: str) -> None:
    assert (await client.get(path)).status == 401
    assert (await client.get(path, headers=auth_header(password="nope"))).status == 401
    assert (await client.get(path, headers=H)).status == 200


async def test_whitelist_add_remove_and_no_ops(client: Client) -> None:
    clock = client.app[CLOCK]
    clock.advance(1)
    status, body = await post(client, "/api/console/config/whitelist",
                              {"action": "add", "symbol": "DOGEUSDT"})
    assert status == 200 and body["changed"] is True
    assert body["config"]["whitelist"] == ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT"]
    assert titan_of(client).config.active.whitelist[-1] == "DOGEUSDT"
    clock.advance(1)
    status, body = await post(client, "/api/console/config/whitelist",
                              {"action": "remove", "symbol": "DOGEUSDT"})
    assert status == 200 and body["changed"] is True and "DOGEUSDT" not in body["config"]["whitelist"]
    before = await state(client)
    # Adding a listed symbol / removing an unlisted one: 200, changed false, no version.
    for action, symbol in (("add", "SOLUSDT"), ("remove", "DOGEUSDT")):
        status, body = await post(client, "/api/console/config/whitelist",
                                  {"action": action, "symbol": symbol})
        assert status == 200 and body["changed"] is False
        assert body["version_tag"] == before[0]
    assert await state(client) == before


BAD_WHITELIST: list[tuple[Any, int, str]] = [
    ({"action": "add", "symbol": "FOOUSDT"}, 422, "symbol"),
    ({"action": "remove", "symbol": "FOOUSDT"}, 422, "symbol"),
    ({"action": "toggle", "symbol": "SOLUSDT"}, 422, "action"),
    ({"action": "add"}, 422, "symbol"),
    ({"symbol": "SOLUSDT"}, 422, "action"),
    ({"action": "add", "symbol": "solusdt"}, 422, "symbol"),
    ({"action": "add", "symbol": 1}, 422, "symbol"),
    ({"action": "add", "symbol": "SOLUSDT", "extra": True}, 422, "extra"),
    ({"action": ["add"], "symbol": "SOLUSDT"}, 422, "action"),
    ({}, 422, "action"),
    (None, 400, ""),
]


@pytest.mark.parametrize(("body", "status", "field"), BAD_WHITELIST)
async def test_bad_whitelist_changes_change_nothing(client: Client, body: Any, status: int,
                                                   field: str) -> None:
    before = await state(client)
    got_status, got = await post(client, "/api/console/config/whitelist", body)
    assert got_status == status, got
    if field:
        assert any(d["field"] == field for d in got["error"]["details"]), got
    assert await state(client) == before


async def test_versions_newest_first_and_paged(client: Client) -> None:
    clock = client.app[CLOCK]
    for lev in (10, 11, 12, 13):
        clock.advance(1)
        status, _ = await post(client, "/api/console/config/risk", {"maxLeverage": lev})
        assert status == 200
    resp = await client.get("/api/config/versions", headers=H)
    body = await resp.json()
    tags = [v["version_tag"] for v in body["items"]]
    assert body["total"] == 5 and len(tags) == 5
    assert tags[0] == body["active_version_tag"] == "2025-01-02T12:00:04Z"
    assert [parse_tag(t) for t in tags] == sorted((parse_tag(t) for t in tags), reverse=True)
    assert [v["config"]["maxLeverage"] for v in body["items"][:4]] == [13, 12, 11, 10]
    page1 = await (await client.get("/api/config/versions?limit=2", headers=H)).json()
    assert [v["version_tag"] for v in page1["items"]] == tags[:2]
    page2 = await (await client.get(
        f"/api/config/versions?limit=2&before={page1['next_before']}", headers=H)).json()
    assert [v["version_tag"] for v in page2["items"]] == tags[2:4]
    page3 = await (await client.get(
        f"/api/config/versions?limit=2&before={page2['next_before']}", headers=H)).json()
    assert [v["version_tag"] for v in page3["items"]] == tags[4:] and page3["next_before"] is None
    for bad in ("limit=0", "limit=501", "limit=x", "limit=1&limit=2"):
        resp = await client.get(f"/api/config/versions?{bad}", headers=H)
        assert resp.status == 422, bad
    resp = await client.get("/api/config/versions?before=2020-01-01T00:00:00Z", headers=H)
    assert resp.status == 404


async def test_tags_unique_within_one_second(client: Client) -> None:
    titan = titan_of(client)
    client.app[CLOCK].advance(0.25)  # same second as the startup version
    tags = [titan.config.version.version_tag]
    for lev in (10, 11, 12):
        status, body = await post(client, "/api/console/config/risk", {"maxLeverage": lev})
        assert status == 200
        tags.append(body["version_tag"])
    assert tags == ["2025-01-02T12:00:00Z", "2025-01-02T12:00:00.001Z",
                    "2025-01-02T12:00:00.002Z", "2025-01-02T12:00:00.003Z"]
    assert len(set(tags)) == 4
    client.app[CLOCK].advance(1)
    status, body = await post(client, "/api/console/config/risk", {"maxLeverage": 14})
    assert body["version_tag"] == "2025-01-02T12:00:01Z"


def test_next_tag_never_goes_back() -> None:
    assert next_tag(START, None) == "2025-01-02T12:00:00Z"
    assert next_tag(START, "2025-01-02T12:00:00Z") == "2025-01-02T12:00:00.001Z"
    assert next_tag(START, "2025-01-02T12:00:00.999Z") == "2025-01-02T12:00:01Z"
    # A clock that stepped back still gives a later tag than the newest.
    assert next_tag(START, "2025-01-02T13:00:00Z") == "2025-01-02T13:00:00.001Z"


async def test_rollback_makes_a_new_version_with_rolled_back_from(client: Client) -> None:
    titan = titan_of(client)
    seen: list[RiskConfig] = []
    titan.config.on_change(seen.append)
    clock = client.app[CLOCK]
    first = titan.config.version.version_tag
    clock.advance(1)
    await post(client, "/api/console/config/risk", {"maxLeverage": 10, "maxRiskPerTrade": 0.03})
    clock.advance(1)
    status, body = await post(client, "/api/config/rollback", {"version_tag": first})
    assert status == 200, body
    assert body["changed"] is True and body["rolled_back_from"] == first
    assert body["version_tag"] == "2025-01-02T12:00:02Z"
    assert body["config"] == RiskConfig().to_api()
    assert titan.config.active == RiskConfig() and seen[-1] == RiskConfig()
    versions = await (await client.get("/api/config/versions", headers=H)).json()
    assert versions["items"][0]["rolled_back_from"] == first and versions["total"] == 3
    before = await state(client)
    for req, status_want, code in [
        ({"version_tag": "2024-12-13T10:30:00Z"}, 404, "VERSION_NOT_FOUND"),
        ({"version_tag": before[0]}, 409, "ALREADY_ACTIVE"),
        ({"version_tag": 5}, 422, "VALIDATION_ERROR"),
        ({}, 422, "VALIDATION_ERROR"),
        ({"version_tag": first, "force": True}, 422, "VALIDATION_ERROR"),
        ({"version_tag": "x" * 41}, 422, "VALIDATION_ERROR"),
    ]:
        got_status, got = await post(client, "/api/config/rollback", req)
        assert got_status == status_want and got["error"]["code"] == code, (req, got)
    assert await state(client) == before


async def test_restart_keeps_the_active_version(data_dir: Path) -> None:
    clock = ManualClock(START)
    t1 = make_titan(data_dir, clock=clock)
    await t1.start()
    clock.advance(3)
    await t1.config.update_risk({"maxLeverage": 9}, Actor("op", "cli"))
    clock.advance(3)
    await t1.config.change_whitelist("add", "LTCUSDT", Actor("op", "cli"))
    tag, config = t1.config.version.version_tag, t1.config.active
    await t1.stop()
    t2 = make_titan(data_dir, clock=clock)
    await t2.start()
    try:
        assert t2.config.version.version_tag == tag == "2025-01-02T12:00:06Z"
        assert t2.config.active == config and config.max_leverage == 9
        assert "LTCUSDT" in config.whitelist
        assert await t2.config.store.count() == 3
    finally:
        await t2.stop()


async def test_reload_rereads_the_database_without_a_version(client: Client) -> None:
    titan = titan_of(client)
    seen: list[RiskConfig] = []
    titan.config.on_change(seen.append)
    # A version written by another process (e.g. a restored backup) directly in the table.
    cfg = RiskConfig(maxLeverage=6).to_api()  # type: ignore[call-arg]
    await titan.db.execute_write(
        "INSERT INTO config_versions(version_tag, config, created_at, actor, source)"
        " VALUES (?,?,?,?,?)", ("2025-01-02T12:30:00Z", json.dumps(cfg), "x", "op", "cli"))
    count = await titan.config.store.count()
    version = await titan.config.reload(Actor("nats", "nats"))
    assert version.version_tag == "2025-01-02T12:30:00Z"
    assert titan.config.active.max_leverage == 6 and seen[-1].max_leverage == 6
    assert await titan.config.store.count() == count


async def test_a_failing_listener_does_not_undo_the_change(client: Client) -> None:
    titan = titan_of(client)

    def broken(_: RiskConfig) -> None:
        raise RuntimeError("boom")

    seen: list[RiskConfig] = []
    titan.config.on_change(broken)
    titan.config.on_change(seen.append)
    status, _ = await post(client, "/api/console/config/risk", {"maxLeverage": 30})
    assert status == 200 and seen[-1].max_leverage == 30


async def test_every_action_is_audited_with_actor_and_address(client: Client) -> None:
    await post(client, "/api/console/config/risk", {"maxLeverage": 30})
    await post(client, "/api/console/config/risk", {"maxLeverage": 300})
    await post(client, "/api/console/config/whitelist", {"action": "add", "symbol": "BNBUSDT"})
    await post(client, "/api/config/rollback", {"version_tag": "nope"})
    resp = await client.get("/api/audit", headers=H)
    items = (await resp.json())["items"]
    assert [(i["action"], i["success"]) for i in items] == [
        ("config.rollback", False), ("config.whitelist", True),
        ("config.risk.update", False), ("config.risk.update", True)]
    assert all(i["actor"] == "titan_admin" and i["source_ip"] == "127.0.0.1" for i in items)
    assert items[2]["result"]["status"] == 422 and items[2]["params"] == {"maxLeverage": 300}
    assert items[3]["result"]["changes"]["maxLeverage"]["to"] == 30
    only_failed = await (await client.get("/api/audit?success=false", headers=H)).json()
    assert len(only_failed["items"]) == 2
    by_action = await (await client.get("/api/audit?action=config.whitelist", headers=H)).json()
    assert len(by_action["items"]) == 1
