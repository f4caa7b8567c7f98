"""Managing an open Hunter position (STRATEGIES.md, Hunter "Management"): pure.

R is measured from the **initial** stop. At 1.5R the stop moves to break-even; at 2R half
the position is closed — once: `partial_done` is part of the record that is stored, so a
restart never takes it twice; from then on the stop trails by 1 ATR(15 m), 0.5 ATR once
the position is 48 h old, and only ever tightens. Hunter keeps the managed stop itself
(the venue holds the initial stop and the 3R target as the hard bracket) and exits with a
reduce-only market order when the price crosses it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from titan.strategies.hunter.structure import Direction

BREAKEVEN_R = 1.5
PARTIAL_R = 2.0
PARTIAL_FRACTION = 0.5
TRAIL_ATR = 1.0
TRAIL_ATR_LATE = 0.5
TRAIL_LATE_MS = 48 * 3_600_000


@dataclass(slots=True)
class Managed:
    """One open position's plan and what has been done (the stored record)."""

    plan_id: str
    symbol: str
    direction: Direction
    entry: float
    initial_stop: float
    stop: float
    target: float
    qty: float
    opened_ms: int
    breakeven_done: bool = False
    partial_done: bool = False
    partial_qty: float = 0.0
    trailing: bool = False
    closed: bool = False

    @property
    def r_unit(self) -> float:
        return abs(self.entry - self.initial_stop)

    def r_multiple(self, price: float) -> float:
        if self.r_unit <= 0:
            return 0.0
        return self.direction.sign * (price - self.entry) / self.r_unit

    def to_json(self) -> dict[str, object]:
        d = asdict(self)
        d["direction"] = self.direction.value
        return d

    @classmethod
    def from_json(cls, d: dict[str, object]) -> Managed:
        data = dict(d)
        data["direction"] = Direction(str(data["direction"]))
        return cls(**data)  # type: ignore[arg-type]


@dataclass(frozen=True, slots=True)
class Action:
    kind: str  # "BREAKEVEN" | "PARTIAL" | "TRAIL" | "EXIT"
    detail: str
    qty: float = 0.0
    stop: float = 0.0


def step(m: Managed, price: float, atr15: float | None, now_ms: int) -> list[Action]:
    """What to do at `price` (mutates `m`'s record; the caller stores it and acts)."""
    if m.closed:
        return []
    s = m.direction.sign
    out: list[Action] = []
    if s * (price - m.stop) <= 0:
        m.closed = True
        return [Action("EXIT", f"price {price:.8g} crossed the managed stop {m.stop:.8g}",
                       qty=m.qty - m.partial_qty, stop=m.stop)]
    r = m.r_multiple(price)
    if r >= BREAKEVEN_R and not m.breakeven_done:
        m.breakeven_done = True
        if s * (m.entry - m.stop) > 0:
            m.stop = m.entry
        out.append(Action("BREAKEVEN", f"{r:.2f}R: stop to break-even {m.entry:.8g}",
                          stop=m.stop))
    if r >= PARTIAL_R and not m.partial_done:
        m.partial_done = True
        m.trailing = True
        m.partial_qty = m.qty * PARTIAL_FRACTION
        out.append(Action("PARTIAL", f"{r:.2f}R: half closed", qty=m.partial_qty))
    if m.trailing and atr15 is not None and atr15 > 0:
        k = TRAIL_ATR_LATE if now_ms - m.opened_ms >= TRAIL_LATE_MS else TRAIL_ATR
        trail = price - s * k * atr15
        if s * (trail - m.stop) > 0:
            m.stop = trail
            out.append(Action("TRAIL", f"stop trails {k:g} ATR to {trail:.8g}", stop=trail))
    return out


class LossStreak:
    """Consecutive losing Hunter trades; three or more cut size by 30 % until a win."""

    def __init__(self, losses: int = 0) -> None:
        self.losses = losses

    def record(self, pnl: float) -> None:
        self.losses = self.losses + 1 if pnl < 0 else 0
