"""Replay time: a clock that shows the replayed data's time, and the queue of what is due.

`ReplayClock` is a `titan.clock.Clock` whose time is set by the replay (it never reads
the wall clock); `Scheduler` holds everything that must happen at a replay time — the
strategies' timers, their `call_later` callbacks, orders arriving at the matching engine
after the latency — ordered by (due time, insertion order), so equal times run in the
order they were scheduled and a run is the same every time.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ReplayClock:
    """Time is the replay's: milliseconds since the epoch, moved forward by the engine."""

    __slots__ = ("ms",)

    def __init__(self, start_ms: int) -> None:
        self.ms = start_ms

    def now(self) -> datetime:
        # Integer arithmetic on a fixed epoch: no float rounding, no local time zone.
        return _EPOCH + timedelta(milliseconds=self.ms)

    def monotonic(self) -> float:
        return self.ms / 1000.0

    def time_ms(self) -> int:
        return self.ms

    def advance_to(self, ms: int) -> None:
        if ms > self.ms:
            self.ms = ms


class Handle:
    """A scheduled call; `cancel()` keeps it from running (the strategy's `Cancellable`)."""

    __slots__ = ("cancelled", "due_ms", "fn")

    def __init__(self, due_ms: int, fn: Callable[[], None]) -> None:
        self.due_ms = due_ms
        self.fn = fn
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class Scheduler:
    """Calls due at replay times, run in (due, insertion) order."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, Handle]] = []
        self._seq = itertools.count()

    def at(self, due_ms: int, fn: Callable[[], None]) -> Handle:
        handle = Handle(due_ms, fn)
        heapq.heappush(self._heap, (due_ms, next(self._seq), handle))
        return handle

    @property
    def next_due(self) -> int | None:
        """The due time of the next live call (cancelled ones are dropped on the way)."""
        heap = self._heap
        while heap and heap[0][2].cancelled:
            heapq.heappop(heap)
        return heap[0][0] if heap else None

    def pop(self) -> Handle:
        return heapq.heappop(self._heap)[2]

    def __len__(self) -> int:
        return sum(1 for _, _, h in self._heap if not h.cancelled)
