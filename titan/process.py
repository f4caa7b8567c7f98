"""`titan run` and `titan migrate`: start-up checks that fail in one line, then the server.

Anything an operator can get wrong before Titan is up (a bad setting, an unwritable data
folder, a corrupt database, a port already in use) ends in one line naming the problem
and a non-zero exit, never a traceback. The listening socket is bound before anything
else starts: a port in use must stop Titan before it says it is listening or starts any
trading machinery (the simulator, venue connections, the NATS bridge). SIGINT (what PM2
sends) and SIGTERM shut down gracefully with exit 0.
"""

from __future__ import annotations

import asyncio
import os
import socket

from aiohttp import web
from loguru import logger

from titan.exits import EXIT_STARTUP, fail, settings_or_exit
from titan.logs import setup_logging
from titan.settings import Settings
from titan.store.db import Database, DatabaseError, check_data_dir


def bind_listener(host: str, port: int) -> socket.socket:
    """The app's listening socket, bound now (OSError if the address is taken)."""
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                               flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as aiohttp does
        sock.bind(addr)
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


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
    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    private_files()
    try:
        applied = asyncio.run(_migrate(settings))
    except DatabaseError as exc:
        return fail(str(exc), EXIT_STARTUP)
    print(f"migrations applied: {', '.join(applied) if applied else 'none (up to date)'}")
    return 0


def private_files() -> None:
    """Whatever this process creates (database, backups, lock, secrets) is its user's only."""
    os.umask(0o077)


def run_titan() -> int:
    settings = settings_or_exit()
    if isinstance(settings, int):
        return settings
    private_files()
    setup_logging(settings.log_level.value, settings.log_json)
    # ops: one Titan per database (released when the process ends, even on kill -9)
    from titan.ops.instance import AlreadyRunning, InstanceLock
    instance_lock = InstanceLock(settings.database)
    try:
        check_data_dir(settings.database.parent)
        instance_lock.acquire()
    except DatabaseError as exc:
        return fail(str(exc), EXIT_STARTUP)
    except AlreadyRunning as exc:
        return fail(str(exc), EXIT_STARTUP)
    except OSError as exc:
        return fail(f"cannot lock {instance_lock.path}: {exc.strerror or exc}", EXIT_STARTUP)
    try:
        sock = bind_listener(settings.host, settings.port)  # before anything starts
    except OSError as exc:
        return fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                    EXIT_STARTUP)
    try:
        asyncio.run(_migrate(settings))  # pre-flight: fail in one line before serving
    except DatabaseError as exc:
        sock.close()
        return fail(str(exc), EXIT_STARTUP)

    try:
        from titan.app import create_app
        from titan.core import Titan
    except ImportError as exc:  # a broken install: nats-py and the rest are core dependencies
        sock.close()
        return fail(f"Titan's install is incomplete ({exc}); reinstall it: pip install -e .",
                    EXIT_STARTUP)

    try:
        titan = Titan(settings)
    except (OSError, RuntimeError) as exc:
        sock.close()
        return fail(str(exc), EXIT_STARTUP)
    app = create_app(titan)
    bound = sock.getsockname()
    logger.info("TITAN_LISTENING http://{}:{} venue={}", settings.host, bound[1],
                settings.venue.value)
    try:
        web.run_app(app, sock=sock, print=None,
                    handle_signals=True, shutdown_timeout=10, access_log=None)
    except OSError as exc:
        return fail(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}",
                     EXIT_STARTUP)
    except DatabaseError as exc:
        return fail(str(exc), EXIT_STARTUP)
    return 0
