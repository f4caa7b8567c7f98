"""What the Scavenger is doing, for `/api/status` and the console's Phase 1 tab.

Plain data: the wiring calls `pause`/`resume`, `set_armed` after each minute's
re-arm, `record_sprung` on every TRAP_SPRUNG and `as_dict` when asked.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from titan.strategies.scavenger.model import Trap

SPRUNG_HISTORY = 100


@dataclass(frozen=True, slots=True)
class SprungRecord:
    trap_id: str
    symbol: str
    kind: str
    direction: str
    level: float
    score: float
    price: float
    ts_ms: int
    outcome: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "trapId": self.trap_id,
            "symbol": self.symbol,
            "kind": self.kind,
            "direction": self.direction,
            "level": self.level,
            "score": round(self.score, 2),
            "price": self.price,
            "tsMs": self.ts_ms,
            "outcome": self.outcome,
        }


class ScavengerState:
    """Running or paused (and why), the armed traps, a bounded sprung history.

    Pauses are kept per source ("startup", "venue", "halt", "operator", …): the
    Scavenger runs only when no source holds it, so a stream coming back cannot undo
    a pause that a HARD_HALT put on it.
    """

    def __init__(self, *, history: int = SPRUNG_HISTORY) -> None:
        self.pauses: dict[str, str] = {"startup": "not started"}
        self.changed_at_ms: int | None = None
        self.armed: list[Trap] = []
        self.armed_at_ms: int | None = None
        self.sprung: deque[SprungRecord] = deque(maxlen=history)

    @property
    def running(self) -> bool:
        return not self.pauses

    @property
    def pause_reason(self) -> str | None:
        if not self.pauses:
            return None
        return "; ".join(f"{src}: {why}" for src, why in self.pauses.items())

    def pause(self, source: str, reason: str, now_ms: int) -> bool:
        """Hold the Scavenger for `source`; True if it was running until now."""
        was_running = self.running
        self.pauses[source] = reason
        if was_running:
            self.changed_at_ms = now_ms
        return was_running

    def resume(self, source: str, now_ms: int) -> bool:
        """Release `source`'s hold; True if that made the Scavenger run."""
        if self.pauses.pop(source, None) is None or self.pauses:
            return False
        self.changed_at_ms = now_ms
        return True

    def set_armed(self, traps: Iterable[Trap], now_ms: int) -> None:
        self.armed = list(traps)
        self.armed_at_ms = now_ms

    def record_sprung(
        self, trap: Trap, price: float, ts_ms: int, outcome: str = ""
    ) -> SprungRecord:
        rec = SprungRecord(
            trap.trap_id,
            trap.symbol,
            trap.kind.value,
            trap.direction.value,
            trap.level,
            trap.score,
            price,
            ts_ms,
            outcome,
        )
        self.sprung.append(rec)
        return rec

    def as_dict(self, prices: Mapping[str, float] | None = None) -> dict[str, Any]:
        """JSON-ready. With `prices`, distance to price is measured now, else at arming."""
        armed = []
        for t in self.armed:
            price = prices.get(t.symbol) if prices else None
            dist = abs(t.level - price) / price * 100.0 if price else t.distance_pct
            armed.append(
                {
                    "trapId": t.trap_id,
                    "symbol": t.symbol,
                    "kind": t.kind.value,
                    "label": t.tripwire.label,
                    "direction": t.direction.value,
                    "level": t.level,
                    "score": round(t.score, 2),
                    "components": {
                        "volatility": round(t.volatility, 2),
                        "volume": round(t.volume, 2),
                        "confluence": round(t.confluence, 2),
                    },
                    "confidence": t.confidence,
                    "leverage": t.leverage,
                    "distancePct": round(dist, 4),
                }
            )
        return {
            "running": self.running,
            "status": "running" if self.running else "paused",
            "pauseReason": self.pause_reason,
            "pauses": dict(self.pauses),
            "changedAtMs": self.changed_at_ms,
            "armedAtMs": self.armed_at_ms,
            "armed": armed,
            "sprung": [r.as_dict() for r in reversed(self.sprung)],
        }
