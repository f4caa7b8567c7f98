"""Titan's periodic jobs (risk tick, reconciliation, wallet poll, metrics): one loop each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from loguru import logger


async def every(seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
    """Run `job` every `seconds` until cancelled; a failing run is logged, never fatal."""
    while True:
        await asyncio.sleep(seconds)
        try:
            await job()
        except Exception:
            logger.opt(exception=True).error("JOB_FAILED job={}", getattr(job, "__name__", job))
