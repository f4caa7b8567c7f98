import asyncio
import sqlite3
import threading
from pathlib import Path

import pytest

from titan.store.db import Database, DatabaseError


async def test_open_sets_wal_foreign_keys_busy_timeout_and_records_migrations(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    assert await db.open() == ["0001_init", "0002_strategy_settings", "0003_hunter_positions",
                             "0004_quant", "0005_spot_leg"]
    try:
        assert (await db.scalar("PRAGMA journal_mode")).lower() == "wal"
        assert await db.scalar("PRAGMA foreign_keys") == 1
        assert await db.scalar("PRAGMA busy_timeout") >= 5000
        rows = await db.fetch_all("SELECT version, name FROM schema_migrations")
        assert rows == [{"version": 1, "name": "init"},
                        {"version": 2, "name": "strategy_settings"},
                        {"version": 3, "name": "hunter_positions"},
                        {"version": 4, "name": "quant"},
                        {"version": 5, "name": "spot_leg"}]
        tables = {r["name"] for r in await db.fetch_all(
            "SELECT name FROM sqlite_master WHERE type='table'")}
        for needed in ("system_state", "config_versions", "intents", "orders", "fills",
                       "positions", "trades", "equity_snapshots", "events", "audit_log",
                       "traps", "reconciliations", "quant_runs", "quant_proposals",
                       "spot_orders", "spot_fills", "spot_holdings"):
            assert needed in tables
    finally:
        await db.close()
    again = Database(tmp_path / "t.db")
    assert await again.open() == []  # nothing applied twice
    await again.close()


async def test_write_rolls_back_on_error(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        with pytest.raises(RuntimeError):
            async with db.write() as conn:
                await conn.execute("INSERT INTO system_state VALUES ('k', '{}', 'now')")
                raise RuntimeError("crash mid-transaction")
        assert await db.fetch_all("SELECT * FROM system_state") == []
    finally:
        await db.close()


async def test_failing_migration_leaves_database_as_it_was(tmp_path: Path) -> None:
    migs = tmp_path / "migs"
    migs.mkdir()
    (migs / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    db = Database(tmp_path / "t.db", migrations_dir=migs)
    await db.open()
    await db.close()
    (migs / "0002_b.sql").write_text(
        "CREATE TABLE b (y INTEGER);\nINSERT INTO a VALUES (1);\nTHIS IS NOT SQL;"
    )
    db = Database(tmp_path / "t.db", migrations_dir=migs)
    with pytest.raises(DatabaseError, match="0002_b failed"):
        await db.open()
    con = sqlite3.connect(tmp_path / "t.db")
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert "b" not in tables
    assert con.execute("SELECT count(*) FROM a").fetchone()[0] == 0
    assert [r[0] for r in con.execute("SELECT version FROM schema_migrations")] == [1]
    con.close()


async def test_changed_applied_migration_is_refused(tmp_path: Path) -> None:
    migs = tmp_path / "migs"
    migs.mkdir()
    (migs / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER);")
    db = Database(tmp_path / "t.db", migrations_dir=migs)
    await db.open()
    await db.close()
    (migs / "0001_a.sql").write_text("CREATE TABLE a (x INTEGER, y INTEGER);")
    with pytest.raises(DatabaseError, match="changed after it was applied"):
        await Database(tmp_path / "t.db", migrations_dir=migs).open()


async def test_corrupt_file_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "t.db").write_bytes(b"this is not a database" * 500)
    with pytest.raises(DatabaseError, match="cannot be used"):
        await Database(tmp_path / "t.db").open()


async def test_unusable_data_folder_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(DatabaseError, match="not writable"):
        await Database(blocker / "titan.db").open()


async def test_a_write_cancelled_at_any_point_ends_cancelled_and_leaves_no_transaction(
        tmp_path: Path) -> None:
    """A task cancelled inside `write()` (Titan stopping while a strategy persists its
    traps) must end *cancelled*. aiosqlite does not stop a statement whose `await` is
    cancelled, so a cancelled COMMIT can still commit in the database thread; the
    rollback that follows used to fail with "no transaction is active" and replace the
    cancellation — a loop catching `Exception` then never stopped, and shutdown hung."""
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        async def persist(i: int) -> None:
            async with db.write() as conn:
                await conn.execute("INSERT OR REPLACE INTO system_state VALUES (?, '{}', 'now')",
                                   (f"k{i}",))

        outcomes: dict[str, int] = {}
        for i in range(400):
            task = asyncio.create_task(persist(i))
            for _ in range(i % 9):  # cancel at a different step of the transaction each time
                await asyncio.sleep(0)
            task.cancel()
            result = (await asyncio.gather(task, return_exceptions=True))[0]
            kind = "done" if result is None else type(result).__name__
            outcomes[kind] = outcomes.get(kind, 0) + 1
            assert kind in ("done", "CancelledError"), (i, repr(result))
            assert not db.writer.in_transaction  # nothing left open for the next writer
        assert outcomes.get("CancelledError", 0) > 0, outcomes
        async with db.write() as conn:  # the connection still takes writes
            await conn.execute("INSERT OR REPLACE INTO system_state VALUES ('after', '{}', 'now')")
        assert await db.scalar("SELECT COUNT(*) FROM system_state WHERE key = 'after'") == 1
    finally:
        await db.close()


INTENT_ROW = ("INSERT INTO system_state VALUES (?, '{}', 'now')", [("intent-1",), ("intent-2",)])


async def test_intents_commit_on_the_loop_without_the_database_thread(tmp_path: Path) -> None:
    """The order path's commit does not hop to aiosqlite's thread: it completes while that
    thread is held busy (on the thread path it would wait for it)."""
    db = Database(tmp_path / "t.db")
    await db.open()
    release = threading.Event()
    try:
        held = asyncio.ensure_future(db.writer._execute(release.wait, 10))
        await asyncio.sleep(0.05)  # the writer's thread is now blocked in release.wait
        await asyncio.wait_for(db.write_many_now([INTENT_ROW]), timeout=5)
        assert not held.done()
        assert await db.scalar("SELECT COUNT(*) FROM system_state") == 2  # durable, visible
    finally:
        release.set()
        await held
        await db.close()


async def test_a_busy_file_never_stalls_the_loop_the_write_goes_the_threads_way(
        tmp_path: Path) -> None:
    """Another connection holds the write lock: the loop's commit must not wait for it on
    the loop (busy_timeout 0 there); it goes through the thread path, which waits its turn."""
    db = Database(tmp_path / "t.db")
    await db.open()
    other = sqlite3.connect(str(tmp_path / "t.db"), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        other.execute("INSERT INTO system_state VALUES ('other', '{}', 'now')")
        write = asyncio.ensure_future(db.write_many_now([INTENT_ROW]))
        ticks = 0
        while ticks < 20:  # the loop keeps turning while the write waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not write.done()
        other.execute("COMMIT")
        await asyncio.wait_for(write, timeout=15)
        assert await db.scalar("SELECT COUNT(*) FROM system_state") == 3
        assert db.storage.failed_writes == 0  # busy is not a refused write
    finally:
        other.close()
        await db.close()


async def test_the_loop_connection_never_checkpoints(tmp_path: Path) -> None:
    db = Database(tmp_path / "t.db")
    await db.open()
    try:
        assert db._loop_writer is not None
        assert db._loop_writer.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        assert db._loop_writer.execute("PRAGMA busy_timeout").fetchone()[0] == 0
        # Nor does the thread writer (its COMMITs run under the write lock an intent needs).
        assert await db._scalar(db.writer, "PRAGMA wal_autocheckpoint") == 0
    finally:
        await db.close()


async def test_the_wal_is_folded_off_the_write_path_without_the_write_lock(
        tmp_path: Path) -> None:
    """Neither writer checkpoints; the checkpointer does, in its own thread, and it does so
    while the write lock is held (an intent commit never waits behind a checkpoint)."""
    db = Database(tmp_path / "t.db", checkpoint_every_s=3600)  # only the explicit round below
    await db.open()
    try:
        assert db.checkpointer is not None
        await db.write_many_now([("INSERT INTO system_state VALUES ('small', '{}', 'now')", [()])])
        assert await db.checkpointer.run_once() is None  # a small WAL is left as it is
        rows = [(f"k{i}", "x" * 2000) for i in range(3000)]  # ~6 MB: past 1,000 pages
        await db.write_many([("INSERT INTO system_state VALUES (?, ?, 'now')", rows)])
        await db.write_many_now([INTENT_ROW])
        assert db.checkpointer is not None
        async with db._write_lock:  # a writer holds the lock: the checkpoint still runs
            result = await asyncio.wait_for(db.checkpointer.run_once(), 10)
        assert result is not None  # the WAL is past the threshold: it was folded
        busy, frames, done = result
        # > 1,000 frames: no commit folded it (an automatic checkpoint would have, and the
        # second commit would have started the WAL over); then all of it folded.
        assert busy == 0 and frames > 1000 and done == frames
        assert await db.scalar("SELECT COUNT(*) FROM system_state") == 3003
    finally:
        await db.close()
