from datetime import UTC, datetime

import pytest

from tests.event_samples import sample
from titan.bus import EventBus
from titan.clock import ManualClock, iso_utc, utc_day_start
from titan.domain.reasons import Severity
from titan.events import Event, HaltChanged, SignalRejected

T0 = datetime(2025, 3, 1, 23, 59, 30, tzinfo=UTC)


def test_typed_and_catch_all_subscribers() -> None:
    bus = EventBus()
    typed: list[Event] = []
    every: list[str] = []
    bus.subscribe(typed.append, SignalRejected)
    bus.subscribe(lambda e: every.append(e.name))
    bus.publish(sample(SignalRejected, ts=T0, message="no"))
    bus.publish(sample(HaltChanged, ts=T0, message="halt"))
    assert [e.name for e in typed] == ["SIGNAL_REJECTED"]
    assert every == ["SIGNAL_REJECTED", "HALT_CHANGED"]


def test_failing_handler_does_not_break_publisher() -> None:
    bus = EventBus()
    seen: list[str] = []

    def boom(_: Event) -> None:
        raise RuntimeError("subscriber bug")

    bus.subscribe(boom)
    bus.subscribe(lambda e: seen.append(e.name))
    bus.publish(sample(HaltChanged, ts=T0, message="x"))
    assert seen == ["HALT_CHANGED"]


def test_unsubscribe_and_queue_drops_oldest_when_full() -> None:
    bus = EventBus()
    queue, unsubscribe = bus.subscribe_queue(maxsize=2)
    for i in range(3):
        bus.publish(sample(HaltChanged, ts=T0, message=str(i)))
    assert [queue.get_nowait().message for _ in range(2)] == ["1", "2"]
    unsubscribe()
    bus.publish(sample(HaltChanged, ts=T0, message="after"))
    assert queue.empty()


def test_event_severity_and_dict() -> None:
    e = sample(SignalRejected, ts=T0, message="denied", code="SYSTEM_HALTED")
    assert e.alert_severity is Severity.LOW
    assert e.as_dict()["event"] == "SIGNAL_REJECTED" and e.as_dict()["severity"] == "LOW"
    assert sample(HaltChanged, ts=T0, message="", severity=Severity.HIGH).alert_severity is Severity.HIGH


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock(T0)
    m0 = clock.monotonic()
    clock.advance(31)
    assert clock.now() == datetime(2025, 3, 2, 0, 0, 1, tzinfo=UTC)
    assert clock.monotonic() - m0 == 31
    assert utc_day_start(clock.now()) == datetime(2025, 3, 2, tzinfo=UTC)
    assert iso_utc(clock.now()) == "2025-03-02T00:00:01Z"
    with pytest.raises(ValueError):
        clock.advance(-1)
