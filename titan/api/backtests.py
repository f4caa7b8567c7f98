"""Backtests over HTTP (SPEC §15): start one, list them, follow one, open its report.

`POST /api/backtests` starts a run in its own process (`titan.backtest.runs`; never in
this event loop) and answers 202 at once; `GET /api/backtests[/{id}]` shows each run's
progress (percent) and, once done, its headline figures; the report page itself is
`GET /api/backtests/{id}/report.html`. Starting a run is audited like every operator
action.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from titan.api.errors import ApiError
from titan.api.openapi import api_route
from titan.api.operator import audited, audited_body
from titan.backtest.runs import BacktestRuns, RunsBusy

routes = web.RouteTableDef()

RUNS: web.AppKey[BacktestRuns] = web.AppKey("backtest_runs", BacktestRuns)

Symbol = Annotated[str, StringConstraints(pattern=r"^[A-Z0-9]{2,30}$")]
IsoTime = Annotated[str, StringConstraints(
    pattern=r"^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})?)?$")]
Name = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
ConfigRef = Annotated[str, StringConstraints(min_length=1, max_length=300)]


class BacktestStart(BaseModel):
    """What to replay: a strategy, symbols, a time range, the latency and the config."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    strategy: Name = Field(description="a registered strategy, e.g. scavenger")
    symbols: list[Symbol] = Field(min_length=1, max_length=20)
    start: IsoTime = Field(description="ISO time (UTC if no zone), inclusive")
    end: IsoTime = Field(description="ISO time (UTC if no zone), exclusive")
    latencyMs: int = Field(200, ge=0, le=10_000, description="proposal → matching engine")
    config: ConfigRef | None = Field(None, description="a config version tag (default: defaults)")


class BacktestOut(BaseModel):
    """One run: its status, progress in percent and, once done, its headline figures"""

    id: str
    status: str
    params: dict[str, Any]
    createdAt: str | None
    finishedAt: str | None
    exitCode: int | None
    error: str | None
    progress: float
    results: dict[str, Any] | None
    reportUrl: str | None


class BacktestsOut(BaseModel):
    """Every run, newest first"""

    backtests: list[BacktestOut]


@api_route(routes, "POST", "/api/backtests", body=BacktestStart,
           responses={202: BacktestOut, 409: "too many runs at once"}, tags=("backtests",))
async def start_backtest(request: web.Request) -> web.Response:
    """Start a backtest in its own process; answers at once (follow it with GET)."""
    runs = request.app[RUNS]
    async with audited(request, "backtest.start") as audit:
        body = await audited_body(request, BacktestStart, audit)
        audit.params = body.model_dump()
        try:
            run = await runs.start(strategy=body.strategy, symbols=list(body.symbols),
                                   start=body.start, end=body.end, latency_ms=body.latencyMs,
                                   config=body.config)
        except RunsBusy as exc:
            raise ApiError(409, "BUSY", str(exc)) from None
        audit.result = {"id": run["id"]}
    return web.json_response(run, status=202)


@api_route(routes, "GET", "/api/backtests", responses={200: BacktestsOut},
           tags=("backtests",))
async def list_backtests(request: web.Request) -> web.Response:
    """Every backtest run, newest first, with progress and headline figures."""
    return web.json_response({"backtests": request.app[RUNS].list()})


@api_route(routes, "GET", "/api/backtests/{id}", responses={200: BacktestOut, 404: "no such run"},
           tags=("backtests",))
async def get_backtest(request: web.Request) -> web.Response:
    """One run: status, progress (percent) and, once done, its headline figures."""
    run = request.app[RUNS].view(request.match_info["id"])
    if run is None:
        raise ApiError(404, "NOT_FOUND", "no backtest run with that id")
    return web.json_response(run)


@api_route(routes, "GET", "/api/backtests/{id}/report.html",
           responses={200: "the report page (text/html)", 404: "no such run or no report yet"},
           tags=("backtests",))
async def backtest_report(request: web.Request) -> web.StreamResponse:
    """The run's self-contained report page."""
    path = request.app[RUNS].report_path(request.match_info["id"])
    if path is None:
        raise ApiError(404, "NOT_FOUND", "no report for that run (yet)")
    return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8"})
