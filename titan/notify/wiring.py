"""Builds the notifier (and its daily summary job) from the settings: one call from core.py."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from titan.bus import EventBus
from titan.clock import Clock
from titan.notify.daily import DailySummary
from titan.notify.notifier import Notifier, split_urls
from titan.ops.scheduler import Scheduler
from titan.settings import Settings
from titan.store.db import Database


def build_notifier(settings: Settings, bus: EventBus, registry: CollectorRegistry,
                   scheduler: Scheduler, db: Database, clock: Clock) -> Notifier:
    """A Notifier for TITAN_NOTIFY_URLS (disabled, but still counted in /metrics, when unset);
    with TITAN_NOTIFY_DAILY_AT, a daily summary job on Titan's scheduler."""
    notifier = Notifier(bus, split_urls(settings.notify_urls), settings.notify_min_severity,
                        registry)
    notifier.daily = DailySummary(db, clock, notifier.enqueue)
    if settings.notify_daily_at and notifier.enabled:
        hour, minute = (int(x) for x in settings.notify_daily_at.split(":"))
        scheduler.daily(hour, minute, notifier.daily.run, "notify-daily-summary")
    return notifier
