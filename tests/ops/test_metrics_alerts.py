"""/metrics exposes every SPEC §11 series; bus events drive the counters; alerts are
stored and read back by severity; the scheduler runs jobs."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families

from tests.event_samples import sample
from tests.helpers import make_titan
from titan import events as ev
from titan.app import create_app
from titan.clock import ManualClock
from titan.domain.reasons import Severity
from titan.events import (
    BreakerTripped,
    HaltChanged,
    OrderFilled,
    OrderSubmitted,
    OrderUpdated,
    RiskWarning,
    ShadowMismatch,
    SignalRejected,
    SystemStarted,
    VenueDisconnected,
)
from titan.ops.alerts import alert_counts, at_least, recent_alerts
from titan.ops.metrics import SERIES, Metrics
from titan.ops.scheduler import Scheduler


def _samples(text: str) -> tuple[set[str], dict[tuple[str, tuple[tuple[str, str], ...]], float]]:
    names: set[str] = set()
    values = {}
    for fam in text_string_to_metric_families(text):
        names.add(fam.name)
        for s in fam.samples:
            names.add(s.name)
            values[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return names, values


async def test_metrics_endpoint_has_every_series_without_auth(tmp_path: Path) -> None:
    clock = ManualClock()
    titan = make_titan(tmp_path / "data", clock=clock)
    async with TestClient(TestServer(create_app(titan))) as client:
        now = clock.now()
        bus = titan.bus
        bus.publish(sample(SignalRejected, ts=now, message="no", code="LEVERAGE_LIMIT"))
        bus.publish(sample(SignalRejected, ts=now, message="no", code="LEVERAGE_LIMIT"))
        bus.publish(sample(OrderSubmitted, ts=now, message="o", latency_ms=3.0))
        bus.publish(sample(OrderUpdated, ts=now, message="o", status="PartiallyFilled"))
        bus.publish(sample(OrderFilled, ts=now, message="o"))
        bus.publish(sample(ShadowMismatch, ts=now, message="m", mismatch_type="SIDE_MISMATCH"))
        bus.publish(sample(BreakerTripped, ts=now, message="trip"))
        bus.publish(sample(VenueDisconnected, ts=now, message="lost", venue="bybit"))
        bus.publish(sample(HaltChanged, ts=now, message="h", state="SOFT_HALT"))
        m = titan.metrics
        m.set_equity(2450.5)
        m.set_drawdown(0.023)
        m.set_phase(1)
        m.set_win_rate(0.55)
        m.set_master_arm(True)
        m.set_venue_connected("binance", True)
        m.observe_order_latency(0.004)
        m.signal_accepted("scavenger")
        # Symbols the running Titan does not stream (its own regime service sets those).
        m.set_regime("AAAUSDT", "STABLE", 3.2)
        m.set_regime("BBBUSDT", "UNKNOWN", None)
        await asyncio.sleep(0.6)  # one loop-lag probe at least

        resp = await client.get("/metrics")  # no credentials
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        names, v = _samples(await resp.text())
    missing = [s for s in SERIES if s not in names]
    assert not missing, missing
    assert v[("titan_signals_total", (("reason", "LEVERAGE_LIMIT"), ("result", "rejected")))] == 2
    assert v[("titan_signals_total", (("reason", ""), ("result", "accepted")))] == 1
    assert v[("titan_regime_alpha", (("symbol", "AAAUSDT"),))] == 3.2
    assert ("titan_regime_alpha", (("symbol", "BBBUSDT"),)) not in v  # no α while unknown
    assert v[("titan_regime", (("regime", "STABLE"), ("symbol", "AAAUSDT")))] == 1
    assert v[("titan_regime", (("regime", "CRASH"), ("symbol", "AAAUSDT")))] == 0
    assert v[("titan_regime", (("regime", "UNKNOWN"), ("symbol", "BBBUSDT")))] == 1
    assert v[("titan_orders_total", (("status", "New"),))] == 1  # the venue's word
    assert v[("titan_orders_total", (("status", "PartiallyFilled"),))] == 1
    assert v[("titan_orders_total", (("status", "FILLED"),))] == 1  # a fill has no status
    assert v[("titan_reconciliation_mismatches_total", (("type", "SIDE_MISMATCH"),))] == 1
    assert v[("titan_circuit_breaker_tripped", ())] == 1
    assert v[("titan_venue_connected", (("venue", "bybit"),))] == 0
    assert v[("titan_venue_connected", (("venue", "binance"),))] == 1
    assert v[("titan_halt_state", (("state", "SOFT_HALT"),))] == 1
    assert v[("titan_halt_state", (("state", "OPEN"),))] == 0
    assert v[("titan_equity_usd", ())] == 2450.5
    assert v[("titan_master_arm", ())] == 1
    assert v[("titan_order_latency_seconds_count", ())] == 2
    assert v[("titan_event_loop_lag_seconds_count", ())] >= 1
    assert v[("process_resident_memory_bytes", ())] > 0
    # Counted on the loop that serves the scrape: Titan's own tasks at least (the metrics
    # loop monitor, the server's handler task), never the 0 of "no loop".
    assert v[("titan_asyncio_tasks", ())] >= 2
    assert v[("titan_alerts_total", (("severity", "CRITICAL"),))] == 1
    assert v[("titan_events_total", (("event", "SYSTEM_STARTED"),))] == 1


def test_own_registry_so_two_instances_do_not_clash() -> None:
    a, b = Metrics(), Metrics()
    a.set_equity(1)
    assert b"titan_equity_usd 0.0" in b.render()


async def test_alerts_are_stored_and_read_by_severity(tmp_path: Path) -> None:
    clock = ManualClock()
    titan = make_titan(tmp_path / "data", clock=clock)
    await titan.start()
    try:
        # Start-up raises alerts of its own (e.g. "started DISARMED"): count only this test's.
        await titan.journal.flush()
        await titan.db.execute_write("DELETE FROM events")
        t0 = clock.now()
        bus = titan.bus
        bus.publish(sample(SignalRejected, ts=t0, message="rejected", code="ASSET_DISABLED"))
        bus.publish(sample(RiskWarning, ts=t0, message="3 consecutive losses",
                                severity=Severity.MEDIUM))
        bus.publish(sample(RiskWarning, ts=t0, message="daily drawdown 5.2% > 5%"))
        bus.publish(sample(VenueDisconnected, ts=t0, message="Bybit connection lost",
                                      venue="bybit"))
        clock.advance(60)
        bus.publish(sample(BreakerTripped, ts=clock.now(), message="3 consecutive losses"))
        bus.publish(sample(SystemStarted, ts=clock.now(), message="not an alert"))
        await titan.journal.flush()
        await asyncio.sleep(0.05)
        await titan.journal.flush()

        every = await recent_alerts(titan.db)
        assert [a.event for a in every] == ["CIRCUIT_BREAKER", "VENUE_DISCONNECTED",
                                            "RISK_WARNING", "RISK_WARNING", "SIGNAL_REJECTED"]
        assert every[0].severity is Severity.CRITICAL
        assert every[-1].data["code"] == "ASSET_DISABLED"
        high = await recent_alerts(titan.db, min_severity="HIGH")
        assert {a.severity for a in high} == {Severity.HIGH, Severity.CRITICAL} and len(high) == 3
        medium = await recent_alerts(titan.db, severities=(Severity.MEDIUM,))
        assert [a.message for a in medium] == ["3 consecutive losses"]
        page = await recent_alerts(titan.db, limit=2)
        rest = await recent_alerts(titan.db, before_id=page[-1].id)
        assert [a.id for a in page + rest] == [a.id for a in every]
        later = await recent_alerts(titan.db, since=t0 + timedelta(seconds=30))
        assert [a.event for a in later] == ["CIRCUIT_BREAKER"]
        assert await alert_counts(titan.db) == {"LOW": 1, "MEDIUM": 1, "HIGH": 2, "CRITICAL": 1}
        assert every[0].as_dict()["severity"] == "CRITICAL"
        assert at_least(Severity.HIGH) == (Severity.HIGH, Severity.CRITICAL)
    finally:
        await titan.stop()


async def test_scheduler_runs_interval_jobs_and_survives_a_failing_one() -> None:
    sched = Scheduler()
    ran: list[str] = []

    async def good() -> None:
        ran.append("good")

    def bad() -> None:
        raise RuntimeError("boom")

    sched.every(0.05, good, "good")
    sched.every(0.05, bad, "bad")
    sched.daily(0, 0, good, "day-roll")
    try:
        with pytest.raises(ValueError):
            sched.every(1, good, "good")
        sched.start()
        await asyncio.sleep(0.3)
        assert ran.count("good") >= 2
        assert set(sched.jobs()) == {"good", "bad", "day-roll"}
    finally:
        sched.stop()


def test_state_events_drive_the_gauges() -> None:
    from datetime import UTC, datetime

    from titan.bus import EventBus
    from titan.events import ArmChanged, BreakerReset, PhaseChanged, VenueConnected

    bus = EventBus()
    m = Metrics(bus)
    now = datetime.now(UTC)
    bus.publish(sample(PhaseChanged, ts=now, message="p", from_phase=1, to=2))
    bus.publish(sample(ArmChanged, ts=now, message="a", armed=True))
    bus.publish(sample(BreakerTripped, ts=now, message="b"))
    bus.publish(sample(BreakerReset, ts=now, message="b"))
    bus.publish(sample(VenueConnected, ts=now, message="v", venue="bybit"))
    bus.publish(sample(HaltChanged, ts=now, message="h", to="HARD_HALT", state="HARD_HALT"))
    _, v = _samples(m.render().decode())
    assert v[("titan_phase", ())] == 2 and v[("titan_master_arm", ())] == 1
    assert v[("titan_circuit_breaker_tripped", ())] == 0
    assert v[("titan_venue_connected", (("venue", "bybit"),))] == 1
    assert v[("titan_halt_state", (("state", "HARD_HALT"),))] == 1
    bus.publish(sample(ArmChanged, ts=now, message="a", armed=False))
    assert m.master_arm._value.get() == 0


def test_sentinel_series_follow_its_events() -> None:
    m = Metrics()
    m.on_event(sample(ev.SentinelBasis, z=None))  # warming up: a basis, no z yet
    m.on_event(sample(ev.SentinelBasis, symbol="BTCUSDT", basis=0.0021, z=2.5))
    m.on_event(sample(ev.SentinelPairEntered, symbol="BTCUSDT", spot_qty="0.102",
                      perp_qty="0.1"))
    for paid in ("0.5", "-0.2"):
        m.on_event(sample(ev.SentinelFunding, symbol="BTCUSDT", payment=paid))
    _, v = _samples(m.render().decode())
    btc = (("symbol", "BTCUSDT"),)
    assert v[("titan_sentinel_basis", btc)] == 0.0021 and v[("titan_sentinel_zscore", btc)] == 2.5
    assert ("titan_sentinel_zscore", (("symbol", "ETHUSDT"),)) not in v
    assert abs(v[("titan_sentinel_delta_ratio", btc)] - 0.002 / 0.102) < 1e-12
    assert abs(v[("titan_sentinel_funding_earned_usd", btc)] - 0.3) < 1e-12
    m.on_event(sample(ev.SentinelPairUnwound, symbol="BTCUSDT"))
    assert _samples(m.render().decode())[1][("titan_sentinel_delta_ratio", btc)] == 0.0
