"""ScavengerState: running/paused and why, armed traps, bounded sprung history."""

from __future__ import annotations

import json

import pytest

from titan.strategies.scavenger.model import Direction, Trap, Tripwire, TripwireKind
from titan.strategies.scavenger.state import ScavengerState


def trap(level: float, symbol: str = "BTCUSDT") -> Trap:
    t = Tripwire(symbol, TripwireKind.DAILY_LEVEL, level, 85, 12, Direction.LONG, "high")
    return Trap(t, 66.666, 50, 50, 100, 2.0)


def test_pause_and_resume_say_why() -> None:
    s = ScavengerState()
    assert s.as_dict()["status"] == "paused" and s.pause_reason == "startup: not started"
    assert s.resume("startup", 1_000) is True
    assert s.resume("startup", 2_000) is False
    assert s.as_dict()["running"] is True and s.changed_at_ms == 1_000
    assert s.pause("venue", "bybit public stream disconnected", 3_000) is True
    d = s.as_dict()
    assert (d["status"], d["pauseReason"], d["changedAtMs"]) == (
        "paused",
        "venue: bybit public stream disconnected",
        3_000,
    )


def test_one_source_cannot_release_another_sources_pause() -> None:
    s = ScavengerState()
    s.resume("startup", 0)
    assert s.pause("halt", "HARD_HALT: operator", 1) is True
    assert s.pause("venue", "disconnected", 2) is False
    assert s.resume("venue", 3) is False  # stream back, still halted
    assert not s.running and s.as_dict()["pauses"] == {"halt": "HARD_HALT: operator"}
    assert s.resume("halt", 4) is True and s.running and s.changed_at_ms == 4


def test_armed_traps_with_distance_to_price() -> None:
    s = ScavengerState()
    s.set_armed([trap(102.0)], 60_000)
    d = s.as_dict()
    assert d["armed"][0]["distancePct"] == pytest.approx(2.0)  # as scored
    d = s.as_dict({"BTCUSDT": 101.0})
    a = d["armed"][0]
    # |102 − 101| / 101 × 100 = 0.990099…
    assert a["distancePct"] == pytest.approx(0.9901, abs=1e-4)
    assert (a["trapId"], a["level"], a["score"], a["direction"]) == (
        "BTCUSDT:daily_level:high",
        102.0,
        66.67,
        "long",
    )
    assert d["armedAtMs"] == 60_000
    json.dumps(d)


def test_sprung_history_is_bounded_newest_first() -> None:
    s = ScavengerState(history=3)
    for i in range(5):
        s.record_sprung(trap(100.0 + i), 100.0 + i, i)
    hist = s.as_dict()["sprung"]
    assert [h["tsMs"] for h in hist] == [4, 3, 2]
    json.dumps(hist)
