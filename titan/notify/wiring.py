"""Builds the notifier from the settings (one call from core.py)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from titan.bus import EventBus
from titan.notify.notifier import Notifier, split_urls
from titan.settings import Settings


def build_notifier(settings: Settings, bus: EventBus, registry: CollectorRegistry) -> Notifier:
    """A Notifier for TITAN_NOTIFY_URLS (disabled, but still counted in /metrics, when unset)."""
    return Notifier(bus, split_urls(settings.notify_urls), settings.notify_min_severity, registry)
