"""The NATS command bridge (runbook, SPEC §11): started when TITAN_NATS_URL is set.

The connection is made in the background with retries, so Titan starts even while the
NATS server is down, and reconnects (and resubscribes) whenever the server comes back.
It connects with a credential (user/password, token or a .creds file) and watches what
the server announces: a server that does not demand credentials lets anyone command
Titan, so while connected to one every command is refused (titan/ops/nats_commands.py
decides what is obeyed).

The connection state is logged on every change (`NATS_CONNECTED`, `NATS_DISCONNECTED`,
`NATS_RECONNECTED`, `NATS_CONNECT_FAILED`, `NATS_SERVER_WITHOUT_AUTH`) and reported by
`status()` for `/health`, `/api/status` and the console. `stop()` is bounded: a dead bus
never holds up shutdown.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Collection
from contextlib import suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import nats
from loguru import logger

from titan.ops.nats_commands import (
    ACTOR,
    LISTEN_SUBJECT,
    MAX_PAYLOAD,
    SUBJECT_HALT,
    SUBJECT_RELOAD,
    SUBJECT_UPDATE,
    SUBJECTS,
    CommandRouter,
    HaltCommand,
    Handlers,
    Refused,
    parse_halt,
    parse_reload,
    parse_update,
)

STOP_TIMEOUT_S = 2.0
CONNECT_TIMEOUT_S = 2.0

__all__ = [
    "ACTOR", "MAX_PAYLOAD", "SUBJECTS", "SUBJECT_HALT", "SUBJECT_RELOAD", "SUBJECT_UPDATE",
    "HaltCommand", "Handlers", "NatsBridge", "NatsCredentials", "Refused", "parse_halt",
    "parse_reload", "parse_update", "redact_url",
]

# Connection states, as /health and the console show them.
CONNECTING, CONNECTED, DISCONNECTED, INSECURE, AUTH_FAILED, STOPPED = (
    "connecting", "connected", "disconnected", "insecure", "auth_failed", "stopped")


@dataclass(frozen=True)
class NatsCredentials:
    """What Titan presents to the NATS server (a password in the URL works too)."""

    user: str | None = None
    password: str | None = None
    token: str | None = None
    creds_file: str | None = None

    def connect_kwargs(self) -> dict[str, Any]:
        kw: dict[str, Any] = {}
        if self.user:
            kw["user"], kw["password"] = self.user, self.password or ""
        if self.token:
            kw["token"] = self.token
        if self.creds_file:
            kw["user_credentials"] = self.creds_file
        return kw


def redact_url(url: str) -> str:
    """The URL without its password or token, for logs and status."""
    parts = urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    # user:password@ keeps the user; a bare token@ is all secret.
    netloc = f"{parts.username}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


class NatsBridge:
    def __init__(self, url: str, handlers: Handlers, name: str = "titan",
                 reconnect_wait_s: float = 1.0, credentials: NatsCredentials | None = None,
                 subjects: Collection[str] = SUBJECTS,
                 on_state: Callable[[str], None] | None = None) -> None:
        self.url = url
        self.safe_url = redact_url(url)
        self.handlers = handlers
        self.name = name
        self.reconnect_wait_s = reconnect_wait_s
        self.credentials = credentials or NatsCredentials()
        self.router = CommandRouter(handlers, subjects, self._server_demands_auth)
        self.on_state = on_state
        self.state = STOPPED
        self.last_error: str | None = None
        self.since = datetime.now(UTC)
        self._nc: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()

    # --- state ---------------------------------------------------------------------
    def _server_demands_auth(self) -> bool:
        info = getattr(self._nc, "_server_info", None) or {}
        return bool(info.get("auth_required"))

    def _set_state(self, state: str, error: str | None = None) -> None:
        if error is not None:
            self.last_error = error
        if state == self.state:
            return
        self.state, self.since = state, datetime.now(UTC)
        if state == CONNECTED:
            self.connected.set()
        else:
            self.connected.clear()
        if self.on_state is not None:
            self.on_state(state)

    def status(self) -> dict[str, Any]:
        return {"configured": True, "state": self.state, "connected": self.state == CONNECTED,
                "url": self.safe_url, "subjects": sorted(self.router.subjects),
                "since": self.since.isoformat().replace("+00:00", "Z"),
                "lastError": self.last_error}

    def _after_connect(self, how: str) -> None:
        """Connected (or reconnected): obey only if the server demands credentials."""
        if self._server_demands_auth():
            self._set_state(CONNECTED)
            logger.info("NATS_{} url={} subjects={}", how, self.safe_url,
                        ",".join(sorted(self.router.subjects)))
        else:
            self._set_state(INSECURE, "server does not demand credentials")
            logger.error("NATS_SERVER_WITHOUT_AUTH url={} anyone on this bus could command "
                         "Titan: every command is refused until the server demands "
                         "credentials (scripts/ops/nats-server.conf)", self.safe_url)

    # --- lifetime --------------------------------------------------------------------
    def start(self) -> None:
        """Connect (with retries) in the background; never blocks Titan's start."""
        self._closing = False
        self._set_state(CONNECTING)
        logger.info("NATS_CONNECTING url={}", self.safe_url)
        self._task = asyncio.create_task(self._connect_loop(), name="nats-bridge-connect")

    async def wait_connected(self, within_s: float) -> bool:
        with suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self.connected.wait()
        return self.connected.is_set()

    async def stop(self) -> None:
        """Close the connection, bounded: a dead or unreachable bus never delays shutdown."""
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError, Exception):
                await self._task
        nc, self._nc = self._nc, None
        if nc is not None:
            try:
                async with asyncio.timeout(STOP_TIMEOUT_S):
                    if self.state == CONNECTED:
                        with suppress(Exception):
                            await nc.drain()  # let a command being obeyed answer first
                    with suppress(Exception):
                        await nc.close()
            except TimeoutError:
                logger.warning("NATS_CLOSE_TIMEOUT url={} closed without draining",
                               self.safe_url)
        self._set_state(STOPPED)
        logger.info("NATS_STOPPED url={}", self.safe_url)

    async def _connect_loop(self) -> None:
        async def disconnected() -> None:
            if not self._closing:
                self._set_state(DISCONNECTED)
                logger.warning("NATS_DISCONNECTED url={} commands are not received until "
                               "the bus is back", self.safe_url)

        async def reconnected() -> None:
            if not self._closing:
                self._after_connect("RECONNECTED")

        async def error(exc: Exception) -> None:
            if self._closing:
                return
            text = str(exc) or type(exc).__name__
            if "authorization" in text.lower() or "permissions" in text.lower():
                # The server refused our credential or a permission: say so, not at DEBUG.
                logger.error("NATS_ERROR url={} error={}", self.safe_url, text)
                self.last_error = text
            else:
                logger.debug("NATS_ERROR {}", text)

        attempt = 0
        while not self._closing:
            try:
                nc = await nats.connect(
                    servers=[self.url], name=self.name, connect_timeout=CONNECT_TIMEOUT_S,
                    allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=self.reconnect_wait_s,
                    disconnected_cb=disconnected, reconnected_cb=reconnected,
                    error_cb=error, **self.credentials.connect_kwargs())
            except Exception as exc:
                attempt += 1
                text = str(exc) or type(exc).__name__
                refused = "authorization" in text.lower()
                self._set_state(AUTH_FAILED if refused else CONNECTING, text)
                if attempt == 1 or attempt % 30 == 0:
                    logger.log("ERROR" if refused else "WARNING",
                               "NATS_CONNECT_FAILED url={} attempt={} error={}{}",
                               self.safe_url, attempt, text,
                               " (the server refused Titan's credential: check "
                               "TITAN_NATS_USER/PASSWORD/TOKEN/CREDS)" if refused else "")
                await asyncio.sleep(min(self.reconnect_wait_s * attempt, 10))
                continue
            self._nc = nc
            await nc.subscribe(LISTEN_SUBJECT, cb=self._on_message)
            await nc.flush()
            self._after_connect("CONNECTED")
            return

    # --- commands --------------------------------------------------------------------
    async def _on_message(self, msg: Any) -> None:
        result = await self.handle(msg.subject, msg.data)
        if getattr(msg, "reply", None):
            try:
                await msg.respond(json.dumps(result).encode())
            except Exception as exc:
                logger.warning("NATS_REPLY_FAILED subject={} error={}", msg.subject, exc)

    async def handle(self, subject: str, payload: bytes) -> dict[str, Any]:
        """Validate and obey one command. Returns {"ok": bool, "error"?: str}."""
        return await self.router.handle(subject, payload)
