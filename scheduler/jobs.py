"""APScheduler 3 wiring: which engine call runs how often. No logic lives here."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger

log = logging.getLogger("outreach.scheduler")

Job = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class Every:
    """A job and its period in seconds."""

    name: str
    seconds: float
    job: Job
    start_now: bool = True


@dataclass(frozen=True, slots=True)
class Daily:
    """A job run once a day at `hour`:00 local time in `timezone` (a cron job).

    `catch_up` runs once when the scheduler starts; it decides itself whether the day's run
    was missed (a start within the grace hour) and is due.
    """

    name: str
    hour: int
    timezone: str
    job: Job
    catch_up: Job | None = None


# A daily job the loop could not start on time (a long tick, a suspended host) still runs
# within this long; past it that day's run is skipped.
DAILY_GRACE_SECONDS = 3600


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


def build_scheduler(jobs: list[Every], daily: list[Daily] | None = None) -> AsyncIOScheduler:
    """A memory-store scheduler running each job alone (never two instances at once)."""
    scheduler = AsyncIOScheduler(timezone=UTC)
    for day_job in daily or []:
        scheduler.add_job(
            _guarded(day_job.name, day_job.job),
            CronTrigger(hour=day_job.hour, minute=0, timezone=day_job.timezone),
            id=day_job.name,
            name=day_job.name,
            max_instances=1,
            coalesce=True,
            misfire_grace_time=DAILY_GRACE_SECONDS,
        )
        if day_job.catch_up is not None:
            # Once, now (a date trigger's default). A start exactly at hour:00 may run it
            # beside the cron run: the job's own once-a-day key keeps that to one result.
            name = f"{day_job.name}_catch_up"
            scheduler.add_job(
                _guarded(name, day_job.catch_up), "date", id=name, name=name,
                misfire_grace_time=DAILY_GRACE_SECONDS,
            )  # fmt: skip
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
