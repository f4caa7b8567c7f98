"""The one error shape of the API: {"error": {"code", "message", "details"}}.

Bad input never changes state and never yields a 500; an unexpected exception is
logged with its traceback and answered with a 500 that carries no stack trace.
"""

from __future__ import annotations

from typing import Any, TypeVar

from aiohttp import web
from loguru import logger
from pydantic import BaseModel, ValidationError

from titan.api.keys import Handler
from titan.jsonsafe import JsonInputError, loads_bounded
from titan.store.storage import STILL_WORKS, is_storage_full

MAX_JSON_BODY = 64 * 1024
M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str, details: Any = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers or {}


def error_response(status: int, code: str, message: str, details: Any = None,
                   headers: dict[str, str] | None = None) -> web.Response:
    body = {"error": {"code": code, "message": message, "details": details}}
    return web.json_response(body, status=status, headers=headers)


_HTTP_CODES = {
    400: "BAD_REQUEST",
    401: "UNAUTHORIZED",
    403: "FORBIDDEN",
    404: "NOT_FOUND",
    405: "METHOD_NOT_ALLOWED",
    413: "BODY_TOO_LARGE",
    415: "UNSUPPORTED_MEDIA_TYPE",
}


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = _HTTP_CODES.get(exc.status, f"HTTP_{exc.status}")
        headers = {k: v for k, v in exc.headers.items() if k.lower() in ("allow", "retry-after")}
        return error_response(exc.status, code, exc.reason or code, None, headers)
    except Exception as exc:
        if is_storage_full(exc):
            # Not an internal error: the data folder's disk is full (SPEC §11). Say so, and
            # what still works.
            logger.error("STORAGE_FULL {} {}: {}", request.method, request.path, exc)
            return error_response(
                507, "STORAGE_FULL",
                f"the data folder's disk is full: this change was not saved and not made; "
                f"{STILL_WORKS}")
        logger.opt(exception=True).error("API_ERROR {} {}", request.method, request.path)
        return error_response(500, "INTERNAL_ERROR", "internal error; see the server log")


async def read_json_object(request: web.Request) -> dict[str, Any]:
    """The request's JSON object body; an empty body is `{}` (the manual's curls send none).

    Refuses non-JSON bodies, broken JSON, non-object JSON and oversized bodies with 400/413.
    """
    if request.content_length is not None and request.content_length > MAX_JSON_BODY:
        raise ApiError(413, "BODY_TOO_LARGE", f"request body over {MAX_JSON_BODY} bytes")
    raw = await request.content.read(MAX_JSON_BODY + 1)
    if len(raw) > MAX_JSON_BODY:
        raise ApiError(413, "BODY_TOO_LARGE", f"request body over {MAX_JSON_BODY} bytes")
    if not raw.strip():
        return {}
    ctype = request.content_type
    if ctype not in ("application/json", "application/octet-stream", "text/plain", ""):
        # A form or multipart body is never what the operator meant; say so instead of guessing.
        raise ApiError(400, "INVALID_BODY", f"request body must be JSON, got {ctype}")
    try:
        value = loads_bounded(raw)  # deep nesting is a 400, never a RecursionError/500
    except JsonInputError as exc:
        raise ApiError(400, "INVALID_JSON", f"request body is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ApiError(400, "INVALID_BODY", "request body must be a JSON object")
    return value


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    out = []
    for err in exc.errors(include_url=False, include_context=False, include_input=False):
        loc = ".".join(str(p) for p in err.get("loc", ()))
        out.append({"field": loc, "message": err.get("msg", "invalid")})
    return out


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate the JSON body against `model`; 422 names every bad field."""
    data = await read_json_object(request)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = validation_details(exc)
        fields = ", ".join(d["field"] or "body" for d in details)
        raise ApiError(422, "VALIDATION_ERROR", f"invalid value for: {fields}", details) from None
