"""The strategies over HTTP (SPEC §14): list them, switch one on or off, tune it.

`POST /api/strategies/{name}` goes the way of every config change: validated (a bad
field → 422 naming it, an unknown strategy → 404, nothing changes), audited (refused
requests too), a new config version, in effect at once. A disabled strategy cancels its
own working entries and never touches positions: flattening is the operator's.
"""

from __future__ import annotations

from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from titan.api.errors import ApiError
from titan.api.keys import TITAN
from titan.api.openapi import api_route
from titan.api.operator import actor_of, audited, audited_body
from titan.config_versioning import ConfigError

routes = web.RouteTableDef()

Reason = Annotated[str, StringConstraints(max_length=500)]


class StrategyChange(BaseModel):
    """Switch a strategy and/or change its phases or parameters (all optional)."""

    model_config = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)
    enabled: bool | None = Field(None, description="false: stop trading, cancel its entries")
    phases: list[int] | None = Field(None, max_length=3, description="phases it runs in (1-3)")
    params: dict[str, Any] | None = Field(None, description="some or all of its parameters")
    reason: Reason = Field("", description="why (recorded with the version and the audit)")


class StrategyOut(BaseModel):
    """One strategy: its switch, phases, why it is not trading, its counters"""

    name: str
    description: str
    enabled: bool
    reason: str
    phases: list[int]
    defaultPhases: list[int]
    running: bool
    pauses: dict[str, str]
    params: dict[str, Any]
    counters: dict[str, Any]
    paramRanges: dict[str, Any]


class StrategiesOut(BaseModel):
    """Every strategy Titan has, and the config version their settings come from"""

    version_tag: str | None
    strategies: list[StrategyOut]


class StrategyChangeOut(BaseModel):
    """The strategy after the change (`changed` false: nothing to change, no version)"""

    changed: bool
    version_tag: str
    previous_version_tag: str
    changes: dict[str, Any]
    strategy: StrategyOut


def _ranges(titan: Any, name: str) -> dict[str, Any]:
    schema = titan.strategy_specs[name].params.model_json_schema(by_alias=True)
    out: dict[str, Any] = {}
    for field, prop in schema.get("properties", {}).items():
        out[field] = {k: prop[k] for k in ("type", "minimum", "maximum", "default",
                                           "description") if k in prop}
    return out


def _view(titan: Any, name: str) -> dict[str, Any]:
    if titan.strategies is None:  # before start(): the settings alone
        setting = titan.config.strategies[name]
        spec = titan.strategy_specs[name]
        body: dict[str, Any] = {"name": name, "description": spec.description,
                                "enabled": setting.enabled, "reason": setting.reason,
                                "phases": list(setting.phases),
                                "defaultPhases": list(spec.phases), "running": False,
                                "pauses": {"titan": "not started"},
                                "params": dict(setting.params), "counters": {}}
    else:
        body = titan.strategies.describe(name)
    return {**body, "paramRanges": _ranges(titan, name)}


@api_route(routes, "GET", "/api/strategies", responses={200: StrategiesOut},
           tags=("strategies",))
async def list_strategies(request: web.Request) -> web.Response:
    """Every strategy: enabled or not, its phases, why it is paused, its counters."""
    titan = request.app[TITAN]
    return web.json_response({"version_tag": titan.config.version_tag,
                              "strategies": [_view(titan, n) for n in sorted(titan.strategy_specs)]})


@api_route(routes, "POST", "/api/strategies/{name}", body=StrategyChange,
           responses={200: StrategyChangeOut, 404: "no strategy of that name"},
           tags=("strategies",))
async def change_strategy(request: web.Request) -> web.Response:
    """Enable or disable a strategy, or set its phases or parameters.

    Makes a new config version that takes effect at once; the same values again change
    nothing (`changed: false`). Disabling cancels the strategy's working entries; its
    positions stay.
    """
    name = request.match_info["name"]
    titan = request.app[TITAN]
    async with audited(request, "strategy.change") as audit:
        body = await audited_body(request, StrategyChange, audit)
        change = body.model_dump(exclude_unset=True, exclude_none=True)
        reason = str(change.pop("reason", "") or "")
        audit.params = {"strategy": name, **change, "reason": reason}
        if not change:
            raise ApiError(422, "VALIDATION_ERROR", "give enabled, phases or params",
                           [{"field": "body", "message": "nothing to change"}])
        try:
            result = await titan.config.update_strategy(name, change, actor_of(request), reason)
        except ConfigError as exc:
            raise ApiError(exc.status, exc.code, exc.message, exc.details) from None
        audit.result = {"changed": result.changed, "version_tag": result.version.version_tag,
                        "changes": result.changes}
    return web.json_response({"changed": result.changed,
                              "version_tag": result.version.version_tag,
                              "previous_version_tag": result.previous_tag,
                              "changes": result.changes, "strategy": _view(titan, name)})


