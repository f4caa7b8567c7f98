"""Immutable risk-configuration versions (SPEC §9): the active one is the newest row.

Version tags are the UTC time of the change, `2024-12-13T10:30:00Z`. When a second
already has a version, the next ones in it get milliseconds, `2024-12-13T10:30:00.001Z`,
`…00.002Z`, …; and if the clock ever reads earlier than the newest tag (a clock step
back), the new tag is the newest tag plus one millisecond. So every tag is a valid
ISO-8601 UTC timestamp, tags are unique, and **as timestamps** they strictly increase in
the order the versions were made (compare them parsed, not as strings: `…00Z` sorts
after `…00.001Z` as text). Listings are ordered by row id, which is that same order.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import aiosqlite

from titan.clock import iso_utc
from titan.store.db import Database


@dataclass(frozen=True, slots=True)
class ConfigVersion:
    id: int
    version_tag: str
    config: dict[str, Any]
    created_at: str
    actor: str
    source: str
    reason: str
    rolled_back_from: str | None
    strategies: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "version_tag": self.version_tag,
            "created_at": self.created_at,
            "actor": self.actor,
            "source": self.source,
            "reason": self.reason,
            "rolled_back_from": self.rolled_back_from,
            "config": self.config,
            "strategies": self.strategies,
        }


def parse_tag(tag: str) -> datetime:
    """A version tag as an aware UTC datetime; ValueError when it is not one."""
    if not tag.endswith("Z"):
        raise ValueError(f"not a version tag: {tag!r}")
    when = datetime.fromisoformat(tag[:-1] + "+00:00")
    return when.astimezone(UTC)


def format_tag(when: datetime) -> str:
    """`…:00Z` on a whole second, else `…:00.001Z` (millisecond precision)."""
    when = when.astimezone(UTC)
    if when.microsecond == 0:
        return iso_utc(when)
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"


def next_tag(now: datetime, newest: str | None, taken: set[str] | frozenset[str] = frozenset()) -> str:
    """The tag for a version made at `now`, given the newest existing tag."""
    candidate = now.astimezone(UTC).replace(microsecond=0)
    if newest is not None:
        try:
            last = parse_tag(newest)
        except ValueError:
            last = None
        if last is not None and candidate <= last:
            candidate = last.replace(microsecond=(last.microsecond // 1000) * 1000) + timedelta(
                milliseconds=1)
    tag = format_tag(candidate)
    while tag in taken:  # only if rows were written by hand with odd tags
        candidate += timedelta(milliseconds=1)
        tag = format_tag(candidate)
    return tag


_COLUMNS = ("id, version_tag, config, created_at, actor, source, reason, rolled_back_from,"
            " strategies")


def _row(row: dict[str, Any]) -> ConfigVersion:
    return ConfigVersion(
        id=int(row["id"]),
        version_tag=str(row["version_tag"]),
        config=json.loads(row["config"]),
        created_at=str(row["created_at"]),
        actor=str(row["actor"]),
        source=str(row["source"]),
        reason=str(row["reason"]),
        rolled_back_from=row["rolled_back_from"],
        strategies=json.loads(row["strategies"] or "{}"),
    )


class ConfigVersionStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def latest(self) -> ConfigVersion | None:
        row = await self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM config_versions ORDER BY id DESC LIMIT 1")
        return None if row is None else _row(row)

    async def get(self, version_tag: str) -> ConfigVersion | None:
        row = await self.db.fetch_one(
            f"SELECT {_COLUMNS} FROM config_versions WHERE version_tag = ?", (version_tag,))
        return None if row is None else _row(row)

    async def count(self) -> int:
        return int(await self.db.scalar("SELECT COUNT(*) FROM config_versions"))

    async def page(self, limit: int, before_id: int | None = None) -> list[ConfigVersion]:
        """Newest first; `before_id` pages on (rows older than that id)."""
        if before_id is None:
            rows = await self.db.fetch_all(
                f"SELECT {_COLUMNS} FROM config_versions ORDER BY id DESC LIMIT ?", (limit,))
        else:
            rows = await self.db.fetch_all(
                f"SELECT {_COLUMNS} FROM config_versions WHERE id < ? ORDER BY id DESC LIMIT ?",
                (before_id, limit))
        return [_row(r) for r in rows]

    async def insert(self, now: datetime, config: dict[str, Any], *, actor: str, source: str,
                     reason: str = "", rolled_back_from: str | None = None,
                     strategies: dict[str, Any] | None = None) -> ConfigVersion:
        """Write a new version (the new active one) with a unique tag, in one transaction."""
        async with self.db.write() as conn:
            return await self.insert_in(conn, now, config, actor=actor, source=source,
                                        reason=reason, rolled_back_from=rolled_back_from,
                                        strategies=strategies)

    @staticmethod
    async def insert_in(conn: aiosqlite.Connection, now: datetime, config: dict[str, Any], *,
                        actor: str, source: str, reason: str = "",
                        rolled_back_from: str | None = None,
                        strategies: dict[str, Any] | None = None) -> ConfigVersion:
        """As `insert`, inside the caller's write transaction."""
        async with conn.execute(
                "SELECT version_tag FROM config_versions ORDER BY id DESC LIMIT 1") as cur:
            got = await cur.fetchone()
        newest = None if got is None else str(got[0])
        tag = next_tag(now, newest)
        async with conn.execute("SELECT 1 FROM config_versions WHERE version_tag = ?",
                                (tag,)) as cur:
            clash = await cur.fetchone() is not None
        if clash:  # a hand-written older row holds this tag: step on until free
            async with conn.execute("SELECT version_tag FROM config_versions") as cur:
                taken = {str(r[0]) for r in await cur.fetchall()}
            tag = next_tag(now, newest, taken)
        created = iso_utc(now)
        body = json.dumps(config, sort_keys=True)
        strat = json.dumps(strategies or {}, sort_keys=True)
        cur = await conn.execute(
            "INSERT INTO config_versions(version_tag, config, created_at, actor, source, reason,"
            " rolled_back_from, strategies) VALUES (?,?,?,?,?,?,?,?)",
            (tag, body, created, actor, source, reason, rolled_back_from, strat))
        return ConfigVersion(id=int(cur.lastrowid or 0), version_tag=tag,
                             config=json.loads(body), created_at=created, actor=actor,
                             source=source, reason=reason, rolled_back_from=rolled_back_from,
                             strategies=json.loads(strat))
