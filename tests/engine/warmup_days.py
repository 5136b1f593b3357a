"""Simulated days of the whole service for the warm-up circuit tests: ticks and inbox polls."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import bootstrap
from engine.clock import ManualClock


async def run_days(service: bootstrap.Service, clock: ManualClock, first: date, days: int) -> None:
    """Each day from 07:00 to 19:00 (the loop's hours are 08:00-18:00): a tick every 5
    minutes as Service.tick runs it, the warm-up inboxes read every 30, and once at the end."""
    for offset in range(days):
        start = datetime.combine(first + timedelta(days=offset), datetime.min.time(), UTC)
        clock.set(start + timedelta(hours=7))
        tick = 0
        while clock.now() < start + timedelta(hours=19):
            await service.tick()
            if tick % 6 == 5:
                await service.warmup_inbox.poll()
            tick += 1
            clock.advance(timedelta(minutes=5))
        await service.warmup_inbox.poll()  # the evening's last look
