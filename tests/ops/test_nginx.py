"""The shipped nginx/titan.conf in front of a real Titan, with the real Debian nginx.

The test renders the site file with test ports, a self-signed certificate and an
htpasswd file in a temporary folder (only addresses and paths change), runs nginx in
the foreground with its own prefix, and stops it at the end.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.helpers import PASSWORD, USER, free_port, start_titan, titan_env, wait_http

ROOT = Path(__file__).resolve().parents[2]
SITE = ROOT / "nginx" / "titan.conf"
pytestmark = pytest.mark.e2e


def render_site(https_port: int, http_port: int, app_port: int, cert: Path, key: Path,
                htpasswd: Path, acme_root: Path) -> str:
    """The shipped site file with only ports, listen addresses and file paths changed."""
    text = SITE.read_text()
    text = re.sub(r"^\s*listen \[::\]:.*\n", "", text, flags=re.M)
    subs = {
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "server 127.0.0.1:8080;": f"server 127.0.0.1:{app_port};",
        "/etc/letsencrypt/live/titan-core.yourdomain.com/fullchain.pem": str(cert),
        "/etc/letsencrypt/live/titan-core.yourdomain.com/privkey.pem": str(key),
        "/etc/nginx/titan.htpasswd": str(htpasswd),
        "/var/www/certbot": str(acme_root),
    }
    for old, new in subs.items():
        assert old in text, f"nginx/titan.conf no longer contains {old!r}"
        text = text.replace(old, new)
    return text


class Nginx:
    def __init__(self, prefix: Path, site: str) -> None:
        self.prefix = prefix
        prefix.mkdir(parents=True, exist_ok=True)
        (prefix / "site.conf").write_text(site)
        user = "user root;\n" if os.geteuid() == 0 else ""  # workers must read tmp files
        temps = "".join(f"    {n}_temp_path {prefix}/{n}_temp;\n"
                        for n in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        (prefix / "nginx.conf").write_text(
            f"{user}daemon off;\nworker_processes 1;\npid {prefix}/nginx.pid;\n"
            f"error_log {prefix}/error.log info;\n"
            "events { worker_connections 128; }\n"
            f"http {{\n    access_log {prefix}/access.log;\n{temps}"
            f"    include {prefix}/site.conf;\n}}\n")
        self.proc: subprocess.Popen[bytes] | None = None

    def test_config(self) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["nginx", "-t", "-p", str(self.prefix), "-c",
                               str(self.prefix / "nginx.conf"), "-e",
                               str(self.prefix / "error.log")],
                              capture_output=True, text=True, timeout=30)

    def start(self, port: int) -> None:
        self.proc = subprocess.Popen(
            ["nginx", "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf"), "-e",
             str(self.prefix / "error.log")], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nginx exited: " + (self.prefix / "error.log").read_text())
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nginx did not start listening")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)  # graceful
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def make_tls_and_htpasswd(d: Path) -> tuple[Path, Path, Path]:
    d.mkdir(parents=True, exist_ok=True)
    cert, key, pw = d / "cert.pem", d / "key.pem", d / "titan.htpasswd"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=localhost"],
                   check=True, capture_output=True, timeout=30)
    hashed = subprocess.run(["openssl", "passwd", "-apr1", PASSWORD], check=True,
                            capture_output=True, text=True, timeout=30).stdout.strip()
    pw.write_text(f"{USER}:{hashed}\n")
    return cert, key, pw


_TLS = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # made once: loading CAs costs ~0.3 s each time
_TLS.check_hostname = False
_TLS.verify_mode = ssl.CERT_NONE


def _auth(user: str = USER, password: str = PASSWORD) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def _get(port: int, path: str, headers: dict[str, str] | None = None,
         source: str = "127.0.0.1", tls: bool = True) -> tuple[int, dict[str, str], bytes]:
    conn: http.client.HTTPConnection
    if tls:
        conn = http.client.HTTPSConnection("127.0.0.1", port, context=_TLS, timeout=10,
                                           source_address=(source, 0))
    else:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10,
                                          source_address=(source, 0))
    try:
        conn.request("GET", path, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, resp.read()
    finally:
        conn.close()


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[int, int, Path]]:
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    # As docs/operations.md says for Nginx on the same host: believe its X-Real-IP.
    titan = start_titan(["run"], titan_env(tmp_path / "data", app_port,
                                           TITAN_TRUSTED_PROXIES="127.0.0.1"),
                        tmp_path / "titan.log")
    cert, key, pw = make_tls_and_htpasswd(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", render_site(https_port, http_port, app_port, cert, key,
                                                  pw, tmp_path / "acme"))
    try:
        checked = nginx.test_config()
        assert checked.returncode == 0, checked.stderr
        assert wait_http(f"http://127.0.0.1:{app_port}/health", proc=titan) == 200
        nginx.start(https_port)
        yield https_port, http_port, tmp_path
    finally:
        nginx.stop()
        titan.send_signal(signal.SIGINT)
        titan.wait(timeout=30)


def test_nginx_in_front_of_titan(stack: tuple[int, int, Path]) -> None:
    https_port, http_port, _ = stack
    # basic auth by nginx
    status, headers, body = _get(https_port, "/api/status")
    assert status == 401 and b"nginx" in body  # nginx's own page, the app was not asked
    status, _, body = _get(https_port, "/api/status", _auth(password="wrong"))
    assert status == 401 and b"nginx" in body
    # with the right credentials the app is reached and its own auth passes too
    status, headers, body = _get(https_port, "/api/status", _auth())
    assert headers["content-type"].startswith("application/json")
    assert status in (200, 404) and b"UNAUTHORIZED" not in body  # 404 until /api/status lands
    status, headers, body = _get(https_port, "/api/health", _auth())
    assert status == 200 and body == b'{"status": "ok"}'
    assert headers["strict-transport-security"].startswith("max-age=")
    # /health and /api/health open
    status, _, body = _get(https_port, "/health")
    assert status == 200 and b'"healthy"' in body
    assert _get(https_port, "/api/health")[0] == 200
    # /metrics: from 127.0.0.1 yes, from another address no
    status, _, body = _get(https_port, "/metrics")
    assert status == 200 and b"titan_equity_usd" in body
    status, _, body = _get(https_port, "/metrics", source="127.0.0.2")
    assert status == 403
    # plain HTTP redirects to HTTPS
    status, headers, _ = _get(http_port, "/api/status?x=1", tls=False)
    assert status == 301 and headers["location"].startswith("https://")
    assert headers["location"].endswith("/api/status?x=1")
    # /ws: the upgrade request reaches the app (the app's JSON answer, not nginx's page)
    status, headers, body = _get(https_port, "/ws", {**_auth(), "Upgrade": "websocket",
                                                      "Connection": "Upgrade",
                                                      "Sec-WebSocket-Version": "13",
                                                      "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="})
    assert status in (101, 200, 400, 404, 426), status
    assert b"nginx" not in body

    # Titan's own /ws completes its handshake through nginx and sends the console its
    # snapshot, then live frames (not an echo app standing in).
    async def console_socket() -> list[dict[str, object]]:
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"wss://127.0.0.1:{https_port}/ws", ssl=_TLS, headers=_auth(),
                origin=f"https://127.0.0.1:{https_port}") as ws:
            frames = [json.loads((await ws.receive(timeout=15)).data)]
            frames.append(json.loads((await ws.receive(timeout=15)).data))  # live after it
            return frames

    frames = asyncio.run(console_socket())
    assert frames[0]["type"] == "snapshot", frames[0]
    assert isinstance(frames[0]["status"], dict) and "masterArm" in frames[0]["status"]
    assert frames[1]["type"] in ("status", "event"), frames[1]
    # /ws from another site's page is refused by the app, and the audit log names the
    # real client (127.0.0.2, from nginx's X-Real-IP), not nginx's own address
    status, _, body = _get(https_port, "/ws", {**_auth(), "Upgrade": "websocket",
                                                "Connection": "Upgrade",
                                                "Origin": "https://evil.example",
                                                "Sec-WebSocket-Version": "13",
                                                "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="},
                           source="127.0.0.2")
    assert status == 403 and b"CROSS_ORIGIN_REFUSED" in body
    rows: list[dict[str, object]] = []
    for _ in range(100):  # audited in the background
        status, _, body = _get(https_port, "/api/audit?action=auth.refused", _auth())
        rows = json.loads(body)["items"]
        if rows:
            break
        time.sleep(0.05)
    assert rows and rows[0]["source_ip"] == "127.0.0.2", rows
    # oversized bodies stop at nginx
    conn = http.client.HTTPSConnection("127.0.0.1", https_port, context=_TLS, timeout=10)
    conn.request("POST", "/api/system/halt", body=b"x" * (2 * 1024 * 1024),
                 headers={**_auth(), "Content-Type": "application/json"})
    assert conn.getresponse().status == 413
    conn.close()
    # rate limit: a burst far over 10 r/s + 40 gets 429 from nginx
    statuses = [_get(https_port, "/api/status", _auth())[0] for _ in range(80)]
    assert 429 in statuses and statuses[0] != 429


async def test_websocket_upgrade_through_the_site_config(tmp_path: Path) -> None:
    """A WebSocket echo app on the upstream port: the /ws location really upgrades, and
    forwards the proxy headers."""
    seen: dict[str, str] = {}

    async def ws(request: web.Request) -> web.WebSocketResponse:
        seen.update({k: request.headers.get(k, "") for k in
                     ("X-Real-IP", "X-Forwarded-Proto", "X-Forwarded-For", "Authorization")})
        sock = web.WebSocketResponse()
        await sock.prepare(request)
        async for msg in sock:
            await sock.send_str("echo:" + msg.data)
        return sock

    app = web.Application()
    app.router.add_get("/ws", ws)
    runner = web.AppRunner(app)
    await runner.setup()
    app_port, https_port, http_port = free_port(), free_port(), free_port()
    site = web.TCPSite(runner, "127.0.0.1", app_port)
    await site.start()
    cert, key, pw = make_tls_and_htpasswd(tmp_path / "tls")
    nginx = Nginx(tmp_path / "nginx", render_site(https_port, http_port, app_port, cert, key,
                                                  pw, tmp_path / "acme"))
    try:
        await asyncio.to_thread(nginx.start, https_port)
        async with aiohttp.ClientSession() as session:
            async with session.ws_connect(f"wss://127.0.0.1:{https_port}/ws", ssl=False,
                                          headers=_auth()) as conn:
                await conn.send_str("ping")
                reply = await conn.receive(timeout=5)
                assert reply.data == "echo:ping"
            async with session.get(f"https://127.0.0.1:{https_port}/ws", ssl=False) as r:
                assert r.status == 401  # /ws is behind basic auth too
    finally:
        await asyncio.to_thread(nginx.stop)
        await runner.cleanup()
    assert seen["X-Real-IP"] == "127.0.0.1" and seen["X-Forwarded-Proto"] == "https"
    assert seen["Authorization"].startswith("Basic ")
