"""Basic auth in the application too (defence in depth behind Nginx), SPEC §9.

- Credentials from settings, compared in constant time (user and password both, always).
- Lockout: too many failures from one address within a window locks that address out
  for a while; it gets a 429 saying until when.
- A state-changing request that a browser marks as cross-origin (Origin or
  Sec-Fetch-Site) is refused: basic auth in a browser would otherwise let any page the
  operator visits POST to Titan with the operator's cached credentials. The console's
  WebSocket upgrade (`/ws`) gets the same rule: it is a GET, but it hands the whole
  account state to whoever opens it.
- The client's address (for the lockout and the audit log) is the TCP peer. Only when the
  peer is one of the configured proxies (`TITAN_TRUSTED_PROXIES`, e.g. 127.0.0.1 where
  Nginx fronts Titan) are `X-Real-IP` / `X-Forwarded-For` believed: otherwise any local
  process could name a new address per guess (unlimited guessing) or name someone
  else's (locking them out).
- Every refusal (401, 403, 429) is logged, audited and counted (titan/api/auth_trace.py).
"""

from __future__ import annotations

import base64
import binascii
import hmac
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.typedefs import Middleware

from titan.api.auth_trace import AuthTrace
from titan.api.errors import ApiError
from titan.api.keys import ACTOR, SOURCE_IP, Handler
from titan.clock import Clock, iso_utc

OPEN_PATHS = frozenset({"/health", "/api/health", "/metrics"})
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
REALM = 'Basic realm="Titan", charset="UTF-8"'


@dataclass
class _Failures:
    times: list[datetime] = field(default_factory=list)
    locked_until: datetime | None = None


class Lockout:
    """Counts failed logins per address; locks an address after `limit` within `window`."""

    def __init__(self, clock: Clock, limit: int = 5, window_s: float = 300,
                 lock_s: float = 300) -> None:
        self.clock = clock
        self.limit = limit
        self.window = timedelta(seconds=window_s)
        self.lock = timedelta(seconds=lock_s)
        self._by_ip: dict[str, _Failures] = {}

    def locked_until(self, ip: str) -> datetime | None:
        f = self._by_ip.get(ip)
        if f is None or f.locked_until is None:
            return None
        if self.clock.now() >= f.locked_until:
            del self._by_ip[ip]
            return None
        return f.locked_until

    def fail(self, ip: str) -> datetime | None:
        now = self.clock.now()
        f = self._by_ip.setdefault(ip, _Failures())
        f.times = [t for t in f.times if now - t < self.window] + [now]
        if len(f.times) >= self.limit:
            f.locked_until = now + self.lock
        if len(self._by_ip) > 10_000:  # bound memory under a spray from many addresses
            self._by_ip.pop(next(iter(self._by_ip)))
        return f.locked_until

    def succeed(self, ip: str) -> None:
        self._by_ip.pop(ip, None)


def parse_basic(header: str | None) -> tuple[str, str] | None:
    if not header or not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def credentials_match(given: tuple[str, str] | None, user: str, password: str) -> bool:
    got_user, got_pass = given or ("", "")
    # Both comparisons always run, so timing does not tell which half was wrong.
    ok_user = hmac.compare_digest(got_user.encode(), user.encode())
    ok_pass = hmac.compare_digest(got_pass.encode(), password.encode())
    return given is not None and ok_user and ok_pass


def needs_auth(path: str) -> bool:
    return path not in OPEN_PATHS


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None


def _trusted(text: str, proxies: Sequence[Network]) -> bool:
    addr = _address(text)
    return addr is not None and any(addr in net for net in proxies)


def client_ip(request: web.Request, proxies: Sequence[Network] = ()) -> str:
    """The client's address: the peer, unless the peer is a trusted proxy that says whom
    it forwards for (X-Real-IP, else the nearest untrusted X-Forwarded-For hop)."""
    peer = request.remote or ""
    if not proxies or not _trusted(peer, proxies):
        return peer
    real = request.headers.get("X-Real-IP", "").strip()
    if real and _address(real) is not None:
        return real
    hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",")]
    for hop in reversed([h for h in hops if h]):
        if _address(hop) is None:
            break  # garbage in the chain: stop believing it here
        if not _trusted(hop, proxies):
            return hop
    return peer


def is_cross_origin(request: web.Request) -> bool:
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site.lower() not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    if origin == "null":
        return True
    host = request.headers.get("X-Forwarded-Host") or request.host
    return urlsplit(origin).netloc.lower() != host.lower()


def is_websocket_upgrade(request: web.Request) -> bool:
    return request.headers.get("Upgrade", "").lower() == "websocket"


def make_auth_middleware(user: str, password: str, lockout: Lockout,
                         proxies: Sequence[Network] = (),
                         trace: AuthTrace | None = None) -> Middleware:
    def refused(reason: str, request: web.Request, ip: str, who: str = "") -> None:
        if trace is not None:
            trace.refused(reason, ip, request.method, request.path, who)

    @web.middleware
    async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not needs_auth(request.path):
            return await handler(request)
        ip = client_ip(request, proxies)
        given = parse_basic(request.headers.get("Authorization"))
        who = given[0] if given else ""
        until = lockout.locked_until(ip)
        if until is not None:
            refused("locked_out", request, ip, who)
            raise _locked(until, lockout.clock)
        if not credentials_match(given, user, password):
            if given is not None:
                refused("bad_credentials", request, ip, who)
                until = lockout.fail(ip)
                if until is not None:
                    if trace is not None:
                        trace.locked_out(ip, until, lockout.limit)
                    raise _locked(until, lockout.clock)
            else:
                refused("no_credentials", request, ip)
            raise ApiError(401, "UNAUTHORIZED", "valid credentials are required",
                           headers={"WWW-Authenticate": REALM})
        lockout.succeed(ip)
        request[ACTOR] = user
        request[SOURCE_IP] = ip
        if ((request.method not in SAFE_METHODS or is_websocket_upgrade(request))
                and is_cross_origin(request)):
            refused("cross_origin", request, ip, who)
            raise ApiError(403, "CROSS_ORIGIN_REFUSED",
                           "state-changing requests and the console socket are refused "
                           "from another origin")
        return await handler(request)

    return auth_middleware


def _locked(until: datetime, clock: Clock) -> ApiError:
    retry = max(1, int((until - clock.now()).total_seconds()))
    return ApiError(429, "LOCKED_OUT",
                    f"too many failed logins from this address; locked until {iso_utc(until)}",
                    {"lockedUntil": iso_utc(until)}, headers={"Retry-After": str(retry)})
