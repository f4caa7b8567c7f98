"""AI Quant over HTTP (SPEC §17): start a run, follow it, the morning briefing, and the
operator's decision on a proposal.

`POST /api/quant/run` answers 202 at once: the search runs in its own process
(`titan.quant.service`). Approving a proposal makes one config version through the same
audited path as every change; rejecting needs a reason. Unknown proposal → 404; already
decided, or stale (the active config changed since it was made) → 409, and no version.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from titan.api.backtests import IsoTime, Name, Symbol
from titan.api.errors import ApiError, read_json_object, validation_details
from titan.api.keys import TITAN
from titan.api.openapi import api_route
from titan.api.operator import actor_of
from titan.backtest.cli import parse_time
from titan.backtest.config import BacktestError
from titan.quant.service import QuantError, QuantService
from titan.store.audit import describe_error

routes = web.RouteTableDef()

QUANT: web.AppKey[QuantService] = web.AppKey("quant", QuantService)
_BODY = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
Param = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}\.[A-Za-z]{1,40}$")]


class Window(BaseModel):
    model_config = _BODY
    start: IsoTime
    end: IsoTime


class QuantRun(BaseModel):
    """What to search (every field optional: the defaults are the nightly run's)."""

    model_config = _BODY
    strategy: Name | None = Field(None, description="the strategy replayed (default scavenger)")
    symbols: list[Symbol] | None = Field(None, min_length=1, max_length=20)
    params: list[Param] | None = Field(None, min_length=1, max_length=40,
                                       description="tune only these, e.g. risk.maxLeverage")
    trials: int | None = Field(None, ge=1, le=2_000)
    timeoutS: float | None = Field(None, gt=0, le=86_400)
    seed: int | None = Field(None, ge=0, le=2**31)
    minTrades: int | None = Field(None, ge=1, le=10_000,
                                  description="the gate's minimum trade count")
    train: Window | None = None
    holdout: Window | None = None


class Decision(BaseModel):
    model_config = _BODY
    reason: Annotated[str, StringConstraints(max_length=500)] = ""


class Rejection(BaseModel):
    model_config = _BODY
    # required and not blank: checked by the service, so a refused attempt is audited
    reason: Annotated[str, StringConstraints(max_length=500)] = Field(
        "", description="why (required)")


class RunOut(BaseModel):
    """One AI Quant run"""

    id: str
    status: str
    trigger: str
    actor: str
    createdAt: str
    finishedAt: str | None
    configVersion: str
    progress: dict[str, Any]
    note: str | None
    error: str | None


class RunsOut(BaseModel):
    """AI Quant's runs, newest first"""

    runs: list[RunOut]


class ProposalOut(BaseModel):
    """A proposal with its evidence (both equity curves, the figures, old → new)"""

    id: int
    run_id: str
    created_at: str
    status: str
    config_version: str
    strategy: str
    changes: dict[str, Any]
    active_figures: dict[str, Any]
    candidate_figures: dict[str, Any]
    evidence: dict[str, Any]
    reject_reason: str | None
    decided_by: str | None
    decided_at: str | None
    applied_version: str | None
    stale: bool = False
    version_tag: str | None = None


class BriefingOut(BaseModel):
    """The morning briefing: insights, proposals, yesterday's PnL and win rate"""

    generatedAt: str
    activeConfigVersion: str
    run: RunOut | None
    insights: dict[str, Any]
    yesterday: dict[str, Any]
    pending: int
    proposals: list[ProposalOut]
    notes: list[str]


def _svc(request: web.Request) -> QuantService:
    return request.app[QUANT]


def _error(exc: QuantError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message)


async def _refused(request: web.Request, action: str, params: Any, err: ApiError) -> ApiError:
    """Audit a request refused before it reached the service (which audits the rest)."""
    await request.app[TITAN].audit.record_as(actor_of(request), action, params,
                                             describe_error(err), False)
    return err


async def _body(request: web.Request, model: type[Any], action: str) -> Any:
    try:
        data = await read_json_object(request)
    except ApiError as exc:
        raise await _refused(request, action, {}, exc) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        fields = ", ".join(d["field"] or "body" for d in details)
        err = ApiError(422, "VALIDATION_ERROR", f"invalid value for: {fields}", details)
        raise await _refused(request, action, data, err) from None


def _window(w: Window | None, field: str) -> tuple[int, int] | None:
    if w is None:
        return None
    try:
        start, end = parse_time(w.start), parse_time(w.end)
    except BacktestError as exc:
        raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {field}",
                       [{"field": field, "message": str(exc)}]) from None
    if end <= start:
        raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {field}",
                       [{"field": field, "message": "end must be after start"}])
    return start, end


