"""The runbook's NATS commands (SPEC §11): their subjects, their payloads, and the one
place that decides whether a message on the bus is obeyed.

| subject | payload | calls |
|---|---|---|
| `titan.cmd.sys.halt` | `{"state": "HARD_HALT"|"SOFT_HALT"|"OPEN", "reason": "…", "timestamp": 1700000000}` (timestamp optional) | `on_halt(state, reason, actor)` |
| `titan.cmd.risk.reload` | `{}` | `on_risk_reload(actor)` |
| `titan.cmd.risk.update` | a partial risk config, e.g. `{"maxAccountLeverage": 5.0}` | `on_risk_update(changes, actor)` |
| `titan.cmd.strategy.set` | `{"strategy": "scavenger", "enabled": false, "reason": "…"}` (or `phases`, `params`) | `on_strategy(name, change, reason)` |
| `titan.cmd.quant` | `{"action": "run"}`, `{"action": "approve", "id": 3}`, `{"action": "reject", "id": 3, "reason": "…"}` | `on_quant(action, id, reason)` |

`maxAccountLeverage` is passed on as `maxLeverage` (its alias). Ranges are checked by the
config service behind `on_risk_update`; this module checks shape and types.

A message is obeyed only when all of these hold, else it is refused:
- the server demands credentials (the bridge checks what the server announced; a server
  anyone can publish to is an open door, so its messages are never obeyed);
- the subject is one Titan obeys and is enabled (`TITAN_NATS_SUBJECTS`): Titan listens on
  `titan.cmd.>` so a wrong subject is refused visibly instead of vanishing;
- the payload is at most 16 KiB of JSON nested at most 32 deep, and valid for the subject.

A refusal is logged (`NATS_COMMAND_REFUSED subject=… why=… payload=…`), passed to
`on_refused` (Titan audits it: `nats.refused`) and counted; a handler that raises is
logged `NATS_COMMAND_FAILED` and audited by the handler. A request with a reply subject
(`nats req …`) gets `{"ok": true}` or `{"ok": false, "error": "…"}` back. Nothing a
payload contains makes a message vanish without a reply and a log line.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Any, Literal

from loguru import logger
from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, field_validator

from titan.jsonsafe import JsonInputError, loads_bounded

SUBJECT_HALT = "titan.cmd.sys.halt"
SUBJECT_RELOAD = "titan.cmd.risk.reload"
SUBJECT_UPDATE = "titan.cmd.risk.update"
SUBJECT_STRATEGY = "titan.cmd.strategy.set"
SUBJECT_QUANT = "titan.cmd.quant"
SUBJECTS = (SUBJECT_HALT, SUBJECT_RELOAD, SUBJECT_UPDATE, SUBJECT_STRATEGY, SUBJECT_QUANT)
LISTEN_SUBJECT = "titan.cmd.>"  # every command subject, so unknown ones are refused visibly
ACTOR = "nats"
MAX_PAYLOAD = 16 * 1024
# At most this many refusals per minute reach the audit log (all are logged and counted):
# a flood of garbage on the bus must not fill the disk.
AUDITED_REFUSALS_PER_MIN = 60

HaltHandler = Callable[[str, str, str], Awaitable[Any]]
UpdateHandler = Callable[[dict[str, Any], str], Awaitable[Any]]
ReloadHandler = Callable[[str], Awaitable[Any]]
StrategyHandler = Callable[[str, dict[str, Any], str], Awaitable[Any]]  # name, change, reason
RefusedHandler = Callable[[str, str, bytes], Awaitable[Any]]  # subject, why, payload
QuantHandler = Callable[[str, int | None, str], Awaitable[Any]]  # action, proposal id, reason

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
        data = loads_bounded(payload)
    except JsonInputError as exc:
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


class StrategyCommand(BaseModel):
    """`{"strategy": "scavenger", "enabled": false, "reason": "…"}` (phases/params too)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    strategy: str = Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")
    enabled: bool | None = None
    phases: list[int] | None = Field(None, max_length=3)
    params: dict[str, Any] | None = None
    reason: str = Field(min_length=1, max_length=500)


def parse_strategy(payload: bytes) -> StrategyCommand:
    data = _json_object(payload)
    try:
        cmd = StrategyCommand.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                        for e in exc.errors())
        raise Refused(why) from None
    if cmd.enabled is None and cmd.phases is None and cmd.params is None:
        raise Refused("give enabled, phases or params")
    return cmd


