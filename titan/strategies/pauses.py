"""Titan-wide reasons no strategy may trade, and when they end (SPEC §3, §8).

* `venue`: a Bybit stream dropped (or was down at start-up); ends after the reconnect
  and a reconciliation that found the books in order;
* `halt`: HARD_HALT or the kill switch; ends when the operator sets the halt state back
  to OPEN (entries still need the operator to re-ARM);
* `shutdown`: Titan is stopping.

The strategy host adds each strategy's own reasons (operator switch, phase) to these.
"""

from __future__ import annotations

from collections.abc import Callable

from titan.events import Event, HaltChanged


class StrategyPauses:
    def __init__(self) -> None:
        self.reasons: dict[str, str] = {}  # source → why; empty: strategies may trade
        self._listeners: list[Callable[[], None]] = []

    def on_change(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    def pause(self, source: str, reason: str) -> None:
        self.reasons[source] = reason
        self.changed()

    def resume(self, source: str) -> None:
        if self.reasons.pop(source, None) is not None:
            self.changed()

    def changed(self) -> None:
        """Something every strategy's pauses depend on moved (also: the phase)."""
        for listener in tuple(self._listeners):
            listener()

    def on_halt_changed(self, event: Event) -> None:
        """HARD_HALT paused the strategies; only an explicit OPEN lets them run again."""
        if isinstance(event, HaltChanged) and event.to == "OPEN":
            self.resume("halt")