def _proposal_id(request: web.Request) -> int:
    raw = request.match_info["id"]
    if not raw.isdigit() or len(raw) > 15:
        raise ApiError(404, "PROPOSAL_NOT_FOUND", f"no proposal {raw[:40]}")
    return int(raw)


@api_route(routes, "POST", "/api/quant/run", body=QuantRun, body_required=False,
           responses={202: RunOut, 409: "a run is already running"}, tags=("quant",))
async def start_run(request: web.Request) -> web.Response:
    """Start an AI Quant run in its own process; answers at once (follow it with GET)."""
    body: QuantRun = await _body(request, QuantRun, "quant.run")
    try:
        train, holdout = _window(body.train, "train"), _window(body.holdout, "holdout")
        if train and holdout and holdout[0] < train[1]:
            raise ApiError(422, "VALIDATION_ERROR", "invalid value for: holdout",
                           [{"field": "holdout",
                             "message": "must start after the training window"}])
    except ApiError as exc:
        raise await _refused(request, "quant.run", body.model_dump(), exc) from None
    overrides = {k: v for k, v in {
        "strategy": body.strategy, "symbols": body.symbols, "params": body.params,
        "trials": body.trials, "timeout_s": body.timeoutS, "seed": body.seed,
        "min_trades": body.minTrades, "train": train, "holdout": holdout}.items()
        if v is not None}
    try:
        run = await _svc(request).start_run(actor_of(request), "api", overrides)
    except QuantError as exc:
        raise _error(exc) from None
    return web.json_response(run, status=202)


@api_route(routes, "GET", "/api/quant/runs", responses={200: RunsOut}, tags=("quant",))
async def list_runs(request: web.Request) -> web.Response:
    """AI Quant's latest runs, newest first, with their progress."""
    return web.json_response({"runs": await _svc(request).runs()})


@api_route(routes, "GET", "/api/quant/runs/{id}", responses={200: RunOut, 404: "no such run"},
           tags=("quant",))
async def get_run(request: web.Request) -> web.Response:
    """One run: status, progress (phase, trials done), the outcome's note."""
    run = await _svc(request).view(request.match_info["id"][:64])
    if run is None:
        raise ApiError(404, "RUN_NOT_FOUND", "no AI Quant run with that id")
    return web.json_response(run)


@api_route(routes, "GET", "/api/quant/briefing", responses={200: BriefingOut}, tags=("quant",))
async def briefing(request: web.Request) -> web.Response:
    """Insights, proposals with their evidence, yesterday's PnL and win rate."""
    return web.json_response(await _svc(request).briefing())


@api_route(routes, "POST", "/api/quant/proposals/{id}/approve", body=Decision,
           body_required=False,
           responses={200: ProposalOut, 404: "no such proposal",
                      409: "already decided, or stale (the config changed since)"},
           tags=("quant",))
async def approve(request: web.Request) -> web.Response:
    """Approve: one new config version with the proposal's values (audited)."""
    pid = _proposal_id(request)
    body: Decision = await _body(request, Decision, "quant.approve")
    try:
        out = await _svc(request).approve(pid, actor_of(request), body.reason)
    except QuantError as exc:
        raise _error(exc) from None
    return web.json_response(out)


@api_route(routes, "POST", "/api/quant/proposals/{id}/reject", body=Rejection,
           responses={200: ProposalOut, 404: "no such proposal", 409: "already decided"},
           tags=("quant",))
async def reject(request: web.Request) -> web.Response:
    """Reject with a reason (required); not proposed again for 30 days."""
    pid = _proposal_id(request)
    body: Rejection = await _body(request, Rejection, "quant.reject")
    try:
        out = await _svc(request).reject(pid, actor_of(request), body.reason)
    except QuantError as exc:
        raise _error(exc) from None
    return web.json_response(out)
