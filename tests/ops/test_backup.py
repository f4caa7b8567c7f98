"""Backups and restores: online backup, integrity, latest.db, pruning, restore safety,
and the manual's `cp latest.db titan.db` with a stale -wal beside it."""

from __future__ import annotations

import asyncio
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.helpers import make_titan, start_titan, titan_env, wait_http
from titan.events import BackupDone
from titan.ops.backup import (
    BackupError,
    backup_database,
    integrity_check,
    list_backups,
    quarantine_stale_wal,
    restore_database,
)
from titan.ops.instance import InstanceLock, holder_pid

T0 = datetime(2026, 11, 22, 0, 30, tzinfo=UTC)


def _make_db(path: Path, rows: int = 10) -> None:
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("CREATE TABLE IF NOT EXISTS t(x INTEGER, pad TEXT)")
    con.executemany("INSERT INTO t VALUES (?, ?)", [(i, "x" * 200) for i in range(rows)])
    con.close()


def _count(path: Path, table: str = "t") -> int:
    con = sqlite3.connect(path)
    try:
        return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        con.close()


def _header_mode(path: Path) -> int:
    return path.read_bytes()[18]


def test_backup_writes_named_file_latest_and_checks_integrity(tmp_path: Path) -> None:
    db, out = tmp_path / "titan.db", tmp_path / "backups"
    _make_db(db, 500)
    res = backup_database(db, out, keep=14, now=T0, pages=3)  # many small steps
    assert res.path == out / "titan-20261122-003000.db"
    assert res.latest == out / "latest.db"
    for f in (res.path, res.latest):
        assert integrity_check(f) == "ok"
        assert _count(f) == 500
        assert _header_mode(f) == 1  # a standalone file: not WAL, no -wal needed
    assert not list(out.glob(".*tmp"))  # no temporary file left behind


def test_prune_keeps_the_newest(tmp_path: Path) -> None:
    db, out = tmp_path / "titan.db", tmp_path / "backups"
    _make_db(db)
    for i in range(5):
        backup_database(db, out, keep=3, now=T0 + timedelta(days=i))
    names = [p.name for p in list_backups(out)]
    assert names == ["titan-20261124-003000.db", "titan-20261125-003000.db",
                     "titan-20261126-003000.db"]
    assert (out / "latest.db").exists()
    # two in the same second are both kept
    backup_database(db, out, keep=10, now=T0 + timedelta(days=4))
    assert len(list_backups(out)) == 4


def test_backup_of_missing_db_fails_in_one_line(tmp_path: Path) -> None:
    with pytest.raises(BackupError, match="does not exist"):
        backup_database(tmp_path / "nope.db", tmp_path / "b", keep=3)


async def test_backup_while_titan_writes_is_consistent_and_never_stops_writes(
        tmp_path: Path) -> None:
    titan = make_titan(tmp_path / "data")
    await titan.start()
    try:
        async with titan.db.write() as conn:
            await conn.execute("CREATE TABLE load(x INTEGER, pad TEXT)")
            await conn.executemany("INSERT INTO load VALUES (?, ?)",
                                   [(i, "p" * 500) for i in range(20_000)])
        written = 0
        done = asyncio.Event()

        async def writer() -> None:
            nonlocal written
            while not done.is_set():
                await titan.db.execute_write("INSERT INTO load VALUES (?, 'w')", (written,))
                written += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(writer())
        before = written

        def mid_copy(done_pages: int, total: int) -> None:
            # Called inside the copy's read transaction: once, mid-copy, give the writer up
            # to 20 s to commit. A small copy on a loaded machine could otherwise finish
            # before the writer's first turn; a copy that blocked writes still fails.
            if done_pages < total and not waited:
                waited.append(True)
                deadline = time.monotonic() + 20
                while written == before and time.monotonic() < deadline:
                    time.sleep(0.005)

        waited: list[bool] = []
        res = await asyncio.to_thread(backup_database, titan.settings.database,
                                      titan.settings.backups, 14, None, 64, 0.001, mid_copy)
        during = written - before
        done.set()
        await task
        assert during > 0  # the writer kept committing while the copy ran
        assert integrity_check(res.path) == "ok"
        assert _count(res.path, "load") >= 20_000
        # the job publishes BackupDone
        seen: list[BackupDone] = []
        titan.bus.subscribe(lambda e: seen.append(e) if isinstance(e, BackupDone) else None)
        result = await titan.backups.run()
        assert result is not None and seen and seen[0].data["file"] == str(result.path)
        assert "nightly-backup" in titan.scheduler.jobs()
    finally:
        await titan.stop()


def test_restore_keeps_previous_removes_wal_and_replaces(tmp_path: Path) -> None:
    db, out = tmp_path / "data" / "titan.db", tmp_path / "backups"
    db.parent.mkdir()
    _make_db(db, 3)
    backup = backup_database(db, out, keep=3, now=T0).path
    _make_db(db, 7)  # now 10 rows
    (db.parent / "titan.db-wal").write_bytes(b"")
    (db.parent / "titan.db-shm").write_bytes(b"x")
    res = restore_database(backup, db, now=T0)
    assert _count(db) == 3
    assert res.previous is not None and _count(res.previous) == 10
    assert res.previous.name == "titan.db.before-restore-20261122-003000"
    assert not (db.parent / "titan.db-wal").exists()
    assert not (db.parent / "titan.db-shm").exists()


