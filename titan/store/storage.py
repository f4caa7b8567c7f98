"""The data folder's disk as Titan sees it: free space, writes refused, "disk full" told apart.

A full disk must be visible (SPEC §8/§11, issue 15): `/health` reports it, `/metrics` counts
the writes it refused, the operator gets one DISK_LOW alert per episode, and an API write
refused for lack of space answers 507 STORAGE_FULL, not 500 INTERNAL_ERROR.
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path

# Below this much free space the disk check reports degraded (before writes start failing).
LOW_FREE_BYTES = 64 * 1024 * 1024

# What still works while the disk is full: said in every refusal and alert.
STILL_WORKS = ("exits still work: FLATTEN ALL, HARD_HALT and the kill switch go out to the "
               "venue; free space in the data folder")


def is_storage_full(exc: BaseException) -> bool:
    """True for SQLite's SQLITE_FULL ("database or disk is full") and ENOSPC / EDQUOT."""
    if isinstance(exc, sqlite3.Error):
        code = getattr(exc, "sqlite_errorcode", None)
        return code == sqlite3.SQLITE_FULL or "disk is full" in str(exc)
    if isinstance(exc, OSError):
        return exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return False


class StorageHealth:
    """Write outcomes of the database and the free space of its folder."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.failed_writes = 0  # every write refused, since start
        self.full = False  # the last write was refused for lack of space
        self.last_error = ""
        # Called once when the disk is found full (not again until a write succeeds), and
        # on every refused write (the metrics counter).
        self.on_full: list[Callable[[str], None]] = []
        self.on_failure: list[Callable[[], None]] = []

    def free_bytes(self) -> int:
        try:
            return shutil.disk_usage(self.folder).free
        except OSError:
            return 0

    def write_failed(self, exc: BaseException) -> None:
        self.failed_writes += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        for callback in self.on_failure:
            callback()
        if is_storage_full(exc) and not self.full:
            self.full = True
            for notify in self.on_full:
                notify(self.last_error)

    def write_succeeded(self) -> None:
        self.full = False

    def check(self) -> dict[str, object]:
        """The `/health` disk check: critical while writes are refused for lack of space,
        degraded (non-critical) when space runs low."""
        free = self.free_bytes()
        base: dict[str, object] = {"freeBytes": free, "failedWrites": self.failed_writes}
        if self.full:
            return {"ok": False, **base,
                    "detail": f"disk full: writes to {self.folder} refused ({STILL_WORKS})"}
        if free < LOW_FREE_BYTES:
            return {"ok": False, "critical": False, **base,
                    "detail": f"low disk space: {free} bytes free in {self.folder}"}
        return {"ok": True, **base}
