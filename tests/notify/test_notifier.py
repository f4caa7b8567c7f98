"""The notifier: storms coalesce, publishing never waits for delivery, failures are retried
and counted, short venue blips stay quiet, secrets are redacted, DISK_LOW is mapped."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from tests.event_samples import sample
from tests.helpers import free_port
from tests.notify.receiver import Receiver
from titan.bus import EventBus
from titan.domain.reasons import Severity
from titan.events import (
    BackupFailed,
    BreakerTripped,
    DiskLow,
    RiskWarning,
    SignalRejected,
    VenueConnected,
    VenueDisconnected,
)
from titan.logs import register_secret
from titan.notify.notifier import Notifier


def _now() -> datetime:
    return datetime.now(UTC)


def _notifier(bus: EventBus, *urls: str, **kw: float) -> tuple[Notifier, CollectorRegistry]:
    reg = CollectorRegistry()
    opts = {"coalesce_s": 0.05, "retries": 3, "backoff_s": 0.01, **kw}
    return Notifier(bus, list(urls), Severity.HIGH, reg, **opts), reg  # type: ignore[arg-type]


def _count(reg: CollectorRegistry, result: str) -> float:
    value = reg.get_sample_value("titan_notifications_total", {"result": result})
    return value or 0.0


async def _settled(n: Notifier, sent_plus_failed: int) -> None:
    while n.stats.sent + n.stats.failed < sent_plus_failed:
        await asyncio.wait_for(n.progress.wait(), 30)
        n.progress.clear()


async def test_storm_of_200_is_a_few_messages_and_publish_never_waits(receiver: Receiver) -> None:
    bus = EventBus()
    n, reg = _notifier(bus, receiver.url, coalesce_s=0.2)
    receiver.gate = asyncio.Event()  # the endpoint hangs: delivery cannot finish
    n.start()
    for i in range(200):
        bus.publish(sample(RiskWarning, ts=_now(), message=f"exposure warning {i}"))
    # All 200 were published while the endpoint was stuck: the publisher never awaited it.
    assert receiver.messages == []
    await asyncio.sleep(0.3)  # the first digest is now waiting on the endpoint
    for i in range(200, 210):
        bus.publish(sample(RiskWarning, ts=_now(), message=f"exposure warning {i}"))
    receiver.gate.set()
    await _settled(n, 2)
    await n.stop()
    assert 1 <= len(receiver.messages) <= 3, len(receiver.messages)
    first = receiver.messages[0]
    assert first["title"] == "[Titan] 200 alerts (HIGH)"
    assert "... and 188 more" in first["message"]
    assert _count(reg, "sent") == len(receiver.messages)


async def test_low_severity_and_routine_events_are_not_sent(receiver: Receiver) -> None:
    bus = EventBus()
    n, _ = _notifier(bus, receiver.url)
    n.start()
    bus.publish(sample(SignalRejected, ts=_now(), message="rejected: leverage"))
    bus.publish(sample(BreakerTripped, ts=_now(), message="breaker tripped: 3 losses"))
    await _settled(n, 1)
    await n.stop()
    assert [m["title"] for m in receiver.messages] == ["[Titan] Circuit breaker TRIPPED"]


async def test_failed_delivery_is_retried_with_backoff(receiver: Receiver) -> None:
    receiver.fail_first = 2
    bus = EventBus()
    n, reg = _notifier(bus, receiver.url)
    n.start()
    bus.publish(sample(BreakerTripped, ts=_now(), message="breaker tripped"))
    await _settled(n, 1)
    await n.stop()
    assert receiver.hits == 3 and len(receiver.messages) == 1
    assert _count(reg, "sent") == 1 and _count(reg, "failed") == 0


async def test_unreachable_endpoint_is_counted_never_raised() -> None:
    bus = EventBus()
    dead = f"json://127.0.0.1:{free_port()}/notify"  # nobody listens there
    n, reg = _notifier(bus, dead)
    n.start()
    bus.publish(sample(BreakerTripped, ts=_now(), message="breaker tripped"))  # does not raise
    await _settled(n, 1)
    await n.stop()
    assert _count(reg, "failed") == 1 and _count(reg, "sent") == 0
    target = n.status()["targets"][0]
    assert target["failed"] == 1 and target["lastErrorAt"] is not None


async def test_venue_blip_is_quiet_a_long_outage_is_told_with_its_recovery(
        receiver: Receiver) -> None:
    bus = EventBus()
    n, _ = _notifier(bus, receiver.url, disconnect_grace_s=0.2)
    n.start()
    bus.publish(sample(VenueDisconnected, ts=_now(), message="bybit streams lost", venue="bybit"))
    bus.publish(sample(VenueConnected, ts=_now(), message="bybit back", venue="bybit"))
    await asyncio.sleep(0.4)  # past the grace period: the blip stays untold
    assert receiver.messages == []
    bus.publish(sample(VenueDisconnected, ts=_now(), message="bybit streams lost", venue="bybit"))
    down = await receiver.wait_for("Venue disconnected")
    assert "bybit streams lost" in down["message"]
    bus.publish(sample(VenueConnected, ts=_now(), message="bybit streams connected",
                               venue="bybit"))
    await receiver.wait_for("Venue reconnected")
    await n.stop()
    assert len(receiver.messages) == 2


async def test_disk_low_and_backup_failure_are_sent(receiver: Receiver) -> None:
    bus = EventBus()
    n, _ = _notifier(bus, receiver.url, coalesce_s=0.01)
    n.start()
    bus.publish(sample(DiskLow, ts=_now(), message="data disk 96% full (1.2 GB free)"))
    disk = await receiver.wait_for("Disk nearly full")
    assert "96% full" in disk["message"] and "Free space" in disk["message"]
    bus.publish(sample(BackupFailed, ts=_now(), severity=Severity.HIGH,
                       message="backup failed: disk full", error="disk full"))
    backup = await receiver.wait_for("Backup FAILED")
    assert "titan backup" in backup["message"]
    await n.stop()


async def test_secrets_are_redacted_from_messages(receiver: Receiver) -> None:
    register_secret("sk-live-0123456789")
    bus = EventBus()
    n, _ = _notifier(bus, receiver.url)
    n.start()
    bus.publish(sample(BreakerTripped, ts=_now(), message="venue said: bad key sk-live-0123456789"))
    msg = await receiver.wait_for("Circuit breaker")
    await n.stop()
    assert "sk-live-0123456789" not in msg["message"] and "bad key ***" in msg["message"]


async def test_stop_flushes_what_is_queued(receiver: Receiver) -> None:
    bus = EventBus()
    n, _ = _notifier(bus, receiver.url, coalesce_s=60)  # the task would wait a minute
    n.start()
    bus.publish(sample(BreakerTripped, ts=_now(), message="breaker tripped"))
    await asyncio.sleep(0)
    await n.stop()
    assert [m["title"] for m in receiver.messages] == ["[Titan] Circuit breaker TRIPPED"]
