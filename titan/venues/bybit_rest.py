"""Bybit's REST side: one pybit call in a bounded thread pool (or, for the order calls,
the event loop's own sender, `bybit_orders.py`), rate-limited, its errors mapped.

pybit's `HTTP` is synchronous, so every call runs in a bounded thread pool (no larger
than urllib3's pool of 10) through `loop.run_in_executor`; pybit's own retries (which
`time.sleep` inside the thread) are switched off so Titan owns the retry policy. Errors
become `titan.venues.base` exceptions: a definite refusal is a `VenueError` carrying the
retCode; 10006 / HTTP 429 / 418 / 403 a `RateLimitedError` (and the limiter backs off); a
submit whose answer was lost (timeout, 5xx, reset, garbage) an `AmbiguousSubmitError`; a
read that cannot be done a `VenueUnavailableError`.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NoReturn

import requests
from pybit.exceptions import FailedRequestError, InvalidRequestError
from pybit.unified_trading import HTTP

from titan.venues.base import (
    AmbiguousSubmitError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
    in_exit_lane,
)
from titan.venues.bybit_orders import ORDER_PATHS, BybitOrderSender, OrderSendFailed
from titan.venues.bybit_wire import RATE_LIMIT_CODES
from titan.venues.ratelimit import RateLimiter

MAINNET_REST = "https://api.bybit.com"
TESTNET_REST = "https://api-testnet.bybit.com"

# pybit retries every code in `retry_codes` with time.sleep inside the worker thread, and
# an empty set means "use the default set". A code Bybit never sends switches that off.
_NO_RETRY_CODES = {-424242}

# urllib3 keeps 10 connections per pool; more threads than that only queue on it.
_MAX_REST_WORKERS = 10


def _pin_environment(session: requests.Session, url: str) -> None:
    """Resolve the proxy settings for `url` from the environment once, now, instead of on
    every request. pybit sends through `Session.prepare_request` + `send`, and with
    `trust_env` requests re-reads the proxy variables (a walk over all of `os.environ`,
    three times) and looks for ~/.netrc on each call: about half of pybit's own CPU time
    per order (0.4 ms of 0.8 ms one-way to the simulator on a quiet machine, 2026-11-30).
    The same proxies still apply (pinned here); pybit signs its requests with headers, so
    a netrc login never applied to it; the variables do not change while Titan runs."""
    session.proxies.update(requests.utils.get_environ_proxies(url))
    session.trust_env = False


class BybitRestCalls:
    """The REST calls of `BybitVenue` (its base class). The venue sets these up in its
    constructor: `_http` (pybit), `_pool` (the worker threads), `_orders` (the loop's
    order sender, or None), `limiter` / `exit_limiter`, `_read_retries`, `_closed`."""

    _http: HTTP
    _pool: ThreadPoolExecutor
    _orders: BybitOrderSender | None
    limiter: RateLimiter
    exit_limiter: RateLimiter
    _read_retries: int
    _closed: bool

    async def _rest(self, method: str, kind: str, **params: Any) -> dict[str, Any]:
        """One pybit call in the pool. kind: "submit" (may be ambiguous), "cancel" or "read"."""
        if self._closed:
            raise VenueUnavailableError("bybit adapter is closed")
        limiter = self._lane_limiter()
        await limiter.acquire()
        job: Awaitable[Any]
        if self._orders is not None and method in ORDER_PATHS:
            job = self._orders.post(method, params)
        else:
            loop = asyncio.get_running_loop()
            call = functools.partial(getattr(self._http, method), **params)
            try:
                job = loop.run_in_executor(self._pool, call)
            except RuntimeError as exc:  # the pool is shut down: nothing was sent
                raise VenueUnavailableError(f"bybit {method}: {exc}") from None
        try:
            # Note for callers: cancelling this await stops neither the thread nor the
            # loop's shielded send; a cancelled submit has an unknown outcome, like any
            # other lost answer.
            resp: Any = await job
        except InvalidRequestError as exc:
            code = _int_or_none(exc.status_code)
            if code in RATE_LIMIT_CODES:
                limiter.on_rate_limited(_reset_after(exc.resp_headers))
                raise RateLimitedError(f"bybit {method}: {exc.message}", code=code) from None
            raise VenueError(f"bybit {method}: {exc.message} (retCode {code})", code=code) from None
        except FailedRequestError as exc:
            status = _int_or_none(exc.status_code) or 0
            if status in (429, 418, 403):
                limiter.on_rate_limited(_reset_after(exc.resp_headers))
                raise RateLimitedError(f"bybit {method}: HTTP {status}", code=status) from None
            if status >= 500 or status in (408, 409):
                # 409 is pybit's "could not decode JSON": the answer was lost.
                self._raise_unknown(method, kind, f"HTTP {status}: {exc.message}", status)
            raise VenueError(f"bybit {method}: HTTP {status}: {exc.message}", code=status) from None
        except OrderSendFailed as exc:
            if not exc.reached:
                raise VenueUnavailableError(f"bybit {method}: {exc}", code="CONNECT") from None
            self._raise_unknown(method, kind, str(exc), "NETWORK")
        except (requests.exceptions.RequestException, OSError) as exc:
            if _is_connect_failure(exc):
                raise VenueUnavailableError(
                    f"bybit {method}: cannot connect ({type(exc).__name__})", code="CONNECT"
                ) from None
            self._raise_unknown(method, kind, f"{type(exc).__name__}", "NETWORK")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._raise_unknown(method, kind, f"{type(exc).__name__}: {exc}", "UNEXPECTED")
        limiter.on_success()
        if not isinstance(resp, dict):
            self._raise_unknown(method, kind, "reply is not an object", "BAD_REPLY")
        return resp

    def _lane_limiter(self) -> RateLimiter:
        return self.exit_limiter if in_exit_lane() else self.limiter

    @staticmethod
    def _raise_unknown(method: str, kind: str, why: str, code: str | int) -> NoReturn:
        if kind == "submit":
            raise AmbiguousSubmitError(f"bybit {method}: outcome unknown ({why})", code=code)
        raise VenueUnavailableError(f"bybit {method}: {why}", code=code)

    async def _read(self, method: str, **params: Any) -> dict[str, Any]:
        """A read, retried on rate limits (after the backoff) a bounded number of times."""
        attempt = 0
        while True:
            try:
                return await self._rest(method, "read", **params)
            except RateLimitedError:
                attempt += 1
                if attempt > self._read_retries:
                    raise
                await self._lane_limiter().acquire(0)

    async def _read_pages(
        self, method: str, limit: int, max_pages: int = 20, **params: Any
    ) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(max_pages):
            q = dict(params, limit=limit)
            if cursor:
                q["cursor"] = cursor
            resp = await self._read(method, **q)
            result = resp.get("result") or {}
            rows.extend(result.get("list") or [])
            cursor = str(result.get("nextPageCursor") or "")
            if not cursor or len(result.get("list") or []) < limit:
                break
        return rows


def _is_connect_failure(exc: BaseException) -> bool:
    """True when the request certainly never left (no connection could be made)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = repr(exc.args[0]) if exc.args else repr(exc)
        return "NewConnectionError" in text or "Connection refused" in text
    return False


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _reset_after(headers: Any) -> float | None:
    """Seconds until the venue's limit resets, from X-Bapi-Limit-Reset-Timestamp or Retry-After."""
    if not headers:
        return None
    try:
        reset = headers.get("X-Bapi-Limit-Reset-Timestamp")
        if reset:
            return max(0.0, (int(reset) - time.time() * 1000) / 1000)
        retry = headers.get("Retry-After")
        if retry:
            return max(0.0, float(retry))
    except (TypeError, ValueError):
        return None
    return None
