"""Logging: loguru to stdout for PM2, stdlib logging routed into it, secrets redacted.

One line per event; the event name is the first word of the message so operators can
`grep TRAP_SPRUNG`. With TITAN_LOG_JSON=true every line is a JSON object.
"""

from __future__ import annotations

import inspect
import logging
import re
import sys
from typing import TYPE_CHECKING, Any

from loguru import logger

if TYPE_CHECKING:
    from loguru import Record

_secrets: set[str] = set()


def register_secret(value: str | None) -> None:
    """Never print this value: every log line has it replaced by ***."""
    if value and len(value) >= 4:
        _secrets.add(value)


def redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    return text


# C0 controls, DEL, and the characters some viewers and `grep` tools treat as line breaks.
_CONTROL = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_control(text: str) -> str:
    """Control characters as visible escapes (`\\n`, `\\u001b`): a value an outsider chose
    (a halt reason, a NATS payload, a header) can never start a new, forged log line or
    move the terminal's cursor."""
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: _NAMED.get(m.group(), f"\\u{ord(m.group()):04x}"), text)


def _patch(record: Record) -> None:
    # Every field of every line goes through here, whoever logged it (our code, aiohttp,
    # pybit): one line per event stays true whatever the values contain. Tracebacks are
    # kept apart by loguru (record["exception"]) and keep their lines.
    message = escape_control(record["message"])
    record["message"] = redact(message) if _secrets else message


# In force from the first import, not only after setup_logging(): tests and tools that
# log without calling it get the same escaping and redaction.
logger.configure(patcher=_patch)


class _InterceptHandler(logging.Handler):
    """Send stdlib records (aiohttp, pybit, python-binance, apscheduler) to loguru."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            level: str | int = logger.level(record.levelname).name
        except ValueError:
            level = record.levelno
        frame, depth = inspect.currentframe(), 0
        while frame and (depth == 0 or frame.f_code.co_filename == logging.__file__):
            frame = frame.f_back
            depth += 1
        logger.opt(depth=depth, exception=record.exc_info).log(level, record.getMessage())


def setup_logging(level: str = "INFO", json_lines: bool = False) -> None:
    logger.remove()
    fmt = "{time:YYYY-MM-DD HH:mm:ss.SSS} | {level:<8} | {message}"
    logger.configure(patcher=_patch)
    logger.add(sys.stdout, level=level, format=fmt, serialize=json_lines, backtrace=False,
               diagnose=False, enqueue=False)
    # pybit attaches its own stderr handler when the root logger has none: install ours first.
    logging.basicConfig(handlers=[_InterceptHandler()], level=0, force=True)
    for noisy in ("aiohttp.access", "websocket", "urllib3", "asyncio", "apscheduler.executors"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def format_fields(fields: dict[str, Any]) -> str:
    """`key=value` pairs for a log line; values with spaces are quoted."""
    parts = []
    for k, v in fields.items():
        s = str(v)
        if " " in s or '"' in s or "=" in s:  # quoted, so a value cannot fake another field
            s = '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(f"{k}={s}")
    return " ".join(parts)
