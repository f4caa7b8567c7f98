"""The OpenAPI document of the operator API, built from the routes' own pydantic models.

Any module documents a route in one call, beside its handler:

    routes = web.RouteTableDef()

    @api_route(routes, "POST", "/api/system/halt", body=HaltBody,
               responses={200: HaltResult, 409: "already in that state"},
               summary="Change the halt state")
    async def halt(request: web.Request) -> web.Response: ...

`api_route` registers the handler on `routes` (add them to the app as usual) and records
its documentation. `document(...)` records documentation for a route added some other
way. `GET /api/openapi.json` (behind basic auth like the rest of /api) serves
`openapi_spec(app)`: every documented route the app actually has, with the statuses the
shared layers can answer added automatically — 401 and 429 (auth, lockout) on every
authenticated route, 403 (cross-origin refusal) on state-changing ones, 400/413/422 where
there is a body, 422 where there are query parameters — all with the one error shape.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from titan import __version__
from titan.api.auth import SAFE_METHODS, needs_auth

Response = type[BaseModel] | str | None
H = TypeVar("H", bound=Callable[..., Any])


class ErrorInfo(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    """Every error: `{"error": {"code", "message", "details"}}`."""

    error: ErrorInfo


_STANDARD = {
    400: "bad request: body or parameters not understood (e.g. broken JSON)",
    401: "no or wrong credentials (HTTP basic auth)",
    403: "refused: a state-changing request from another origin",
    404: "not found",
    409: "conflict with the current state",
    413: "request body too large",
    422: "invalid value; `details` names each field",
    429: "locked out after repeated failed logins; says until when",
    503: "unavailable",
}


@dataclass(frozen=True)
class RouteDoc:
    method: str
    path: str
    summary: str = ""
    description: str = ""
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    responses: Mapping[int, Response] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    body_required: bool = True

    @property
    def auth(self) -> bool:
        return needs_auth(self.path)


_REGISTRY: dict[tuple[str, str], RouteDoc] = {}


def document(method: str, path: str, *, summary: str = "", description: str = "",
             body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             responses: Mapping[int, Response] | None = None, tags: tuple[str, ...] = (),
             body_required: bool = True) -> RouteDoc:
    """Record the documentation of one route (method + aiohttp path)."""
    doc = RouteDoc(method.upper(), path, summary, description, body, query,
                   dict(responses or {200: None}), tags, body_required)
    _REGISTRY[(doc.method, doc.path)] = doc
    return doc


def api_route(routes: web.RouteTableDef, method: str, path: str, *, summary: str = "",
              body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
              responses: Mapping[int, Response] | None = None, tags: tuple[str, ...] = (),
              body_required: bool = True) -> Callable[[H], H]:
    """Decorator: add the handler to `routes` and document it (see the module doc)."""

    def wrap(handler: H) -> H:
        routes.route(method.upper(), path)(handler)
        doc_lines = inspect.cleandoc(handler.__doc__ or "").splitlines()
        document(method, path, summary=summary or (doc_lines[0] if doc_lines else ""),
                 description="\n".join(doc_lines[1:]).strip(), body=body, query=query,
                 responses=responses, tags=tags, body_required=body_required)
        return handler

    return wrap


def registered() -> list[RouteDoc]:
    return list(_REGISTRY.values())


def _app_routes(app: web.Application) -> set[tuple[str, str]]:
    out = set()
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        out.add((route.method.upper(), info))
    return out


def _strip_null(schema: dict[str, Any]) -> dict[str, Any]:
    """`int | None` query parameters are simply optional: drop the null branch."""
    any_of = schema.get("anyOf")
    if isinstance(any_of, list):
        rest = [s for s in any_of if s.get("type") != "null"]
        if len(rest) == 1:
            merged = {k: v for k, v in schema.items() if k != "anyOf"}
            merged.update(rest[0])
            if merged.get("default", 0) is None:
                del merged["default"]
            return merged
    return schema


def _inline(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Replace a parameter's local `#/$defs/X` reference (an enum) by its definition."""
    ref = schema.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        target = dict(defs.get(ref.split("/")[-1], {}))
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return {**target, **rest}
    if isinstance(schema.get("anyOf"), list):
        schema["anyOf"] = [_inline(dict(s), defs) for s in schema["anyOf"]]
    return schema


