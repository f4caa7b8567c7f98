"""Score and grade per direction, and the sessions (STRATEGIES.md, Hunter "Score").

Score (0–100, integer): 50 when the daily trend and the 4 h location agree with the
direction (BULL + DISCOUNT for a long, BEAR + PREMIUM for a short), 30 when the 15 m trend
agrees with the 4 h trend in the direction (both BULL for a long, both BEAR for a short),
20 for a 15 m MSS in the direction. Without any 15 m part the most is 50: no grade, so no
A+ without a 15 m trigger (the original's weighted formula allowed one).

Grades: A+ ≥ 80, A ≥ 70, B ≥ 60; each +5 in the VOLATILE_BREAKOUT or CRASH regime (the
symbol's, titan/risk/regime.py). UNKNOWN (the warm-up) or None: neutral, no raise.
"""

from __future__ import annotations

from dataclasses import dataclass

from titan.strategies.hunter.structure import Direction, Location, Trend

GRADES = (("A+", 80), ("A", 70), ("B", 60))
GRADE_RANK = {"A+": 3, "A": 2, "B": 1, "-": 0}
VOLATILE_REGIMES = frozenset({"VOLATILE_BREAKOUT", "CRASH"})
UNKNOWN_REGIME = "UNKNOWN"  # the regime's warm-up (or no data): neutral
REGIME_RAISE = 5


@dataclass(frozen=True, slots=True)
class Score:
    direction: Direction
    points: int
    parts: dict[str, int]
    grade: str  # "A+", "A", "B" or "-"

    def as_dict(self) -> dict[str, object]:
        return {"direction": self.direction.value, "score": self.points,
                "parts": dict(self.parts), "grade": self.grade}


def grade_of(points: int, regime: str | None = None) -> str:
    raise_by = REGIME_RAISE if regime in VOLATILE_REGIMES else 0
    for name, floor in GRADES:
        if points >= floor + raise_by:
            return name
    return "-"


def score(direction: Direction, *, daily: Trend, loc4h: Location | None, trend4h: Trend,
          trend15: Trend, mss15: Trend | None, regime: str | None = None) -> Score:
    want = direction.trend
    agree_loc = Location.DISCOUNT if direction is Direction.LONG else Location.PREMIUM
    parts = {"htf": 50 if daily is want and loc4h is agree_loc else 0,
             "ltfTrend": 30 if trend15 is want and trend4h is want else 0,
             "mss": 20 if mss15 is want else 0}
    points = sum(parts.values())
    return Score(direction, points, parts, grade_of(points, regime))


def grade_at_least(grade: str, floor: str) -> bool:
    return GRADE_RANK.get(grade, 0) >= GRADE_RANK[floor]


# -- sessions (UTC) -------------------------------------------------------------------------

SESSIONS = (("ASIA", 0, 6), ("LONDON", 7, 10), ("NEW_YORK", 13, 16))
KILLZONES = frozenset({"LONDON", "NEW_YORK"})


def session_of(ts_ms: int) -> str:
    hour = (ts_ms // 3_600_000) % 24
    for name, start, end in SESSIONS:
        if start <= hour < end:
            return name
    return "OFF"


def in_killzone(ts_ms: int) -> bool:
    return session_of(ts_ms) in KILLZONES
