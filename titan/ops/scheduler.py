"""Titan's job scheduler: one APScheduler `AsyncIOScheduler` (UTC), started and stopped
with Titan. Other components add their jobs with one call:

    titan.scheduler.every(60, reconciler.run, "reconcile")          # every 60 s
    titan.scheduler.daily(0, 0, day_roll.roll, "day-roll")         # 00:00 UTC
    titan.scheduler.daily(3, 0, backup_job, "nightly-backup")      # 03:00 UTC

Jobs are coroutine functions (or plain functions) run on the event loop; a job that is
still running when its next run is due is not started twice (max_instances=1), a run
missed by a short stall still happens (misfire grace), and a failing job is logged as
`JOB_FAILED` and runs again next time.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from loguru import logger

Job = Callable[[], Awaitable[Any]] | Callable[[], Any]


def _guarded(name: str, func: Job) -> Callable[[], Awaitable[None]]:
    @functools.wraps(func)
    async def run() -> None:
        try:
            result = func()
            if isinstance(result, Awaitable):
                await result
        except Exception:
            logger.opt(exception=True).error("JOB_FAILED job={}", name)

    return run


class Scheduler:
    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._names: set[str] = set()

    @property
    def running(self) -> bool:
        return bool(self._scheduler.running)

    def add(self, name: str, func: Job, trigger: Any) -> None:
        """Add a job under a unique name with any APScheduler trigger (before or after start)."""
        if name in self._names:
            raise ValueError(f"a job named {name!r} is already scheduled")
        self._names.add(name)
        self._scheduler.add_job(_guarded(name, func), trigger=trigger, id=name, name=name,
                                max_instances=1, coalesce=True, misfire_grace_time=300,
                                replace_existing=True)

    def every(self, seconds: float, func: Job, name: str) -> None:
        self.add(name, func, IntervalTrigger(seconds=seconds, timezone=UTC))

    def daily(self, hour: int, minute: int, func: Job, name: str) -> None:
        """Run at hour:minute UTC every day."""
        self.add(name, func, CronTrigger(hour=hour, minute=minute, timezone=UTC))

    def jobs(self) -> dict[str, Any]:
        """Job name → next run time (a datetime, or None while paused/not started)."""
        return {job.id: getattr(job, "next_run_time", None) for job in self._scheduler.get_jobs()}

    def start(self) -> None:
        if not self._scheduler.running:
            self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