def test_restore_refuses_a_corrupt_file_and_changes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "titan.db"
    _make_db(db, 4)
    bad = tmp_path / "bad.db"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00garbage" * 2000)
    with pytest.raises(BackupError, match=r"integrity|usable"):
        restore_database(bad, db)
    assert _count(db) == 4
    assert not list(tmp_path.glob("titan.db.before-restore-*"))


def test_stale_wal_beside_a_restored_backup_is_moved_aside(tmp_path: Path) -> None:
    db = tmp_path / "titan.db"
    _make_db(db, 2)
    latest = backup_database(db, tmp_path / "b", keep=3).latest
    # a "crash": the live database has committed frames only in its -wal
    live = sqlite3.connect(db, isolation_level=None)
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.executemany("INSERT INTO t VALUES (?, 'late')", [(i,) for i in range(50)])
    shutil.copyfile(tmp_path / "titan.db-wal", tmp_path / "saved-wal")
    live.close()
    shutil.copyfile(latest, db)
    shutil.copyfile(tmp_path / "saved-wal", tmp_path / "titan.db-wal")
    moved = quarantine_stale_wal(db)
    assert [p.name.split(".stale-")[0] for p in moved] == ["titan.db-wal"]
    assert _count(db) == 2  # the backup's rows, not the replaced database's
    # a live Titan database (WAL header) keeps its -wal: that is crash recovery
    live = sqlite3.connect(db, isolation_level=None)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.execute("INSERT INTO t VALUES (1, 'wal')")
    assert quarantine_stale_wal(db) == []
    live.close()


def test_instance_lock(tmp_path: Path) -> None:
    db = tmp_path / "titan.db"
    assert holder_pid(db) is None
    with InstanceLock(db):
        assert holder_pid(db) is not None
    assert holder_pid(db) is None


def _titan(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "titan", *args], env=env, cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_cli_backup_restore_and_cp_latest_over_a_crashed_db(tmp_path: Path,
                                                            free_port: int) -> None:
    data = tmp_path / "data"
    env = titan_env(data, free_port)
    proc = start_titan(["run"], env, tmp_path / "run1.log")
    try:
        assert wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc) == 200
        res = _titan(["backup"], env, tmp_path)  # while Titan runs
        assert res.returncode == 0, res.stderr
        first = Path(res.stdout.strip().splitlines()[-1])
        assert first.parent == data / "backups" and integrity_check(first) == "ok"
        refused = _titan(["restore", str(first)], env, tmp_path)
        assert refused.returncode == 1 and "running" in refused.stderr
        assert "Traceback" not in refused.stderr
        # a second Titan on the same database refuses to start (even on another port)
        other = _titan(["run"], {**env, "TITAN_PORT": "0"}, tmp_path)
        assert other.returncode == 1 and "another Titan" in other.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    events_in_backup = _count(data / "backups" / "latest.db", "events")

    # stopped: backup and restore both work
    res = _titan(["backup"], env, tmp_path)
    assert res.returncode == 0, res.stderr
    res = _titan(["restore", str(first)], env, tmp_path)
    assert res.returncode == 0, res.stderr
    assert "previous database kept as" in res.stdout
    assert list(data.glob("titan.db.before-restore-*"))

    # a crash leaves a -wal full of frames, then the operator copies latest.db over the db
    live = sqlite3.connect(data / "titan.db", isolation_level=None)
    live.execute("PRAGMA journal_mode=WAL")  # as Titan left it
    live.execute("PRAGMA wal_autocheckpoint=0")
    live.executemany("INSERT INTO events(ts, name, message) VALUES ('t', 'CRASHED', 'x')",
                     [() for _ in range(100)])
    shutil.copyfile(data / "titan.db-wal", tmp_path / "crash-wal")
    live.close()
    shutil.copyfile(data / "backups" / "latest.db", data / "titan.db")  # the manual's cp
    shutil.copyfile(tmp_path / "crash-wal", data / "titan.db-wal")
    proc = start_titan(["run"], env, tmp_path / "run2.log")
    try:
        assert wait_http(f"http://127.0.0.1:{free_port}/health", proc=proc) == 200
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    log = (tmp_path / "run2.log").read_text()
    assert "DB_STALE_WAL_MOVED_ASIDE" in log, log
    assert integrity_check(data / "titan.db") == "ok"
    con = sqlite3.connect(data / "titan.db")
    crashed = con.execute("SELECT count(*) FROM events WHERE name='CRASHED'").fetchone()[0]
    total = con.execute("SELECT count(*) FROM events").fetchone()[0]
    con.close()
    assert crashed == 0 and total >= events_in_backup
    assert list(data.glob("titan.db-wal.stale-*"))
