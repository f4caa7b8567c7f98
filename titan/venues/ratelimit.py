"""Per-venue request budget: a token bucket plus exponential backoff after the venue says "slow down".

Time comes from the injected `Clock`; waiting goes through an injectable `sleep` so tests
can move a `ManualClock` instead of sleeping. One limiter per venue (Bybit, Binance),
shared by every REST call of that adapter.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from titan.clock import Clock
from titan.venues.base import RateLimitedError

Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RateLimitSnapshot:
    name: str
    tokens: float
    capacity: float
    rate_per_s: float
    backoff_s: float
    consecutive_limits: int


class RateLimiter:
    """Token bucket (`rate_per_s` refill, `burst` capacity) with backoff after 10006 / 429 / 418.

    After a rate-limit answer the bucket is closed for `backoff_base * 2**(n-1)` seconds
    (n = consecutive rate-limit answers, capped at `backoff_max`, or longer if the venue
    said when to come back). A success resets n. `acquire()` waits up to `max_wait`
    seconds for a token, then raises `RateLimitedError` so callers never hang.
    """

    def __init__(
        self,
        name: str,
        clock: Clock,
        *,
        rate_per_s: float,
        burst: float,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        max_wait: float = 5.0,
        sleep: Sleep | None = None,
    ) -> None:
        if rate_per_s <= 0 or burst < 1:
            raise ValueError("rate_per_s must be > 0 and burst >= 1")
        self.name = name
        self._clock = clock
        self.rate_per_s = float(rate_per_s)
        self.capacity = float(burst)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self.max_wait = max_wait
        self._sleep: Sleep = sleep or asyncio.sleep
        self._tokens = self.capacity
        self._last = clock.monotonic()
        self._blocked_until = 0.0
        self._consecutive = 0

    # -- the bucket --------------------------------------------------------------

    def _refill(self) -> None:
        now = self._clock.monotonic()
        elapsed = max(0.0, now - self._last)
        self._last = now
        self._tokens = min(self.capacity, self._tokens + elapsed * self.rate_per_s)

    def backoff_remaining(self) -> float:
        return max(0.0, float(self._blocked_until - self._clock.monotonic()))

    def wait_time(self, cost: float = 1.0) -> float:
        """Seconds until `cost` tokens are available and no backoff is running (0 = now)."""
        self._refill()
        token_wait = 0.0 if self._tokens >= cost else (cost - self._tokens) / self.rate_per_s
        return max(token_wait, self.backoff_remaining())

    def try_acquire(self, cost: float = 1.0) -> bool:
        """Take `cost` tokens if they are there now; never waits (the gate's budget check)."""
        if self.wait_time(cost) > 0:
            return False
        self._tokens -= cost
        return True

    async def acquire(self, cost: float = 1.0, *, max_wait: float | None = None) -> None:
        """Take `cost` tokens, waiting up to `max_wait` seconds; else RateLimitedError."""
        budget = self.max_wait if max_wait is None else max_wait
        start = self._clock.monotonic()
        while True:
            wait = self.wait_time(cost)
            if wait <= 0:
                self._tokens -= cost
                return
            waited = self._clock.monotonic() - start
            if waited + wait > budget + 1e-9:
                raise RateLimitedError(
                    f"{self.name}: request budget exhausted (next slot in {wait:.2f}s)",
                    code="LOCAL_RATE_LIMIT",
                )
            await self._sleep(wait)

    # -- what the venue said --------------------------------------------------------

    def on_rate_limited(self, retry_after_s: float | None = None) -> float:
        """The venue answered 10006 / 429 / 418: close the bucket; returns the backoff in seconds."""
        self._consecutive += 1
        delay = float(min(self.backoff_max, self.backoff_base * 2.0 ** (self._consecutive - 1)))
        if retry_after_s is not None and retry_after_s > delay:
            delay = min(retry_after_s, max(self.backoff_max, 0.0) * 4)
        self._blocked_until = max(self._blocked_until, self._clock.monotonic() + delay)
        self._tokens = 0.0
        self._last = self._clock.monotonic()
        return delay

    def on_success(self) -> None:
        self._consecutive = 0

    @property
    def consecutive_limits(self) -> int:
        return self._consecutive

    def snapshot(self) -> RateLimitSnapshot:
        self._refill()
        return RateLimitSnapshot(
            name=self.name,
            tokens=self._tokens,
            capacity=self.capacity,
            rate_per_s=self.rate_per_s,
            backoff_s=self.backoff_remaining(),
            consecutive_limits=self._consecutive,
        )