class HunterOut(BaseModel):
    """Hunter's state: its switch and pauses, the ranked map (symbol, score, grade, trends,
    location, veto), the top symbols' POIs and order flow, its positions' plans and its
    recent decisions"""

    strategy: StrategyOut
    running: bool
    lastScan: dict[str, Any] | None
    ranked: list[dict[str, Any]]
    focus: list[str]
    pois: dict[str, Any]
    flow: dict[str, Any]
    positions: list[dict[str, Any]]
    lossStreak: int
    decisions: list[dict[str, Any]]


@api_route(routes, "GET", "/api/strategies/hunter", responses={200: HunterOut},
           tags=("strategies",))
async def hunter_state(request: web.Request) -> web.Response:
    """Hunter (Phase 2): the ranked map, POIs for the top 5, CVD state, positions' plans."""
    titan = request.app[TITAN]
    if "hunter" not in titan.strategy_specs:
        raise ApiError(404, "NOT_FOUND", "Hunter is not registered", [])
    hunter = titan.strategies.get("hunter") if titan.strategies is not None else None
    state: dict[str, Any] = hunter.status() if hunter is not None else {}
    return web.json_response({
        "strategy": _view(titan, "hunter"), "running": bool(state.get("running", False)),
        "lastScan": state.get("lastScan"), "ranked": state.get("ranked", []),
        "focus": state.get("focus", []), "pois": state.get("pois", {}),
        "flow": state.get("flow", {}), "positions": state.get("positions", []),
        "lossStreak": int(state.get("lossStreak", 0)), "decisions": state.get("decisions", [])})


class SentinelOut(BaseModel):
    """Sentinel's state: its switch and pauses, whether it trades (and why not), each
    symbol's last basis sample (basis, z, samples, prices, the entry test's decision), each
    pair (symbol, basis, z, funding, legs, delta, margin use, carry earned), the coins the
    spot leg holds for Titan and its open spot orders"""

    strategy: StrategyOut
    running: bool
    trading: bool
    reason: str
    symbols: list[str]
    basis: dict[str, Any]
    pairs: list[dict[str, Any]]
    spot: dict[str, Any]


@api_route(routes, "GET", "/api/strategies/sentinel", responses={200: SentinelOut},
           tags=("strategies",))
async def sentinel_state(request: web.Request) -> web.Response:
    """Sentinel (Phase 3): its pairs and the spot leg Titan holds."""
    titan = request.app[TITAN]
    if "sentinel" not in titan.strategy_specs:
        raise ApiError(404, "NOT_FOUND", "Sentinel is not registered", [])
    sentinel = titan.strategies.get("sentinel") if titan.strategies is not None else None
    state: dict[str, Any] = sentinel.status() if sentinel is not None else {}
    leg = titan.spot_leg
    spot: dict[str, Any] = {"available": leg is not None, "holdings": [], "openOrders": []}
    if leg is not None:
        spot["holdings"] = [{"coin": h.coin, "qty": str(h.qty), "cost": str(h.cost),
                             "strategy": h.strategy}
                            for h in sorted(leg.book.holdings.values(), key=lambda h: h.coin)]
        spot["openOrders"] = [{"clientOrderId": o.client_order_id, "symbol": o.symbol,
                               "side": o.side.value, "qty": str(o.qty), "status": o.status.value}
                              for o in leg.book.live_orders.values()]
    view = _view(titan, "sentinel")
    return web.json_response({
        "strategy": view, "running": bool(view.get("running", False)),
        "trading": bool(state.get("trading", False)), "reason": str(state.get("reason", "")),
        "symbols": list(state.get("symbols", [])), "basis": dict(state.get("basis", {})),
        "pairs": list(state.get("pairs", [])),
        "spot": spot})
