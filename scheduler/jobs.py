"""APScheduler 3 wiring: which engine call runs how often. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler

log = logging.getLogger("outreach.scheduler")

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Every:
    """A job and its period in seconds."""

    name: str
    seconds: float
    job: Job
    start_now: bool = True


def _guarded(name: str, job: Job) -> Callable[[], Awaitable[None]]:
    async def run() -> None:
        try:
            await job()
        except Exception:
            # One failed run must not kill the schedule; the next run tries again.
            log.exception("job %s failed", name)
        except asyncio.CancelledError:
            # Only the scheduler's shutdown cancels a run (it cancels whatever is running);
            # the job's own cleanup has run by now, and a stop is no error: ending here
            # keeps APScheduler from logging the cancellation as a failed job.
            log.info("job %s stopped by the shutdown", name)

    run.__name__ = name
    return run


def build_scheduler(jobs: list[Every]) -> AsyncIOScheduler:
    """A memory-store scheduler running each job alone (never two instances at once)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for item in jobs:
        scheduler.add_job(
            _guarded(item.name, item.job),
            "interval",
            seconds=item.seconds,
            id=item.name,
            name=item.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=max(1, int(item.seconds)),
            next_run_time=datetime.now(UTC) if item.start_now else None,
        )
    return scheduler
