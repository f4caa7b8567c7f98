"""The SQLite database: WAL, foreign keys, a busy timeout, one writer.

Writes go through `Database.write()`, which serialises writers with an asyncio lock
and wraps each in `BEGIN IMMEDIATE … COMMIT`, so SQLITE_BUSY never reaches callers.
Reads use a second connection: in WAL mode they see committed rows without waiting
for the writer.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from titan.store.checkpoint import INTERVAL_S as CHECKPOINT_EVERY_S
from titan.store.checkpoint import WalCheckpointer
from titan.store.migrate import MigrationError, apply_migrations, default_migrations_dir
from titan.store.private import private_database
from titan.store.storage import StorageHealth

BUSY_TIMEOUT_MS = 10_000

T = TypeVar("T")


class DatabaseError(Exception):
    """The database cannot be used (unwritable folder, corrupt file, failed migration)."""


async def _configure(conn: aiosqlite.Connection) -> None:
    conn.row_factory = aiosqlite.Row
    await conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA foreign_keys=ON")
    await conn.execute("PRAGMA synchronous=NORMAL")


async def _connect(path: Path) -> aiosqlite.Connection:
    # isolation_level=None: Titan issues BEGIN/COMMIT itself, so every transaction is explicit.
    conn = await aiosqlite.connect(str(path), isolation_level=None)
    try:
        await _configure(conn)
    except BaseException:
        await conn.close()  # else its worker thread keeps the process alive
        raise
    return conn


def _connect_on_loop(path: Path) -> sqlite3.Connection:
    """The order path's own connection, used synchronously on the event loop (SPEC §13):
    one intent + PENDING order commit costs ~0.1–0.2 ms of plain sqlite3 work, while the
    hop to aiosqlite's thread and back had a multi-millisecond tail. It never waits and
    never folds the WAL on the loop: busy_timeout 0 (a busy file sends the write to the
    thread path instead) and automatic checkpoints off (`WalCheckpointer` folds the WAL,
    in a thread of its own)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA busy_timeout=0")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA wal_autocheckpoint=0")
    except BaseException:
        conn.close()
        raise
    return conn


def _is_busy(exc: sqlite3.Error) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc).lower()


