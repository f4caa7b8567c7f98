"""Stream bookkeeping shared by the adapters: states, liveness and gaps, all on the event loop.

Every WebSocket an adapter runs is one named stream here. The adapter tells the monitor
when a message arrived (`touch`), when the stream was lost and when it is back; the
monitor keeps the state, fires `on_stream_state` callbacks only on a change, and turns
each loss-and-recovery into a `StreamGap` for `on_stream_gap` callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from loguru import logger

from titan.clock import Clock
from titan.venues.base import StreamGap, StreamState

StateCallback = Callable[[str, StreamState], None]
GapCallback = Callable[[StreamGap], None]


@dataclass(slots=True)
class _Stream:
    state: StreamState = StreamState.DISCONNECTED
    last_message_mono: float | None = None
    last_data_mono: float | None = None
    last_message_wall_ms: int | None = None
    lost_at_ms: int | None = None
    lost_reason: str = ""
    last_gap: StreamGap | None = None


class StreamMonitor:
    def __init__(self, venue: str, clock: Clock) -> None:
        self.venue = venue
        self._clock = clock
        self._streams: dict[str, _Stream] = {}
        self._state_cbs: list[StateCallback] = []
        self._gap_cbs: list[GapCallback] = []

    def add(self, name: str) -> None:
        self._streams.setdefault(name, _Stream())

    def on_state(self, cb: StateCallback) -> None:
        self._state_cbs.append(cb)

    def on_gap(self, cb: GapCallback) -> None:
        self._gap_cbs.append(cb)

    def states(self) -> dict[str, StreamState]:
        return {name: s.state for name, s in self._streams.items()}

    def state(self, name: str) -> StreamState:
        return self._streams[name].state

    def last_gap(self, name: str) -> StreamGap | None:
        s = self._streams.get(name)
        return s.last_gap if s else None

    def touch(self, name: str, *, data: bool = True) -> None:
        """A message arrived on `name` (data=False for pongs and acknowledgements)."""
        s = self._streams[name]
        now = self._clock.monotonic()
        s.last_message_mono = now
        if data:
            s.last_data_mono = now
        s.last_message_wall_ms = self._clock.time_ms()

    def silence(self, name: str, *, data: bool = False) -> float | None:
        """Seconds since the last message (or data message); None if none yet."""
        s = self._streams[name]
        last = s.last_data_mono if data else s.last_message_mono
        return None if last is None else self._clock.monotonic() - last

    def connected(self, name: str) -> None:
        """Connected and subscribed. Closes an open gap."""
        s = self._streams[name]
        now_ms = self._clock.time_ms()
        # A fresh connection counts as liveness, so silence is measured from here.
        s.last_message_mono = self._clock.monotonic()
        s.last_data_mono = s.last_message_mono
        if s.lost_at_ms is not None:
            started_ms = s.last_message_wall_ms or s.lost_at_ms
            started_ms = min(started_ms, s.lost_at_ms)
            gap = StreamGap(
                stream=name,
                reason=s.lost_reason,
                started_at=datetime.fromtimestamp(started_ms / 1000, UTC),
                ended_at=datetime.fromtimestamp(now_ms / 1000, UTC),
            )
            s.last_gap = gap
            s.lost_at_ms = None
            logger.warning(
                "venue stream gap: {} {} back after {:.1f}s without data ({})",
                self.venue,
                name,
                gap.seconds,
                gap.reason,
            )
            for cb in list(self._gap_cbs):
                try:
                    cb(gap)
                except Exception:
                    logger.exception("stream gap callback failed")
        self._set(name, StreamState.CONNECTED)

    def lost(self, name: str, reason: str) -> None:
        """The stream dropped or went silent; a reconnect is starting."""
        s = self._streams[name]
        if s.lost_at_ms is None:
            s.lost_at_ms = self._clock.time_ms()
            s.lost_reason = reason
            logger.warning("venue stream lost: {} {} ({})", self.venue, name, reason)
        self._set(name, StreamState.RECONNECTING)

    def failed(self, name: str, reason: str) -> None:
        """A reconnect attempt failed: the stream is down until an attempt succeeds."""
        s = self._streams[name]
        if s.lost_at_ms is None:
            s.lost_at_ms = self._clock.time_ms()
            s.lost_reason = reason
        self._set(name, StreamState.DISCONNECTED)

    def closed(self, name: str) -> None:
        self._set(name, StreamState.DISCONNECTED)

    def _set(self, name: str, state: StreamState) -> None:
        s = self._streams[name]
        if s.state is state:
            return
        s.state = state
        logger.info("venue stream state: {} {} -> {}", self.venue, name, state.value)
        for cb in list(self._state_cbs):
            try:
                cb(name, state)
            except Exception:
                logger.exception("stream state callback failed")
