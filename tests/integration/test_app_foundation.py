"""The app's spine in-process: health, auth, lockout, origin check, error shape."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from tests.helpers import auth_header, make_titan
from titan.app import create_app
from titan.clock import ManualClock

Client = TestClient[Any, Any]
CLOCK = web.AppKey("test_clock", ManualClock)


@pytest.fixture
async def client(
    data_dir: Path, aiohttp_client: Callable[[web.Application], Awaitable[Client]]
) -> AsyncIterator[Client]:
    clock = ManualClock(datetime(2025, 1, 1, tzinfo=UTC))
    titan = make_titan(data_dir, clock=clock)
    app = create_app(titan)

    async def echo(request: web.Request) -> web.Response:
        from titan.api.errors import read_json_object
        return web.json_response(await read_json_object(request))

    app.router.add_post("/api/_echo", echo)
    app[CLOCK] = clock
    yield await aiohttp_client(app)


async def test_health_is_open_and_healthy(client: Client) -> None:
    resp = await client.get("/health")
    body = await resp.json()
    assert resp.status == 200
    assert body["status"] == "healthy" and body["checks"]["database"]["ok"] is True
    resp = await client.get("/api/health")
    assert resp.status == 200 and await resp.json() == {"status": "ok"}


async def test_api_needs_credentials(client: Client) -> None:
    resp = await client.get("/api/status")
    assert resp.status == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")
    body = await resp.json()
    assert body["error"]["code"] == "UNAUTHORIZED" and "message" in body["error"]
    resp = await client.get("/api/status", headers=auth_header(password="wrong"))
    assert resp.status == 401


async def test_unknown_route_is_json_404_after_auth(client: Client) -> None:
    resp = await client.get("/api/nope", headers=auth_header())
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "NOT_FOUND"


async def test_lockout_after_repeated_failures_then_expires(client: Client) -> None:
    clock = client.app[CLOCK]
    for _ in range(4):
        assert (await client.get("/api/x", headers=auth_header(password="bad"))).status == 401
    resp = await client.get("/api/x", headers=auth_header(password="bad"))
    assert resp.status == 429
    body = await resp.json()
    assert body["error"]["code"] == "LOCKED_OUT" and "locked until" in body["error"]["message"]
    assert int(resp.headers["Retry-After"]) > 0
    # Locked out even with the right password, until the lock expires.
    assert (await client.get("/api/_echo", headers=auth_header())).status == 429
    clock.advance(301)
    assert (await client.post("/api/_echo", headers=auth_header())).status == 200


async def test_cross_origin_post_is_refused(client: Client) -> None:
    h = auth_header()
    resp = await client.post("/api/_echo", headers={**h, "Origin": "https://evil.example"}, json={})
    assert resp.status == 403
    assert (await resp.json())["error"]["code"] == "CROSS_ORIGIN_REFUSED"
    resp = await client.post("/api/_echo", headers={**h, "Sec-Fetch-Site": "cross-site"}, json={})
    assert resp.status == 403
    same = f"http://{client.host}:{client.port}"
    resp = await client.post("/api/_echo", headers={**h, "Origin": same}, json={"a": 1})
    assert resp.status == 200 and await resp.json() == {"a": 1}


async def test_bodies_must_be_json_objects(client: Client) -> None:
    h = auth_header()
    resp = await client.post("/api/_echo", headers={**h, "Content-Type": "application/json"})
    assert resp.status == 200 and await resp.json() == {}  # the manual's bodiless curl
    resp = await client.post("/api/_echo", headers={**h, "Content-Type": "application/json"},
                             data=b"{broken")
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "INVALID_JSON"
    resp = await client.post("/api/_echo", headers=h, json=[1, 2])
    assert resp.status == 400
    resp = await client.post("/api/_echo", headers=h, data=b"x" * (2 * 1024 * 1024))
    assert resp.status == 413 and "error" in await resp.json()
