"""A small pre-allocated file that holds the safety state (arm, halt, breaker) beside the
database, so that a safety change is durable even when the disk is full (issue 15).

The file is allocated and fsynced at start-up at a fixed size and always overwritten in
place: writing it needs no new disk blocks. At start-up it is read beside the database's
copy and the safer of the two wins, component by component (DISARMED over ARMED, the more
severe halt, a tripped breaker over a reset one).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from loguru import logger

SIZE = 8192
FILE_NAME = "safety_state.json"
_HALT_RANK = {"OPEN": 0, "SOFT_HALT": 1, "HARD_HALT": 2}


class SafetyStateFile:
    def __init__(self, folder: Path) -> None:
        self.path = folder / FILE_NAME

    def allocate(self) -> None:
        """Make the file SIZE bytes (keeping what it holds), fsynced, file and folder."""
        flags = os.O_RDWR | os.O_CREAT
        fd = os.open(self.path, flags, 0o600)
        try:
            if os.fstat(fd).st_size < SIZE:
                current = os.pread(fd, SIZE, 0).rstrip(b"\0 ")
                os.pwrite(fd, current.ljust(SIZE, b" "), 0)
            os.fsync(fd)
        finally:
            os.close(fd)
        dfd = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(dfd)
        finally:
            os.close(dfd)

    def write(self, state: dict[str, Any]) -> None:
        """Overwrite in place and fsync; raises OSError (also when the state is too big)."""
        raw = json.dumps(state, separators=(",", ":"), default=str).encode()
        if len(raw) > SIZE:
            raise OSError(f"safety state of {len(raw)} bytes does not fit {SIZE}")
        fd = os.open(self.path, os.O_WRONLY)
        try:
            os.pwrite(fd, raw.ljust(SIZE, b" "), 0)
            os.fsync(fd)
        finally:
            os.close(fd)

    def read(self) -> dict[str, Any] | None:
        try:
            raw = self.path.read_bytes().strip(b"\0 ")
        except FileNotFoundError:
            return None
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            logger.warning("SAFETY_FILE_UNREADABLE path={}", self.path)
            return None
        return data if isinstance(data, dict) else None


def safer_state(db: dict[str, Any] | None, file: dict[str, Any] | None) -> dict[str, Any] | None:
    """The database's risk state with each safety component replaced by the file's where the
    file's is safer. Either may be missing."""
    if not file:
        return db
    if not db:
        return file
    merged = dict(db)
    arm_db, arm_file = db.get("masterArm") or {}, file.get("masterArm") or {}
    if arm_file.get("state") == "DISARMED" and arm_db.get("state") != "DISARMED":
        merged["masterArm"] = arm_file
    halt_db, halt_file = db.get("halt") or {}, file.get("halt") or {}
    if _HALT_RANK.get(str(halt_file.get("state")), 0) > _HALT_RANK.get(str(halt_db.get("state")), 0):
        merged["halt"] = halt_file
    br_db, br_file = db.get("circuitBreaker") or {}, file.get("circuitBreaker") or {}
    if br_file.get("tripped") and not br_db.get("tripped"):
        merged["circuitBreaker"] = br_file
    return merged
