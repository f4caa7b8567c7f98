"""JSON in and out: outside input (API bodies, NATS payloads) parsed with a bound on
nesting; Titan's own values (Decimals, datetimes) made JSON-ready with `as_jsonable`.

Python's `json.loads` recurses once per nesting level: a 64 KiB body of `[[[[…` blows the
interpreter's recursion limit (a RecursionError, which is not a ValueError and so escaped
every `except ValueError` into a 500 or a dropped NATS message). Titan's inputs are flat
objects, so anything nested deeper than `MAX_DEPTH` is refused before it is parsed.
"""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

MAX_DEPTH = 32


class JsonInputError(ValueError):
    """The text is not JSON Titan accepts; the message says why in one line."""


def nesting_depth(text: str | bytes) -> int:
    """The deepest `[`/`{` nesting outside strings (a linear scan, no recursion)."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def loads_bounded(raw: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """`json.loads`, refusing text nested deeper than `max_depth` with `JsonInputError`."""
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as exc:
        raise JsonInputError(f"not UTF-8: {exc}") from None
    # Fast path: with no more brackets than the bound, the nesting cannot exceed it.
    if text.count("[") + text.count("{") > max_depth and nesting_depth(text) > max_depth:
        raise JsonInputError(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text)
    except RecursionError:  # cannot happen after the depth check; kept as the last line
        raise JsonInputError(f"nested deeper than {max_depth} levels") from None
    except ValueError as exc:
        raise JsonInputError(str(exc)) from None


def as_jsonable(obj: Any) -> Any:
    """Decimals and datetimes to strings, for API answers, the journal and the audit log."""
    if isinstance(obj, Decimal):
        return str(obj)
    if isinstance(obj, datetime):
        return obj.isoformat()
    if isinstance(obj, dict):
        return {k: as_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [as_jsonable(v) for v in obj]
    return obj
