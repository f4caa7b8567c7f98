"""Backups and restores of the SQLite database (SPEC §11).

A backup uses SQLite's online backup API from its own connection, in a worker thread,
a few thousand pages per step with a short sleep between steps. The source connection
holds one read transaction for the whole copy: in WAL mode a reader never blocks the
writer, and because the snapshot is held the copy is never restarted by Titan's own
writes (without it, every write by another connection restarts a paged backup).

Each backup is written to a temporary file, switched to `journal_mode=DELETE` (so it is
one standalone file), checked with `PRAGMA integrity_check`, renamed to
`titan-YYYYmmdd-HHMMSS.db`, and copied to `latest.db` through a temporary file and
`os.replace`, so `latest.db` is always a complete database. Old backups beyond `keep`
are pruned.

Restoring: `restore_database` (what `titan restore FILE` runs) refuses while a Titan
holds the database, checks the file first, keeps the current database aside as
`titan.db.before-restore-<ts>`, moves its `-wal`/`-shm` aside and replaces the file
atomically. The manual's `cp /data/backups/latest.db /data/titan.db` (service stopped)
is made safe by `quarantine_stale_wal`, run before every start: a backup's header says
"not WAL", and a Titan database always says "WAL", so a non-empty `-wal` beside a
"not WAL" file belongs to the database that was overwritten and is moved aside instead
of being replayed onto the restored one.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from loguru import logger

from titan.bus import EventBus
from titan.clock import Clock
from titan.domain.reasons import Severity
from titan.events import BackupDone, BackupFailed
from titan.store.private import create_private, make_private

BACKUP_PREFIX = "titan-"
BACKUP_SUFFIX = ".db"
LATEST = "latest.db"
PAGES_PER_STEP = 2048          # 8 MiB at 4 KiB pages
SLEEP_BETWEEN_STEPS_S = 0.002
FSYNC_EVERY_STEPS = 8          # ~64 MiB


class BackupError(Exception):
    """A backup or restore could not be done; the message says why, in one line."""


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    latest: Path
    size_bytes: int
    duration_s: float
    pruned: tuple[Path, ...]


def backup_name(now: datetime) -> str:
    return f"{BACKUP_PREFIX}{now.astimezone(UTC):%Y%m%d-%H%M%S}{BACKUP_SUFFIX}"


_BACKUP_RE = re.compile(r"^titan-(\d{8}-\d{6})(?:\.(\d+))?\.db$")


def list_backups(backup_dir: Path) -> list[Path]:
    """The timestamped backups, oldest first."""
    if not backup_dir.is_dir():
        return []
    found = []
    for p in backup_dir.iterdir():
        m = _BACKUP_RE.match(p.name)
        if m and p.is_file():
            found.append((m.group(1), int(m.group(2) or 0), p))
    return [p for _, _, p in sorted(found)]


def integrity_check(path: Path) -> str:
    """`PRAGMA integrity_check` of a database file, read-only: "ok" or what is wrong."""
    if not path.is_file():
        return f"{path} does not exist"
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            rows = con.execute("PRAGMA integrity_check").fetchall()
        finally:
            con.close()
    except sqlite3.DatabaseError as exc:
        return f"not a usable SQLite database: {exc}"
    result = "; ".join(str(r[0]) for r in rows[:5])
    return result or "no result"


def _fsync_file(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _unique_target(backup_dir: Path, now: datetime) -> Path:
    target = backup_dir / backup_name(now)
    n = 1
    while target.exists():  # two backups in one second: keep both
        target = backup_dir / f"{target.stem.split('.')[0]}.{n}{BACKUP_SUFFIX}"
        n += 1
    return target


def backup_database(src: Path, backup_dir: Path, keep: int, now: datetime | None = None,
                    pages: int = PAGES_PER_STEP, sleep_s: float = SLEEP_BETWEEN_STEPS_S,
                    progress: Callable[[int, int], None] | None = None) -> BackupResult:
    """Copy `src` into `backup_dir` (blocking: call it in a thread). Raises BackupError."""
    started = time.monotonic()
    now = now or datetime.now(UTC)
    if not src.is_file():
        raise BackupError(f"database {src} does not exist")
    try:
        backup_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BackupError(f"backup folder {backup_dir} cannot be created: {exc.strerror or exc}") from None
    target = _unique_target(backup_dir, now)
    tmp = backup_dir / f".{target.name}.tmp"
    tmp.unlink(missing_ok=True)
    create_private(tmp)  # a backup is the whole database: 0600 from its first byte

    steps = 0

    def step(status: int, remaining: int, total: int) -> None:
        nonlocal steps
        steps += 1
        if progress is not None:
            progress(total - remaining, total)
        if remaining and steps % FSYNC_EVERY_STEPS == 0:
            # Flush the copy now and then: a gigabyte of dirty pages flushed at once would
            # stall every other writer on the disk, Titan's WAL appends included.
            _fsync_file(tmp)
        if remaining and sleep_s > 0:
            time.sleep(sleep_s)  # releases the GIL and lets the writer's I/O through

    try:
        source = sqlite3.connect(f"file:{src}?mode=ro", uri=True, isolation_level=None,
                                 timeout=10)
        try:
            dest = sqlite3.connect(str(tmp), isolation_level=None)
            try:
                # One read transaction for the whole copy: a stable snapshot, no restarts.
                source.execute("BEGIN")
                source.execute("SELECT count(*) FROM sqlite_master").fetchone()
                source.backup(dest, pages=pages, progress=step)
                source.execute("COMMIT")
                mode = dest.execute("PRAGMA journal_mode=DELETE").fetchone()[0]
                if str(mode).lower() != "delete":
                    raise BackupError(f"backup copy could not leave WAL mode (got {mode})")
            finally:
                dest.close()
        finally:
            source.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup of {src} failed: {exc}") from None
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise

    check = integrity_check(tmp)
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"backup copy of {src} failed its integrity check: {check}")
    with open(tmp, "rb+") as fh:
        os.fsync(fh.fileno())
    os.replace(tmp, target)

    latest = backup_dir / LATEST
    latest_tmp = backup_dir / f".{LATEST}.tmp"
    latest_tmp.unlink(missing_ok=True)
    try:
        # A hard link: the same complete file under a second name, no second gigabyte
        # written. It stays valid when the timestamped name is pruned.
        os.link(target, latest_tmp)
    except OSError:
        shutil.copyfile(target, latest_tmp)
        make_private(latest_tmp)
        _fsync_file(latest_tmp)
    os.replace(latest_tmp, latest)
    _fsync_dir(backup_dir)

    pruned = prune_backups(backup_dir, keep)
    return BackupResult(path=target, latest=latest, size_bytes=target.stat().st_size,
                        duration_s=time.monotonic() - started, pruned=tuple(pruned))


def prune_backups(backup_dir: Path, keep: int) -> list[Path]:
    """Delete all but the `keep` newest timestamped backups (latest.db is never pruned)."""
    backups = list_backups(backup_dir)
    doomed = backups[:-keep] if keep > 0 else backups
    for p in doomed:
        p.unlink(missing_ok=True)
    return doomed


async def run_backup(src: Path, backup_dir: Path, keep: int,
                     now: datetime | None = None) -> BackupResult:
    """`backup_database` in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(backup_database, src, backup_dir, keep, now)


