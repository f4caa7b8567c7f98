"""Binance USD-M's REST side: one python-binance call on the loop, rate-limited, its
errors mapped as the Bybit adapter maps them (`bybit_rest.py`).

A definite refusal is a `VenueError` carrying Binance's code; HTTP 429 / 418 or a
rate-limit code a `RateLimitedError` (and the limiter backs off, Retry-After honoured); a
submit whose answer was lost (timeout, 5xx, an unknown-outcome code, a reset, garbage) an
`AmbiguousSubmitError`; a read that cannot be done a `VenueUnavailableError`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from binance.exceptions import BinanceAPIException, BinanceRequestException

from titan.venues.base import (
    AmbiguousSubmitError,
    RateLimitedError,
    VenueError,
    VenueUnavailableError,
)
from titan.venues.binance_wire import RATE_LIMIT_CODES, UNKNOWN_OUTCOME_CODES
from titan.venues.ratelimit import RateLimiter


class BinanceRestCalls:
    """The REST calls of `BinanceFuturesVenue` (its base class). The venue sets these up in
    its constructor: `limiter`, `_timeout` (seconds per call), `_read_retries`."""

    limiter: RateLimiter
    _timeout: float
    _read_retries: int

    async def _rest(self, kind: str, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        await self.limiter.acquire()
        try:
            result = await asyncio.wait_for(call(), self._timeout)
        except BinanceAPIException as exc:
            code = exc.code
            status = int(exc.status_code or 0)
            if status in (429, 418) or code in RATE_LIMIT_CODES:
                retry = None
                with contextlib.suppress(Exception):
                    retry = float(exc.response.headers.get("Retry-After"))
                self.limiter.on_rate_limited(retry)
                raise RateLimitedError(
                    f"binance {what}: {exc.message}", code=code or status
                ) from None
            if status >= 500 or code in UNKNOWN_OUTCOME_CODES:
                self._raise_unknown(kind, what, f"HTTP {status} {exc.message}", code or status)
            raise VenueError(f"binance {what}: {exc.message} (code {code})", code=code) from None
        except BinanceRequestException as exc:
            self._raise_unknown(kind, what, f"bad reply: {exc.message}", "BAD_REPLY")
        except aiohttp.ClientConnectorError as exc:
            raise VenueUnavailableError(
                f"binance {what}: cannot connect ({exc})", code="CONNECT"
            ) from None
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            self._raise_unknown(kind, what, type(exc).__name__, "NETWORK")
        self.limiter.on_success()
        return result

    @staticmethod
    def _raise_unknown(kind: str, what: str, why: str, code: str | int) -> None:
        if kind == "submit":
            raise AmbiguousSubmitError(f"binance {what}: outcome unknown ({why})", code=code)
        raise VenueUnavailableError(f"binance {what}: {why}", code=code)

    async def _read(self, call: Callable[[], Awaitable[Any]], what: str) -> Any:
        attempt = 0
        while True:
            try:
                return await self._rest("read", call, what)
            except RateLimitedError:
                attempt += 1
                if attempt > self._read_retries:
                    raise
                await self.limiter.acquire(0)
