"""Attacks on the API and the console socket, in-process (docs/reliability.md, "Access,
input and the command bus"): forged log lines, spoofed client addresses, traceless
refusals, deep JSON, NUL paths, cross-site WebSockets, unbounded risk fields."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import WSServerHandshakeError, web
from aiohttp.test_utils import TestClient
from loguru import logger

from tests.helpers import auth_header, make_titan
from titan.api.keys import TITAN
from titan.app import create_app
from titan.clock import ManualClock
from titan.core import Titan

Client = TestClient[Any, Any]
Factory = Callable[[web.Application], Awaitable[Client]]


def _make(data_dir: Path, **settings: Any) -> Titan:
    return make_titan(data_dir, clock=ManualClock(datetime(2025, 1, 1, tzinfo=UTC)), **settings)


@pytest.fixture
async def client(data_dir: Path, aiohttp_client: Factory) -> AsyncIterator[Client]:
    yield await aiohttp_client(create_app(_make(data_dir)))


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    """Every line as the log file would hold it (the message, split where it breaks)."""
    lines: list[str] = []
    sink = logger.add(lambda m: lines.extend(str(m).splitlines()), level="DEBUG",
                      format="{level} | {message}")
    try:
        yield lines
    finally:
        logger.remove(sink)


async def _audit(titan: Titan, action: str, at_least: int = 1) -> list[dict[str, Any]]:
    rows: list[Any] = []
    for _ in range(250):  # refusals are audited in the background: wait for the rows
        rows = await titan.db.fetch_all(
            "SELECT actor, source, source_ip, action, params, success FROM audit_log "
            "WHERE action = ? ORDER BY id", (action,))
        if len(rows) >= at_least:
            break
        await asyncio.sleep(0.02)
    return [dict(r) for r in rows]


def _metric(text: str, name: str, **labels: str) -> float:
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    prefix = f"{name}{{{want}}} " if want else f"{name} "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line.split()[-1])
    raise AssertionError(f"{prefix!r} not in /metrics")


# --- item 7: a newline in a reason forges a log line ---------------------------------------

async def test_newline_in_a_reason_cannot_forge_a_log_line(client: Client,
                                                          log_lines: list[str]) -> None:
    forged = "x\nORDER_FILLED symbol=BTCUSDT qty=100 forged=1\r\x1b[2K"
    resp = await client.post("/api/system/halt", headers=auth_header(),
                             json={"state": "SOFT_HALT", "reason": forged})
    assert resp.status == 200, await resp.text()
    assert client.app[TITAN].risk.halt.state.value == "SOFT_HALT"
    halt_lines = [line for line in log_lines if "HALT_CHANGED" in line]
    assert halt_lines, log_lines
    assert not any(line.split(" | ", 1)[-1].startswith("ORDER_FILLED") for line in log_lines)
    assert any("x\\nORDER_FILLED" in line for line in halt_lines)  # kept, visibly escaped
    assert not any("\x1b" in line or "\r" in line for line in log_lines)


# --- item 8: X-Real-IP / X-Forwarded-For trusted from any loopback peer -------------------

async def test_spoofed_forwarding_headers_do_not_escape_the_lockout(client: Client) -> None:
    for n in range(5):  # five wrong guesses, each claiming a new address
        resp = await client.get("/api/status", headers={
            **auth_header(password=f"guess-{n}"), "X-Real-IP": f"203.0.113.{n}",
            "X-Forwarded-For": f"198.51.100.{n}"})
        assert resp.status in (401, 429)
    # The peer (127.0.0.1) made all five: it is locked out, whatever it claims to be.
    resp = await client.get("/api/status", headers={**auth_header(),
                                                    "X-Real-IP": "203.0.113.99"})
    assert resp.status == 429


async def test_a_trusted_proxy_names_the_client(data_dir: Path, aiohttp_client: Factory) -> None:
    client = await aiohttp_client(create_app(_make(data_dir, trusted_proxies="127.0.0.1")))
    for n in range(5):
        await client.get("/api/status", headers={**auth_header(password=f"guess-{n}"),
                                                 "X-Real-IP": "203.0.113.7"})
    locked = await client.get("/api/status", headers={**auth_header(),
                                                      "X-Real-IP": "203.0.113.7"})
    assert locked.status == 429
    # Another client behind the same proxy is not locked out by the first one's guesses.
    other = await client.get("/api/status", headers={**auth_header(), "X-Real-IP": "192.0.2.5"})
    assert other.status == 200
    xff = await client.get("/api/status", headers={
        **auth_header(), "X-Forwarded-For": "203.0.113.7, 192.0.2.9"})
    assert xff.status == 200  # the nearest hop (192.0.2.9) is the client


# --- item 9: failed logins, lockouts and refusals leave a trace ----------------------------

async def test_refusals_are_logged_audited_and_counted(client: Client,
                                                      log_lines: list[str]) -> None:
    titan = client.app[TITAN]
    assert (await client.get("/api/status")).status == 401
    for n in range(5):
        resp = await client.get("/api/status", headers=auth_header(password=f"bad-{n}"))
    assert resp.status == 429
    assert (await client.get("/api/status", headers=auth_header())).status == 429

    refused = await _audit(titan, "auth.refused", at_least=3)
    reasons = [json.loads(r["params"])["reason"] for r in refused]
    assert {"no_credentials", "bad_credentials", "locked_out"} <= set(reasons)
    assert all(r["source_ip"] == "127.0.0.1" and r["success"] == 0 for r in refused)
    bad = next(r for r in refused if json.loads(r["params"])["reason"] == "bad_credentials")
    assert bad["actor"] == "titan_admin"  # the user name that was tried
    lockouts = await _audit(titan, "auth.lockout")
    assert len(lockouts) == 1 and lockouts[0]["source_ip"] == "127.0.0.1"
    assert any("AUTH_REFUSED reason=bad_credentials ip=127.0.0.1" in li for li in log_lines)
    assert any("AUTH_LOCKED_OUT ip=127.0.0.1" in li for li in log_lines)

    metrics = await (await client.get("/metrics")).text()
    assert _metric(metrics, "titan_auth_refusals_total", reason="bad_credentials") == 5
    assert _metric(metrics, "titan_auth_refusals_total", reason="no_credentials") == 1
    assert _metric(metrics, "titan_auth_refusals_total", reason="locked_out") == 1


async def test_cross_origin_refusal_is_traced(client: Client) -> None:
    resp = await client.post("/api/console/arm", headers={
        **auth_header(), "Origin": "https://evil.example"}, json={"armed": False})
    assert resp.status == 403
    rows = await _audit(client.app[TITAN], "auth.refused")
    assert [json.loads(r["params"])["reason"] for r in rows] == ["cross_origin"]
    metrics = await (await client.get("/metrics")).text()
    assert _metric(metrics, "titan_auth_refusals_total", reason="cross_origin") == 1


async def test_a_flood_of_refusals_is_throttled_in_the_audit_log(client: Client) -> None:
    for _ in range(30):
        await client.get("/api/status")  # no credentials: 401, never locks out
    rows = await _audit(client.app[TITAN], "auth.refused", at_least=2)  # waits, finds 1
    assert len(rows) == 1  # one row per address and reason per minute...
    metrics = await (await client.get("/metrics")).text()
    assert _metric(metrics, "titan_auth_refusals_total", reason="no_credentials") == 30  # ...all counted


# --- item 11: deep JSON → 500; NUL in a static path → 500 ---------------------------------

def _post_routes(app: web.Application) -> list[str]:
    paths = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource is not None else {}
        if route.method == "POST" and "path" in info:
            paths.append(info["path"])
    return sorted(set(paths))


async def test_deeply_nested_json_is_400_on_every_post_route(client: Client,
                                                            log_lines: list[str]) -> None:
    routes = _post_routes(client.app)
    assert "/api/system/halt" in routes and "/api/console/config/risk" in routes
    deep = '{"state": "HARD_HALT", "reason": ' + "[" * 20_000 + "]" * 20_000 + "}"
    assert len(deep) < 64 * 1024  # under the body limit: only the nesting is wrong
    titan = client.app[TITAN]
    before = titan.risk.halt.state.value
    for path in routes:
        resp = await client.post(path, headers={**auth_header(),
                                                "Content-Type": "application/json"}, data=deep)
        assert resp.status == 400, (path, resp.status, await resp.text())
        assert (await resp.json())["error"]["code"] == "INVALID_JSON"
    assert titan.risk.halt.state.value == before
    assert not any("Traceback" in li or "API_ERROR" in li for li in log_lines)


@pytest.mark.parametrize("path", ["/static/console.js%00.png", "/static/%00", "/static/a%0a"])
async def test_control_characters_in_a_static_path_are_404(client: Client, path: str) -> None:
    resp = await client.get(path, headers=auth_header())
    assert resp.status == 404, await resp.text()


# --- item 13: /ws accepts another site's Origin --------------------------------------------

async def test_ws_refuses_another_origin(client: Client) -> None:
    for hostile in ({"Origin": "https://evil.example"}, {"Origin": "null"},
                    {"Sec-Fetch-Site": "cross-site"}):
        with pytest.raises(WSServerHandshakeError) as exc:
            await client.ws_connect("/ws", headers={**auth_header(), **hostile})
        assert exc.value.status == 403, hostile
    same = f"http://{client.host}:{client.port}"
    ws = await client.ws_connect("/ws", headers={**auth_header(), "Origin": same})
    assert json.loads((await ws.receive(timeout=5)).data)["type"] == "snapshot"
    await ws.close()


# --- item 14: maxPositionNotional 1e300 accepted -------------------------------------------

async def test_every_risk_field_has_an_upper_bound(client: Client) -> None:
    body = await (await client.get("/api/console/config", headers=auth_header())).json()
    numeric = {k: r for k, r in body["ranges"].items() if r["type"] in ("number", "integer")}
    assert numeric and all("maximum" in r for r in numeric.values()), numeric
    for value in (1e300, 1e7):
        resp = await client.post("/api/console/config/risk", headers=auth_header(),
                                 json={"maxPositionNotional": value})
        assert resp.status == 422, await resp.text()
        assert "maxPositionNotional" in json.dumps(await resp.json())
    resp = await client.post("/api/console/config/risk", headers=auth_header(),
                             json={"maxPositionNotional": 50_000})
    assert resp.status == 200
    assert client.app[TITAN].risk.config.max_position_notional == 50_000


def test_access_settings_are_checked_in_one_line() -> None:
    from titan.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match=r"TITAN_TRUSTED_PROXIES: .*not an IP"):
        load_settings(trusted_proxies="127.0.0.1,nginx.local", _env_file=None)
    with pytest.raises(SettingsError, match=r"TITAN_NATS_SUBJECTS: .*titan.cmd.sys.arm"):
        load_settings(nats_subjects="titan.cmd.sys.halt,titan.cmd.sys.arm", _env_file=None)
    s = load_settings(trusted_proxies=" 127.0.0.1 , 10.0.0.0/24", _env_file=None)
    assert [str(n) for n in s.proxy_networks] == ["127.0.0.1/32", "10.0.0.0/24"]
