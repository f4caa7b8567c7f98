"""Write latency while a backup runs (SPEC §13: backup of a 1 GB database, no write
blocked > 50 ms).

Builds a database of SIZE_MB in a temporary folder, then commits one small row at a
time through Titan's `Database.write()` (the one writer) for a baseline, and again
while `backup_database` copies the file in a worker thread. Prints write-latency
percentiles and the maximum for both, and the backup's duration. Asserts nothing. Run:
    PYTHONPATH=. python bench/backup_writes.py [SIZE_MB=1024]
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from titan.ops.backup import backup_database
from titan.store.db import Database


async def build(db: Database, size_mb: int) -> None:
    row = os.urandom(2000).hex()  # 4 KB per row, incompressible
    rows_per_tx = 2500  # ~10 MB per transaction
    async with db.write() as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS bulk(id INTEGER PRIMARY KEY, pad TEXT)")
    for _ in range(max(1, size_mb // 10)):
        async with db.write() as conn:
            await conn.executemany("INSERT INTO bulk(pad) VALUES (?)",
                                   [(row,) for _ in range(rows_per_tx)])
    await db.checkpoint()


async def writes(db: Database, stop: asyncio.Event) -> list[float]:
    lat = []
    while not stop.is_set():
        t = time.perf_counter()
        await db.execute_write(
            "INSERT INTO events(ts, name, message) VALUES ('2026-01-01T00:00:00Z', 'BENCH', 'w')")
        lat.append(time.perf_counter() - t)
        await asyncio.sleep(0.002)  # ~ a busy trading loop, not a tight spin
    return lat


def report(name: str, lat: list[float]) -> None:
    ms = sorted(x * 1000 for x in lat)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else ms * 99
    print(f"{name:>16}: {len(ms)} writes, p50 {q[49]:.2f} ms, p99 {q[98]:.2f} ms, "
          f"max {ms[-1]:.2f} ms, over 50 ms: {sum(1 for x in ms if x > 50)}")


async def main(size_mb: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "titan.db"
        db = Database(path)
        await db.open()
        t = time.perf_counter()
        await build(db, size_mb)
        print(f"built {path.stat().st_size / 1e6:.0f} MB in {time.perf_counter() - t:.1f} s")

        stop = asyncio.Event()
        task = asyncio.create_task(writes(db, stop))
        await asyncio.sleep(3)
        stop.set()
        report("baseline", await task)

        stop = asyncio.Event()
        task = asyncio.create_task(writes(db, stop))
        t = time.perf_counter()
        res = await asyncio.to_thread(backup_database, path, Path(d) / "backups", 2)
        took = time.perf_counter() - t
        stop.set()
        report("during backup", await task)
        print(f"backup: {res.size_bytes / 1e6:.0f} MB in {took:.1f} s "
              "(copy, integrity_check, latest.db)")
        await db.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 1024))
