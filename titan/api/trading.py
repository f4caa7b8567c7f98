"""Trading-state endpoints (SPEC §3, §4, §7, §8, §9): status, Master Arm, halt, breaker,
flatten, cancel-all, kill switch, positions and reconciliation.

Each state-changing call is audited (who, from where, what, the result), whether it
succeeded or was refused; refusals change nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from titan.api.errors import ApiError, parse_body
from titan.api.keys import ACTOR, TITAN
from titan.api.openapi import document
from titan.api.operator import actor_of
from titan.api.views import positions_view, status_view
from titan.core import Titan
from titan.risk import ActionRefused, HaltState, KillCodeRejected, ReasonRequired, RiskError
from titan.store.audit import audited_action
from titan.store.storage import STILL_WORKS

routes = web.RouteTableDef()


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, str_strip_whitespace=True)


class ArmBody(_Body):
    armed: bool
    reason: str | None = Field(default=None, max_length=500)


class HaltBody(_Body):
    state: Literal["OPEN", "SOFT_HALT", "HARD_HALT"]
    reason: str = Field(min_length=1, max_length=500)
    timestamp: int | float | None = None  # the runbook's payload carries one; informational


class ReasonBody(_Body):
    reason: str = Field(min_length=1, max_length=500)


class KillBody(_Body):
    code: str | int = Field(description="the kill switch's confirmation code (TITAN_KILL_CODE)")
    reason: str | None = Field(default=None, max_length=500)


_HALT_RANK = {HaltState.OPEN: 0, HaltState.SOFT_HALT: 1, HaltState.HARD_HALT: 2}


def _titan(request: web.Request) -> Titan:
    return request.app[TITAN]


def _actor(request: web.Request) -> str:
    return str(request.get(ACTOR, "unknown"))


def _risk_error(exc: RiskError) -> ApiError:
    status = 422 if isinstance(exc, ReasonRequired) else 403 if isinstance(
        exc, KillCodeRejected) else 409
    return ApiError(status, exc.code, exc.message)


async def _audited(request: web.Request, action: str, params: dict[str, Any],
                   coro: Any) -> dict[str, Any]:
    async with audited_action(_titan(request).audit, actor_of(request), action,
                              params) as entry:
        try:
            result: dict[str, Any] = await coro
        except RiskError as exc:
            raise _risk_error(exc) from None
        entry.result, entry.success = result, bool(result.get("success", True))
    if not entry.saved:
        # The action was taken (an exit must never wait for the disk): say that its audit
        # row could not be written, instead of answering as if nothing happened.
        why = f"the disk is full: not audited; {STILL_WORKS}" if entry.storage_full else \
            "its audit row could not be written (see the log)"
        result = {**result, "audited": False, "warning": f"done, but {why}"}
    if _titan(request).risk_store.unsaved:
        result = {**result, "stateSaved": False,
                  "stateNote": "the safety state is held in the safety file and retried "
                               "until the database takes it"}
    return result


async def _refuse_loosening_while_unsaved(titan: Titan, what: str) -> None:
    """ARM or lifting a halt while the safety state cannot be saved: refused (issue 15).
    Checked by saving the current state first: a disk that refuses it refuses the action."""
    if not await titan.risk_store.can_save(titan.risk.to_state()):
        raise ApiError(507, "STORAGE_FULL",
                       f"{what} refused: the safety state cannot be saved (disk full); "
                       f"free space in the data folder first; {STILL_WORKS}")


@routes.get("/api/status")
async def status(request: web.Request) -> web.Response:
    return web.json_response(status_view(_titan(request)))


@routes.post("/api/console/arm")
async def arm(request: web.Request) -> web.Response:
    body = await parse_body(request, ArmBody)
    titan, actor = _titan(request), _actor(request)
    reason = (body.reason or "").strip() or f"{'ARM' if body.armed else 'DISARM'} by {actor}"

    if body.armed:
        await _refuse_loosening_while_unsaved(titan, "ARM")

    async def act() -> dict[str, Any]:
        if body.armed:
            await titan.risk.arm(reason, actor)
        else:
            await titan.risk.disarm(reason, actor)
        return {"success": True, "masterArm": titan.risk.arm_ctl.state.value,
                "armed": titan.risk.arm_ctl.armed, "reason": reason}

    return web.json_response(await _audited(request, "arm" if body.armed else "disarm",
                                            body.model_dump(), act()))


@routes.post("/api/system/halt")
async def halt(request: web.Request) -> web.Response:
    body = await parse_body(request, HaltBody)
    titan, actor = _titan(request), _actor(request)
    if _HALT_RANK[HaltState(body.state)] < _HALT_RANK[titan.risk.halt.state]:
        await _refuse_loosening_while_unsaved(titan, f"{titan.risk.halt.state.value} -> {body.state}")

    async def act() -> dict[str, Any]:
        result = await titan.risk.set_halt(HaltState(body.state), body.reason, actor)
        return {"success": True, "haltState": titan.risk.halt.state.value,
                "masterArm": titan.risk.arm_ctl.state.value, **result.as_dict()}

    return web.json_response(await _audited(request, "halt", body.model_dump(), act()))


@routes.post("/api/circuit-breaker/reset")
async def breaker_reset(request: web.Request) -> web.Response:
    body = await parse_body(request, ReasonBody)
    titan, actor = _titan(request), _actor(request)

    async def act() -> dict[str, Any]:
        was_tripped = await titan.risk.reset_breaker(body.reason, actor)
        return {"success": True, "wasTripped": was_tripped,
                "circuitBreaker": titan.risk.breaker.status(),
                "masterArm": titan.risk.arm_ctl.state.value}

    return web.json_response(await _audited(request, "circuit_breaker_reset", body.model_dump(),
                                            act()))


@routes.post("/api/emergency/flatten")
async def flatten(request: web.Request) -> web.Response:
    await parse_body(request, _Body)  # no fields; refuses a body that is not an empty object
    titan, actor = _titan(request), _actor(request)

    async def act() -> dict[str, Any]:
        # Flatten disables the Master Arm first, so nothing re-opens while it closes.
        if titan.risk.arm_ctl.armed:
            await titan.risk.disarm("flatten all", actor)
        return await titan.execution.flatten_all()

    result = await _audited(request, "flatten_all", {}, act())
    return web.json_response(result)


@routes.post("/api/console/cancel-all")
async def cancel_all(request: web.Request) -> web.Response:
    await parse_body(request, _Body)
    titan = _titan(request)
    result = await _audited(request, "cancel_all", {},
                            titan.execution.cancel_orders(titan_only=True))
    return web.json_response(result)


@routes.post("/api/emergency/kill")
async def kill(request: web.Request) -> web.Response:
    body = await parse_body(request, KillBody)
    titan, actor = _titan(request), _actor(request)
    reason = (body.reason or "").strip() or f"kill switch by {actor}"
    result = await _audited(request, "kill_switch", {"reason": reason},
                            titan.risk.kill(str(body.code), actor, reason))
    return web.json_response(result)


@routes.get("/api/state/positions")
async def positions(request: web.Request) -> web.Response:
    return web.json_response(await positions_view(_titan(request)))


@routes.post("/api/state/reconcile")
async def reconcile(request: web.Request) -> web.Response:
    await parse_body(request, _Body)
    titan = _titan(request)
    async with audited_action(titan.audit, actor_of(request), "reconcile", {}) as entry:
        report = (await titan.reconciler.run("operator")).as_dict()
        entry.result = {"clean": report["clean"], "ok": report["ok"],
                        "mismatches": len(report["mismatches"])}
        entry.success = bool(report["ok"])
    return web.json_response(report, status=200 if report["ok"] else 503)


# OpenAPI: the auth layer's 401/403/429 and the body errors 400/413/422 are added by
# `document` itself; listed here is what each route adds.
_REFUSED = "refused in the current state (e.g. HARD_HALT, breaker tripped, start-up)"
document("GET", "/api/status", summary="Detailed status (SPEC §9)")
document("POST", "/api/console/arm", summary="ARM or DISARM the Master Arm", body=ArmBody,
         responses={200: None, 409: _REFUSED})
document("POST", "/api/system/halt", summary="Set the halt state (reason required)",
         body=HaltBody, responses={200: None, 409: _REFUSED})
document("POST", "/api/circuit-breaker/reset", summary="Reset the circuit breaker",
         body=ReasonBody, responses={200: None, 409: _REFUSED})
document("POST", "/api/emergency/flatten", summary="Flatten all positions", body=_Body,
         body_required=False)
document("POST", "/api/console/cancel-all", summary="Cancel all of Titan's open orders",
         body=_Body, body_required=False)
document("POST", "/api/emergency/kill", summary="Kill switch (needs the confirmation code)",
         body=KillBody, responses={200: None, 403: "wrong confirmation code", 409: _REFUSED})
document("GET", "/api/state/positions", summary="Shadow positions beside the venue's")
document("POST", "/api/state/reconcile", summary="Reconcile now; returns the report",
         body=_Body, body_required=False,
         responses={200: None, 503: "the venue could not be read: failed closed"})

__all__ = ["ActionRefused", "routes"]
