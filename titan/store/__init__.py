"""SQLite persistence: one database file, one writer connection, forward-only migrations."""

from titan.store.db import Database, DatabaseError

__all__ = ["Database", "DatabaseError"]
