"""Helpers every operator endpoint uses: who is asking, audit of the action, query parsing.

    async with audited(request, "config.risk.update", params) as audit:
        result = ...            # raise ApiError to refuse
        audit.result = result   # what is recorded on success

records one `audit_log` row per request: `success=True` with `audit.result` when the
block ends normally, `success=False` with the error when it raises (an `ApiError` such as
a 422, or anything else). The actor and address come from the auth middleware.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from titan.api.errors import ApiError, read_json_object, validation_details
from titan.api.keys import ACTOR, SOURCE_IP, TITAN
from titan.store.audit import Actor, AuditEntry, audited_action

Q = TypeVar("Q", bound=BaseModel)


def actor_of(request: web.Request, source: str = "api") -> Actor:
    return Actor(name=request.get(ACTOR, "anonymous"), source=source,
                 ip=request.get(SOURCE_IP, request.remote or ""))


@asynccontextmanager
async def audited(request: web.Request, action: str,
                  params: Any = None) -> AsyncIterator[AuditEntry]:
    """Audit the operator action done inside the block (see the module doc)."""
    async with audited_action(request.app[TITAN].audit, actor_of(request), action,
                              params) as entry:
        yield entry


def parse_query(request: web.Request, model: type[Q]) -> Q:
    """The query string validated by `model`; 422 naming each bad parameter."""
    data: dict[str, Any] = {}
    for key in model.model_fields:
        values = request.query.getall(key, [])
        if len(values) > 1:
            raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {key}",
                           [{"field": key, "message": "give this parameter once"}])
        if values:
            data[key] = values[0]
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        fields = ", ".join(d["field"] for d in details)
        raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {fields}", details) from None


M = TypeVar("M", bound=BaseModel)


async def audited_body(request: web.Request, model: type[M], audit: AuditEntry) -> M:
    """As `parse_body`, but the raw JSON object goes into the audit entry first, so a
    refused attempt is recorded with what was sent."""
    data = await read_json_object(request)
    audit.params = data
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        fields = ", ".join(d["field"] or "body" for d in details)
        raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {fields}", details) from None
