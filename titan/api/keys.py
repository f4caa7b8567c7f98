"""Typed application keys (aiohttp's `web.AppKey`) for the components the app wires."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from titan.core import Titan

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

TITAN: web.AppKey[Titan] = web.AppKey("titan")

# Set by the auth middleware on every authenticated request (for the audit log).
ACTOR: web.RequestKey[str] = web.RequestKey("actor", str)
SOURCE_IP: web.RequestKey[str] = web.RequestKey("source_ip", str)
