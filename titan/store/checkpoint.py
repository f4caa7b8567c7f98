"""WAL checkpoints off the write path (SPEC §13: nothing may stall the order path).

SQLite's automatic checkpoint runs inside the COMMIT of whichever connection pushed the
WAL over 1,000 pages: it copies pages into the database file and fsyncs it, inside the
committing call. On the thread writer that call holds `Database`'s write lock, so an
intent that must be committed before its order leaves waited behind a checkpoint
(milliseconds, on a busy disk tens). So both writer connections have automatic
checkpoints off, and this task folds the WAL instead: every `interval_s`, once the WAL
file has reached SQLite's own threshold (1,000 pages), a PASSIVE checkpoint on a
connection of its own, in a thread of its own, without the write lock. (The threshold
keeps the WAL's life as SQLite's default gives it: appended to until it is that large,
then started over; folding a small WAL every second would instead have every commit
rewrite frames already on disk, which on a full disk succeeds where appending is refused.)
PASSIVE never blocks writers or readers (it copies what no reader still needs and stops);
the WAL starts over from its beginning at the next commit after a complete one, as with
the automatic checkpoint.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loguru import logger

INTERVAL_S = 1.0
# SQLite's default wal_autocheckpoint is 1,000 pages; each WAL frame is a page + 24 bytes.
THRESHOLD_PAGES = 1000


class WalCheckpointer:
    def __init__(self, path: Path, interval_s: float = INTERVAL_S) -> None:
        self._path = path
        self._wal = f"{path}-wal"
        self._threshold_bytes = THRESHOLD_PAGES * (4096 + 24)
        self._interval_s = interval_s
        self._conn: sqlite3.Connection | None = None
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="titan-wal-checkpoint")
        self._task: asyncio.Task[None] | None = None
        self.runs = 0  # completed checkpoints (tests and /metrics read it)
        self.last: tuple[int, int, int] | None = None  # (busy, WAL frames, checkpointed)

    def start(self) -> None:
        self._conn = sqlite3.connect(str(self._path), isolation_level=None,
                                     check_same_thread=False)
        # Never wait for a lock here: a busy checkpoint simply tries again next round.
        self._conn.execute("PRAGMA busy_timeout=0")
        self._conn.execute("PRAGMA wal_autocheckpoint=0")
        page = int(self._conn.execute("PRAGMA page_size").fetchone()[0])
        self._threshold_bytes = THRESHOLD_PAGES * (page + 24)
        self._task = asyncio.get_running_loop().create_task(self._run(),
                                                            name="wal-checkpoint")

    def _checkpoint(self, force: bool) -> tuple[int, int, int] | None:
        """In the checkpoint thread. None: the WAL is below the threshold, nothing done."""
        assert self._conn is not None
        if not force:
            try:
                size = os.stat(self._wal).st_size
            except FileNotFoundError:
                return None
            if size < self._threshold_bytes:
                return None
        row = self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return int(row[0]), int(row[1]), int(row[2])

    async def run_once(self, force: bool = False) -> tuple[int, int, int] | None:
        """One round: a PASSIVE checkpoint if the WAL is large enough (or `force`)."""
        result = await asyncio.get_running_loop().run_in_executor(
            self._pool, self._checkpoint, force)
        if result is not None:
            self.runs += 1
            self.last = result
        return result

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.run_once()
            except sqlite3.Error as exc:  # busy or a disk error: the next round retries
                logger.debug("WAL checkpoint skipped: {}", exc)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        # The thread may still be inside a checkpoint: let it finish before closing.
        await asyncio.get_running_loop().run_in_executor(self._pool, self._close_conn)
        self._pool.shutdown(wait=True)

    def _close_conn(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