# --- restore -----------------------------------------------------------------------

def _header_mode(path: Path) -> int | None:
    """Bytes 18-19 of the database header: 2 = WAL, 1 = rollback journal; None if unknown."""
    try:
        with open(path, "rb") as fh:
            header = fh.read(100)
    except OSError:
        return None
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return None
    return header[18] if header[18] == header[19] else None


def _aside(path: Path, suffix: str) -> Path:
    target = path.with_name(f"{path.name}.{suffix}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.{suffix}.{n}")
        n += 1
    os.replace(path, target)
    return target


def _stamp(now: datetime | None = None) -> str:
    return f"{(now or datetime.now(UTC)).astimezone(UTC):%Y%m%d-%H%M%S}"


def quarantine_stale_wal(db_path: Path, now: datetime | None = None) -> list[Path]:
    """Move aside a `-wal`/`-shm` that cannot belong to `db_path`; returns what was moved.

    Titan's database always has the WAL flag in its header; a backup (or any restored
    copy made by `backup_database`) has not. A non-empty `-wal` beside a file without
    the flag was left by the database that file replaced (e.g. after a crash, then
    `cp latest.db titan.db`): SQLite would replay it onto the restored file.
    """
    wal = db_path.with_name(db_path.name + "-wal")
    shm = db_path.with_name(db_path.name + "-shm")
    if not wal.exists() or wal.stat().st_size == 0:
        return []
    if _header_mode(db_path) != 1:
        return []
    stamp = f"stale-{_stamp(now)}"
    moved = [_aside(wal, stamp)]
    if shm.exists():
        moved.append(_aside(shm, stamp))
    return moved