def check_data_dir(path: Path) -> None:
    """Create the folder if needed and prove it is writable, or raise DatabaseError."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".titan-write-test"
        probe.write_text("ok")
        probe.unlink()
    except OSError as exc:
        raise DatabaseError(f"data folder {path} is not writable: {exc.strerror or exc}") from None


def _execute_each(conn: sqlite3.Connection,
                  statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
    for sql, params in statements:
        conn.execute(sql, params)


def _execute_many(conn: sqlite3.Connection,
                  statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
    for sql, rows in statements:
        conn.executemany(sql, rows)


def _rollback_if_open(conn: sqlite3.Connection) -> None:
    """In the database thread: roll back the transaction if one is still open."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def _run_in_transaction(conn: sqlite3.Connection, fn: Callable[..., Any],
                        args: tuple[Any, ...]) -> Any:
    """In the database thread: `fn(conn, *args)` between BEGIN IMMEDIATE and COMMIT, rolled
    back on any error."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        result = fn(conn, *args)
        conn.execute("COMMIT")
    except BaseException:
        # A COMMIT refused (disk full) leaves the transaction open: roll it back, or every
        # later BEGIN on this connection fails too.
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return result


class Database:
    def __init__(self, path: Path, migrations_dir: Path | None = None, *,
                 checkpoint_every_s: float = CHECKPOINT_EVERY_S) -> None:
        self.path = path
        self._checkpoint_every_s = checkpoint_every_s
        self.migrations_dir = migrations_dir or default_migrations_dir()
        self._writer: aiosqlite.Connection | None = None
        self._reader: aiosqlite.Connection | None = None
        self._loop_writer: sqlite3.Connection | None = None
        self.checkpointer: WalCheckpointer | None = None
        self._write_lock = asyncio.Lock()
        self.storage = StorageHealth(path.parent)

    async def open(self) -> list[str]:
        """Open, check and migrate the database. Returns the migrations applied now."""
        check_data_dir(self.path.parent)
        try:
            private_database(self.path)  # 0600 before SQLite opens it: -wal/-shm inherit it
        except OSError as exc:
            raise DatabaseError(f"database {self.path} cannot be made private (0600): "
                                f"{exc.strerror or exc}") from None
        try:
            self._writer = await _connect(self.path)
            mode = await self._scalar(self._writer, "PRAGMA journal_mode=WAL")
            if str(mode).lower() != "wal":
                raise DatabaseError(f"database {self.path} could not switch to WAL (got {mode})")
            ok = await self._scalar(self._writer, "PRAGMA quick_check")
            if ok != "ok":
                raise DatabaseError(f"database {self.path} failed its integrity check: {ok}")
            applied = await apply_migrations(self._writer, self.migrations_dir)
            # No checkpoint inside a COMMIT made under the write lock (an intent would wait
            # behind it): the checkpointer below folds the WAL, without the lock.
            await self._writer.execute("PRAGMA wal_autocheckpoint=0")
            self._reader = await _connect(self.path)
            await self._reader.execute("PRAGMA query_only=ON")
            self._loop_writer = _connect_on_loop(self.path)
            self.checkpointer = WalCheckpointer(self.path, self._checkpoint_every_s)
            self.checkpointer.start()
        except sqlite3.DatabaseError as exc:
            await self.close()
            raise DatabaseError(f"database {self.path} cannot be used: {exc}") from None
        except MigrationError as exc:
            await self.close()
            raise DatabaseError(str(exc)) from None
        except DatabaseError:
            await self.close()
            raise
        return applied

    async def close(self) -> None:
        if self.checkpointer is not None:
            await self.checkpointer.stop()
            self.checkpointer = None
        if self._loop_writer is not None:
            try:
                self._loop_writer.close()
            except sqlite3.Error:  # best effort, as below
                pass
            self._loop_writer = None
        for conn in (self._reader, self._writer):
            if conn is not None:
                try:
                    await conn.close()
                except Exception:  # closing is best effort; the file stays consistent (WAL)
                    pass
        self._reader = self._writer = None

    @staticmethod
    async def _scalar(conn: aiosqlite.Connection, sql: str, params: Iterable[Any] = ()) -> Any:
        async with conn.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
        return None if row is None else row[0]

    @property
    def writer(self) -> aiosqlite.Connection:
        if self._writer is None:
            raise DatabaseError("database is not open")
        return self._writer

    @property
    def reader(self) -> aiosqlite.Connection:
        if self._reader is None:
            raise DatabaseError("database is not open")
        return self._reader

    @asynccontextmanager
    async def write(self) -> AsyncIterator[aiosqlite.Connection]:
        """One write transaction. Commits on success, rolls back on any error."""
        async with self._write_lock:
            conn = self.writer
            try:
                try:
                    # BEGIN inside the try: a BEGIN whose await is cancelled still runs.
                    await conn.execute("BEGIN IMMEDIATE")
                    yield conn
                    await conn.execute("COMMIT")
                except BaseException:
                    # Also after a refused COMMIT (disk full): the transaction is still open.
                    # Checked in the database thread, after every statement already queued:
                    # a cancelled `await` does not stop its statement, so a COMMIT cancelled
                    # here may still run, and a ROLLBACK after it must not replace the
                    # cancellation with "no transaction is active" (a task that swallowed
                    # that error would never stop).
                    await conn._execute(_rollback_if_open, conn._conn)  # type: ignore[no-untyped-call]
                    raise
            except (sqlite3.Error, OSError) as exc:  # the database refused the write
                self.storage.write_failed(exc)
                raise
            self.storage.write_succeeded()

    async def write_batch(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> None:
        """Several statements in one transaction, in ONE hop to the database thread.

        For the order path: `write()` costs a thread round trip per statement (BEGIN,
        each INSERT, COMMIT); this runs them all in the worker thread at once.
        """
        await self.write_with(_execute_each, statements)

    async def write_many(self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """Each statement with many rows (`executemany`), all in one transaction, in one hop:
        50 rows cost one statement's Python overhead, not 50 (the worker thread competes for
        the GIL with the REST threads exactly when a flatten commits its intents)."""
        await self.write_with(_execute_many, statements)

    async def write_many_now(
            self, statements: Sequence[tuple[str, Sequence[Sequence[Any]]]]) -> None:
        """`write_many`, committed on the event loop itself: for the intents that must be
        durable before their orders leave (the tick-to-order path). The write lock is
        taken as for every write (uncontended, that takes no loop turn); a file busy for
        any other reason (another process, a statement of a cancelled write still running
        in the thread) is never waited for here: the write goes the thread's way."""
        async with self._write_lock:
            conn = self._loop_writer
            if conn is not None:
                try:
                    _run_in_transaction(conn, _execute_many, (statements,))
                except (sqlite3.Error, OSError) as exc:
                    if not (isinstance(exc, sqlite3.Error) and _is_busy(exc)):
                        self.storage.write_failed(exc)  # refused (disk full): as every write
                        raise
                else:
                    self.storage.write_succeeded()
                    return
        await self.write_many(statements)

    async def write_with(self, fn: Callable[..., T], *args: Any) -> T:
        """`fn(sqlite3_connection, *args)` in one transaction, in ONE hop to the database
        thread (for writes that decide row by row: read, then write). It uses aiosqlite's
        `_execute` (its worker-thread hand-off), stable across the pinned aiosqlite range."""
        async with self._write_lock:
            conn = self.writer
            try:
                result: T = await conn._execute(  # type: ignore[no-untyped-call]
                    _run_in_transaction, conn._conn, fn, args)
            except (sqlite3.Error, OSError) as exc:  # the database refused the write
                self.storage.write_failed(exc)
                raise
            self.storage.write_succeeded()
            return result

    async def execute_write(self, sql: str, params: Iterable[Any] = ()) -> int:
        """A single write statement in its own transaction; returns lastrowid."""
        async with self.write() as conn:
            cur = await conn.execute(sql, tuple(params))
            return cur.lastrowid or 0

    async def fetch_all(self, sql: str, params: Iterable[Any] = ()) -> list[dict[str, Any]]:
        async with self.reader.execute(sql, tuple(params)) as cur:
            rows = await cur.fetchall()
        return [dict(r) for r in rows]

    async def fetch_one(self, sql: str, params: Iterable[Any] = ()) -> dict[str, Any] | None:
        async with self.reader.execute(sql, tuple(params)) as cur:
            row = await cur.fetchone()
        return None if row is None else dict(row)

    async def scalar(self, sql: str, params: Iterable[Any] = ()) -> Any:
        return await self._scalar(self.reader, sql, params)

    async def integrity_check(self) -> str:
        async with self._write_lock:  # the writer is only ever used under the lock
            return str(await self._scalar(self.writer, "PRAGMA integrity_check"))

    async def checkpoint(self) -> None:
        """Fold the WAL into the main file (at shutdown, so a copied .db file is complete)."""
        if self.checkpointer is not None:  # its PASSIVE round would only make TRUNCATE wait
            await self.checkpointer.stop()
            self.checkpointer = None
        async with self._write_lock:
            await self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
