"""Forward-only migrations: `migrations/NNNN_name.sql`, applied in order, each in one transaction.

A migration that fails leaves the database exactly as it was (SQLite DDL is
transactional). Applied migrations are recorded in `schema_migrations` with a checksum;
an applied file that has since changed is refused rather than silently ignored.
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiosqlite

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


class MigrationError(Exception):
    pass


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def default_migrations_dir() -> Path:
    env = os.environ.get("TITAN_MIGRATIONS_DIR")
    if env:
        return Path(env)
    # The repository's top-level migrations/ (Titan runs from its checkout under PM2).
    return Path(__file__).resolve().parents[2] / "migrations"


def load_migrations(folder: Path) -> list[Migration]:
    if not folder.is_dir():
        raise MigrationError(f"migrations folder {folder} does not exist")
    found: list[Migration] = []
    for path in sorted(folder.iterdir()):
        if path.suffix != ".sql":
            continue
        m = _NAME.match(path.name)
        if not m:
            raise MigrationError(f"migration file {path.name} is not named NNNN_name.sql")
        found.append(Migration(int(m.group(1)), m.group(2), path.read_text()))
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError("two migration files share a version number")
    return found


async def apply_migrations(conn: aiosqlite.Connection, folder: Path) -> list[str]:
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL,"
        " applied_at TEXT NOT NULL)"
    )
    async with conn.execute("SELECT version, name, checksum FROM schema_migrations") as cur:
        done = {row[0]: (row[1], row[2]) for row in await cur.fetchall()}
    applied: list[str] = []
    for mig in load_migrations(folder):
        if mig.version in done:
            if done[mig.version][1] != mig.checksum:
                raise MigrationError(
                    f"migration {mig.version:04d}_{mig.name} was changed after it was applied"
                )
            continue
        now = datetime.now(UTC).isoformat()
        script = (
            "BEGIN IMMEDIATE;\n"
            f"{mig.sql}\n;\n"
            "INSERT INTO schema_migrations(version, name, checksum, applied_at) VALUES "
            f"({mig.version}, '{mig.name}', '{mig.checksum}', '{now}');\n"
            "COMMIT;"
        )
        try:
            await conn.executescript(script)
        except sqlite3.Error as exc:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
            raise MigrationError(f"migration {mig.version:04d}_{mig.name} failed: {exc}") from None
        applied.append(f"{mig.version:04d}_{mig.name}")
    return applied
