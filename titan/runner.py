"""`titan run` and `titan migrate`: start-up checks that fail in one line, then the server.

Anything an operator can get wrong before Titan is up (a bad setting, an unwritable data
folder, a corrupt database) ends in one line naming the problem and a non-zero exit,
never a traceback. SIGINT (what PM2 sends) and SIGTERM shut down gracefully with exit 0.
"""

from __future__ import annotations

import asyncio
import sys

from aiohttp import web
from loguru import logger

from titan.logs import setup_logging
from titan.settings import Settings, SettingsError, load_settings
from titan.store.db import Database, DatabaseError, check_data_dir

EXIT_CONFIG = 2
EXIT_STARTUP = 1


def _fail(message: str, code: int) -> int:
    print(f"titan: {message}", file=sys.stderr, flush=True)
    return code


def _settings() -> Settings | int:
    try:
        return load_settings()
    except SettingsError as exc:
        return _fail(str(exc), EXIT_CONFIG)


async def _migrate(settings: Settings) -> list[str]:
    # ops: a -wal left beside a restored backup must never be replayed onto it
    from titan.ops.backup import quarantine_stale_wal
    for moved in quarantine_stale_wal(settings.database):
        logger.warning("DB_STALE_WAL_MOVED_ASIDE file={} (it belonged to the database a restore replaced)",
                       moved)
    db = Database(settings.database)
    try:
        return await db.open()
    finally:
        await db.close()


def migrate_only() -> int:
    settings = _settings()
    if isinstance(settings, int):
        return settings
    try:
        applied = asyncio.run(_migrate(settings))
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_STARTUP)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def run_titan() -> int:
    settings = _settings()
    if isinstance(settings, int):
        return settings
    setup_logging(settings.log_level.value, settings.log_json)
    # ops: one Titan per database (released when the process ends, even on kill -9)
    from titan.ops.instance import AlreadyRunning, InstanceLock
    instance_lock = InstanceLock(settings.database)
    try:
        check_data_dir(settings.database.parent)
        instance_lock.acquire()
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_STARTUP)
    except AlreadyRunning as exc:
        return _fail(str(exc), EXIT_STARTUP)
    except OSError as exc:
        return _fail(f"cannot lock {instance_lock.path}: {exc.strerror or exc}", EXIT_STARTUP)
    try:
        asyncio.run(_migrate(settings))  # pre-flight: fail in one line before serving
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_STARTUP)

    from titan.app import create_app
    from titan.core import Titan

    try:
        titan = Titan(settings)
    except (OSError, RuntimeError) as exc:
        return _fail(str(exc), EXIT_STARTUP)
    app = create_app(titan)
    logger.info("TITAN_LISTENING http://{}:{} venue={}", settings.host, settings.port,
                settings.venue.value)
    try:
        web.run_app(app, host=settings.host, port=settings.port, print=None,
                    handle_signals=True, shutdown_timeout=10, access_log=None)
    except OSError as exc:
        return _fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                     EXIT_STARTUP)
    except DatabaseError as exc:
        return _fail(str(exc), EXIT_STARTUP)
    return 0
