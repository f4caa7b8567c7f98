"""Background delivery of notifications: never blocks, slows or fails the trading path.

The bus handler only appends to a bounded deque (the oldest is dropped and counted when
full). One task drains it: it waits `coalesce_s` after the first notice so a storm
becomes one digest message, sends to every URL in parallel through apprise, retries
each URL with backoff, and counts `sent` / `failed` / `dropped` in /metrics
(`titan_notifications_total{result}`). Nothing here raises into a publisher.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import apprise
from loguru import logger
from prometheus_client import CollectorRegistry, Counter

from titan.bus import EventBus
from titan.domain.reasons import Severity
from titan.events import Event
from titan.logs import redact
from titan.notify.messages import Notice, digest, notice_for

if TYPE_CHECKING:
    from titan.notify.daily import DailySummary

QUEUE_MAX = 500
COALESCE_S = 2.0
RETRIES = 4  # attempts per URL per message
BACKOFF_S = 1.0  # doubled after each failed attempt
DISCONNECT_GRACE_S = 30.0  # a venue outage shorter than this is not worth waking anyone
STOP_FLUSH_S = 10.0


class BadNotifyUrl(ValueError):
    """An apprise URL that cannot be parsed."""


def split_urls(text: str) -> list[str]:
    return [u for u in text.replace(",", " ").split() if u]


def build_target(url: str) -> apprise.Apprise:
    """One apprise object for one URL (so each URL's delivery is known), or BadNotifyUrl."""
    ap = apprise.Apprise()
    if not ap.add(url):
        raise BadNotifyUrl(url)
    return ap


def private_url(ap: apprise.Apprise) -> str:
    """The URL with its secrets masked (apprise's privacy mode), for logs and the console."""
    urls = ap.urls(privacy=True)
    # The query holds apprise's own defaults (method, retry, ...): noise to an operator.
    return str(urls[0]).split("?", 1)[0] if urls else "?"


async def deliver(ap: apprise.Apprise, title: str, body: str) -> bool:
    """One attempt to one URL; False on any failure (apprise logs why)."""
    try:
        return bool(await ap.async_notify(body=body, title=title))
    except Exception:
        logger.opt(exception=True).warning("NOTIFY_ERROR url={}", private_url(ap))
        return False


@dataclass
class TargetStatus:
    url: str
    sent: int = 0
    failed: int = 0
    last_error_at: datetime | None = None
    last_ok_at: datetime | None = None


@dataclass
class NotifyStats:
    sent: int = 0
    failed: int = 0
    dropped: int = 0
    targets: list[TargetStatus] = field(default_factory=list)


class Notifier:
    def __init__(self, bus: EventBus, urls: Sequence[str], minimum: Severity = Severity.HIGH,
                 registry: CollectorRegistry | None = None, *, coalesce_s: float = COALESCE_S,
                 retries: int = RETRIES, backoff_s: float = BACKOFF_S,
                 disconnect_grace_s: float = DISCONNECT_GRACE_S) -> None:
        self._bus = bus
        self._targets = [build_target(u) for u in urls]
        self.minimum = minimum
        self.coalesce_s, self.retries, self.backoff_s = coalesce_s, retries, backoff_s
        self.disconnect_grace_s = disconnect_grace_s
        self._queue: deque[Notice] = deque()
        self._wake = asyncio.Event()
        self.progress = asyncio.Event()  # set after each delivery's outcome (sent or failed)
        self._task: asyncio.Task[None] | None = None
        self._unsubscribe: Any = None
        self._pending_disconnect: dict[str, asyncio.TimerHandle] = {}
        self._announced_disconnect: set[str] = set()
        self.daily: DailySummary | None = None  # set by wiring.build_notifier
        self.stats = NotifyStats(targets=[TargetStatus(private_url(t)) for t in self._targets])
        self.results = Counter("titan_notifications", "Push notifications by result "
                               "(sent, failed after retries, dropped from a full queue)",
                               ["result"], registry=registry)
        for r in ("sent", "failed", "dropped"):
            self.results.labels(result=r)

    @property
    def enabled(self) -> bool:
        return bool(self._targets)

    # --- the bus side: cheap and synchronous ------------------------------------------
    def on_event(self, event: Event) -> None:
        if event.name == "VENUE_DISCONNECTED":
            self._venue_down(event)
            return
        if event.name == "VENUE_CONNECTED":
            venue = str(event.data.get("venue", "venue"))
            pending = self._pending_disconnect.pop(venue, None)
            if pending is not None:
                pending.cancel()  # back within the grace period: nobody needs to hear of it
                return
            if venue not in self._announced_disconnect:
                return
            self._announced_disconnect.discard(venue)
        notice = notice_for(event, self.minimum)
        if notice is not None:
            self.enqueue(notice)

    def _venue_down(self, event: Event) -> None:
        venue = str(event.data.get("venue", "venue"))
        if venue in self._pending_disconnect or venue in self._announced_disconnect:
            return

        def still_down() -> None:
            self._pending_disconnect.pop(venue, None)
            notice = notice_for(event, self.minimum)
            if notice is not None:
                self._announced_disconnect.add(venue)
                self.enqueue(notice)

        loop = asyncio.get_running_loop()
        self._pending_disconnect[venue] = loop.call_later(self.disconnect_grace_s, still_down)

    def enqueue(self, notice: Notice) -> None:
        if len(self._queue) >= QUEUE_MAX:
            self._queue.popleft()
            self.stats.dropped += 1
            self.results.labels(result="dropped").inc()
        self._queue.append(notice)
        self._wake.set()

    # --- lifetime ---------------------------------------------------------------------
    def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self._unsubscribe = self._bus.subscribe(self.on_event)
        self._task = asyncio.create_task(self._run(), name="notifier")
        logger.info("NOTIFY_READY urls={} min_severity={}",
                    ",".join(t.url for t in self.stats.targets), self.minimum.value)

    async def stop(self) -> None:
        """Unsubscribe, then give what is queued (the `stopping` message) a last chance."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for handle in self._pending_disconnect.values():
            handle.cancel()
        self._pending_disconnect.clear()
        if self._task is None:
            return
        self._task.cancel()
        with suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        if self._queue:
            with suppress(TimeoutError):
                await asyncio.wait_for(self._send_batch(), STOP_FLUSH_S)

    # --- the sending task -------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            # Gather what arrives in the next moment into one message.
            await asyncio.sleep(self.coalesce_s)
            await self._send_batch()

    async def _send_batch(self) -> None:
        self._wake.clear()
        batch = list(self._queue)
        self._queue.clear()
        alone = [n for n in batch if n.alone]
        merged = [n for n in batch if not n.alone]
        if merged:
            alone.insert(0, merged[0] if len(merged) == 1 else digest(merged))
        for notice in alone:
            await asyncio.gather(*(self._send(i, notice) for i in range(len(self._targets))))

    async def _send(self, index: int, notice: Notice) -> None:
        target, status = self._targets[index], self.stats.targets[index]
        delay = self.backoff_s
        for attempt in range(1, self.retries + 1):
            if await deliver(target, notice.title, notice.body):
                status.sent += 1
                status.last_ok_at = notice.ts
                self.stats.sent += 1
                self.results.labels(result="sent").inc()
                self.progress.set()
                return
            if attempt < self.retries:
                await asyncio.sleep(delay)
                delay *= 2
        status.failed += 1
        status.last_error_at = notice.ts
        self.stats.failed += 1
        self.results.labels(result="failed").inc()
        self.progress.set()
        logger.warning("NOTIFY_FAILED url={} attempts={} title={}", status.url, self.retries,
                       redact(notice.title))

    def status(self) -> dict[str, Any]:
        """For /api/status and the console's System tab."""
        return {
            "enabled": self.enabled,
            "minSeverity": self.minimum.value,
            "sent": self.stats.sent,
            "failed": self.stats.failed,
            "dropped": self.stats.dropped,
            "queued": len(self._queue),
            "targets": [{"url": t.url, "sent": t.sent, "failed": t.failed,
                         "lastErrorAt": t.last_error_at.isoformat() if t.last_error_at else None,
                         "lastOkAt": t.last_ok_at.isoformat() if t.last_ok_at else None}
                        for t in self.stats.targets],
        }

    async def lifetime(self, app: object) -> AsyncIterator[None]:
        """aiohttp cleanup_ctx: started before Titan (hears SYSTEM_STARTED), stopped after it
        (sends SYSTEM_STOPPING)."""
        self.start()
        yield
        await self.stop()
