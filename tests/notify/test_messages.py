"""Every event the operator must hear about becomes a message with what, why and what to do;
routine events and those below the minimum severity do not."""

from __future__ import annotations

import pytest

from tests.event_samples import TS, sample
from titan.domain.reasons import Severity
from titan.events import (
    Alert,
    ArmChanged,
    BreakerReset,
    BreakerTripped,
    Event,
    HaltChanged,
    KillSwitchActivated,
    OperatorAction,
    OrderFilled,
    ShadowMismatch,
    SignalRejected,
    SystemStarted,
    SystemStopping,
)
from titan.notify.messages import digest, notice_for


@pytest.mark.parametrize(("event", "title", "do"), [
    (sample(BreakerTripped, "3 losses in a row"), "Circuit breaker TRIPPED", "reset"),
    (sample(BreakerReset, "reset by ops", reason="checked"),
     "Circuit breaker reset", "arm again"),
    (sample(HaltChanged, "halt", from_state="SOFT_HALT", to="OPEN", state="OPEN",
            reason="calm again", severity=Severity.MEDIUM),
     "Halt state SOFT_HALT -> OPEN", "System tab"),
    (sample(KillSwitchActivated, "kill switch by ops: HARD_HALT"), "KILL SWITCH",
     "Positions tab"),
    (sample(ArmChanged, "Master Arm ARMED by ops", to="ARMED"),
     "Master Arm ARMED", "audit log"),
    (sample(ShadowMismatch, "size differs on BTCUSDT"), "Shadow mismatch with the venue",
     "titan reconcile"),
    (sample(OperatorAction, "flatten_all", action="flatten_all", success=False, result={
        "positions_closed": 1, "results": [
            {"symbol": "ETHUSDT", "success": False, "error": "rejected (left: Buy 0.5)"}]}),
     "Flatten all NOT COMPLETE", "still open"),
    (sample(SystemStarted, "Titan 0.1.0 started"), "Titan started", "Master Arm"),
    (sample(SystemStopping, "Titan is shutting down"), "Titan stopping", "pm2"),
])
def test_each_operator_event_says_what_why_and_what_to_do(event: Event, title: str,
                                                          do: str) -> None:
    n = notice_for(event, Severity.HIGH)
    assert n is not None
    assert n.title == f"[Titan] {title}"
    assert n.body.startswith("What: ")
    assert do in n.body.split("Do: ", 1)[1]
    assert "When: 2026-01-02 03:04:05 UTC" in n.body


def test_flatten_message_lists_what_is_left_open() -> None:
    ev = sample(OperatorAction, "flatten_all", action="flatten_all", success=False, result={
        "positions_closed": 1, "results": [
            {"symbol": "ETHUSDT", "success": False, "error": "rejected (left: Buy 0.5)"}]})
    n = notice_for(ev, Severity.CRITICAL)
    assert n is not None
    assert "1 position(s) closed" in n.body and "ETHUSDT: rejected (left: Buy 0.5)" in n.body


def test_routine_and_low_events_are_not_sent() -> None:
    assert notice_for(sample(OrderFilled, "filled"), Severity.LOW) is None
    assert notice_for(sample(SignalRejected, "no"), Severity.HIGH) is None
    assert notice_for(sample(SignalRejected, "no"), Severity.LOW) is not None
    assert notice_for(sample(OperatorAction, "arm", action="arm"), Severity.LOW) is None
    # A stricter minimum drops HIGH but keeps CRITICAL.
    assert notice_for(sample(ShadowMismatch, "m"), Severity.CRITICAL) is None
    assert notice_for(sample(BreakerTripped, "t"), Severity.CRITICAL) is not None


def test_digest_names_the_count_and_the_most_severe() -> None:
    notices = [notice_for(Alert(ts=TS, severity=Severity.HIGH, message=f"a{i}"), Severity.HIGH)
               for i in range(30)]
    notices.append(notice_for(sample(BreakerTripped, "tripped"), Severity.HIGH))
    d = digest([n for n in notices if n is not None])
    assert d.title == "[Titan] 31 alerts (CRITICAL)" and d.severity is Severity.CRITICAL
    assert "... and 19 more" in d.body and "Most severe: [Titan] Circuit breaker TRIPPED" in d.body
