"""scheduler/jobs.py: a failing job is logged and retried; a stop at shutdown is no error."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import pytest

from scheduler.jobs import Daily, Every, build_scheduler
from tests.waiting import eventually


async def test_a_job_running_at_shutdown_is_stopped_without_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    started = asyncio.Event()
    finished = asyncio.Event()

    async def slow() -> None:
        started.set()
        try:
            await asyncio.sleep(60)
        finally:
            finished.set()  # the job's own cleanup still runs

    scheduler = build_scheduler([Every("slow", 3600, slow)])
    with caplog.at_level(logging.INFO):
        scheduler.start()
        await asyncio.wait_for(started.wait(), 10)
        scheduler.shutdown(wait=False)
        await asyncio.wait_for(finished.wait(), 10)
        # The executor's done-callback logs after the job ends.
        await eventually(lambda: "job slow stopped by the shutdown" in caplog.text)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "job slow stopped by the shutdown" in caplog.text


async def test_a_failing_job_is_logged_and_the_schedule_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    runs = 0
    done = asyncio.Event()

    async def flaky() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise RuntimeError("boom")
        done.set()

    scheduler = build_scheduler([Every("flaky", 0.2, flaky)])
    scheduler.start()
    try:
        await asyncio.wait_for(done.wait(), 10)
    finally:
        scheduler.shutdown(wait=False)
    assert runs >= 2
    assert "job flaky failed" in caplog.text


def test_a_daily_job_fires_at_its_local_hour() -> None:
    async def job() -> None:
        raise AssertionError("not run here")

    scheduler = build_scheduler([], [Daily("daily", 9, "Europe/Berlin", job)])
    trigger = scheduler.get_job("daily").trigger
    winter = datetime(2026, 11, 24, 7, 0, tzinfo=UTC)  # 08:00 in Berlin (UTC+1)
    summer = datetime(2026, 7, 1, 8, 0, tzinfo=UTC)  # 10:00 in Berlin (UTC+2): tomorrow's
    assert trigger.get_next_fire_time(None, winter) == datetime(2026, 11, 24, 8, 0, tzinfo=UTC)
    assert trigger.get_next_fire_time(None, summer) == datetime(2026, 7, 2, 7, 0, tzinfo=UTC)


async def test_a_daily_jobs_catch_up_runs_once_at_start_and_the_cron_waits() -> None:
    caught_up = asyncio.Event()
    runs: list[str] = []

    async def job() -> None:
        runs.append("job")

    async def catch_up() -> None:
        runs.append("catch_up")
        caught_up.set()

    # The hour just passed: the cron job's next run is tomorrow, the catch-up runs now.
    hour = (datetime.now(UTC).hour - 1) % 24
    scheduler = build_scheduler([], [Daily("daily", hour, "UTC", job, catch_up)])
    scheduler.start()
    try:
        await asyncio.wait_for(caught_up.wait(), 10)
        # A one-off: once run, APScheduler drops it; the cron job stays.
        await eventually(lambda: scheduler.get_job("daily_catch_up") is None)
        assert scheduler.get_job("daily") is not None
    finally:
        scheduler.shutdown(wait=False)
    assert runs == ["catch_up"]