@dataclass(frozen=True, slots=True)
class RestoreResult:
    restored_from: Path
    db_path: Path
    previous: Path | None
    moved_aside: tuple[Path, ...]


def restore_database(file: Path, db_path: Path, now: datetime | None = None) -> RestoreResult:
    """Replace `db_path` by the backup `file`. The caller has made sure Titan is stopped."""
    file = file.resolve()
    if not file.is_file():
        raise BackupError(f"{file} does not exist")
    if db_path.exists() and file == db_path.resolve():
        raise BackupError(f"{file} is the database itself")
    check = integrity_check(file)
    if check != "ok":
        raise BackupError(f"{file} failed its integrity check, nothing was changed: {check}")
    db_path.parent.mkdir(parents=True, exist_ok=True)
    stamp = _stamp(now)

    # Copy first (the old database is untouched until the new one is complete and checked).
    tmp = db_path.with_name(f".{db_path.name}.restore-tmp")
    tmp.unlink(missing_ok=True)
    create_private(tmp)
    try:
        source = sqlite3.connect(f"file:{file}?mode=ro", uri=True)
        dest = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            source.backup(dest)
            dest.execute("PRAGMA journal_mode=DELETE")
        finally:
            dest.close()
            source.close()
    except sqlite3.Error as exc:
        tmp.unlink(missing_ok=True)
        raise BackupError(f"cannot copy {file}: {exc}") from None
    check = integrity_check(tmp)
    if check != "ok":
        tmp.unlink(missing_ok=True)
        raise BackupError(f"the copy of {file} failed its integrity check, nothing was changed: {check}")

    previous: Path | None = None
    moved: list[Path] = []
    if db_path.exists():
        # Keep the current database whole (main file + its WAL) beside it: nothing is lost.
        # Renames, not copies: no second copy of a large file, and the lock keeps Titan out.
        previous = db_path.with_name(f"{db_path.name}.before-restore-{stamp}")
        n = 1
        while previous.exists():
            previous = db_path.with_name(f"{db_path.name}.before-restore-{stamp}.{n}")
            n += 1
        os.replace(db_path, previous)
    for suffix in ("-wal", "-shm"):
        side = db_path.with_name(db_path.name + suffix)
        if side.exists():
            if previous is not None and suffix == "-wal":
                os.replace(side, previous.with_name(previous.name + "-wal"))
            else:
                side.unlink()
            moved.append(side)
    os.replace(tmp, db_path)
    _fsync_dir(db_path.parent)
    logger.info("DB_RESTORED from={} db={} previous={}", file, db_path, previous)
    return RestoreResult(restored_from=file, db_path=db_path, previous=previous,
                         moved_aside=tuple(moved))


# --- the nightly job -----------------------------------------------------------------

class BackupJob:
    """The scheduled backup: runs one, then publishes `BackupDone` or a HIGH `Alert`."""

    def __init__(self, db_path: Path, backup_dir: Path, keep: int, bus: EventBus,
                 clock: Clock) -> None:
        self.db_path = db_path
        self.backup_dir = backup_dir
        self.keep = keep
        self.bus = bus
        self.clock = clock
        self.last: BackupResult | None = None
        self._lock = asyncio.Lock()

    async def run(self) -> BackupResult | None:
        async with self._lock:  # never two at once
            try:
                result = await run_backup(self.db_path, self.backup_dir, self.keep,
                                          self.clock.now())
            except BackupError as exc:
                self.bus.publish(BackupFailed(ts=self.clock.now(), severity=Severity.HIGH,
                                              message=f"backup failed: {exc}", error=str(exc)))
                return None
            self.last = result
            self.bus.publish(BackupDone(
                ts=self.clock.now(), message=f"backup written to {result.path}",
                file=str(result.path), size_bytes=result.size_bytes,
                seconds=round(result.duration_s, 3), pruned=[p.name for p in result.pruned]))
            return result
