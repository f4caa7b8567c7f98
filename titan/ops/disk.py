"""A full data disk made visible (SPEC §11): one DISK_LOW alert each time the storage
health finds the disk full, saying what still works."""

from __future__ import annotations

from collections.abc import Callable

from titan.bus import EventBus
from titan.clock import Clock
from titan.events import DiskLow
from titan.store.storage import STILL_WORKS, StorageHealth


def disk_full_alert(bus: EventBus, clock: Clock, storage: StorageHealth) -> Callable[[str], None]:
    """The `storage.on_full` callback."""

    def alert(detail: str) -> None:
        bus.publish(DiskLow(
            ts=clock.now(),
            message=f"data folder disk full, writes refused ({detail}); {STILL_WORKS}",
            folder=str(storage.folder), free_bytes=storage.free_bytes()))

    return alert
