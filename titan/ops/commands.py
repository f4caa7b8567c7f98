"""`titan backup` and `titan restore FILE`: what the operator runs by hand.

Both read the same settings as `titan run` (TITAN_DATA_DIR, TITAN_DB_PATH,
TITAN_BACKUP_DIR, TITAN_BACKUP_KEEP) and end in one line on failure with exit 1.
"""

from __future__ import annotations

import socket
import sys
from pathlib import Path

from titan.exits import fail, settings_or_exit
from titan.ops.backup import BackupError, backup_database, restore_database
from titan.ops.instance import AlreadyRunning, InstanceLock, holder_pid

EXIT_FAILED = 1


def _fail(message: str, code: int = EXIT_FAILED) -> int:
    return fail(message, code)


def backup_now() -> int:
    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    try:
        result = backup_database(settings.database, settings.backups, settings.backup_keep)
    except BackupError as exc:
        return _fail(str(exc))
    print(result.path)
    print(f"backup ok: {result.size_bytes} bytes in {result.duration_s:.2f}s, "
          f"integrity ok, {result.latest} updated, {len(result.pruned)} old backup(s) pruned",
          file=sys.stderr)
    return 0


def _port_in_use(host: str, port: int) -> bool:
    target = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
    try:
        with socket.create_connection((target, port), timeout=0.5):
            return True
    except OSError:
        return False


def restore(file: str) -> int:
    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    db = settings.database
    pid = holder_pid(db)
    if pid is not None:
        who = f" (pid {pid})" if pid else ""
        return _fail(f"Titan is running on {db}{who}; stop it first (pm2 stop titan-core), "
                     "then restore")
    if settings.port and _port_in_use(settings.host, settings.port):
        return _fail(f"something is listening on {settings.host}:{settings.port} "
                     "(Titan still running?); stop it first (pm2 stop titan-core), then restore")
    try:
        with InstanceLock(db):
            result = restore_database(Path(file), db)
    except AlreadyRunning as exc:
        return _fail(f"{exc}; stop it first (pm2 stop titan-core), then restore")
    except BackupError as exc:
        return _fail(str(exc))
    except OSError as exc:
        return _fail(f"restore failed: {exc}")
    print(f"restored {result.restored_from} -> {result.db_path}")
    if result.previous is not None:
        print(f"previous database kept as {result.previous}")
    return 0