def openapi_spec(app: web.Application | None = None) -> dict[str, Any]:
    present = _app_routes(app) if app is not None else None
    docs = [d for d in _REGISTRY.values()
            if present is None or (d.method, d.path) in present]
    docs.sort(key=lambda d: (d.path, d.method))

    wanted: list[tuple[type[BaseModel], JsonSchemaMode]] = [(ErrorBody, "serialization")]
    for d in docs:
        if d.body is not None:
            wanted.append((d.body, "validation"))
        for resp in d.responses.values():
            if isinstance(resp, type):
                wanted.append((resp, "serialization"))
    unique = list(dict.fromkeys(wanted))
    refs, defs = models_json_schema(unique, ref_template="#/components/schemas/{model}")
    schemas = defs.get("$defs", {})

    def ref(model: type[BaseModel], mode: JsonSchemaMode) -> dict[str, Any]:
        return dict(refs[(model, mode)])

    error_ref = ref(ErrorBody, "serialization")
    paths: dict[str, dict[str, Any]] = {}
    for d in docs:
        op: dict[str, Any] = {"summary": d.summary or f"{d.method} {d.path}",
                              "operationId": _op_id(d)}
        if d.description:
            op["description"] = d.description
        if d.tags:
            op["tags"] = list(d.tags)
        params: list[dict[str, Any]] = []
        for name in re.findall(r"{(\w+)}", d.path):
            params.append({"name": name, "in": "path", "required": True,
                           "schema": {"type": "string"}})
        if d.query is not None:
            qs = d.query.model_json_schema(mode="validation")
            required = set(qs.get("required", []))
            local_defs = qs.get("$defs", {})
            for name, prop in qs.get("properties", {}).items():
                prop = _strip_null(_inline(dict(prop), local_defs))
                desc = prop.pop("description", None)
                param: dict[str, Any] = {"name": name, "in": "query",
                                         "required": name in required, "schema": prop}
                if desc:
                    param["description"] = desc
                params.append(param)
        if params:
            op["parameters"] = params
        if d.body is not None:
            op["requestBody"] = {"required": d.body_required, "content": {
                "application/json": {"schema": ref(d.body, "validation")}}}
        statuses: dict[int, Response] = dict(d.responses)
        auto: list[int] = []
        if d.auth:
            auto += [401, 429]
            if d.method not in SAFE_METHODS:
                auto.append(403)
        if d.body is not None:
            auto += [400, 413, 422]
        if d.query is not None:
            auto.append(422)
        for status in auto:
            statuses.setdefault(status, None)
        responses: dict[str, Any] = {}
        for status in sorted(statuses):
            resp = statuses[status]
            if status >= 400 and isinstance(resp, type):
                responses[str(status)] = {
                    "description": (resp.__doc__ or "error").strip().splitlines()[0],
                    "content": {"application/json": {"schema": ref(resp, "serialization")}}}
            elif status >= 400:
                text = resp if isinstance(resp, str) else _STANDARD.get(status, "error")
                responses[str(status)] = {"description": text, "content": {
                    "application/json": {"schema": error_ref}}}
            elif isinstance(resp, type):
                responses[str(status)] = {
                    "description": (resp.__doc__ or "OK").strip().splitlines()[0],
                    "content": {"application/json": {"schema": ref(resp, "serialization")}}}
            else:
                responses[str(status)] = {"description": resp or "OK"}
        op["responses"] = responses
        if d.auth:
            op["security"] = [{"basicAuth": []}]
        else:
            op["security"] = []
        paths.setdefault(d.path, {})[d.method.lower()] = op

    spec: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "Titan operator API", "version": __version__,
                 "description": "SPEC §9. Errors: {\"error\": {\"code\", \"message\", "
                                "\"details\"}}. Basic auth on every /api route except "
                                "/api/health."},
        "servers": [{"url": "/"}],
        "components": {"schemas": schemas,
                       "securitySchemes": {"basicAuth": {"type": "http", "scheme": "basic"}}},
        "security": [{"basicAuth": []}],
        "paths": paths,
    }
    if present is not None:
        # Routes the app serves that no module documented yet: visible, so they get done.
        missing = sorted(f"{m} {p}" for m, p in present
                         if m not in ("HEAD", "OPTIONS") and (m, p) not in _REGISTRY)
        if missing:
            spec["x-undocumented-routes"] = missing
    return spec


def _op_id(d: RouteDoc) -> str:
    words = re.sub(r"[^a-zA-Z0-9]+", "_", d.path.strip("/")).strip("_")
    return f"{d.method.lower()}_{words}"


class HealthOk(BaseModel):
    """`{"status": "ok"}` (the runbook's check)"""

    status: Literal["ok"]


class HealthReport(BaseModel):
    """Health of the process and its parts"""

    status: Literal["healthy", "degraded", "unhealthy"]
    checks: dict[str, Any]
    version: str | None = None
    uptime_s: float | None = None
    reason: str | None = None


routes = web.RouteTableDef()


@routes.get("/api/openapi.json")
async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(openapi_spec(request.app))


document("GET", "/api/openapi.json", summary="This OpenAPI document", tags=("meta",),
         responses={200: "the OpenAPI 3.1 document"})
document("GET", "/api/health", summary="Liveness for the runbook", tags=("health",),
         responses={200: HealthOk})
document("GET", "/health", summary="Health of the process, database and venues",
         tags=("health",), responses={200: HealthReport, 503: HealthReport})
