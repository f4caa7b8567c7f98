"""Files only Titan's user may read: the database, its -wal/-shm, backups (mode 0600).

They hold the whole trading history, the audit log and the account's positions. SQLite
gives a new -wal/-shm the mode of the database file itself, so making the main file
0600 before SQLite opens it covers the side files too; `make_private` also tightens files
left 0644 by an older Titan.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_MODE = 0o600
SIDE_SUFFIXES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """chmod 0600 if the file exists (and is not already)."""
    try:
        if path.stat().st_mode & 0o777 != PRIVATE_MODE:
            os.chmod(path, PRIVATE_MODE)
    except FileNotFoundError:
        pass


def create_private(path: Path) -> None:
    """Create the file empty with mode 0600 if it does not exist; tighten it if it does."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_MODE)
    except FileExistsError:
        make_private(path)
        return
    os.close(fd)
    make_private(path)  # O_CREAT's mode is masked by the umask; 0600 needs no masking, but be sure


def private_database(path: Path) -> None:
    """The database file (created 0600 if new) and any side files it has, all 0600."""
    create_private(path)
    for suffix in SIDE_SUFFIXES:
        make_private(path.with_name(path.name + suffix))
