"""The one clock of Titan, injected wherever time matters.

Cooldowns, day boundaries, staleness and windows all ask a `Clock`, so tests move
time with `ManualClock.advance()` instead of sleeping.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Wall-clock time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for intervals and staleness)."""
        ...

    def time_ms(self) -> int:
        """Unix time in milliseconds (what venues put in timestamps)."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000


class ManualClock:
    """A clock that moves only when told to; both wall and monotonic time advance together."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2025, 1, 1, tzinfo=UTC)
        if self._now.tzinfo is None:
            raise ValueError("ManualClock needs a timezone-aware start time")
        self._mono = 1_000.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def time_ms(self) -> int:
        return int(self._now.timestamp() * 1000)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self._now += timedelta(seconds=seconds)
        self._mono += seconds

    def set(self, when: datetime) -> None:
        if when < self._now:
            raise ValueError("time only moves forward")
        self.advance((when - self._now).total_seconds())


def utc_day_start(when: datetime) -> datetime:
    """00:00 UTC of the day `when` falls in."""
    w = when.astimezone(UTC)
    return datetime(w.year, w.month, w.day, tzinfo=UTC)


def iso_utc(when: datetime) -> str:
    """`2024-12-13T10:30:00Z`: the format of config version tags and API timestamps."""
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
