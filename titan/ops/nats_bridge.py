"""The NATS command bridge (runbook, SPEC §11): only started when TITAN_NATS_URL is set.

Subscribes to the runbook's subjects and validates each payload exactly as the runbook
prints it before calling Titan:

| subject | payload | calls |
|---|---|---|
| `titan.cmd.sys.halt` | `{"state": "HARD_HALT"|"SOFT_HALT"|"OPEN", "reason": "…", "timestamp": 1700000000}` (timestamp optional) | `on_halt(state, reason, actor)` |
| `titan.cmd.risk.reload` | `{}` | `on_risk_reload(actor)` |
| `titan.cmd.risk.update` | a partial risk config, e.g. `{"maxAccountLeverage": 5.0}` | `on_risk_update(changes, actor)` |

`maxAccountLeverage` is passed on as `maxLeverage` (its alias). Ranges are checked by
the config service behind `on_risk_update`; the bridge checks shape and types. Anything
malformed is refused: logged `NATS_COMMAND_REFUSED subject=… why=…`, nothing called.
A handler that raises is logged `NATS_COMMAND_FAILED`. A request with a reply subject
(`nats req …`) gets `{"ok": true}` or `{"ok": false, "error": "…"}` back.

The connection is made in the background with retries, so Titan starts even while the
NATS server is down, and reconnects (and resubscribes) whenever the server comes back.
nats-py is imported only here, and this module only when TITAN_NATS_URL is set.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

SUBJECT_HALT = "titan.cmd.sys.halt"
SUBJECT_RELOAD = "titan.cmd.risk.reload"
SUBJECT_UPDATE = "titan.cmd.risk.update"
SUBJECTS = (SUBJECT_HALT, SUBJECT_RELOAD, SUBJECT_UPDATE)
ACTOR = "nats"
MAX_PAYLOAD = 16 * 1024

HaltHandler = Callable[[str, str, str], Awaitable[Any]]
UpdateHandler = Callable[[dict[str, Any], str], Awaitable[Any]]
ReloadHandler = Callable[[str], Awaitable[Any]]

NUMERIC_RISK_FIELDS = frozenset({
    "maxRiskPerTrade", "maxDailyDrawdown", "maxLeverage", "maxPositionNotional",
    "maxOpenOrdersPerSymbol", "maxStalenessMs", "consecutiveLossLimit", "volatilityMovePct",
    "volatilityWindowS", "cooldownHours",
})
ALIASES = {"maxAccountLeverage": "maxLeverage"}


class Refused(Exception):
    """A command that is not obeyed; the message says why."""


class HaltCommand(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    state: Literal["HARD_HALT", "SOFT_HALT", "OPEN"]
    reason: str = Field(min_length=1, max_length=500)
    timestamp: StrictInt | None = None

    @field_validator("reason")
    @classmethod
    def _not_blank(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("reason must not be blank")
        return v.strip()


def _json_object(payload: bytes) -> dict[str, Any]:
    if len(payload) > MAX_PAYLOAD:
        raise Refused(f"payload larger than {MAX_PAYLOAD} bytes")
    try:
        data = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise Refused(f"payload is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise Refused("payload must be a JSON object")
    return data


def parse_halt(payload: bytes) -> HaltCommand:
    data = _json_object(payload)
    try:
        return HaltCommand.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                        for e in exc.errors())
        raise Refused(why) from None


def parse_reload(payload: bytes) -> None:
    if payload.strip() == b"":
        return
    if _json_object(payload):
        raise Refused("titan.cmd.risk.reload takes an empty object {}")


def _number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and v == v  # not NaN


def parse_update(payload: bytes) -> dict[str, Any]:
    data = _json_object(payload)
    if not data:
        raise Refused("no field to change")
    changes: dict[str, Any] = {}
    for key, value in data.items():
        name = ALIASES.get(key, key)
        if name in NUMERIC_RISK_FIELDS:
            if not _number(value):
                raise Refused(f"{key}: must be a number")
        elif name == "whitelist":
            if not isinstance(value, list) or not all(isinstance(s, str) and s for s in value):
                raise Refused("whitelist: must be a list of symbols")
        else:
            raise Refused(f"{key}: not a risk configuration field")
        if name in changes and changes[name] != value:
            raise Refused(f"{key}: conflicts with {name}")
        changes[name] = value
    return changes


@dataclass
class Handlers:
    on_halt: HaltHandler
    on_risk_update: UpdateHandler
    on_risk_reload: ReloadHandler


class NatsBridge:
    def __init__(self, url: str, handlers: Handlers, name: str = "titan",
                 reconnect_wait_s: float = 1.0) -> None:
        self.url = url
        self.handlers = handlers
        self.name = name
        self.reconnect_wait_s = reconnect_wait_s
        self._nc: Any = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.connected = asyncio.Event()

    # --- lifetime --------------------------------------------------------------------
    def start(self) -> None:
        """Connect (with retries) in the background; never blocks Titan's start."""
        self._task = asyncio.create_task(self._connect_loop(), name="nats-bridge-connect")

    async def wait_connected(self, within_s: float) -> bool:
        with suppress(TimeoutError):
            async with asyncio.timeout(within_s):
                await self.connected.wait()
        return self.connected.is_set()

    async def stop(self) -> None:
        self._closing = True
        if self._task is not None:
            self._task.cancel()
            with suppress(asyncio.CancelledError):
                await self._task
        if self._nc is not None:
            with suppress(Exception):
                await self._nc.drain()
            with suppress(Exception):
                await self._nc.close()
        self.connected.clear()

    async def _connect_loop(self) -> None:
        import nats

        async def disconnected() -> None:
            self.connected.clear()
            if not self._closing:
                logger.warning("NATS_DISCONNECTED url={}", self.url)

        async def reconnected() -> None:
            self.connected.set()
            logger.info("NATS_RECONNECTED url={}", self.url)

        async def error(exc: Exception) -> None:
            if not self._closing:
                logger.debug("NATS_ERROR {}", exc)

        attempt = 0
        while not self._closing:
            try:
                nc = await nats.connect(
                    servers=[self.url], name=self.name, connect_timeout=2,
                    allow_reconnect=True, max_reconnect_attempts=-1,
                    reconnect_time_wait=self.reconnect_wait_s,
                    disconnected_cb=disconnected, reconnected_cb=reconnected,
                    error_cb=error)
            except Exception as exc:
                attempt += 1
                if attempt == 1 or attempt % 30 == 0:
                    logger.warning("NATS_CONNECT_FAILED url={} attempt={} error={}", self.url,
                                   attempt, exc)
                await asyncio.sleep(min(self.reconnect_wait_s * attempt, 10))
                continue
            self._nc = nc
            for subject in SUBJECTS:
                await nc.subscribe(subject, cb=self._on_message)
            await nc.flush()
            self.connected.set()
            logger.info("NATS_CONNECTED url={} subjects={}", self.url, ",".join(SUBJECTS))
            return

    # --- commands --------------------------------------------------------------------
    async def _on_message(self, msg: Any) -> None:
        result = await self.handle(msg.subject, msg.data)
        if getattr(msg, "reply", None):
            with suppress(Exception):
                await msg.respond(json.dumps(result).encode())

    async def handle(self, subject: str, payload: bytes) -> dict[str, Any]:
        """Validate and obey one command. Returns {"ok": bool, "error"?: str}."""
        try:
            if subject == SUBJECT_HALT:
                cmd = parse_halt(payload)
                call: Awaitable[Any] = self.handlers.on_halt(cmd.state, cmd.reason, ACTOR)
                what = f"state={cmd.state} reason={cmd.reason!r}"
            elif subject == SUBJECT_RELOAD:
                parse_reload(payload)
                call = self.handlers.on_risk_reload(ACTOR)
                what = "reload"
            elif subject == SUBJECT_UPDATE:
                changes = parse_update(payload)
                call = self.handlers.on_risk_update(changes, ACTOR)
                what = f"changes={json.dumps(changes, sort_keys=True)}"
            else:
                raise Refused("unknown subject")
        except Refused as exc:
            logger.warning("NATS_COMMAND_REFUSED subject={} why={} payload={!r}", subject, exc,
                           payload[:200])
            return {"ok": False, "error": str(exc)}
        logger.info("NATS_COMMAND subject={} {}", subject, what)
        try:
            await call
        except Exception as exc:
            logger.opt(exception=True).error("NATS_COMMAND_FAILED subject={} error={}", subject,
                                             exc)
            return {"ok": False, "error": str(exc)}
        return {"ok": True}