class QuantCommand(BaseModel):
    """AI Quant: start a run, or decide a proposal (a rejection needs a reason)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    action: Literal["run", "approve", "reject"]
    id: StrictInt | None = Field(None, ge=1)
    reason: str = Field("", max_length=500)


def parse_quant(payload: bytes) -> QuantCommand:
    data = _json_object(payload)
    try:
        cmd = QuantCommand.model_validate(data)
    except ValidationError as exc:
        why = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'payload'}: {e['msg']}"
                        for e in exc.errors())
        raise Refused(why) from None
    if cmd.action == "run" and cmd.id is not None:
        raise Refused("a run takes no proposal id")
    if cmd.action != "run" and cmd.id is None:
        raise Refused(f"{cmd.action} needs the proposal's id")
    if cmd.action == "reject" and not cmd.reason.strip():
        raise Refused("reject needs a reason")
    return cmd


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
    on_strategy: StrategyHandler | None = None
    on_refused: RefusedHandler | None = None
    on_quant: QuantHandler | None = None  # set by the app when AI Quant is wired
    on_result: Callable[[str], None] | None = None  # "obeyed" | "refused" | "failed"


class CommandRouter:
    """Decides, per message, whether it is obeyed, and obeys it through `Handlers`."""

    def __init__(self, handlers: Handlers, subjects: Collection[str] = SUBJECTS,
                 server_demands_auth: Callable[[], bool] = lambda: True) -> None:
        self.handlers = handlers
        self.subjects = frozenset(subjects)
        self.server_demands_auth = server_demands_auth
        self._audit_window = (0.0, 0)  # (minute start, refusals audited in it)

    async def handle(self, subject: str, payload: bytes) -> dict[str, Any]:
        """Validate and obey one command. Returns {"ok": bool, "error"?: str}."""
        try:
            call, what = self._decide(subject, payload)
        except Refused as exc:
            await self._refused(subject, str(exc), payload)
            return {"ok": False, "error": str(exc)}
        except Exception as exc:  # a parser bug must not drop the message silently
            logger.opt(exception=True).error("NATS_COMMAND_FAILED subject={} error={}",
                                             subject, exc)
            self._result("failed")
            return {"ok": False, "error": f"internal error: {type(exc).__name__}"}
        logger.info("NATS_COMMAND subject={} {}", subject, what)
        try:
            await call
        except Exception as exc:
            logger.opt(exception=True).error("NATS_COMMAND_FAILED subject={} error={}", subject,
                                             exc)
            self._result("failed")
            return {"ok": False, "error": str(exc)}
        self._result("obeyed")
        return {"ok": True}

    def _decide(self, subject: str, payload: bytes) -> tuple[Awaitable[Any], str]:
        if not self.server_demands_auth():
            raise Refused("the NATS server does not demand credentials, so anyone could have "
                          "sent this; configure it with scripts/ops/nats-server.conf")
        if subject not in SUBJECTS:
            raise Refused(f"{subject} is not a command Titan obeys")
        if subject not in self.subjects:
            raise Refused(f"{subject} is turned off here (TITAN_NATS_SUBJECTS)")
        if subject == SUBJECT_HALT:
            cmd = parse_halt(payload)
            return (self.handlers.on_halt(cmd.state, cmd.reason, ACTOR),
                    f"state={cmd.state} reason={cmd.reason!r}")
        if subject == SUBJECT_RELOAD:
            parse_reload(payload)
            return self.handlers.on_risk_reload(ACTOR), "reload"
        if subject == SUBJECT_STRATEGY:
            sc = parse_strategy(payload)
            if self.handlers.on_strategy is None:
                raise Refused(f"{subject} has no handler here")
            change = sc.model_dump(exclude_none=True, exclude={"strategy", "reason"})
            return (self.handlers.on_strategy(sc.strategy, change, sc.reason),
                    f"strategy={sc.strategy} change={json.dumps(change, sort_keys=True)}")
        if subject == SUBJECT_QUANT:
            qc = parse_quant(payload)
            if self.handlers.on_quant is None:
                raise Refused(f"{subject} has no handler here")
            return (self.handlers.on_quant(qc.action, qc.id, qc.reason.strip()),
                    f"quant action={qc.action} id={qc.id}")
        changes = parse_update(payload)
        return (self.handlers.on_risk_update(changes, ACTOR),
                f"changes={json.dumps(changes, sort_keys=True)}")

    async def _refused(self, subject: str, why: str, payload: bytes) -> None:
        logger.warning("NATS_COMMAND_REFUSED subject={} why={} payload={!r}", subject, why,
                       payload[:200])
        self._result("refused")
        if self.handlers.on_refused is None:
            return
        minute, count = self._audit_window
        now = time.monotonic()
        if now - minute >= 60:
            minute, count = now, 0
        if count >= AUDITED_REFUSALS_PER_MIN:
            return  # logged and counted above; the audit log is spared the flood
        self._audit_window = (minute, count + 1)
        try:
            await self.handlers.on_refused(subject, why, payload)
        except Exception as exc:
            logger.warning("NATS_REFUSAL_NOT_AUDITED subject={} error={}", subject, exc)

    def _result(self, result: str) -> None:
        if self.handlers.on_result is not None:
            self.handlers.on_result(result)
