"""Risk configuration over HTTP (SPEC §9): view, update, whitelist, versions, rollback.

Every request here is audited (refused ones too, with success=false). Bad input never
changes the active version. Field names of the risk parameters are camelCase as in the
SPEC; everything else in these bodies is snake_case like the manual's `version_tag`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, create_model

from titan.api.errors import ApiError
from titan.api.keys import TITAN
from titan.api.openapi import api_route
from titan.api.operator import actor_of, audited, audited_body, parse_query
from titan.config_versioning import ConfigError, ConfigService
from titan.risk.config import FIELD_ALIASES, RiskConfig

routes = web.RouteTableDef()

SYMBOL_PATTERN = r"^[A-Z0-9]{2,30}$"
Symbol = Annotated[str, StringConstraints(pattern=SYMBOL_PATTERN, max_length=30)]
Reason = Annotated[str, StringConstraints(max_length=500)]
_BODY = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


def _risk_update_model() -> type[BaseModel]:
    """Every RiskConfig field, optional, same types and ranges; unknown fields refused."""
    fields: dict[str, Any] = {}
    for name, info in RiskConfig.model_fields.items():
        alias = info.alias or name
        if name == "whitelist":
            ann: Any = Annotated[list[Symbol], Field(max_length=100)]
        else:
            ann = Annotated[(info.annotation, *info.metadata)]
        fields[name] = (ann, Field(default=None, alias=alias, description=info.description))
    for alias, target in FIELD_ALIASES.items():
        tname = next(n for n, i in RiskConfig.model_fields.items() if (i.alias or n) == target)
        tinfo = RiskConfig.model_fields[tname]
        fields[f"alias_{alias}"] = (Annotated[(tinfo.annotation, *tinfo.metadata)], Field(
            default=None, alias=alias, description=f"the runbook's name for {target}"))
    fields["reason"] = (Reason, Field(default="", description="why (recorded with the version)"))
    model: type[BaseModel] = create_model("RiskUpdate", __config__=_BODY, **fields)
    model.__doc__ = "A partial update of the risk parameters (camelCase fields)."
    return model


RiskUpdate = _risk_update_model()


class WhitelistChange(BaseModel):
    """Add a symbol to, or remove it from, the whitelist."""

    model_config = _BODY
    action: Literal["add", "remove"]
    symbol: Symbol
    reason: Reason = ""


class Rollback(BaseModel):
    """Make a copy of an earlier version the active one."""

    model_config = _BODY
    version_tag: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    reason: Reason = ""


class VersionsQuery(BaseModel):
    limit: int = Field(100, ge=1, le=500, description="at most this many versions")
    before: Annotated[str, StringConstraints(max_length=40)] | None = Field(
        None, description="only versions older than this tag (paging)")


class FieldRange(BaseModel):
    type: str
    minimum: float | None = None
    maximum: float | None = None
    exclusiveMinimum: float | None = None
    default: Any = None


class VersionOut(BaseModel):
    """One configuration version"""

    version_tag: str
    created_at: str
    actor: str
    source: str
    reason: str
    rolled_back_from: str | None
    config: RiskConfig
    strategies: dict[str, Any] = Field(
        default_factory=dict, description="per strategy: enabled, phases, params, reason")


class ConfigView(VersionOut):
    """The active configuration, with the allowed range of each field"""

    ranges: dict[str, FieldRange]
    known_symbols: list[str]


class ChangeOut(VersionOut):
    """The active version after the change (`changed` false: nothing to change, no version)"""

    changed: bool
    previous_version_tag: str
    changes: dict[str, dict[str, Any]]


class VersionsPage(BaseModel):
    """Configuration versions, newest first"""

    active_version_tag: str
    total: int
    items: list[VersionOut]
    next_before: str | None


def _ranges() -> dict[str, dict[str, Any]]:
    props = RiskConfig.model_json_schema(by_alias=True).get("properties", {})
    out: dict[str, dict[str, Any]] = {}
    for name, prop in props.items():
        entry: dict[str, Any] = {"type": prop.get("type", "array"), "default": prop.get("default")}
        for key in ("minimum", "maximum", "exclusiveMinimum"):
            if key in prop:
                entry[key] = prop[key]
        out[name] = entry
    return out


RANGES = _ranges()


def _service(request: web.Request) -> ConfigService:
    return request.app[TITAN].config


def _api_error(exc: ConfigError) -> ApiError:
    return ApiError(exc.status, exc.code, exc.message, exc.details)


def _known(svc: ConfigService) -> list[str]:
    try:
        return sorted(svc.known_symbols())
    except Exception:
        return []


@api_route(routes, "GET", "/api/console/config", responses={200: ConfigView},
           tags=("config",))
async def get_config(request: web.Request) -> web.Response:
    """The active risk configuration: version tag, values, allowed ranges."""
    svc = _service(request)
    body = {**svc.version.as_dict(), "ranges": RANGES, "known_symbols": _known(svc)}
    return web.json_response(body)


@api_route(routes, "POST", "/api/console/config/risk", body=RiskUpdate,
           responses={200: ChangeOut}, tags=("config",))
async def update_risk(request: web.Request) -> web.Response:
    """Update risk parameters (partial); out of range or unknown → 422 naming the field.

    Makes a new active version that takes effect at once. Values equal to the active
    ones change nothing (`changed: false`, no new version).
    """
    async with audited(request, "config.risk.update") as audit:
        body = await audited_body(request, RiskUpdate, audit)
        changes = body.model_dump(by_alias=True, exclude_unset=True)
        reason = str(changes.pop("reason", "") or "")
        audit.params = changes
        try:
            result = await _service(request).update_risk(changes, actor_of(request), reason)
        except ConfigError as exc:
            raise _api_error(exc) from None
        audit.result = {"changed": result.changed, "version_tag": result.version.version_tag,
                        "changes": result.changes}
    return web.json_response(result.as_dict())


@api_route(routes, "POST", "/api/console/config/whitelist", body=WhitelistChange,
           responses={200: ChangeOut}, tags=("config",))
async def change_whitelist(request: web.Request) -> web.Response:
    """Add or remove one whitelisted symbol; symbols the venue does not list → 422.

    Adding a listed symbol or removing an unlisted one changes nothing
    (`changed: false`, no new version).
    """
    async with audited(request, "config.whitelist") as audit:
        body = await audited_body(request, WhitelistChange, audit)
        audit.params = {"action": body.action, "symbol": body.symbol}
        try:
            result = await _service(request).change_whitelist(
                body.action, body.symbol, actor_of(request), body.reason)
        except ConfigError as exc:
            raise _api_error(exc) from None
        audit.result = {"changed": result.changed, "version_tag": result.version.version_tag,
                        "whitelist": result.version.config.get("whitelist")}
    return web.json_response(result.as_dict())


@api_route(routes, "GET", "/api/config/versions", query=VersionsQuery,
           responses={200: VersionsPage, 404: "no version with the `before` tag"},
           tags=("config",))
async def list_versions(request: web.Request) -> web.Response:
    """Every configuration version, newest first (paged with `limit` and `before`)."""
    q = parse_query(request, VersionsQuery)
    svc = _service(request)
    try:
        items = await svc.versions(q.limit + 1, q.before)
    except ConfigError as exc:
        raise _api_error(exc) from None
    more = len(items) > q.limit
    items = items[: q.limit]
    body = {
        "active_version_tag": svc.version.version_tag,
        "total": await svc.store.count(),
        "items": [v.as_dict() for v in items],
        "next_before": items[-1].version_tag if more and items else None,
    }
    return web.json_response(body)


@api_route(routes, "POST", "/api/config/rollback", body=Rollback,
           responses={200: ChangeOut, 404: "no version with that tag",
                      409: "that version is already the active one"},
           tags=("config",))
async def rollback(request: web.Request) -> web.Response:
    """Make a new active version equal to `version_tag`, recording `rolled_back_from`."""
    async with audited(request, "config.rollback") as audit:
        body = await audited_body(request, Rollback, audit)
        audit.params = {"version_tag": body.version_tag}
        try:
            result = await _service(request).rollback(body.version_tag, actor_of(request),
                                                      body.reason)
        except ConfigError as exc:
            raise _api_error(exc) from None
        audit.result = {"version_tag": result.version.version_tag,
                        "rolled_back_from": result.version.rolled_back_from,
                        "previous_version_tag": result.previous_tag}
    return web.json_response(result.as_dict())
